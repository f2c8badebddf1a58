"""Capture on real asyncio and real pydantic-ai agents: concurrency comes from task structure, never from timing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.usage import RequestUsage

from pytest_agentarch.core.trajectory import flat_steps, render, render_tools, shape
from pytest_agentarch.run import capture


def lookup(key: str) -> str:
    return key.upper()


def asks(*steps: list[str]) -> FunctionModel:
    """A model that asks for `steps` (tool names per response, argument `key`), then answers `done`."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked = sum(isinstance(m, ModelResponse) for m in messages)
        if asked < len(steps):
            parts: list[Any] = [ToolCallPart(name, {'key': f'{name}{asked}'}) for name in steps[asked]]
        else:
            parts = [TextPart('done')]
        return ModelResponse(parts=parts, usage=RequestUsage(input_tokens=10 + asked, output_tokens=1))

    return FunctionModel(respond)


def tool_agent(*steps: list[str]) -> Agent[None, str]:
    agent = Agent(asks(*steps))
    for name in {n for step in steps for n in step}:
        agent.tool_plain(name=name)(lookup)
    return agent


async def never_suspends(key: str) -> str:
    return key


def captured(body: Callable[[], Awaitable[Any]], *, spans: bool = False) -> capture.Capture:
    """Run `body` inside a capture scope on a fresh loop, as the runner does."""
    run = capture.RunCapture(spans=spans)

    async def main() -> None:
        capture.install()
        with capture.task_structure(), capture.capture_run(run):
            await body()

    asyncio.run(main())
    return run.result()


def form(body: Callable[[], Awaitable[Any]]) -> str:
    return render(shape(captured(body).calls))


def test_gathered_calls_that_never_suspend_are_still_one_step() -> None:
    async def body() -> None:
        await asyncio.gather(capture.call_tool(never_suspends, 'a'), capture.call_tool(never_suspends, 'b'))

    assert form(body) == '{never_suspends, never_suspends}'


def test_gathered_agent_runs_whose_model_never_suspends_are_one_step() -> None:
    x, y = tool_agent(['x']), tool_agent(['y'])

    async def body() -> None:
        await asyncio.gather(x.run('go'), y.run('go'))

    assert form(body) == '{agent(x), agent(y)}'


@pytest.mark.parametrize('seed', range(4))
def test_timing_does_not_move_steps(seed: int) -> None:
    rng = random.Random(seed)

    async def sleepy(key: str) -> str:
        await asyncio.sleep(rng.uniform(0, 0.01))
        return key

    async def body() -> None:
        await capture.call_tool(sleepy, 'first')
        await capture.call_tool(sleepy, 'second')
        await asyncio.gather(capture.call_tool(sleepy, 'a'), capture.call_tool(never_suspends, 'b'))

    assert form(body) == 'sleepy > sleepy > {never_suspends, sleepy}'


def test_a_task_awaited_before_the_next_is_created_is_sequential() -> None:
    async def body() -> None:
        await asyncio.create_task(capture.call_tool(never_suspends, 'a'))
        await asyncio.create_task(capture.call_tool(lookup, 'b'))
        one = asyncio.create_task(capture.call_tool(never_suspends, 'c'))
        two = asyncio.create_task(capture.call_tool(lookup, 'd'))
        await one
        await two

    assert form(body) == 'never_suspends > lookup > {lookup, never_suspends}'


def test_task_group_members_are_one_step() -> None:
    async def body() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(capture.call_tool(lookup, 'a'))
            tg.create_task(capture.call_tool(never_suspends, 'b'))

    assert form(body) == '{lookup, never_suspends}'


def test_call_tool_gathered_with_agent_runs_is_one_step() -> None:
    x = tool_agent(['x'], ['y'])

    async def body() -> None:
        await asyncio.gather(x.run('go'), capture.call_tool(lookup, 'k'))

    result = captured(body)
    assert render(shape(result.calls)) == '{agent(x > y), lookup}'
    # Flattened, the agent's second step runs beside nothing: position by position.
    assert flat_steps(result.calls) == [['lookup', 'x'], ['y']]


def test_delegation_nests_the_sub_agent_under_the_tool_that_ran_it() -> None:
    specialist = tool_agent(['analyze'])
    coordinator = Agent(asks(['delegate'], ['report']))

    @coordinator.tool_plain
    async def delegate(key: str) -> str:
        return (await specialist.run(key)).output

    coordinator.tool_plain(name='report')(lookup)

    async def body() -> None:
        await coordinator.run('go')

    result = captured(body)
    assert render(shape(result.calls)) == 'agent(delegate(agent(analyze)) > report)'
    assert (result.agents, result.tools, len(result.requests)) == (2, 3, 5)


