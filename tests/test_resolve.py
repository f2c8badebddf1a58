"""Open requests: the lookup tools on figures worked out by hand, the resolver step driven by a scripted model, and a
clear request that never reaches it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai import ModelRetry
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_evals import Dataset

from architectures.common import AnalysisRequest, SkippedStepError, Undegraded
from architectures.report import AnomalyReport
from architectures.resolve import OpenRequest, resolution_problem, resolved
from architectures.telemetry import scenario_by_id
from architectures.telemetry.backend import parse_time
from architectures.tools import get_entity_metadata
from architectures.tools.lookup import name_matches, search_entities, windows_since
from pytest_agentarch import TrajectoryRequirements, call_tool
from pytest_agentarch.core.stats import case_stats
from pytest_agentarch.run import registry
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case

CHECKOUT = scenario_by_id('cpu-saturation-checkout')


def test_a_name_matches_the_words_of_the_question_that_are_its_parts() -> None:
    question = 'Checkout has been slow since about 10:00, look into it.'
    assert name_matches(question, 'checkout-7f9c4d-x2k1') == ['checkout']
    # Numbers (times, a node's octets) and words under three letters are never searched for.
    assert name_matches(question, 'ip-10-0-5-77.eu-west-1.compute.internal') == []
    # A word of four letters or more matches the beginning of a part; a shorter one must equal a part.
    assert name_matches('notif', 'notification-worker-84c6d7f9b-r5s2d') == ['notif']
    assert name_matches('api', 'apiserver-0') == []
    assert name_matches('the web frontend', 'web-frontend-7d5c9b8f6-j2m4n') == ['web', 'frontend']


def test_the_windows_run_from_the_time_of_day_until_the_question_with_the_hour_before() -> None:
    assert windows_since('10:00', '2026-03-14T10:30:00Z') == {
        'baseline_start': '2026-03-14T09:00:00Z',
        'baseline_end': '2026-03-14T10:00:00Z',
        'incident_start': '2026-03-14T10:00:00Z',
        'incident_end': '2026-03-14T10:30:00Z',
    }
    # A time of day later than the question is the day before's.
    assert windows_since('23:50', '2026-03-14T00:20:00Z')['incident_start'] == '2026-03-13T23:50:00Z'
    assert windows_since('2026-03-14T10:05:00Z', '2026-03-14T10:30:00Z')['baseline_start'] == '2026-03-14T09:05:00Z'


@pytest.mark.parametrize(
    ('since', 'message'),
    [
        ('2026-03-14T10:45:00Z', r'since \(2026-03-14T10:45:00Z\) must be before now'),
        ('25:00', r"since='25:00' is not a time of day: use HH:MM"),
        ('about ten', r"since='about ten' is not a valid time: use a time of day such as '08:15'"),
    ],
)
def test_a_time_that_cannot_start_the_incident_is_sent_back_naming_it(since: str, message: str) -> None:
    with pytest.raises(ModelRetry, match=message):
        windows_since(since, '2026-03-14T10:30:00Z')


def test_the_search_finds_only_entities_seen_in_the_hour_before_the_question() -> None:
    question = 'Checkout has been slow since about 10:00, look into it.'
    found = asyncio.run(search_entities(question, parse_time(CHECKOUT.incident_end)))
    assert [m['entity'] for m in found['matches']] == [CHECKOUT.entity]
    # The suite's other checkout pod runs on the node of node-not-ready, three weeks later: found at that time only.
    later = asyncio.run(search_entities('checkout', parse_time(scenario_by_id('node-not-ready').incident_end)))
    assert [m['entity'] for m in later['matches']] == ['k8s:pod/checkout-worker-6d7c8b9f5-b5n7m']
    with pytest.raises(ModelRetry, match='holds no word to search for'):
        asyncio.run(search_entities('is it ok at 10:00?', parse_time(CHECKOUT.incident_end)))


def test_an_open_request_is_told_from_a_clear_one_and_checks_its_time() -> None:
    assert OpenRequest.of({'prompt': 'checkout is slow since 10:00', 'now': '2026-03-14T10:30:00Z'}) is not None
    clear = {'entity': CHECKOUT.entity, 'prompt': '-', 'now': '2026-03-14T10:30:00Z'}
    assert OpenRequest.of(clear) is None
    with pytest.raises(ValidationError, match=r"now='yesterday' is not a time: write it in ISO 8601 UTC"):
        OpenRequest.model_validate({'prompt': '-', 'now': 'yesterday'})
    with pytest.raises(ValidationError, match='Extra inputs are not permitted'):
        OpenRequest.model_validate({'prompt': '-', 'now': '2026-03-14T10:30:00Z', 'incident_start': '10:00'})


def _call(name: str, args: dict[str, Any], call_id: str) -> ToolCallPart:
    return ToolCallPart(tool_name=name, args=args, tool_call_id=call_id)


def _returned(name: str, content: Any, call_id: str) -> ToolReturnPart:
    return ToolReturnPart(tool_name=name, content=content, tool_call_id=call_id)


WINDOWS = {
    'baseline_start': '2026-03-14T09:00:00Z',
    'baseline_end': '2026-03-14T10:00:00Z',
    'incident_start': '2026-03-14T10:00:00Z',
    'incident_end': '2026-03-14T10:30:00Z',
}


def test_a_resolution_must_rest_on_the_search_and_the_computed_windows() -> None:
    searched: list[ModelMessage] = [
        ModelResponse(parts=[_call('find_entities', {'question': 'checkout'}, 'a')]),
        ModelRequest(parts=[_returned('find_entities', {'matches': [{'entity': CHECKOUT.entity}]}, 'a')]),
    ]
    computed: list[ModelMessage] = [
        ModelResponse(parts=[_call('incident_windows', {'since': '10:00'}, 'b')]),
        ModelRequest(parts=[_returned('incident_windows', WINDOWS, 'b')]),
    ]
    assert 'without finding the entity' in str(resolution_problem([], CHECKOUT.entity, WINDOWS))
    assert 'k8s:pod/checkout-7f9c4d-q8w3z is not among the entities find_entities found' in str(
        resolution_problem(searched, 'k8s:pod/checkout-7f9c4d-q8w3z', WINDOWS)
    )
    assert 'without computing the windows' in str(resolution_problem(searched, CHECKOUT.entity, WINDOWS))
    shifted = {**WINDOWS, 'incident_end': '2026-03-14T10:45:00Z'}
    assert "incident_end='2026-03-14T10:45:00Z' (expected '2026-03-14T10:30:00Z')" in str(
        resolution_problem([*searched, *computed], CHECKOUT.entity, shifted)
    )
    assert resolution_problem([*searched, *computed], CHECKOUT.entity, WINDOWS) is None


def _scripted(answer: dict[str, Any] | None = None, *, search: bool = True) -> FunctionModel:
    """A model that searches for 'checkout' (unless told not to), computes the windows from '10:00', then answers
    with the first match and the computed windows, or with `answer`."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = {
            part.tool_name: part.content
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, ToolReturnPart)
        }
        if 'incident_windows' not in returns:
            calls = [_call('incident_windows', {'since': '10:00'}, 'w')]
            if search:
                calls.append(_call('find_entities', {'question': 'the checkout service'}, 'f'))
            return ModelResponse(parts=calls)
        found = returns.get('find_entities')
        entity = found['matches'][0]['entity'] if isinstance(found, dict) else 'k8s:pod/checkout'
        output = answer or {'entity': entity, **returns['incident_windows']}
        return ModelResponse(parts=[_call(info.output_tools[0].name, output, 'o')])

    return FunctionModel(respond)


