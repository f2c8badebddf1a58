"""The runner on its own: one record per run with its model requests, tool calls and verdicts."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from pydantic_evals.evaluators import EqualsExpected

from pytest_agentarch.capture import ensure_instrumentation
from pytest_agentarch.records import RunRecord
from pytest_agentarch.registry import Architecture
from pytest_agentarch.report import ItemResult, build_report
from pytest_agentarch.runner import CaseSpec, RunSettings, run_case


def lookup(key: str) -> str:
    return key.upper()


async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})], usage=RequestUsage(input_tokens=30))
    return ModelResponse(parts=[TextPart('A')], usage=RequestUsage(input_tokens=40, output_tokens=2))


async def one_agent(inputs: Any, model: Any) -> str:
    return (await Agent(FunctionModel(respond, model_name='gpt-4o'), tools=[lookup]).run(inputs)).output


def run(runs: int) -> list[RunRecord]:
    ensure_instrumentation()
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

    ensure_instrumentation()
    arch = Architecture(name='retrying', description='', func=retrying)
    (record,) = asyncio.run(run_case(arch, FunctionModel(respond), CaseSpec(name='c', inputs='go'), RunSettings()))
    assert record.trajectory == 'agent(flaky! > flaky)'
    assert [(c.name, c.failed) for c in record.tool_calls] == [('flaky', True), ('flaky', False)]