def test_tools_asked_for_in_one_response_are_one_step_and_requests_carry_usage() -> None:
    agent = tool_agent(['a', 'b'], ['a'])

    async def body() -> None:
        await agent.run('go')

    result = captured(body)
    assert render(shape(result.calls)) == 'agent({a, b} > a)'
    assert render_tools(result.calls) == 'a x2, b'
    # Three requests, the n-th (0-based) with 10 + n input tokens; no model name on a FunctionModel: 'function'.
    assert [(r.input_tokens, r.output_tokens) for r in result.requests] == [(10, 1), (11, 1), (12, 1)]
    assert [c.args for c in result.calls[0].children] == [{'key': 'a0'}, {'key': 'b0'}, {'key': 'a1'}]


def test_the_call_tree_is_the_same_from_capture_and_from_its_span_tree() -> None:
    agent = tool_agent(['a', 'b'], ['c'])
    run = capture.RunCapture()

    async def main() -> None:
        capture.install()
        with capture.task_structure(), capture.capture_run(run):
            await asyncio.gather(agent.run('go'), capture.call_tool(lookup, 'k'))
            await capture.call_tool(never_suspends, 'z')

    asyncio.run(main())
    direct = run.result()
    rebuilt = capture.from_span_tree(run.span_tree().roots)
    assert shape(rebuilt.calls) == shape(direct.calls)
    assert render(shape(direct.calls)) == '{agent({a, b} > c), lookup} > never_suspends'
    assert flat_steps(rebuilt.calls) == [['a', 'b', 'lookup'], ['c'], ['never_suspends']]


def test_installing_over_capture_settings_put_back_by_someone_else_does_not_record_twice() -> None:
    capture.install()
    saved = capture._instrument_default()  # pyright: ignore[reportPrivateUsage]
    capture.uninstall()
    Agent.instrument_all(saved)
    agent = tool_agent(['a'])

    async def body() -> None:
        await agent.run('go')

    # With real spans, the tracer forwards to its delegate: a delegate that records too would double every node.
    capture.ensure_sdk_provider()
    assert render(shape(captured(body, spans=True).calls)) == 'agent(a)'
    assert capture._instrument_default() is saved  # pyright: ignore[reportPrivateUsage]


def test_install_keeps_a_users_instrumentation_settings_and_uninstall_restores_them() -> None:
    users = InstrumentationSettings(include_content=False)
    previous = capture._instrument_default()  # pyright: ignore[reportPrivateUsage]
    capture.uninstall()
    Agent.instrument_all(users)
    try:
        capture.install()
        ours = capture._instrument_default()  # pyright: ignore[reportPrivateUsage]
        assert isinstance(ours, InstrumentationSettings) and ours is not users
        # Their content policy is kept; only the tracer is capture's, forwarding to theirs.
        assert ours.include_content is False
        capture.uninstall()
        assert capture._instrument_default() is users  # pyright: ignore[reportPrivateUsage]
    finally:
        Agent.instrument_all(previous)


def test_pydantic_ai_still_keeps_instrument_all_settings_where_capture_reads_them() -> None:
    # Contract with pydantic-ai: no public getter exists for what `Agent.instrument_all()` set.
    previous = capture._instrument_default()  # pyright: ignore[reportPrivateUsage]
    settings = InstrumentationSettings()
    try:
        Agent.instrument_all(settings)
        assert capture._instrument_default() is settings, (  # pyright: ignore[reportPrivateUsage]
            'pydantic-ai no longer keeps Agent.instrument_all() settings in Agent._instrument_default: '
            'update capture._instrument_default'
        )
    finally:
        Agent.instrument_all(previous)


def test_work_started_outside_the_run_is_not_recorded_in_it() -> None:
    inside, outside = tool_agent(['a']), tool_agent(['b'])
    run = capture.RunCapture()

    async def main() -> None:
        capture.install()
        # Created before the scope: its task's context has no current run, even while the run is in progress.
        elsewhere = asyncio.create_task(outside.run('go'))
        with capture.task_structure(), capture.capture_run(run):
            await inside.run('go')
        await elsewhere

    asyncio.run(main())
    assert render(shape(run.result().calls)) == 'agent(a)'


def test_sequential_agent_runs_are_sequential_steps() -> None:
    x, y = tool_agent(['x']), tool_agent(['y'], ['z'])

    async def body() -> None:
        await x.run('go')
        await y.run('go')
        await x.run('again')

    assert form(body) == 'agent(x) > agent(y > z) > agent(x)'