WINDOWS_OF_CHECKOUT = (CHECKOUT.incident_start, CHECKOUT.incident_end)
OPEN = {'prompt': 'Checkout has been slow since about 10:00, look into it.', 'now': CHECKOUT.incident_end}


def test_the_resolver_turns_an_open_request_into_the_clear_one_of_its_case() -> None:
    request = asyncio.run(resolved(OPEN, _scripted()))
    assert request == AnalysisRequest(
        entity=CHECKOUT.entity,
        prompt=OPEN['prompt'],
        baseline_start=CHECKOUT.baseline_start,
        baseline_end=CHECKOUT.baseline_end,
        incident_start=CHECKOUT.incident_start,
        incident_end=CHECKOUT.incident_end,
    )


def test_a_resolver_that_guesses_instead_of_searching_stops_the_run() -> None:
    with pytest.raises(SkippedStepError, match='resolver answered without a step its answer rests on'):
        asyncio.run(resolved(OPEN, _scripted(search=False)))
    guessed = {'entity': 'k8s:pod/checkout-7f9c4d-q8w3z', **WINDOWS}
    with pytest.raises(Exception, match='output retries'):
        asyncio.run(resolved(OPEN, _scripted(guessed)))


class _Untouchable(FunctionModel):
    def __init__(self) -> None:
        async def fail(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            raise AssertionError('a clear request must not reach the resolver')

        super().__init__(fail)


def test_a_clear_request_is_investigated_as_it_is_without_a_model_step() -> None:
    clear = {
        'entity': CHECKOUT.entity,
        'prompt': '-',
        'baseline_start': CHECKOUT.baseline_start,
        'baseline_end': CHECKOUT.baseline_end,
        'incident_start': CHECKOUT.incident_start,
        'incident_end': CHECKOUT.incident_end,
    }
    model: Model = _Untouchable()
    assert asyncio.run(resolved(clear, model)) == AnalysisRequest.model_validate(clear)


def test_an_orchestrated_architecture_runs_its_fixed_stages_on_the_resolved_request() -> None:
    """`manual` on the open checkout question: the resolver's answer, then the usual stages, whose prompts name the
    entity and windows the resolver found (the merge and summary answers are scripted)."""
    from architectures.manual import manual

    prompts: list[str] = []
    resolver = _scripted()

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if info.function_tools:
            return await resolver.function(messages, info)  # type: ignore[misc]
        prompts.extend(
            str(part.content)
            for m in messages
            if isinstance(m, ModelRequest)
            for part in m.parts
            if part.part_kind == 'user-prompt'
        )
        report = {
            'entity': CHECKOUT.entity,
            'anomaly_detected': True,
            'severity': 'high',
            'category': 'cpu_saturation',
            'evidence': [],
            'recommended_actions': [],
            'confidence': 0.9,
        }
        return ModelResponse(parts=[_call(info.output_tools[0].name, report, 'r')])

    report = asyncio.run(manual(OPEN, FunctionModel(respond)))
    assert report.entity == CHECKOUT.entity
    stated = (
        f'Entity: {CHECKOUT.entity}. Baseline window {CHECKOUT.baseline_start} to {CHECKOUT.baseline_end}. '
        f'Incident window {CHECKOUT.incident_start} to {CHECKOUT.incident_end}.'
    )
    assert len(prompts) == 2 and all(stated in p for p in prompts)  # merge, then summary


def test_single_answers_an_open_request_with_its_resolving_agent() -> None:
    from architectures.single import single

    async def answer_at_once(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        assert {'find_entities', 'incident_windows', 'get_entity_metadata'} <= {t.name for t in info.function_tools}
        report = {'entity': CHECKOUT.entity, 'category': 'none', 'evidence': [], 'confidence': 0.5}
        return ModelResponse(parts=[_call('final_result_NoAnomaly', report, 'n')])

    with pytest.raises(SkippedStepError, match=r'single_open answered without a step.*without finding the entity'):
        asyncio.run(single(OPEN, FunctionModel(answer_at_once)))


def test_an_open_case_fails_a_right_verdict_about_the_wrong_entity() -> None:
    """The open case's outcome evaluator checks the entity: the right verdict about another checkout pod fails."""
    install()
    path = Path(__file__).resolve().parents[1] / 'evals' / 'k8s_anomaly_separating.yaml'
    dataset = Dataset[Any, Any, Any].from_file(path, custom_evaluator_types=[TrajectoryRequirements, Undegraded])
    case = next(c for c in dataset.cases if c.name == 'open_checkout_slow_since')
    outcome = [e for e in case.evaluators if not isinstance(e, TrajectoryRequirements)]

    def answering(entity: str) -> registry.Architecture:
        async def func(inputs: Any, model: Any) -> AnomalyReport:
            # One call, so that the run captured something (a run that did nothing is a capture error).
            await call_tool(
                get_entity_metadata, 'k8s:pod', CHECKOUT.name, CHECKOUT.incident_start, CHECKOUT.incident_end
            )
            return AnomalyReport(
                entity=entity,
                anomaly_detected=True,
                severity='high',
                category='cpu_saturation',
                evidence=[],
                recommended_actions=[],
                confidence=0.9,
            )

        return registry.Architecture(name='probe', description='', func=func)

    def passed(entity: str) -> float:
        spec = CaseSpec(name=str(case.name), inputs=case.inputs, evaluators=outcome)
        records = asyncio.run(run_case(answering(entity), _Untouchable(), spec, RunSettings(runs=1)))
        return case_stats(records, architecture='probe', case=spec.name).pass_rate.value

    assert passed(CHECKOUT.entity) == 1.0
    assert passed('k8s:pod/checkout-worker-6d7c8b9f5-b5n7m') == 0.0
