"""The `arch` fixture: an architecture bound to the session's model, for tests written in Python.

Only tests that request *this plugin's* `arch` fixture are parametrized over `--arch`: a project or another plugin
that defines its own `arch` fixture keeps it (pytest's usual overriding), and its tests are left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic_ai.models import Model
from pydantic_evals.evaluators import Evaluator

from .._compat import fixture_functions
from ..core.records import RunRecord
from ..core.stats import CaseStats, case_stats
from ..reports.report import ItemResult
from ..run import registry
from ..run.evaluators import expected_steps_of
from ..run.runner import CaseSpec, RunSettings, run_case
from .collection import ITEM_RESULTS
from .options import SETTINGS, Settings
from .runtime import RUNTIME

__all__ = ('ArchParam', 'BoundArchitecture', 'arch', 'parametrize_arch')


@dataclass(frozen=True)
class ArchParam:
    """One parameter of the `arch` fixture: an architecture, and the model it runs on."""

    architecture: registry.Architecture
    model: str
    """The model spec."""
    several_models: bool
    """The session has several models, so the test id and the report name the model."""

    @property
    def id(self) -> str:
        """The test id part: `arch`, or `arch@model` in a session with several models."""
        return f'{self.architecture.name}@{self.model}' if self.several_models else self.architecture.name


class BoundArchitecture:
    """An architecture bound to one of the session's models: what the `arch` fixture gives a test."""

    def __init__(
        self,
        arch: registry.Architecture,
        model: Model,
        settings: Settings,
        node: pytest.Item,
        run: RunSettings,
        *,
        model_label: str | None = None,
        model_spec: str = '',
    ) -> None:
        self.architecture = arch
        self.model = model
        self.model_label = model_label
        """The model's spec in a session with several models, else None."""
        self._model_spec = model_spec
        self._settings = settings
        self._node = node
        self._run = run

    @property
    def name(self) -> str:
        """The architecture's registered name."""
        return self.architecture.name

    @property
    def description(self) -> str:
        """The architecture's one-line description."""
        return self.architecture.description

    def _validated(self, kind: str, declared: Any, value: Any) -> Any:
        """`value` validated and coerced to the type the architecture declares (as a dataset case's would be)."""
        if declared is Any:
            return value
        try:
            return TypeAdapter(declared).validate_python(value)
        except ValidationError as exc:
            raise ValueError(
                f'{self.name}: the {kind} given {"do" if kind == "inputs" else "does"} not validate against the '
                f'{kind} type the architecture declares ({getattr(declared, "__name__", repr(declared))}):\n{exc}'
            ) from None

    async def run(self, inputs: Any) -> Any:
        """Run once with the session's model (not captured, not counted); `inputs` are validated and coerced to
        the architecture's inputs type first, as a dataset case's are."""
        inputs = self._validated('inputs', self.architecture.dataset_types().inputs, inputs)
        # Entered so a provider's HTTP client opens on this event loop and is closed after (see runner.run_case).
        async with self.model:
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
        """Run `inputs` `runs` times (default `--runs`) concurrently; return their statistics (see `repeat` for
        each parameter). The form to await in async tests, whose event loop is already running; `repeat` is for
        synchronous tests.

        The runs are captured and judged like dataset cases, and appear in the terminal summary and JSON report.
        Like a dataset case's, `inputs` and `expected_output` are validated and coerced to the types the
        architecture declares (`@architecture(inputs_type=..., output_type=...)` or its annotations); values that
        do not match raise ValueError with pydantic's message before any run.
        """
        types = self.architecture.dataset_types()
        spec = CaseSpec(
            name=case or self._node.name,
            inputs=self._validated('inputs', types.inputs, inputs),
            expected_output=None
            if expected_output is None
            else self._validated('output', types.output, expected_output),
            evaluators=list(evaluators),
            expected_steps=expected_steps_of(evaluators),
        )
        settings = replace(self._run, model=self._model_spec)
        if runs is not None:
            if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
                raise ValueError(f'runs must be a whole number >= 1, got {runs!r}')
            settings = replace(settings, runs=runs)
        records: list[RunRecord] = await run_case(self.architecture, self.model, spec, settings)
        stats = case_stats(
            records,
            architecture=self.name,
            case=spec.name,
            expected_steps=spec.expected_steps,
            level=self._settings.thresholds_for(self.name, self.model_label).level,
            model=self.model_label,
        )
        self._node.stash.setdefault(ITEM_RESULTS, []).append(
            ItemResult(
                nodeid=self._node.nodeid,
                architecture=self.name,
                model=self.model_label,
                description=self.description,
                case=spec.name,
                dataset=None,
                records=records,
                expected_steps=spec.expected_steps,
                stats=stats,
            )
        )
        return stats

    def repeat(
        self,
        inputs: Any,
        *,
        runs: int | None = None,
        case: str | None = None,
        evaluators: Sequence[Evaluator[Any, Any, Any]] = (),
        expected_output: Any = None,
    ) -> CaseStats:
        """Run `inputs` `runs` times (default `--runs`) concurrently and return their statistics. For synchronous
        tests: it runs its own event loop, so in an async test (a loop already running) await `arepeat` instead.

        Args:
            inputs: the case's inputs, as a dataset case would give them (validated against the inputs type the
                architecture declares).
            runs: how many runs; `--runs` when None.
            case: the case's name in reports; the test's name when None.
            evaluators: pydantic-evals evaluators judging each run (the pass rate counts runs they all pass).
            expected_output: what `EqualsExpected` and other evaluators compare the output with (validated against
                the architecture's output type).

        The result is a `CaseStats`: `determinism`, `pass_rate`, `errors`, `all_raised`, `variants`... Check
        `errors == 0` beside `determinism`: runs that all raised the same exception form one variant (see
        `CaseStats.all_raised`)."""
        return asyncio.run(
            self.arepeat(inputs, runs=runs, case=case, evaluators=evaluators, expected_output=expected_output)
        )


