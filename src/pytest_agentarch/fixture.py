"""The `arch` fixture: an architecture bound to the session's model, for tests written in Python.

Only tests that request *this plugin's* `arch` fixture are parametrized over `--arch`: a project or another plugin
that defines its own `arch` fixture keeps it (pytest's usual overriding), and its tests are left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic_ai.models import Model
from pydantic_evals.evaluators import Evaluator

from . import registry
from .collection import ITEM_RESULTS
from .evaluators import expected_steps_of
from .options import SETTINGS, Settings
from .records import RunRecord
from .report import ItemResult
from .runner import CaseSpec, run_case
from .stats import CaseStats, case_stats

__all__ = ('BoundArchitecture', 'arch', 'parametrize_arch')


class BoundArchitecture:
    """An architecture bound to the session's model: what the `arch` fixture gives a test."""

    def __init__(self, arch: registry.Architecture, model: Model, settings: Settings, node: pytest.Item) -> None:
        self.architecture = arch
        self.model = model
        self._settings = settings
        self._node = node

    @property
    def name(self) -> str:
        """The architecture's registered name."""
        return self.architecture.name

    @property
    def description(self) -> str:
        """The architecture's one-line description."""
        return self.architecture.description

    async def run(self, inputs: Any) -> Any:
        """Run once with the session's model (not captured, not counted)."""
        return await self.architecture.func(inputs, self.model)

    async def arepeat(
        self,
        inputs: Any,
        *,
        runs: int | None = None,
        case: str | None = None,
        evaluators: Sequence[Evaluator[Any, Any, Any]] = (),
        expected_output: Any = None,
    ) -> CaseStats:
        """Run `inputs` `runs` times (default `--runs`) concurrently; return their statistics.

        The runs are captured and judged like dataset cases, and appear in the terminal summary and JSON report.
        """
        spec = CaseSpec(
            name=case or self._node.name,
            inputs=inputs,
            expected_output=expected_output,
            evaluators=list(evaluators),
            expected_steps=expected_steps_of(evaluators),
        )
        settings = self._settings.run
        if runs is not None:
            if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
                raise ValueError(f'runs must be a whole number >= 1, got {runs!r}')
            settings = self._settings.with_runs(runs)
        records: list[RunRecord] = await run_case(self.architecture, self.model, spec, settings)
        stats = case_stats(
            records,
            architecture=self.name,
            case=spec.name,
            expected_steps=spec.expected_steps,
            level=self._settings.thresholds_for(self.name).level,
        )
        self._node.stash.setdefault(ITEM_RESULTS, []).append(
            ItemResult(
                nodeid=self._node.nodeid,
                architecture=self.name,
                description=self.description,
                case=spec.name,
                dataset=None,
                records=records,
                expected_steps=spec.expected_steps,
            )
        )
        return stats

    def repeat(self, inputs: Any, **kwargs: Any) -> CaseStats:
        """`arepeat` for synchronous tests (runs its own event loop)."""
        return asyncio.run(self.arepeat(inputs, **kwargs))


@pytest.fixture
def arch(request: pytest.FixtureRequest) -> BoundArchitecture:
    """The architecture under test, bound to the session's model (parametrized over `--arch`)."""
    settings = request.config.stash[SETTINGS]
    assert settings.model is not None
    node = request.node
    assert isinstance(node, pytest.Item)
    return BoundArchitecture(request.param, settings.model, settings, node)


def _is_ours(metafunc: pytest.Metafunc) -> bool:
    """Whether the `arch` this test gets is this plugin's (not a conftest's or another plugin's override)."""
    # pytest keeps the fixture definitions visible to the test in `_arg2fixturedefs`, nearest last; the public API
    # has no accessor for it. Without it we cannot tell, and parametrizing someone else's fixture is the worse harm.
    defs = getattr(metafunc, '_arg2fixturedefs', {}).get('arch')
    if not defs:
        return False
    func = defs[-1].func
    return getattr(func, '__module__', None) == __name__ and getattr(func, '__qualname__', None) == 'arch'


def parametrize_arch(metafunc: pytest.Metafunc) -> None:
    """Parametrize a test that uses this plugin's `arch` fixture over the selected architectures."""
    if 'arch' not in metafunc.fixturenames or not _is_ours(metafunc):
        return
    selected = metafunc.config.stash[SETTINGS].selected
    metafunc.parametrize('arch', selected, ids=[a.name for a in selected], indirect=True)


def uses_arch(item: pytest.Item) -> bool:
    """Whether `item` was parametrized over this plugin's architectures."""
    callspec = getattr(item, 'callspec', None)
    return callspec is not None and isinstance(callspec.params.get('arch'), registry.Architecture)
