"""The runner on its own: one record per run with its model requests, tool calls and verdicts."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from opentelemetry import trace
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from pydantic_evals.dataset import increment_eval_metric
from pydantic_evals.evaluators import (
    EqualsExpected,
    Evaluator,
    EvaluatorContext,
    HasMatchingSpan,
    MaxModelRequests,
    ToolCorrectness,
)

import pytest_agentarch
from pytest_agentarch import call_tool
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.reports.report import ItemResult, build_report
from pytest_agentarch.run import capture
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.evaluators import TrajectorySteps, span_use
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case


def lookup(key: str) -> str:
    return key.upper()


async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})], usage=RequestUsage(input_tokens=30))
    return ModelResponse(parts=[TextPart('A')], usage=RequestUsage(input_tokens=40, output_tokens=2))


async def one_agent(inputs: Any, model: Any) -> str:
    return (await Agent(FunctionModel(respond, model_name='gpt-4o'), tools=[lookup]).run(inputs)).output


def run(runs: int) -> list[RunRecord]:
    install()
    arch = Architecture(name='one', description='', func=one_agent)
    case = CaseSpec(name='c', inputs='go', expected_output='A', evaluators=[EqualsExpected()])
    return asyncio.run(run_case(arch, FunctionModel(respond), case, RunSettings(runs=runs)))


def test_each_record_lists_its_model_requests_in_start_order_with_usage_and_cost() -> None:
    records = run(3)
    assert [r.index for r in records] == [0, 1, 2]
    for r in records:
        assert [(m.input_tokens, m.output_tokens) for m in r.model_requests] == [(30, 0), (40, 2)]
        assert {m.model for m in r.model_requests} == {'gpt-4o'}
        assert (r.requests, r.input_tokens, r.output_tokens) == (2, 70, 2)
        assert all(m.cost is not None and m.cost > 0 for m in r.model_requests)
        assert r.cost == sum(m.cost for m in r.model_requests if m.cost is not None)
        assert [(c.name, c.args) for c in r.tool_calls] == [('lookup', '{"key":"a"}')]
        assert r.passed and r.output == 'A'
        assert RunRecord.from_wire(r.to_wire()) == r


def test_report_lists_every_run_with_its_variant() -> None:
    records = run(4)
    item = ItemResult(nodeid='x::c[one]', architecture='one', description='', case='c', dataset=None, records=records)
    case = build_report([item], model='m', seed=0, runs=4, missing={}).architectures[0].cases[0]
    assert [r.index for r in case.run_results] == [0, 1, 2, 3]
    assert all(r.variant == 0 and r.passed and r.requests == 2 for r in case.run_results)
    assert case.variants[0].count == 4


def test_a_retried_tool_call_is_part_of_the_trajectory() -> None:
    attempts: list[str] = []

    def flaky(key: str) -> str:
        attempts.append(key)
        if len(attempts) % 2:
            raise ModelRetry('try again')
        return key

    async def ask_twice(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if sum(isinstance(m, ModelResponse) for m in messages) < 2:
            return ModelResponse(parts=[ToolCallPart('flaky', {'key': 'a'})])
        return ModelResponse(parts=[TextPart('A')])

    async def retrying(inputs: Any, model: Any) -> str:
        return (await Agent(FunctionModel(ask_twice), tools=[flaky]).run(inputs)).output

    install()
    arch = Architecture(name='retrying', description='', func=retrying)
    (record,) = asyncio.run(run_case(arch, FunctionModel(respond), CaseSpec(name='c', inputs='go'), RunSettings()))
    assert record.trajectory == 'agent(flaky! > flaky)'
    assert record.trajectory_tools == 'flaky, flaky!'
    assert [(c.name, c.failed) for c in record.tool_calls] == [('flaky', True), ('flaky', False)]


def run_arch(func: Any, *, evaluators: Any = (), timeout: float | None = None) -> RunRecord:
    arch = Architecture(name='a', description='', func=func)
    case = CaseSpec(name='c', inputs='go', expected_output='A', evaluators=list(evaluators))
    (record,) = asyncio.run(run_case(arch, FunctionModel(respond), case, RunSettings(timeout=timeout)))
    return record


def test_an_architectures_own_timeout_is_reported_as_its_own() -> None:
    async def gives_up(inputs: Any, model: Any) -> str:
        await Agent(model, tools=[lookup]).run(inputs)
        raise TimeoutError('upstream took too long')

    record = run_arch(gives_up)
    assert (record.error_type, record.error_message) == ('TimeoutError', 'upstream took too long')
    # Under a timeout of ours that did not expire, the same holds.
    assert run_arch(gives_up, timeout=30).error_message == 'upstream took too long'


def test_a_run_past_the_session_timeout_is_reported_as_ours() -> None:
    async def slow(inputs: Any, model: Any) -> str:
        await Agent(model, tools=[lookup]).run(inputs)
        await asyncio.sleep(30)
        return 'A'

    record = run_arch(slow, timeout=0.2)
    assert record.error_type == 'TimeoutError'
    assert record.error_message == 'run exceeded --agentarch-timeout=0.2s'
    assert record.error_kind == 'behaviour'


def test_errors_are_classified_as_behaviour_or_infrastructure() -> None:
    async def rate_limited(inputs: Any, model: Any) -> str:
        raise ModelHTTPError(status_code=429, model_name='m', body='slow down')

    async def broken(inputs: Any, model: Any) -> str:
        raise ValueError('bad plan')

    assert run_arch(rate_limited).error_kind == 'infrastructure'
    assert run_arch(broken).error_kind == 'behaviour'
    assert run_arch(one_agent).error_kind is None


def test_user_metrics_named_like_span_derived_ones_are_kept() -> None:
    async def reports(inputs: Any, model: Any) -> str:
        increment_eval_metric('requests', 5)
        increment_eval_metric('cost', 0.25)
        increment_eval_metric('cache_hits', 1)
        return (await Agent(model, tools=[lookup]).run(inputs)).output

    record = run_arch(reports)
    assert record.metrics == {'requests': 5.0, 'cost': 0.25, 'cache_hits': 1.0}
    # The run made two model requests: that figure lives in the record's own field.
    assert record.requests == 2


def test_a_run_that_only_opened_unrelated_spans_captured_nothing() -> None:
    capture.ensure_sdk_provider()

    async def spans_only(inputs: Any, model: Any) -> str:
        with trace.get_tracer('user-code').start_as_current_span('thinking'):
            await asyncio.sleep(0)
        return 'A'

    record = run_arch(spans_only)
    assert record.error_type == 'CaptureError'
    assert record.errored and not record.passed


def test_tools_level_trajectory_is_recorded() -> None:
    async def gathered(inputs: Any, model: Any) -> str:
        await asyncio.gather(call_tool(lookup, 'a'), Agent(model, tools=[lookup]).run(inputs))
        await call_tool(lookup, 'b')
        return 'A'

    record = run_arch(gathered)
    assert record.trajectory_tools == 'lookup x3'
    assert record.trajectory == '{agent(lookup), lookup} > lookup'
    assert record.steps == [['lookup', 'lookup'], ['lookup']]


def test_agent_evaluators_of_pydantic_evals_judge_without_real_spans() -> None:
    assert span_use([ToolCorrectness(expected_tools=['lookup']), MaxModelRequests(max_requests=2)]) == 'agent'
    record = run_arch(
        one_agent,
        evaluators=[ToolCorrectness(expected_tools=['lookup']), MaxModelRequests(max_requests=2), EqualsExpected()],
    )
    # Outcome evaluators are judged first, then path evaluators, each group in the given order.
    assert [(a.name, a.value, a.side) for a in record.assertions] == [
        ('EqualsExpected', True, 'outcome'),
        ('ToolCorrectness', True, 'path'),
        ('MaxModelRequests', True, 'path'),
    ]
    too_few = run_arch(one_agent, evaluators=[MaxModelRequests(max_requests=1)])
    assert [a.value for a in too_few.assertions] == [False]


def test_has_matching_span_sees_a_users_own_spans() -> None:
    assert span_use([HasMatchingSpan(query={'name_equals': 'thinking'}), ToolCorrectness(expected_tools=[])]) == 'all'

    async def thinks(inputs: Any, model: Any) -> str:
        with trace.get_tracer('user-code').start_as_current_span('thinking'):
            return (await Agent(model, tools=[lookup]).run(inputs)).output

    record = run_arch(
        thinks,
        evaluators=[HasMatchingSpan(query={'name_equals': 'thinking'}), ToolCorrectness(expected_tools=['lookup'])],
    )
    assert [a.value for a in record.assertions] == [True, True]
    assert record.trajectory == 'agent(lookup)'


@dataclass
class SawThinking(Evaluator[Any, Any, Any]):
    """A user's own evaluator that reads the span tree: capture cannot know what it looks for."""

    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> bool:
        return ctx.span_tree.any({'name_equals': 'thinking'})


