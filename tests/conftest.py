"""Shared fixtures: pytester projects whose architectures drive scripted `FunctionModel`s, never the network."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

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
"""Every plugin scenario runs in one process and on two xdist workers."""


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
