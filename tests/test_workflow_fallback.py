"""`workflow`'s fallback degrades honestly: an LLM step that failed is answered by the merging rule and the run is
judged degraded (the K8s suite's `Undegraded` evaluator), never a clean pass; anything but a failure of the LLM
step is a bug and fails the run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_evals.evaluators import Contains

import architectures
from architectures.common import Undegraded
from architectures.telemetry.scenarios import scenario_by_id
from pytest_agentarch.backends.sim import SimulatedModel
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
VERDICT = {
    'anomaly_detected': SCENARIO.expected_anomaly,
    'severity': SCENARIO.expected_severity,
    'category': SCENARIO.expected_category,
}


def _model(merge_error: Exception) -> FunctionModel:
    """Fails the merge step with `merge_error`; answers the summary with the merged report its prompt carries."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = next(
            p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
        )
        assert isinstance(prompt, str)
        if prompt.startswith('Merge the findings'):
            raise merge_error
        merged = next(json.loads(line) for line in prompt.splitlines() if line.startswith('{"entity"'))
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, merged)])

    return FunctionModel(respond)


def _run(model: Model) -> RunRecord:
    install()
    workflow = next(a for a in vars(architectures.workflow).values() if isinstance(a, registry.Architecture))
    case = CaseSpec(name='c', inputs=INPUTS, evaluators=[Contains(value=VERDICT), Undegraded()])
    return asyncio.run(run_case(workflow, model, case, RunSettings()))[0]


def test_a_fallback_answer_with_the_right_verdict_is_degraded_not_a_pass() -> None:
    record = _run(_model(ModelHTTPError(503, 'merge-model', body='provider down')))
    assert record.error_type is None and record.metrics['llm_fallbacks'] == 1
    assertions: dict[str, Any] = {a.name: (a.value, a.reason) for a in record.assertions}
    # The rule's verdict is right (the `Contains` holds), and the run still does not pass.
    assert assertions['Contains'][0] is True
    assert assertions['Undegraded'] == (False, '1 LLM step(s) fell back to the merging rule')
    assert not record.passed


def test_without_a_fallback_the_same_run_passes() -> None:
    # The simulated model at temperature 0 answers every step of this case right (tests/test_architectures.py).
    record = _run(SimulatedModel(temperature=0))
    assert record.metrics.get('llm_fallbacks', 0) == 0 and record.passed


def test_a_bug_is_not_hidden_by_the_fallback() -> None:
    record = _run(_model(KeyError('a bug in the merge step')))
    assert record.error_type == 'KeyError' and record.error_kind == 'behaviour'
