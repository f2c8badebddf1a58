"""Injected faults: the spec, the draw, what each fault does, the counts in every report, and the same faults in the
same runs however the runs are scheduled."""

from __future__ import annotations

import asyncio
import json
import random
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError, ModelTimeoutError
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.core.stats import FaultStats, aggregate, case_stats
from pytest_agentarch.requests.faults import FaultPlan, FaultyModel, parse_faults
from pytest_agentarch.requests.retries import RetryingModel
from pytest_agentarch.run.context import RunCounters, RunInfo, run_scope


def test_a_spec_is_read_and_checked() -> None:
    plan = parse_faults('rate_limit=0.05, server_error=0.02,timeout=0.01,bad_args=0.02,truncated=0.01,retry_after=2')
    assert dict(plan.rates) == {
        'rate_limit': 0.05,
        'server_error': 0.02,
        'timeout': 0.01,
        'bad_args': 0.02,
        'truncated': 0.01,
    }
    assert plan.retry_after == 2
    assert parse_faults(plan.describe()) == plan


@pytest.mark.parametrize(
    ('spec', 'message'),
    [
        ('', 'no fault given'),
        ('rate_limit', "'rate_limit' is not KIND=RATE"),
        ('ratelimit=0.1', "unknown fault 'ratelimit': the faults are rate_limit, server_error, timeout"),
        ('bad_args=x', "bad_args='x': not a number"),
        ('bad_args=1.5', 'a rate is a chance per model request, between 0 and 1'),
        ('bad_args=0.6,truncated=0.5', 'the rates add up to 1.1'),
        ('bad_args=0.1,bad_args=0.2', 'bad_args is given twice'),
        ('bad_args=0.1,retry_after=-1', 'seconds must be 0 or more'),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace('[', r'\[')):
        parse_faults(spec)


def test_the_draw_lays_the_chances_out_in_order() -> None:
    plan = parse_faults('rate_limit=0.1,bad_args=0.2')
    assert [plan.draw(u) for u in (0.0, 0.0999, 0.1, 0.2999, 0.3, 0.9999)] == [
        'rate_limit',
        'rate_limit',
        'bad_args',
        'bad_args',
        None,
        None,
    ]


def _echo(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # A tool call first, then the answer: both answer faults have something to change.
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'value'})])
    return ModelResponse(parts=[TextPart('the answer is here')])


def _request(text: str) -> list[ModelMessage]:
    return [ModelRequest(parts=[UserPromptPart(text)])]


async def _send(model: FaultyModel, info: RunInfo, texts: list[str]) -> tuple[list[str], dict[str, int]]:
    """What each request came back as (`ok`, an error type, or the changed answer), and the run's fault counts."""
    counters = RunCounters()
    seen: list[str] = []
    with run_scope(info, counters):
        for text in texts:
            try:
                response = await model.request(_request(text), None, ModelRequestParameters())
            except (ModelHTTPError, ModelTimeoutError) as exc:
                seen.append(type(exc).__name__)
            else:
                seen.append('ok' if response.finish_reason != 'length' else 'length')
    return seen, counters.faults


def _info(index: int, seed: int = 0) -> RunInfo:
    return RunInfo(session_seed=seed, case='c', architecture='a', index=index)


def test_rates_hold_over_many_requests() -> None:
    # 4,000 distinct requests (runs x prompts) at 5% and 20%: the counts fall within 4.5 binomial standard deviations
    # (200 +- 62 and 800 +- 114), and another seed draws other requests.
    plan = parse_faults('rate_limit=0.05,truncated=0.2')
    model = FaultyModel(FunctionModel(_echo), plan)
    rng = random.Random(27)
    prompts = [f'prompt {rng.random():.12f}' for _ in range(40)]
    totals: Counter[str] = Counter()
    hit_by_seed: dict[int, set[tuple[int, str]]] = {0: set(), 1: set()}
    for seed in (0, 1):
        for index in range(100):
            seen, faults = asyncio.run(_send(model, _info(index, seed), prompts))
            hit_by_seed[seed].update((index, p) for p, s in zip(prompts, seen, strict=True) if s != 'ok')
            if seed == 0:
                totals.update(faults)
    assert 200 - 62 <= totals['rate_limit'] <= 200 + 62
    # Truncation draws come after the 5% of rate limits on [0, 1): 20% of all requests.
    assert 800 - 114 <= totals['truncated'] <= 800 + 114
    assert hit_by_seed[0] != hit_by_seed[1]