@pytest.fixture
def arch(request: pytest.FixtureRequest) -> BoundArchitecture:
    """The architecture under test, bound to the session's model (parametrized over `--arch`, and over the models
    when `--agentarch-model` names several)."""
    settings = request.config.stash[SETTINGS]
    runtime = request.config.stash[RUNTIME]
    node = request.node
    assert isinstance(node, pytest.Item)
    param: ArchParam = request.param
    return BoundArchitecture(
        param.architecture,
        runtime.models[param.model],
        settings,
        node,
        runtime.run,
        model_label=param.model if param.several_models else None,
        model_spec=param.model,
    )


def _is_ours(metafunc: pytest.Metafunc) -> bool:
    """Whether the `arch` this test gets is this plugin's (not a conftest's or another plugin's override)."""
    # The public API does not show which definition of a fixture a test sees. Without it we cannot tell, and
    # parametrizing someone else's fixture is the worse harm.
    functions = fixture_functions(metafunc, 'arch')
    if not functions:
        return False
    func = functions[-1]
    return getattr(func, '__module__', None) == __name__ and getattr(func, '__qualname__', None) == 'arch'


def parametrize_arch(metafunc: pytest.Metafunc) -> None:
    """Parametrize a test that uses this plugin's `arch` fixture over the selected architectures."""
    if 'arch' not in metafunc.fixturenames or not _is_ours(metafunc):
        return
    settings = metafunc.config.stash[SETTINGS]
    params = [
        ArchParam(architecture=a, model=m, several_models=settings.several_models)
        for a in metafunc.config.stash[RUNTIME].selected
        for m in settings.model_specs
    ]
    metafunc.parametrize('arch', params, ids=[p.id for p in params], indirect=True)


def uses_arch(item: pytest.Item) -> bool:
    """Whether `item` was parametrized over this plugin's architectures."""
    callspec = getattr(item, 'callspec', None)
    return callspec is not None and isinstance(callspec.params.get('arch'), ArchParam)
