"""Cases the fixed workflow cannot solve: the data hold the lines the verdict rests on, the fixed workflow's calls
(the entity's metadata, CPU, memory and logs, then its node's) return none of them and merge to "no anomaly", and the
pods the node lists hold them, where an investigation that chooses its next step can read them with the same tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from architectures.common import (
    AnalysisRequest,
    PlannedCall,
    findings,
    merge_by_rule,
    metadata_call,
    node_calls,
    node_entity,
    window_calls,
)
from architectures.statistics import median
from architectures.telemetry import Scenario, scenario_by_id
from architectures.telemetry.backend import DEFAULT_DATA_DIR
from architectures.telemetry.builder import INCIDENT, MINUTES
from architectures.telemetry.scenarios import ADAPTIVE_SCENARIOS, Reading
from architectures.telemetry.scenarios import dns_cache_timeouts_shipping as shipping
from architectures.telemetry.scenarios import dns_flood_neighbour_catalog as catalog
from architectures.tools import analyze_cpu_metrics, analyze_logs, get_entity_metadata

Json = dict[str, Any]

_MODULES = {'dns-cache-timeouts-shipping': shipping, 'dns-flood-neighbour-catalog': catalog}


def _document(scenario: Scenario) -> Json:
    data: Json = json.loads((DEFAULT_DATA_DIR / f'{scenario.id}.json').read_text(encoding='utf-8'))
    return data


def _line_texts(document: Json, entity: str | None = None) -> list[str]:
    logs: dict[str, list[Json]] = document['logs']
    return [
        f'{line["level"]} {line["message"]}'
        for name, lines in logs.items()
        if entity is None or name == entity
        for line in lines
    ]


def _holds(document: Json, scenario: Scenario, reading: Reading) -> bool:
    if reading.source == 'log':
        return any(reading.text in line for line in _line_texts(document))
    assert reading.source == 'series' and reading.low is not None and reading.high is not None
    values = [v for v in document['series'][scenario.entity][reading.text][INCIDENT:MINUTES] if v is not None]
    return bool(values) and reading.low <= median(values) <= reading.high


def _request(scenario: Scenario) -> AnalysisRequest:
    return AnalysisRequest(
        entity=scenario.entity,
        prompt='-',
        baseline_start=scenario.baseline_start,
        baseline_end=scenario.baseline_end,
        incident_start=scenario.incident_start,
        incident_end=scenario.incident_end,
    )


async def _fixed_path(request: AnalysisRequest) -> list[tuple[PlannedCall, Json]]:
    """Every call of the fixed workflow (manual, workflow and specialized make these and no other), with its result."""
    meta = metadata_call(request)
    metadata = await meta.tool(**meta.kwargs)
    baseline, incident = window_calls(request)
    node = node_entity(metadata)
    assert node is not None
    calls = [*baseline, *incident, *node_calls(request.for_entity(node))]
    results = [await c.tool(**c.kwargs) for c in calls]
    return [(meta, metadata), *zip(calls, results, strict=True)]


def test_the_adaptive_scenarios_are_pods_with_verdicts_of_the_existing_categories() -> None:
    assert [(s.id, s.expected_category, s.expected_severity) for s in ADAPTIVE_SCENARIOS] == [
        ('dns-cache-timeouts-shipping', 'network_errors', 'medium'),
        ('dns-flood-neighbour-catalog', 'noisy_neighbor', 'medium'),
    ]
    assert all(s.entity_type == 'k8s:pod' and s.expected_anomaly for s in ADAPTIVE_SCENARIOS)


@pytest.mark.parametrize('scenario', ADAPTIVE_SCENARIOS, ids=lambda s: s.id)
def test_the_data_holds_every_line_the_scenario_states(scenario: Scenario) -> None:
    readings: tuple[Reading, ...] = _MODULES[scenario.id].READINGS
    assert len(readings) >= 4
    document = _document(scenario)
    for reading in readings:
        assert _holds(document, scenario, reading), reading


@pytest.mark.parametrize('scenario', ADAPTIVE_SCENARIOS, ids=lambda s: s.id)
def test_the_fixed_workflow_sees_no_anomaly_and_none_of_the_evidence(scenario: Scenario) -> None:
    """The 11 calls of the fixed workflow: every assessment is "no anomaly", so the merging rule answers "none", and
    no result holds a line of another pod (the evidence), only the entity's own symptom."""
    results = asyncio.run(_fixed_path(_request(scenario)))
    assert len(results) == 11  # metadata, 3 baseline, 3 incident, node metadata and 3 node analyses
    assert [r['assessment']['anomaly_detected'] for _, r in results] == [False] * 11
    merged = merge_by_rule(scenario.entity, [findings(c.label, r) for c, r in results])
    assert (merged.anomaly_detected, merged.category) == (False, 'none')
    text = json.dumps([r for _, r in results])
    module = _MODULES[scenario.id]
    for line in _line_texts(_document(scenario), f'k8s:pod/{module.CACHE_POD}'):
        assert line.split(' ', 1)[1] not in text
    evidence = [r.text for r in module.READINGS if r.source == 'log' and 'WARN catalog' not in r.text]
    evidence = [t for t in evidence if 'WARN carrier' not in t]
    assert evidence and not any(t.split(' ', 1)[1] in text for t in evidence)