def test_each_fault_does_what_it_says() -> None:
    info = _info(0)

    async def one(spec: str, first: bool) -> tuple[Any, dict[str, int]]:
        model = FaultyModel(FunctionModel(_echo), parse_faults(spec))
        counters = RunCounters()
        messages = _request('q') if first else [*_request('q'), ModelResponse(parts=[TextPart('x')])]
        with run_scope(info, counters):
            try:
                return await model.request(messages, None, ModelRequestParameters()), counters.faults
            except Exception as exc:
                return exc, counters.faults

    limited, counts = asyncio.run(one('rate_limit=1,retry_after=1.5', True))
    assert isinstance(limited, ModelHTTPError) and limited.status_code == 429 and limited.retry_after == 1.5
    assert counts == {'rate_limit': 1}
    server, _ = asyncio.run(one('server_error=1', True))
    assert isinstance(server, ModelHTTPError) and server.status_code == 500 and server.retry_after is None
    timeout, _ = asyncio.run(one('timeout=1', True))
    assert isinstance(timeout, ModelTimeoutError)
    bad, counts = asyncio.run(one('bad_args=1', True))
    assert bad.parts[0].args == '{"key":"value"}}' and counts == {'bad_args': 1}
    # An answer without a tool call cannot carry malformed arguments: unchanged, nothing counted.
    plain, counts = asyncio.run(one('bad_args=1', False))
    assert plain.parts[0].content == 'the answer is here' and counts == {}
    cut, counts = asyncio.run(one('truncated=1', False))
    assert (cut.parts[0].content, cut.finish_reason, counts) == ('the answe', 'length', {'truncated': 1})
    cut_call, _ = asyncio.run(one('truncated=1', True))
    assert cut_call.parts[0].args == '{"key":'


def test_a_retried_request_gets_a_fresh_draw_and_outside_a_run_nothing_is_injected() -> None:
    plan = parse_faults('rate_limit=0.5,retry_after=0')
    model = RetryingModel(FaultyModel(FunctionModel(_echo), plan), retries=50)
    counters = RunCounters()
    with run_scope(_info(3), counters):
        asyncio.run(model.request(_request('q'), None, ModelRequestParameters()))
    # Each attempt of the one request drew again: the request got through after as many 429s as were injected.
    assert counters.retries == counters.faults.get('rate_limit', 0)
    assert counters.requests_seen and list(counters.requests_seen.values()) == [counters.attempts]
    outside = FaultyModel(FunctionModel(_echo), parse_faults('rate_limit=1'))
    assert asyncio.run(outside.request(_request('q'), None, ModelRequestParameters())).parts


def _hit(index: int, *, faults: dict[str, int], passed: bool = True, error: str | None = None) -> RunRecord:
    return RunRecord(
        index=index,
        duration=0.1,
        trajectory='a',
        faults=faults,
        error_type=error,
        error_kind='infrastructure' if error == 'ModelHTTPError' else None,
        assertions=[] if error else [Assertion(name='EqualsExpected', value=passed)],
    )


def test_fault_figures_of_a_case_and_an_architecture() -> None:
    records = [
        _hit(0, faults={}),
        _hit(1, faults={'rate_limit': 2}),  # recovered
        _hit(2, faults={'bad_args': 1}, passed=False),  # degraded: answered wrongly
        _hit(3, faults={'truncated': 1}, error='UnexpectedModelBehavior'),  # failed on behaviour
        _hit(4, faults={'rate_limit': 4}, error='ModelHTTPError'),  # failed: retries exhausted (infrastructure)
        _hit(5, faults={'bad_args': 1, 'rate_limit': 1}),  # recovered
    ]
    stats = case_stats(records, architecture='x', case='c')
    f = stats.faults
    assert f is not None
    assert f.injected == {'bad_args': 2, 'rate_limit': 7, 'truncated': 1}
    assert (f.runs_hit, f.recovered, f.degraded, f.failed) == (5, 2, 1, 2)
    # The infrastructure failure counts in no rate: 2 passed of the 4 judged runs hit.
    assert (f.pass_rate.successes, f.pass_rate.n) == (2, 4)
    assert str(f) == '10 injected (bad_args 2, rate_limit 7, truncated 1) in 5 runs: 2 recovered, 1 degraded, 2 failed'
    quiet = case_stats([_hit(0, faults={})], architecture='x', case='d')
    assert quiet.faults is None
    pooled = aggregate([stats, quiet]).faults
    assert pooled is not None and (pooled.runs_hit, pooled.pass_rate.successes, pooled.pass_rate.n) == (5, 2, 4)
    assert FaultStats.pooled([None]) is None


MODEL_USER = """
    from pydantic_ai import Agent
    from pytest_agentarch import architecture

    def lookup(key: str) -> str:
        return f'found {key}'

    def second(key: str) -> str:
        return f'second {key}'

    @architecture('tools')
    async def tools(inputs, model):
        # TestModel calls every tool once, then answers.
        result = await Agent(model, tools=[lookup, second]).run(str(inputs))
        return 'ok' if 'found' in result.output else result.output
"""

