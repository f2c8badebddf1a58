"""`specialized` validates each specialist's report before code builds on it: no report without the specialist's
tool result, no report contradicting that result's assessment; `ModelRetry` first, a failed run after two retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai import ModelRetry
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from architectures.report import AnomalyReport
from architectures.specialized import _METADATA, check_specialist_report
from architectures.telemetry.scenarios import scenario_by_id

SCENARIO = scenario_by_id('cpu-saturation-checkout')
ASSESSMENT = {'anomaly_detected': True, 'severity': 'medium', 'category': 'crash_loop'}
"""What `get_entity_metadata` assesses for the checkout pod of this scenario (its restarts, exit code 137)."""


def _report(**verdict: Any) -> AnomalyReport:
    fields = {**ASSESSMENT, **verdict}
    return AnomalyReport(entity=SCENARIO.entity, evidence=[], recommended_actions=[], confidence=0.5, **fields)


def _returned(content: Any) -> list[ModelMessage]:
    return [ModelRequest(parts=[ToolReturnPart('get_entity_metadata', content, tool_call_id='1')])]


def test_a_report_rests_on_its_tool_result_and_agrees_with_its_assessment() -> None:
    with pytest.raises(ModelRetry, match='You answered without calling get_entity_metadata'):
        check_specialist_report('get_entity_metadata', [], _report())
    with pytest.raises(ModelRetry, match="severity='high' \\(the assessment says 'medium'\\)"):
        check_specialist_report('get_entity_metadata', _returned({'assessment': ASSESSMENT}), _report(severity='high'))
    # A call whose arguments did not validate came back as a return marked retried: it is no result to rest on.
    retried = [
        ModelRequest(
            parts=[ToolReturnPart('get_entity_metadata', 'fix the arguments', tool_call_id='1', outcome='retried')]
        )
    ]
    with pytest.raises(ModelRetry, match='You answered without calling get_entity_metadata'):
        check_specialist_report('get_entity_metadata', retried, _report())
    report = _report()
    assert check_specialist_report('get_entity_metadata', _returned({'assessment': ASSESSMENT}), report) is report
    # Tools run without assessments (K8S_TOOL_ASSESSMENT=off): the report is the model's own reading.
    assert check_specialist_report('get_entity_metadata', _returned({'phase': 'Running'}), report) is report


def _scripted(skip_tool: int) -> tuple[FunctionModel, list[list[str]]]:
    """A model that answers without calling the tool `skip_tool` times, then calls it and copies its assessment.
    Also returns, per request, the retry prompts the model had been shown."""
    shown: list[list[str]] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        # What the latest request sent back: a retry arrives as a retry prompt or a tool return marked retried.
        latest = messages[-1].parts
        retries = [p.model_response() for p in latest if isinstance(p, RetryPromptPart)]
        retries += [str(p.content) for p in latest if isinstance(p, ToolReturnPart) and p.outcome == 'retried']
        shown.append(retries)
        output = info.output_tools[0].name
        results = [
            p.content
            for m in messages
            for p in m.parts
            if isinstance(p, ToolReturnPart) and p.tool_name == 'get_entity_metadata'
        ]
        if len(shown) <= skip_tool:
            return ModelResponse(parts=[ToolCallPart(output, _report(severity='low').model_dump(mode='json'))])
        if not results:
            name = SCENARIO.entity.split('/', 1)[1]
            args = {
                'entity_type': 'k8s:pod',
                'name': name,
                'start': SCENARIO.incident_start,
                'end': SCENARIO.incident_end,
            }
            return ModelResponse(parts=[ToolCallPart('get_entity_metadata', args)])
        verdict = {k: results[-1]['assessment'][k] for k in ASSESSMENT}
        return ModelResponse(parts=[ToolCallPart(output, _report(**verdict).model_dump(mode='json'))])

    return FunctionModel(respond), shown


def test_a_specialist_that_skips_its_tool_is_sent_back_once_and_then_reports_from_it() -> None:
    model, shown = _scripted(skip_tool=1)
    result = asyncio.run(_METADATA.run('Look up the checkout pod.', model=model))
    assert (result.output.severity, result.output.category) == ('medium', 'crash_loop')
    # Request 1 answered without the tool; request 2 saw the retry and called it; request 3 reported from it.
    assert len(shown) == 3
    assert shown[0] == [] and 'You answered without calling get_entity_metadata' in shown[1][0]


def test_a_specialist_that_never_calls_its_tool_fails_the_run_instead_of_carrying_on() -> None:
    model, shown = _scripted(skip_tool=10)
    with pytest.raises(UnexpectedModelBehavior, match='Exceeded maximum output retries'):
        asyncio.run(_METADATA.run('Look up the checkout pod.', model=model))
    # The first answer and two retries, then the run stops.
    assert len(shown) == 3
