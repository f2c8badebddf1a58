"""No K8s architecture carries on past a step that did not happen: an agent that answers without the tool calls its
answer rests on is sent back with `ModelRetry`, and after its retries the run fails with a clear error instead of
answering as if the entity had been looked up and analysed. Driven by `FunctionModel`s that skip their tools."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition

import architectures
from architectures.common import missing_steps
from architectures.telemetry.scenarios import scenario_by_id
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.run import registry
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case

SCENARIO = scenario_by_id('cpu-saturation-checkout')
INPUTS = {
    'entity': SCENARIO.entity,
    'prompt': f'Detect anomalies of {SCENARIO.entity} in the incident window.',
    'baseline_start': SCENARIO.baseline_start,
    'baseline_end': SCENARIO.baseline_end,
    'incident_start': SCENARIO.incident_start,
    'incident_end': SCENARIO.incident_end,
}
K8S_TOOLS = {'get_entity_metadata', 'analyze_cpu_metrics', 'analyze_memory_metrics', 'analyze_logs'}
ANALYSES = ['analyze_cpu_metrics', 'analyze_memory_metrics', 'analyze_logs']


def _arguments(tool: ToolDefinition) -> dict[str, Any]:
    """Arguments about the case's pod over the incident window (against the baseline where the tool takes one)."""
    values = {
        'entity': SCENARIO.entity,
        'entity_type': 'k8s:pod',
        'name': SCENARIO.name,
        'start': SCENARIO.incident_start,
        'end': SCENARIO.incident_end,
        'baseline_start': SCENARIO.baseline_start,
        'baseline_end': SCENARIO.baseline_end,
    }
    return {k: values[k] for k in tool.parameters_json_schema.get('properties', {}) if k in values}


def _report(anomaly: bool) -> dict[str, Any]:
    return {
        'entity': SCENARIO.entity,
        'anomaly_detected': anomaly,
        'severity': 'high' if anomaly else 'none',
        'category': 'cpu_saturation' if anomaly else 'none',
        'evidence': ['made up'],
        'recommended_actions': [],
        'confidence': 0.5,
    }


def _retries(messages: list[ModelMessage]) -> list[str]:
    """What the model was sent back for: a retried output comes back as a tool return marked `retried` (or, in
    older releases, as a retry prompt)."""
    return [
        str(p.content)
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if (isinstance(p, ToolReturnPart) and p.outcome == 'retried') or isinstance(p, RetryPromptPart)
    ]