@dataclass
class RequestsSeen(Evaluator[Any, Any, Any]):
    """Reads the metrics pydantic-evals derives, without reading spans."""

    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> float:
        return ctx.metrics['requests']


def _reads_spans(ctx: EvaluatorContext[Any, Any, Any]) -> bool:
    return ctx.span_tree.any({'name_equals': 'thinking'})


@dataclass
class DeclaredAll(Evaluator[Any, Any, Any]):
    """Reads spans through a helper, which the class's own code does not show: it declares what it reads."""

    agentarch_spans: ClassVar[str] = 'all'

    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> bool:
        return _reads_spans(ctx)


@dataclass
class UndeclaredHelper(Evaluator[Any, Any, Any]):
    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> bool:
        return _reads_spans(ctx)


@dataclass
class NestedRead(Evaluator[Any, Any, Any]):
    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> bool:
        return any(c.span_tree.any({'name_equals': 'thinking'}) for c in [ctx])


@dataclass
class DeclaredNone(SawThinking):
    agentarch_spans: ClassVar[str] = 'none'


@dataclass
class Misdeclared(Evaluator[Any, Any, Any]):
    agentarch_spans: ClassVar[str] = 'some'

    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> bool:
        return True


def test_what_evaluators_read_of_spans_is_decided_from_their_classes_and_declarations() -> None:
    # A method's own code shows a read of `span_tree`; a helper it calls does not, so such a class declares it.
    assert span_use([UndeclaredHelper()]) == 'none'
    assert span_use([DeclaredAll()]) == 'all'
    assert span_use([DeclaredNone()]) == 'none'
    assert span_use([TrajectorySteps(steps=[['lookup']])]) == 'agent'
    assert span_use([]) == 'none'
    assert CaseSpec(name='c', inputs=None, evaluators=[EqualsExpected(), TrajectorySteps(steps=[])]).spans == 'agent'
    with pytest.raises(
        ValueError, match=r"Misdeclared.agentarch_spans = 'some': expected one of 'none', 'agent', 'all'"
    ):
        CaseSpec(name='c', inputs=None, evaluators=[Misdeclared()])


