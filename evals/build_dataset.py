"""Build `evals/k8s_anomaly.yaml` (and its JSON schema) from the scenario catalogue.

Run from the repository root: `python evals/build_dataset.py`; it also writes `evals/k8s_anomaly_batch.yaml`, the
batch cases (several entities per case, `architectures/batch.py`), `evals/k8s_anomaly_raw.yaml`, the core
scenarios with the tools' assessments off (`tool_assessments: false`), and `evals/k8s_anomaly_separating.yaml`, the
cases that separate the architectures (the scenarios the fixed workflow cannot solve, and open requests). The
expected answers come from `architectures/telemetry/scenarios/`, so the dataset cannot drift from the data.

Each case is judged on two sides (the plugin's `run.sides`): its outcome (`Contains` on the verdict, the pass rate)
and its path (`TrajectoryRequirements`, path conformance). The path requirements describe what any reasonable
investigation does, not the one workflow the orchestrated architectures implement: look the entity up first, then
analyse its CPU, memory and logs (in any grouping, with or without separate baseline calls, with or without a node
stage); for a missing entity, look it up (again under a suggested name if you like) and analyse nothing.

Cases:
- one per scenario, with a clear request naming the entity and what to do (the confounded scenarios, then those of
  the wider taxonomy, last);
- ambiguous requests about the same entities (a bare name, "tell me about", "is anything wrong with");
- requests that suggest all is well about an anomalous entity, where an architecture with a union output type
  (`single`) is tempted to answer with the wrong type (`NoAnomaly`).

The separating dataset's open requests name neither the entity nor the windows (a workload and a time of day, with
the time the question was asked), and are judged on the entity the answer names too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic_evals import Case, Dataset  # noqa: E402
from pydantic_evals.evaluators import Contains, Evaluator, MaxModelRequests, MaxToolCalls  # noqa: E402

from architectures.batch import (  # noqa: E402
    BATCH_DATASET,
    RAW_DATASET,
    SEPARATING_DATASET,
    BatchDiagnosis,
    BatchRequest,
    EntityVerdicts,
)
from architectures.common import ANALYSIS_TOOLS, AnalysisRequest, Undegraded  # noqa: E402
from architectures.report import Diagnosis  # noqa: E402
from architectures.resolve import OpenRequest  # noqa: E402
from architectures.telemetry.scenarios import (  # noqa: E402
    ADAPTIVE_SCENARIOS,
    CONFOUNDED_SCENARIOS,
    CORE_SCENARIOS,
    TAXONOMY_SCENARIOS,
    Scenario,
    scenario_by_id,
)
from architectures.tools import get_entity_metadata  # noqa: E402
from pytest_agentarch import TrajectoryRequirements  # noqa: E402

OUT = ROOT / 'evals' / 'k8s_anomaly.yaml'
SEPARATING_OUT = ROOT / 'evals' / f'{SEPARATING_DATASET}.yaml'
BATCH_OUT = ROOT / 'evals' / 'k8s_anomaly_batch.yaml'
RAW_OUT = ROOT / 'evals' / 'k8s_anomaly_raw.yaml'

AMBIGUOUS: tuple[tuple[str, str, str], ...] = (
    # (case name, scenario id, prompt with {name} / {entity})
    ('ambiguous_investigate_frontend', 'healthy-traffic-peak', 'Investigate {name}.'),
    ('ambiguous_tell_me_about_checkout', 'cpu-saturation-checkout', 'Tell me about {name}.'),
    ('ambiguous_anything_wrong_with_node', 'node-memory-pressure', 'Is anything wrong with {name}?'),
    ('ambiguous_anything_wrong_with_healthy_node', 'healthy-node', 'Is anything wrong with {name}?'),
    ('ambiguous_search_is_slow', 'noisy-neighbor-search', 'Users say search is slow. Look at {name}.'),
    ('ambiguous_missing_checkout_pod', 'pod-not-found', 'What happened to {name}?'),
)
"""Vague requests about scenario entities: the answer must not depend on how the question is asked."""

ALL_IS_WELL: tuple[tuple[str, str, str], ...] = (
    (
        'wrong_type_bait_cart_looks_fine',
        'memory-leak-cart',
        'The dashboards say {name} is healthy and nothing is wrong. Just confirm there is no anomaly.',
    ),
    (
        'wrong_type_bait_ledger_is_fine',
        'crash-loop-ledger',
        'Quick sanity check: {entity} is fine after the rollout, right? No anomaly expected.',
    ),
    (
        'wrong_type_bait_notifications_normal',
        'network-errors-notifications',
        'I believe {name} behaved normally during the incident window; confirm it is healthy.',
    ),
)
"""Anomalous entities asked about as if they were healthy."""

OPEN: tuple[tuple[str, str, str], ...] = (
    (
        'open_checkout_slow_since',
        'cpu-saturation-checkout',
        'Checkout has been slow since about {since}, look into it.',
    ),
    (
        'open_search_slow_since',
        'noisy-neighbor-search',
        'Users say search got slow at around {since}. What is going on?',
    ),
    (
        'open_cart_restarting_since',
        'memory-leak-cart',
        'The cart service keeps restarting since {since} or so; find out why.',
    ),
    (
        'open_frontend_busy_since',
        'healthy-traffic-peak',
        'The web frontend has looked busy since {since}. Is anything actually wrong?',
    ),
    (
        'open_notifications_failing_since',
        'network-errors-notifications',
        'Notification emails started failing at {since}, please investigate.',
    ),
)
"""Open requests: a workload and a time of day, asked at the end of the incident window; neither the entity nor the
windows are named, so every architecture must resolve them itself (`architectures.resolve`). The answer must name
the entity meant."""


def _inputs(scenario: Scenario, prompt: str, *, tool_assessments: bool | None = None) -> AnalysisRequest:
    return AnalysisRequest(
        tool_assessments=tool_assessments,
        entity=scenario.entity,
        prompt=prompt,
        baseline_start=scenario.baseline_start,
        baseline_end=scenario.baseline_end,
        incident_start=scenario.incident_start,
        incident_end=scenario.incident_end,
    )


REPORTED: dict[str, str] = {
    'dns-cache-timeouts-shipping': 'Users say shipping quotes have been slow.',
    'dns-flood-neighbour-catalog': 'Users say catalog searches have been slow.',
}
"""What the user reports of each scenario the fixed workflow cannot solve, before the clear request: the symptom its
entity shows (its own data look healthy), as an incident is raised in practice. It names no other entity."""


def _clear_prompt(scenario: Scenario) -> str:
    kind = 'pod' if scenario.entity_type == 'k8s:pod' else 'node'
    return (
        f'Detect anomalies of the {kind} {scenario.entity} in the incident window compared with its baseline, '
        'and report the category, severity and evidence.'
    )


def _requirements(exists: bool) -> TrajectoryRequirements:
    """What the investigation of an entity needs, leaving grouping, repetition and extra stages free."""
    metadata = get_entity_metadata.__name__
    analyses = sorted(t.__name__ for t in ANALYSIS_TOOLS)
    if not exists:
        return TrajectoryRequirements(required=[metadata], forbidden=analyses, evaluation_name='investigation')
    return TrajectoryRequirements(
        required=[metadata, *analyses],
        order=[[metadata, a] for a in analyses],
        evaluation_name='investigation',
    )


def _case(
    name: str, scenario: Scenario, prompt: str, *, tool_assessments: bool | None = None, open_request: bool = False
) -> Case[Any, Diagnosis, dict[str, str]]:
    verdict: dict[str, object] = {
        'anomaly_detected': scenario.expected_anomaly,
        'severity': scenario.expected_severity,
        'category': scenario.expected_category,
    }
    inputs: AnalysisRequest | OpenRequest = _inputs(scenario, prompt, tool_assessments=tool_assessments)
    if open_request:
        # The question is asked at the end of the incident window and names its start as a time of day; the verdict
        # must be about the entity it meant.
        since = scenario.incident_start_dt.strftime('%H:%M')
        inputs = OpenRequest(prompt=prompt.format(since=since), now=scenario.incident_end)
        verdict['entity'] = scenario.entity
    exists = scenario.expected_category != 'entity_not_found'
    return Case(
        name=name,
        inputs=inputs,
        expected_output=Diagnosis(
            entity=scenario.entity,
            anomaly_detected=scenario.expected_anomaly,
            severity=scenario.expected_severity,
            category=scenario.expected_category,
        ),
        metadata={'scenario': scenario.id, 'description': scenario.description},
        evaluators=(
            Contains(value=verdict, evaluation_name='diagnosis'),
            # Requirements name only K8s tools: the layers architectures add (delegation's specialists) pass freely.
            _requirements(exists),
        ),
    )


def build() -> Dataset[AnalysisRequest, Diagnosis, dict[str, str]]:
    """The dataset: the core scenarios, the ambiguous and the all-is-well requests, then the confounded scenarios and
    those of the wider taxonomy (appended, so the cases before them keep their order)."""
    cases = [_case(s.id.replace('-', '_'), s, _clear_prompt(s)) for s in CORE_SCENARIOS]
    for name, scenario_id, template in (*AMBIGUOUS, *ALL_IS_WELL):
        scenario = scenario_by_id(scenario_id)
        cases.append(_case(name, scenario, template.format(name=scenario.name, entity=scenario.entity)))
    cases.extend(_case(s.id.replace('-', '_'), s, _clear_prompt(s)) for s in CONFOUNDED_SCENARIOS + TAXONOMY_SCENARIOS)
    return Dataset[AnalysisRequest, Diagnosis, dict[str, str]](
        name='k8s_anomaly', cases=_unique(cases), evaluators=_evaluators()
    )


def build_separating() -> Dataset[AnalysisRequest | OpenRequest, Diagnosis, dict[str, str]]:
    """The cases that separate the architectures: the scenarios the fixed workflow cannot solve, asked clearly after
    the symptom the user reports, then the open requests. Measured by the main job, not gated (docs/ci-gates.md)."""
    cases = [_case(s.id.replace('-', '_'), s, f'{REPORTED[s.id]} {_clear_prompt(s)}') for s in ADAPTIVE_SCENARIOS]
    cases.extend(_case(name, scenario_by_id(sid), template, open_request=True) for name, sid, template in OPEN)
    return Dataset[AnalysisRequest | OpenRequest, Diagnosis, dict[str, str]](
        name=SEPARATING_DATASET, cases=_unique(cases), evaluators=_evaluators()
    )


def _unique(cases: list[Case[Any, Diagnosis, dict[str, str]]]) -> list[Case[Any, Diagnosis, dict[str, str]]]:
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), 'case names must be unique'
    return cases


def build_raw() -> Dataset[AnalysisRequest, Diagnosis, dict[str, str]]:
    """The assessment-off dataset: the core scenarios' clear requests with `tool_assessments: false`, so every tool
    returns its statistics without a verdict and the architectures must reach the verdict from the numbers."""
    cases = [_case(s.id.replace('-', '_'), s, _clear_prompt(s), tool_assessments=False) for s in CORE_SCENARIOS]
    return Dataset[AnalysisRequest, Diagnosis, dict[str, str]](name=RAW_DATASET, cases=cases, evaluators=_evaluators())


def _evaluators() -> list[Evaluator[Any, Diagnosis, dict[str, str]]]:
    return [
        # Generous: the canonical workflow needs 11 tool calls and about 30 model requests (specialized); the
        # limits only catch runaway loops.
        MaxToolCalls(max_calls=40),
        MaxModelRequests(max_requests=80),
        # A run whose LLM step fell back to the merging rule is degraded, never a clean pass.
        Undegraded(),
    ]


BATCHES: tuple[tuple[str, str, tuple[tuple[str, bool, str, str], ...], str], ...] = (
    (
        'batch_rolling_crash_consumers',
        'rolling-crash-consumers',
        (
            ('k8s:pod/order-events-consumer-84d5f6c7b-2xk9p', True, 'crash_loop', 'critical'),
            ('k8s:pod/order-events-consumer-84d5f6c7b-7mq4r', True, 'crash_loop', 'critical'),
            ('k8s:pod/order-events-consumer-84d5f6c7b-c8t2w', True, 'crash_loop', 'critical'),
            ('k8s:node/ip-10-0-12-7.eu-west-1.compute.internal', False, 'none', 'none'),
        ),
        'The three consumer replicas of rolling-crash-consumers, each in a crash loop on the same poison message '
        '(9, 7 and 3 restarts in the window), and the node they share, which is healthy: the crash is in the '
        "application, not the node. The replicas share the node, so a batch that caches reuses the node's "
        'analyses from the second replica on.',
    ),
    (
        'batch_node_disk_harms_pod',
        'node-disk-harms-pod',
        (
            ('k8s:pod/image-resizer-7b8c9d6f5-w2q8z', True, 'disk_pressure', 'high'),
            ('k8s:node/ip-10-0-11-63.eu-west-1.compute.internal', True, 'disk_pressure', 'high'),
        ),
        'The pod of node-disk-harms-pod and its node: the node is under disk pressure (its own verdict), and the '
        'pod, healthy on its own, is harmed by it (disk_pressure, high, from its node stage).',
    ),
)
"""(case name, scenario id, (entity, anomaly, category, severity) in the order the case names them, description)."""


def build_batch() -> Dataset[BatchRequest, BatchDiagnosis, dict[str, str]]:
    """The batch dataset: one case per batch, judged entity by entity (`EntityVerdicts`).

    Its trajectories are not judged against `expected_steps` (that is the workflow of one entity; a batch
    interleaves several, and `workflow` skips the calls its cache answers).
    """
    cases = []
    for name, scenario_id, verdicts, description in BATCHES:
        scenario = scenario_by_id(scenario_id)
        inputs = BatchRequest(
            entities=[entity for entity, *_ in verdicts],
            prompt='Detect anomalies of each entity below in the incident window compared with its baseline, and '
            'report the category, severity and evidence of each.',
            baseline_start=scenario.baseline_start,
            baseline_end=scenario.baseline_end,
            incident_start=scenario.incident_start,
            incident_end=scenario.incident_end,
        )
        reports = [
            Diagnosis.model_validate(
                {'entity': entity, 'anomaly_detected': anomaly, 'severity': severity, 'category': category}
            )
            for entity, anomaly, category, severity in verdicts
        ]
        cases.append(
            Case(
                name=name,
                inputs=inputs,
                expected_output=BatchDiagnosis(reports=reports),
                metadata={'scenario': scenario_id, 'description': description},
                evaluators=(EntityVerdicts(evaluation_name='diagnosis'),),
            )
        )
    most = max(len(verdicts) for _, _, verdicts, _ in BATCHES)
    evaluators: list[Evaluator[BatchRequest, BatchDiagnosis, dict[str, str]]] = [
        # The single-entity dataset's runaway limits, once per entity.
        MaxToolCalls(max_calls=40 * most),
        MaxModelRequests(max_requests=80 * most),
        Undegraded(),
    ]
    return Dataset[BatchRequest, BatchDiagnosis, dict[str, str]](name=BATCH_DATASET, cases=cases, evaluators=evaluators)


if __name__ == '__main__':
    build().to_file(OUT, custom_evaluator_types=[TrajectoryRequirements, Undegraded])
    print(f'wrote {OUT.relative_to(ROOT)} and its schema')
    build_raw().to_file(RAW_OUT, custom_evaluator_types=[TrajectoryRequirements, Undegraded])
    print(f'wrote {RAW_OUT.relative_to(ROOT)} and its schema')
    build_batch().to_file(BATCH_OUT, custom_evaluator_types=[EntityVerdicts, Undegraded])
    print(f'wrote {BATCH_OUT.relative_to(ROOT)} and its schema')
    build_separating().to_file(SEPARATING_OUT, custom_evaluator_types=[TrajectoryRequirements, Undegraded])
    print(f'wrote {SEPARATING_OUT.relative_to(ROOT)} and its schema')
