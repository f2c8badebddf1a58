"""Shared fixtures: pytester projects whose architectures drive scripted `FunctionModel`s, never the network."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# xdist's controller, imported once for the whole session: a test's in-process session with `-n 2` would otherwise
# import it afresh each time (pytester removes what a run imported), under that session's assertion rewriting, which
# on CPython 3.11 can fail late in a long suite with "AST constructor recursion depth mismatch"
# (pytest-dev/pytest#10763).
import xdist.dsession  # noqa: F401

from pytest_agentarch.run import registry

pytest_plugins = ['pytester']

# Written into every pytester project as `archkit.py`; the project's conftest imports it. A scripted model asks,
# response after response, for the tool steps its plan gives for the current run index, then answers; so a test
# decides exactly which runs take which trajectory and which answer, and can compute the statistics by hand.
ARCHKIT = '''
import asyncio

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.usage import RequestUsage
from pydantic_ai.models.function import AgentInfo, FunctionModel

import pytest_agentarch


def run_index():
    info = pytest_agentarch.current_run()
    return -1 if info is None else info.index


def alpha(q: str) -> str:
    return f'alpha:{q}'


def beta(q: str) -> str:
    return f'beta:{q}'


def gamma(q: str) -> str:
    return f'gamma:{q}'


def scripted(plan, answer=lambda index: 'ok', delay=0.0, model_name=None, usage=None):
    """`plan(index)` -> list of steps, each a list of tool names requested in one model response."""

    async def respond(messages, info: AgentInfo) -> ModelResponse:
        if delay:
            await asyncio.sleep(delay)
        index = run_index()
        asked = sum(isinstance(m, ModelResponse) for m in messages)
        steps = plan(index)
        if asked < len(steps):
            parts = [ToolCallPart(name, {'q': f'{name}{asked}'}) for name in steps[asked]]
        else:
            parts = [TextPart(answer(index))]
        return ModelResponse(parts=parts, usage=usage or RequestUsage(input_tokens=100, output_tokens=10))

    return FunctionModel(respond, model_name=model_name)


def agent(*tools):
    return Agent(tools=list(tools) or [alpha, beta, gamma])


async def run(plan, inputs='go', answer=lambda index: 'ok', delay=0.0, tools=(), **model):
    result = await agent(*tools).run(str(inputs), model=scripted(plan, answer, delay, **model))
    return result.output
'''

INI = """
[pytest]
agentarch_datasets = *.yaml
agentarch_model = test
filterwarnings =
    error
    ignore::DeprecationWarning:opentelemetry.*
"""

ONE_CASE = """
name: demo
cases:
  - name: first
    inputs: hello
    expected_output: ok
    evaluators:
      - EqualsExpected
"""

XDIST = [pytest.param([], id='no-xdist'), pytest.param(['-n', '2'], id='xdist-2')]
"""Scenarios whose outcome crosses from xdist workers to the controller in a way of their own (collection errors,
session-wide limits, progress, spans, the report hook, sequential stopping, a run's traceback) run in one process and
on two workers. The rest run in one process: their results reach the controller as every item's do, which
`test_json_report_is_the_same_with_and_without_xdist_for_one_seed` compares whole."""


CHILD_ADDOPTS = '-p no:hypothesispytest -p no:logfire -p no:pytest_logfire'
"""Options for every pytest session a test starts (through `PYTEST_ADDOPTS`): the pytest plugins of this
environment's test tools that the plugin under test neither uses nor offers. Each would cost every child session and
xdist worker some CPU for nothing: Hypothesis' plugin imports Hypothesis in its terminal summary (about 0.25 s), and
logfire's two import the whole SDK and register their options. The sessions under test never use them, and users'
sessions are judged with them in the main session, which keeps every installed plugin."""


def _child_addopts() -> str:
    return f'{CHILD_ADDOPTS} {os.environ.get("PYTEST_ADDOPTS", "")}'.strip()


@pytest.fixture(autouse=True)
def _lean_child_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pytest process a test starts (`subprocess`, xdist workers, in-process runs) leaves out `CHILD_ADDOPTS`'s
    plugins; set per test, so this session's own workers, started before any test, keep them."""
    monkeypatch.setenv('PYTEST_ADDOPTS', _child_addopts())


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester whose in-process runs each start with an empty architecture registry and leave it as it was.

    Registrations are process-global: an in-process run re-imports the project's conftest, must not see the
    architectures of this session (the repository's root conftest registers some) or of an earlier run, and
    must not leave its own behind.
    """
    inline_run = pytester.inline_run

    def isolated(*args: Any, **kwargs: Any) -> pytest.HookRecorder:
        saved = registry.registered()
        registry._reset()  # pyright: ignore[reportPrivateUsage]
        try:
            return inline_run(*args, **kwargs)
        finally:
            registry._reset()  # pyright: ignore[reportPrivateUsage]
            for arch in saved.values():
                registry._add(arch)  # pyright: ignore[reportPrivateUsage]

    monkeypatch.setattr(pytester, 'inline_run', isolated)
    # pytester clears PYTEST_ADDOPTS for its runs; its sessions are child sessions like any other.
    monkeypatch.setenv('PYTEST_ADDOPTS', CHILD_ADDOPTS)
    return pytester


@pytest.fixture
def project(pytester: pytest.Pytester) -> Callable[..., pytest.Pytester]:
    """Write a project: `archkit.py`, the ini, a conftest (dedented) and dataset files `name=yaml`."""

    def make(conftest: str, *, ini: str = '', **datasets: str) -> pytest.Pytester:
        pytester.makepyfile(archkit=ARCHKIT)
        pytester.makeini(INI + textwrap.dedent(ini))
        pytester.makeconftest(textwrap.dedent(conftest))
        for name, text in datasets.items():
            pytester.makefile('.yaml', **{name: textwrap.dedent(text)})
        return pytester

    return make


ROOT = Path(__file__).parent.parent


@dataclass(kw_only=True, frozen=True)
class InstalledWheel:
    """The wheel `python -m build` makes of this checkout, installed into a fresh venv with nothing of the checkout
    on its path."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / 'bin' / 'python'


def _check(args: list[str | Path], timeout: float = 900) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f'{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}'


@pytest.fixture(scope='session')
def installed_wheel(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> InstalledWheel:
    """Built and installed once per test session: the xdist workers share it through a file lock in their common
    temporary directory (building a wheel and a venv is the dearest setup in the suite)."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != 'master':
        shared = shared.parent
    home = shared / 'installed-wheel'
    with (shared / 'installed-wheel.lock').open('w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = home / 'done'
        if not done.exists():
            dist, wheelhouse, venv = home / 'dist', home / 'wheelhouse', home / 'venv'
            _check([sys.executable, '-m', 'build', '--wheel', '--quiet', '--outdir', dist, ROOT])
            (wheel,) = dist.glob('pytest_agentarch-*.whl')
            # The dependencies as wheels (pip's cache and configured indexes), at the verified versions; then an
            # install that reaches no index: the wheel's own requirements must resolve from them.
            pins = ROOT / 'constraints.txt'
            _check([sys.executable, '-m', 'pip', 'download', '--quiet', '-d', wheelhouse, '-c', pins, wheel])
            _check([sys.executable, '-m', 'venv', venv])
            _check(
                [
                    venv / 'bin' / 'python',
                    '-m',
                    'pip',
                    'install',
                    '--quiet',
                    '--no-index',
                    '--find-links',
                    wheelhouse,
                    wheel,
                ]
            )
            done.write_text(str(wheel), encoding='utf-8')
        return InstalledWheel(wheel=Path(done.read_text(encoding='utf-8')), venv=home / 'venv')