def test_a_users_own_span_reading_evaluator_gets_real_spans_and_metrics_are_derived_as_in_evaluate() -> None:
    assert span_use([SawThinking()]) == 'all' and span_use([RequestsSeen(), EqualsExpected()]) == 'none'

    async def thinks(inputs: Any, model: Any) -> str:
        increment_eval_metric('requests', 10)
        with trace.get_tracer('user-code').start_as_current_span('thinking'):
            return (await Agent(model, tools=[lookup]).run(inputs)).output

    # Reported 10, derived 2 (two model requests): pydantic-evals adds them up in ctx.metrics; the record keeps 10.
    for evaluators in ([SawThinking(), RequestsSeen()], [RequestsSeen()]):
        record = run_arch(thinks, evaluators=evaluators)
        assert [a.value for a in record.assertions][-1] == 12
        assert record.metrics == {'requests': 10.0}
    assert run_arch(thinks, evaluators=[SawThinking()]).assertions[0].value is True


def test_an_interrupt_inside_a_run_leaves_no_thread_behind() -> None:
    # Run 2 raises KeyboardInterrupt after runs 0 and 1 ran their sync tool on AnyIO's worker threads (pydantic-ai
    # runs sync tools there). Those threads are not daemons: left waiting for work, they would keep the interpreter
    # from exiting after a session that was otherwise over.
    install()

    async def interrupted(inputs: Any, model: Any) -> str:
        run = pytest_agentarch.current_run()
        if run is not None and run.index == 2:
            raise KeyboardInterrupt
        return await one_agent(inputs, model)

    arch = Architecture(name='interrupted', description='', func=interrupted)
    case = CaseSpec(name='c', inputs='go', expected_output='A')
    finished: list[RunRecord] = []
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run_case(arch, FunctionModel(respond), case, RunSettings(runs=4, concurrency=1), finished=finished))
    assert sorted(r.index for r in finished) == [0, 1]
    workers = [t for t in set(threading.enumerate()) - before if t.name == 'AnyIO worker thread']
    for thread in workers:
        thread.join(timeout=10)
    left = [t for t in workers if t.is_alive()]
    for thread in left:
        thread.queue.put_nowait(None)  # type: ignore[attr-defined]  # AnyIO's own stop signal, so a failure ends
    assert not left, f'{len(left)} AnyIO worker thread(s) still waiting for work'