def _node_pods(scenario: Scenario) -> list[str]:
    s = scenario
    pod = asyncio.run(get_entity_metadata(s.entity_type, s.name, s.incident_start, s.incident_end))
    node = asyncio.run(get_entity_metadata('k8s:node', pod['node_name'], s.incident_start, s.incident_end))
    pods: list[str] = node['running_pods']
    return pods


def test_the_dns_cache_is_listed_by_the_node_and_its_logs_say_network_errors() -> None:
    s = scenario_by_id('dns-cache-timeouts-shipping')
    assert _node_pods(s) == [
        'fluent-bit-q8m3z',
        shipping.CACHE_POD,
        'returns-api-5c8d7e6f9-k3j7h',
        'shipping-quotes-6d9c8b7f5-x4k2m',
    ]
    logs = asyncio.run(
        analyze_logs('k8s:pod', shipping.CACHE_POD, s.incident_start, s.incident_end, s.baseline_start, s.baseline_end)
    )
    # A whole rate draws exactly that many lines a minute: 8 a minute over minutes 61 to 89 (29 minutes) = 232, every
    # one an upstream i/o timeout, none in the baseline.
    assert logs['logs']['error_lines'] == logs['logs']['network_error_lines'] == 232
    assert logs['baseline']['error_lines'] == 0
    verdict = logs['assessment']
    assert (verdict['anomaly_detected'], verdict['category'], verdict['severity']) == (True, 'network_errors', 'medium')


def test_the_crawler_and_the_flooded_cache_are_listed_by_the_node() -> None:
    s = scenario_by_id('dns-flood-neighbour-catalog')
    pods = _node_pods(s)
    assert catalog.CRAWLER_POD in pods and catalog.CACHE_POD in pods
    crawler = asyncio.run(get_entity_metadata('k8s:pod', catalog.CRAWLER_POD, s.incident_start, s.incident_end))
    assert crawler['created'] == s.incident_start  # it arrived with the incident
    logs = asyncio.run(analyze_logs('k8s:pod', catalog.CRAWLER_POD, s.incident_start, s.incident_end))
    templates = [t['template'] for t in logs['error_templates']]
    assert any(t.startswith('resolver saturated') for t in templates)
    assert logs['logs']['network_error_lines'] > 0
    cache_logs = asyncio.run(analyze_logs('k8s:pod', catalog.CACHE_POD, s.incident_start, s.incident_end))
    assert cache_logs['error_templates'][0]['template'].startswith('[ERROR] plugin/forward: max concurrent queries')
    cache_cpu = asyncio.run(
        analyze_cpu_metrics(
            'k8s:pod', catalog.CACHE_POD, s.incident_start, s.incident_end, s.baseline_start, s.baseline_end
        )
    )
    # 0.04 cores in the baseline, 0.3 in the incident (8% noise): a shift of tens of robust sigmas at the start.
    assert 0.27 <= cache_cpu['usage']['median'] <= 0.33
