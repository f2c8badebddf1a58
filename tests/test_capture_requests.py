"""Capture at the model-request layer: the same records as the span path, and which path recorded each run.

Each architecture here runs three times through the runner: the first run is the probe (span path, requests counted
beside it), the other two are recorded by the layer when the architecture's agents use the model they are given.
Every expected figure is worked out by hand from the scripted model below.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from pytest_agentarch import call_tool
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.reports.report import Report
from pytest_agentarch.run import capture, capture_requests
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case


@pytest.fixture(autouse=True)
def fresh_verdicts() -> None:
    """Each test's architecture is probed afresh (verdicts are kept per process)."""
    capture_requests.VERDICTS.paths.clear()


def responses(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Parent (tools a, b): {a(1), a(2), b} > {b(retry), a('bad')} > b > answer. Child (tool c): {c(), c(k=2)} >
    answer. Tokens: the parent's requests 10/3, 11/4, 12/5, 13/6; the child's 5/1, 6/2."""
    answered = sum(isinstance(m, ModelResponse) for m in messages)
    names = {t.name for t in info.function_tools}
    if 'a' in names:
        usage = RequestUsage(input_tokens=10 + answered, output_tokens=3 + answered)
        script: list[list[Any]] = [
            [ToolCallPart('a', {'x': 1}), ToolCallPart('a', {'x': 2}), ToolCallPart('b', {})],
            [ToolCallPart('b', {'retry': True}), ToolCallPart('a', {'x': 'bad'})],
            [ToolCallPart('b', {})],
            [TextPart('done')],
        ]
        return ModelResponse(parts=script[answered], usage=usage)
    usage = RequestUsage(input_tokens=5 + answered, output_tokens=1 + answered)
    if answered == 0:
        return ModelResponse(parts=[ToolCallPart('c', {}), ToolCallPart('c', {'k': 2})], usage=usage)
    return ModelResponse(parts=[TextPart('ok')], usage=usage)


child = Agent(name='child')


@child.tool_plain
async def c(k: int = 1) -> dict[str, int]:
    await asyncio.sleep(0)
    return {'k': k}


parent = Agent(name='parent')


@parent.tool
async def a(ctx: RunContext[None], x: int) -> list[str]:
    # Two nested runs at once, then a tool called from inside the tool.
    first, second = await asyncio.gather(child.run(f'sub {x}', model=ctx.model), child.run('again', model=ctx.model))
    await call_tool(c, k=x)
    return [first.output, second.output]


@parent.tool_plain
async def b(retry: bool = False) -> str:
    if retry:
        raise ModelRetry('again please')
    return 'b'


async def uses_given(inputs: Any, model: Model) -> str:
    result = await parent.run(inputs, model=model)
    await asyncio.gather(call_tool(c, k=5), child.run('x', model=model))
    return result.output


async def builds_own(inputs: Any, model: Model) -> str:
    result = await parent.run(inputs, model=FunctionModel(responses))
    await asyncio.gather(call_tool(c, k=5), child.run('x', model=FunctionModel(responses)))
    return result.output


def runs(func: Any, n: int = 3) -> list[RunRecord]:
    arch = Architecture(name='arch', description='', func=func)
    case = CaseSpec(name='case', inputs='go')
    return asyncio.run(run_case(arch, FunctionModel(responses), case, RunSettings(runs=n, concurrency=2)))


CHILD = 'agent({c, c})'
EXPECTED = f'agent({{a({{{CHILD}, {CHILD}}} > c), a({{{CHILD}, {CHILD}}} > c), b}} > {{a!, b!}} > b) > {{{CHILD}, c}}'
"""The trajectory worked out by hand: the parent's three responses are three steps (the second's calls both failed:
one asked to retry, one had invalid arguments); each `a` ran two child runs at once, then `c`; after the parent, a
child run and a `c` ran at once."""


def test_the_layer_records_the_tree_concurrency_nesting_and_retries_worked_out_by_hand() -> None:
    records = runs(uses_given)
    assert [r.capture for r in records] == ['spans', 'requests', 'requests']
    for r in records:
        assert r.error_type is None, r.error_message
        assert r.trajectory == EXPECTED
        # 2 a + 3 b + per a: 2 child runs x 2 c + 1 c (10) + the last step's child run (2) and c (1).
        assert r.trajectory_tools == 'a x2, a!, b x2, b!, c x13'
        # Nesting flattened, concurrent members aligned step by step: each `a` gives [c x4] then [c].
        assert r.steps == [['a', 'a', 'b'], ['c'] * 8, ['c', 'c'], ['a', 'b'], ['b'], ['c', 'c', 'c']]


def test_usage_and_requests_are_counted_per_request_by_the_layer() -> None:
    records = runs(uses_given)
    for r in records:
        # Parent: 4 requests, 10+11+12+13 in, 3+4+5+6 out. Child runs: 5 (two per `a`, one at the end), 2 requests
        # each, 5+6 in and 1+2 out.
        assert r.requests == 4 + 5 * 2
        assert r.input_tokens == 46 + 5 * 11
        assert r.output_tokens == 18 + 5 * 3
        assert [(m.input_tokens, m.output_tokens) for m in r.model_requests if m.input_tokens >= 10] == [
            (10, 3),
            (11, 4),
            (12, 5),
            (13, 6),
        ]


def test_retried_and_rejected_calls_keep_what_the_model_was_told() -> None:
    record = runs(uses_given, 2)[1]
    assert record.capture == 'requests'
    failed = [(t.name, t.args, t.result) for t in record.tool_calls if t.failed]
    assert failed[0][:2] == ('a', '{"x":"bad"}') and 'int_parsing' in (failed[0][2] or '')
    assert failed[1] == ('b', '{"retry":true}', 'again please')


def test_the_layer_and_the_span_path_give_the_same_record() -> None:
    spans, layer = runs(uses_given, 2)
    assert (spans.capture, layer.capture) == ('spans', 'requests')

    def same(r: RunRecord) -> dict[str, Any]:
        wire = r.to_wire()
        for key in ('index', 'duration', 'capture'):
            wire.pop(key)
        wire['tool_calls'] = [{**t, 'order': 0} for t in wire['tool_calls']]
        wire['model_requests'] = [{**m, 'order': 0, 'duration': 0} for m in wire['model_requests']]
        return wire

    assert same(spans) == same(layer)


def test_an_architecture_that_builds_its_own_model_keeps_the_span_path() -> None:
    records = runs(builds_own)
    assert [r.capture for r in records] == ['spans', 'spans', 'spans']
    assert all(r.trajectory == EXPECTED and r.requests == 14 for r in records)


def test_real_spans_needed_means_the_span_path_for_every_run() -> None:
    from pydantic_evals.evaluators import HasMatchingSpan

    arch = Architecture(name='arch', description='', func=uses_given)
    case = CaseSpec(name='case', inputs='go', evaluators=[HasMatchingSpan(query={'name_contains': 'execute_tool'})])
    records = asyncio.run(run_case(arch, FunctionModel(responses), case, RunSettings(runs=2)))
    assert [r.capture for r in records] == ['spans', 'spans']
    assert [a.value for a in records[1].assertions] == [True]


def test_a_request_outside_any_run_passes_through() -> None:
    model = capture_requests.wrap(FunctionModel(responses))
    assert capture_requests.wrap(model) is model
    result = asyncio.run(child.run('x', model=model))
    assert result.output == 'ok'
    assert capture.RunCapture().layer is None


def test_the_reports_say_which_capture_recorded_each_run() -> None:
    from pytest_agentarch.reports.html import render_html
    from pytest_agentarch.reports.markdown import render_markdown
    from pytest_agentarch.reports.report import ItemResult, build_report

    records = runs(uses_given)
    item = ItemResult(
        nodeid='x::case[arch]', architecture='arch', description='', case='case', dataset=None, records=records
    )
    report = build_report([item], model='m', seed=0, runs=3, missing={})
    case = report.architectures[0].cases[0]
    assert [r.capture for r in case.run_results] == ['spans', 'requests', 'requests']
    assert 'Runs captured by requests 2, spans 1' in render_markdown(report)
    assert 'captured by requests 2, spans 1' in render_html(report)
    assert json.loads(report.model_dump_json())['architectures'][0]['cases'][0]['run_results'][1]['capture'] == (
        'requests'
    )


THIRD_PARTY = """
    from pydantic_ai import Agent, RunContext
    from pytest_agentarch import architecture

    # A third party's agents, built without the plugin: module level, no model of their own.
    notes = Agent(name='notes')

    @notes.tool_plain
    def note(text: str) -> str:
        return text.upper()

    support = Agent(name='support')

    @support.tool_plain
    def lookup(key: str) -> str:
        return key * 2

    @support.tool
    async def escalate(ctx: RunContext[None], reason: str) -> str:
        return (await notes.run(reason, model=ctx.model)).output

    @architecture('support')
    async def support_desk(inputs, model):
        return (await support.run(inputs, model=model)).output
"""


def test_a_third_party_agent_through_the_plugin_is_recorded_alike_by_both_paths(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(THIRD_PARTY, demo='name: demo\ncases:\n  - name: first\n    inputs: hello\n')
    result = pytester.runpytest('--runs', '5', '--agentarch-model', 'test', '--agentarch-json', 'r.json')
    result.assert_outcomes(passed=1)
    case = Report.model_validate_json(pytester.path.joinpath('r.json').read_text()).architectures[0].cases[0]
    # pydantic-ai's TestModel calls every tool of the agent once in its first response, then answers: the support
    # agent's one step runs `lookup` and `escalate`, which runs the notes agent (`note`, then its answer).
    assert [(v.trajectory, v.count) for v in case.variants] == [('agent({escalate(agent(note)), lookup})', 5)]
    assert [r.capture for r in case.run_results] == ['spans', 'requests', 'requests', 'requests', 'requests']
    assert {(r.requests, r.passed) for r in case.run_results} == {(4, True)}