CASES = """
name: demo
cases:
""" + ''.join(
    f"""
  - name: case{i}
    inputs: question {i}
    expected_output: ok
    evaluators:
      - EqualsExpected
"""
    for i in range(4)
)

XDIST = [pytest.param([], id='no-xdist'), pytest.param(['-n', '2'], id='xdist-2')]


def _faults_by_run(report: dict[str, Any]) -> dict[tuple[str, int], dict[str, int]]:
    return {
        (c['case'], r['index']): r['faults']
        for a in report['architectures']
        for c in a['cases']
        for r in c['run_results']
    }


def test_the_same_seed_injects_the_same_faults_whatever_the_scheduling(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(MODEL_USER, cases=CASES)
    spec = 'rate_limit=0.2,server_error=0.1,bad_args=0.2,truncated=0.1,retry_after=0'
    common = ['--runs', '6', '--agentarch-faults', spec, '--agentarch-retries', '5']
    seen = []
    for extra in (
        ['-n', '0', '--agentarch-concurrency', '1'],
        ['-n', '2'],
        ['-n', '0', '--agentarch-concurrency', '6'],
    ):
        pytester.runpytest(*common, *extra, '--agentarch-json', 'r.json')
        seen.append(_faults_by_run(json.loads((pytester.path / 'r.json').read_text())))
    assert seen[0] == seen[1] == seen[2]
    assert len(seen[0]) == 24 and any(seen[0].values())
    # Another seed injects other faults.
    pytester.runpytest(*common, '-n', '0', '--agentarch-seed', '1', '--agentarch-json', 'r.json')
    assert _faults_by_run(json.loads((pytester.path / 'r.json').read_text())) != seen[0]


def test_faults_are_counted_in_every_report(project: Callable[..., pytest.Pytester]) -> None:
    # Every attempt is rate limited and retried twice: each run makes 3 attempts, injects 3 faults and fails on
    # infrastructure. 4 cases x 2 runs: 24 faults in 8 runs, none recovered.
    pytester = project(MODEL_USER, cases=CASES)
    outputs = ['--agentarch-json', 'r.json', '--agentarch-md', 'r.md', '--agentarch-html', 'r.html']
    result = pytester.runpytest(
        '--runs', '2', '--agentarch-faults', 'rate_limit=1,retry_after=0', '--agentarch-retries', '2',
        '--junitxml', 'j.xml', *outputs,
    )  # fmt: skip
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ['injected faults (--agentarch-faults):', '*', '*', 'tools * rate_limit 24 * 8 * 0 * 0 * 8 * n/a (n=0)*']
    )
    summary = json.loads((pytester.path / 'r.json').read_text())['architectures'][0]['summary']
    assert summary['faults']['injected'] == {'rate_limit': 24}
    assert (summary['infra'], summary['total']['retries']) == (8, 16)
    assert '| tools | rate_limit 24 | 8 | 0 | 0 | 8 |' in (pytester.path / 'r.md').read_text()
    assert '<h2>Injected faults</h2>' in (pytester.path / 'r.html').read_text()
    props = [
        {p.get('name'): p.get('value') for p in case.iter('property')}
        for case in ET.parse(pytester.path / 'j.xml').iter('testcase')
    ]
    assert [p['agentarch.faults_injected'] for p in props] == ['6'] * 4


def test_a_bad_faults_option_is_a_usage_error(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(MODEL_USER, cases=CASES)
    result = pytester.runpytest('--agentarch-faults', 'ratelimit=0.1')
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--agentarch-faults: unknown fault 'ratelimit'*"])
    replayed = pytester.runpytest('--agentarch-faults', 'bad_args=0.1', '--agentarch-replay', 'somewhere')
    replayed.stderr.fnmatch_lines(['*--agentarch-faults and --agentarch-replay exclude each other*'])


def test_the_model_request_layer_sees_faulted_agents_recover() -> None:
    # Through a real agent: a 429 on the first attempt, retried by the session's retrying layer, changes nothing the
    # agent sees; the run's counters say what happened.
    plan = FaultPlan(rates={'rate_limit': 0.5}, retry_after=0)
    model = RetryingModel(FaultyModel(FunctionModel(_echo), plan), retries=20)

    def lookup(key: str) -> str:
        return key

    counters = RunCounters()
    with run_scope(_info(0), counters):
        output = asyncio.run(Agent(model, tools=[lookup]).run('q')).output
    assert output == 'the answer is here'
    assert counters.faults.get('rate_limit', 0) == counters.retries