def _model(calls_tools: Callable[[AgentInfo, list[ModelMessage]], bool], retries: list[str]) -> FunctionModel:
    """Answers at once (an anomaly, or none for a tool-less step) unless `calls_tools` says this agent, at this point
    of its run, calls all its function tools first; collects every retry prompt it is shown."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        retries.extend(r for r in _retries(messages[-1:]))
        tools = {t.name for t in info.function_tools}
        called = any(
            isinstance(p, ToolReturnPart) and p.tool_name in tools
            for m in messages
            if isinstance(m, ModelRequest)
            for p in m.parts
        )
        if info.function_tools and not called and calls_tools(info, messages):
            return ModelResponse(
                parts=[
                    ToolCallPart(t.name, _arguments(t), tool_call_id=f'c{i}') for i, t in enumerate(info.function_tools)
                ]
            )
        output = next((t for t in info.output_tools if 'NoAnomaly' not in t.name), info.output_tools[0])
        return ModelResponse(parts=[ToolCallPart(output.name, _report(anomaly=bool(info.function_tools)))])

    return FunctionModel(respond)


def _run(name: str, model: FunctionModel) -> RunRecord:
    install()
    module = getattr(architectures, name)
    arch = next(a for a in vars(module).values() if isinstance(a, registry.Architecture))
    return asyncio.run(run_case(arch, model, CaseSpec(name='c', inputs=INPUTS), RunSettings()))[0]


def _never(info: AgentInfo, messages: list[ModelMessage]) -> bool:
    return False


@pytest.mark.parametrize(
    ('name', 'agent', 'times', 'first_retry'),
    [
        ('single', 'single', 1, f'You answered without calling get_entity_metadata for {SCENARIO.entity}.'),
        (
            'delegation',
            'coordinator',
            1,
            f'You answered without calling ask_metadata_specialist for {SCENARIO.entity}.',
        ),
        ('specialized', 'get_entity_metadata_agent', 2, 'You answered without calling get_entity_metadata.'),
    ],
)
def test_an_agent_that_skips_its_tools_fails_the_run_instead_of_answering(
    name: str, agent: str, times: int, first_retry: str
) -> None:
    retries: list[str] = []
    record = _run(name, _model(_never, retries))
    assert record.error_type == 'SkippedStepError', (record.error_type, record.output)
    assert (record.error_message or '').startswith(
        f'{agent} answered without a step its answer rests on and was sent back {times} time(s); the run stops '
        f'instead of carrying on. Last: {first_retry}'
    ), record.error_message
    assert record.output is None
    assert retries and retries[0].startswith(first_retry), retries
    # Nothing was analysed: the run stopped at the step that did not happen.
    assert not {c.name for c in record.tool_calls} & {*ANALYSES, 'ask_metrics_specialist', 'ask_logs_specialist'}


def test_a_delegated_specialist_that_skips_its_tool_fails_the_run() -> None:
    # The coordinator asks its three specialists at once; each answers without calling its tools.
    retries: list[str] = []
    record = _run('delegation', _model(lambda info, _: not {t.name for t in info.function_tools} & K8S_TOOLS, retries))
    assert record.error_type == 'SkippedStepError', (record.error_type, record.output)
    assert 'You answered without calling get_entity_metadata. Call it, then report its result.' in retries
    # Whichever of the three concurrent specialists ran out of retries first stops the run.
    assert re.match(r'(metadata|metrics|logs)_specialist answered without a step', record.error_message or '')
    assert sorted(c.name for c in record.tool_calls) == [
        'ask_logs_specialist',
        'ask_metadata_specialist',
        'ask_metrics_specialist',
    ]


def test_hybrids_adaptive_stage_that_checks_nothing_fails_the_run() -> None:
    # The tool-less merge answers "no anomaly", so the node stage is adaptive; its agent answers without a check.
    retries: list[str] = []
    record = _run('hybrid', _model(_never, retries))
    assert record.error_type == 'SkippedStepError', (record.error_type, record.output)
    assert (record.error_message or '').startswith('node_investigator answered without a step')
    assert retries == [
        'You answered without checking k8s:node/ip-10-0-1-17.eu-west-1.compute.internal. Call at '
        'least one tool for it, then answer.'
    ]
    # The pod's own 7 calls ran (code calls them); no node tool did.
    assert len(record.tool_calls) == 7


def test_an_agent_sent_back_once_that_then_does_the_steps_answers() -> None:
    retries: list[str] = []
    record = _run('single', _model(lambda _, messages: bool(_retries(messages)), retries))
    assert record.error_type is None, record.error_message
    assert retries == [
        f'You answered without calling get_entity_metadata for {SCENARIO.entity}. Call it first, then answer from '
        'its result.'
    ]
    assert sorted(c.name for c in record.tool_calls) == sorted(K8S_TOOLS)


def _exchange(*calls: tuple[str, dict[str, Any], Any, str]) -> list[ModelMessage]:
    """One response calling every tool, then one request returning each result with the given outcome."""
    return [
        ModelResponse(parts=[ToolCallPart(n, a, tool_call_id=str(i)) for i, (n, a, _, _) in enumerate(calls)]),
        ModelRequest(
            parts=[ToolReturnPart(n, r, tool_call_id=str(i), outcome=o) for i, (n, _, r, o) in enumerate(calls)]  # type: ignore[arg-type]
        ),
    ]


def test_missing_steps_counts_only_successful_calls_about_the_entity() -> None:
    pod, other = 'k8s:pod/a', 'k8s:pod/b'
    lookup = ('get_entity_metadata', {}, {'entity': pod, 'exists': True}, 'success')
    analyses = [(t, {}, {'entity': pod}, 'success') for t in ANALYSES]
    assert missing_steps(_exchange(lookup, *analyses), pod, 'get_entity_metadata', ANALYSES) is None
    # A missing entity needs no analysis.
    gone = ('get_entity_metadata', {}, {'entity': pod, 'exists': False}, 'success')
    assert missing_steps(_exchange(gone), pod, 'get_entity_metadata', ANALYSES) is None
    # A lookup of another entity, or one that was retried, did not happen for this entity.
    for bad in (('get_entity_metadata', {}, {'entity': other}, 'success'), (*lookup[:3], 'retried')):
        assert missing_steps(_exchange(bad, *analyses), pod, 'get_entity_metadata', ANALYSES) == (
            f'You answered without calling get_entity_metadata for {pod}. Call it first, then answer from its result.'
        )
    # A failed log analysis is a skipped one.
    failed = [*analyses[:2], ('analyze_logs', {}, 'boom', 'failed')]
    assert missing_steps(_exchange(lookup, *failed), pod, 'get_entity_metadata', ANALYSES) == (
        f'You answered without calling analyze_logs for {pod}. Call them, then answer from their results.'
    )
    # Delegating tools are matched on their `entity` argument.
    asked = ('ask', {'entity': f' {pod} '}, {'source': 'x', 'entity': other, 'exists': True}, 'success')
    assert missing_steps(_exchange(asked), pod, 'ask', [], by_argument=True) is None
