"""The wider K8s taxonomy: each new scenario's data holds the lines its module says an SRE reads, the rules reach its
verdict from them, and the physics the rules rest on (CPU pressure vs throttling, an OOM kill vs a leak, node
conditions, autoscaler signals) on inputs worked out by hand."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from architectures.statistics import median
from architectures.telemetry import Scenario, scenario_by_id
from architectures.telemetry.backend import DEFAULT_DATA_DIR
from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults.workloads import autoscaler, not_running, rescales
from architectures.telemetry.scenarios import SCENARIOS, TAXONOMY_SCENARIOS, Reading
from architectures.tools import analyze_cpu_metrics, analyze_logs, analyze_memory_metrics, get_entity_metadata
from architectures.tools.rules import Assessor, assess_autoscaler, assess_node_metadata, assess_pod_cpu

Json = dict[str, Any]


def _module(scenario: Scenario) -> ModuleType:
    return importlib.import_module(f'architectures.telemetry.scenarios.{scenario.id.replace("-", "_")}')


def _document(scenario: Scenario) -> Json:
    data: Json = json.loads((DEFAULT_DATA_DIR / f'{scenario.id}.json').read_text(encoding='utf-8'))
    return data


def _holds(document: Json, scenario: Scenario, reading: Reading) -> bool:
    """Whether the scenario's data holds the reading, looked up where its `source` says."""
    if reading.source in ('pod', 'node'):
        snapshots = [s for s in document[f'{reading.source}s'] if s['object']['metadata']['name'] == scenario.name]
        return reading.text in json.dumps(snapshots[-1]['object'])
    if reading.source == 'autoscaler':
        return reading.text in json.dumps(document['autoscalers'][-1]['object'])
    if reading.source == 'event':
        return any(reading.text in f'{e["reason"]}: {e["message"]}' for e in document['events'])
    if reading.source == 'log':
        lines = [line for entity in document['logs'].values() for line in entity]
        return any(reading.text in f'{line["level"]} {line["message"]}' for line in lines)
    values = [v for v in document['series'][scenario.entity][reading.text][INCIDENT:MINUTES] if v is not None]
    if reading.low is None and reading.high is None:
        return not values
    assert reading.low is not None and reading.high is not None
    return bool(values) and reading.low <= median(values) <= reading.high


def test_the_catalogue_has_30_scenarios_with_unique_ids_and_the_new_categories() -> None:
    assert len(SCENARIOS) == 31  # 30 with data, and pod-not-found
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
    assert {s.expected_category for s in TAXONOMY_SCENARIOS} == {
        'image_pull_error',
        'config_error',
        'scheduling_failure',
        'volume_mount_error',
        'readiness_failure',
        'node_not_ready',
        'pid_pressure',
        'oom_killed',
        'hpa_at_max',
        'hpa_flapping',
        'cpu_saturation',
    }


@pytest.mark.parametrize('scenario', TAXONOMY_SCENARIOS, ids=lambda s: s.id)
def test_the_data_holds_every_line_the_scenario_states(scenario: Scenario) -> None:
    readings: tuple[Reading, ...] = _module(scenario).READINGS
    assert len(readings) >= 3
    document = _document(scenario)
    for reading in readings:
        assert reading.meaning
        assert _holds(document, scenario, reading), reading


def test_a_reading_that_is_not_in_the_data_is_caught() -> None:
    scenario = scenario_by_id('image-pull-backoff-inventory')
    document = _document(scenario)
    assert not _holds(document, scenario, Reading(source='pod', text='"reason": "CrashLoopBackOff"', meaning='-'))
    assert not _holds(document, scenario, Reading(source='event', text='FailedScheduling: 0/6', meaning='-'))
    # The pod ran in the baseline: its baseline medians are there, its incident has none.
    assert not _holds(document, scenario, Reading(source='series', text='cpu_cores', meaning='-', low=0.1, high=0.3))


def _incident(s: Scenario) -> tuple[str, str]:
    return s.incident_start, s.incident_end


def _run(coroutine: Any) -> Json:
    result: Json = asyncio.run(coroutine)
    return result


@pytest.mark.parametrize('scenario', TAXONOMY_SCENARIOS, ids=lambda s: s.id)
def test_the_strongest_assessment_is_the_expected_verdict(scenario: Scenario) -> None:
    """Metadata and the three analyses of the entity over the incident against its baseline: the anomalous
    assessment with the highest confidence (then severity) is the scenario's verdict."""
    window = (*_incident(scenario), scenario.baseline_start, scenario.baseline_end)
    results = [_run(get_entity_metadata(scenario.entity_type, scenario.name, *_incident(scenario)))]
    results += [
        _run(tool(scenario.entity_type, scenario.name, *window))
        for tool in (analyze_cpu_metrics, analyze_memory_metrics, analyze_logs)
    ]
    rank = {'none': 0, 'low': 1, 'medium': 2, 'high': 3, 'critical': 4}
    anomalous = [r['assessment'] for r in results if r['assessment']['anomaly_detected']]
    best = max(anomalous, key=lambda a: (a['confidence'], rank[a['severity']]))
    assert (best['category'], best['severity']) == (scenario.expected_category, scenario.expected_severity)
    assert results[0]['entity'] == scenario.entity


# --- the figures behind each verdict, worked out from the scenario modules ----------------------------------------
def test_a_pod_that_never_ran_has_no_usage_and_its_metrics_say_so() -> None:
    s = scenario_by_id('failed-scheduling-metrics-store')
    cpu = _run(analyze_cpu_metrics(s.entity_type, s.name, *_incident(s)))
    assert cpu['usage'] is None and cpu['window']['samples'] == 0
    assert (cpu['assessment']['anomaly_detected'], cpu['assessment']['confidence']) == (False, 0.6)
    metadata = _run(get_entity_metadata(s.entity_type, s.name, *_incident(s)))
    assert metadata['phase'] == 'Pending' and metadata['node_name'] is None
    assert metadata['unschedulable'].startswith('0/6 nodes are available')
    # 31 FailedScheduling events, the scheduler's retries from minute 60.2 to 89.6.
    logs = _run(analyze_logs(s.entity_type, s.name, *_incident(s)))
    assert logs['events']['by_reason']['FailedScheduling'] == 31


def test_an_oom_kill_without_growth_is_not_a_leak() -> None:
    s = scenario_by_id('oom-limit-too-low-pdf')
    memory = _run(analyze_memory_metrics(s.entity_type, s.name, *_incident(s)))
    # Kills at minutes 67, 74 and 83: three drops from 252Mi to about 120Mi.
    assert memory['restarts_detected'] == 3
    assert memory['max_over_limit'] == pytest.approx(252 / 256, abs=0.001)
    assert memory['growth']['r_squared'] < 0.8
    assert (memory['assessment']['category'], memory['assessment']['severity']) == ('oom_killed', 'high')
    # The leak still is one: steady growth to the limit, then an OOM kill.
    cart = scenario_by_id('memory-leak-cart')
    leak = _run(analyze_memory_metrics(cart.entity_type, cart.name, *_incident(cart)))
    assert (leak['assessment']['category'], leak['assessment']['severity']) == ('memory_leak', 'critical')


def _cpu_finding(*, throttling: float, waiting: float | None, node_p95: float) -> tuple[str, str]:
    """The pod CPU rule on a 2-core-limit pod using 1.2 cores (p95) on a node at `node_p95`."""
    result: Json = {'node': {'utilization_p95': node_p95}, 'baseline': None}
    assessor = Assessor()
    assess_pod_cpu(result, p95=1.2, limit=2.0, throttling=throttling, waiting=waiting, node_name='n', assessor=assessor)
    verdict = assessor.result(['-'])
    return verdict['category'], verdict['severity']


def test_contention_is_cpu_pressure_and_throttling_is_the_pods_own_quota() -> None:
    # Waiting for a CPU 38% of the time while throttled 4% and at 60% of its limit: another pod holds the CPUs.
    assert _cpu_finding(throttling=0.04, waiting=0.38, node_p95=0.99) == ('noisy_neighbor', 'medium')
    # Throttled 40% at 60% of its limit on a saturated node, but hardly waiting: its own quota, not a neighbour
    # (the old rule called this a noisy neighbour).
    assert _cpu_finding(throttling=0.40, waiting=0.03, node_p95=0.99) == ('cpu_saturation', 'low')
    # Without a CPU-pressure series there is no noisy-neighbour verdict from the pod at all.
    assert _cpu_finding(throttling=0.04, waiting=None, node_p95=0.99) == ('none', 'none')
    # The threshold is 0.2: just under it is nothing.
    assert _cpu_finding(throttling=0.04, waiting=0.19, node_p95=0.99) == ('none', 'none')


def _node(ready: str, pid: str) -> Json:
    conditions: Json = {
        'Ready': {'status': ready, 'reason': 'KubeletNotReady', 'message': 'PLEG is not healthy', 'since': 't'},
        'PIDPressure': {'status': pid, 'reason': 'KubeletHasInsufficientPID', 'since': 't'},
        'DiskPressure': {'status': 'False', 'reason': 'KubeletHasNoDiskPressure', 'since': 't'},
        'MemoryPressure': {'status': 'False', 'reason': 'KubeletHasSufficientMemory', 'since': 't'},
    }
    return {'conditions': conditions, 'taints': [], 'running_pods': [], 'ephemeral_storage_used_fraction': 0.4}


def test_node_ready_and_pid_pressure_are_judged() -> None:
    assert assess_node_metadata(_node('True', 'False'))['anomaly_detected'] is False
    not_ready = assess_node_metadata(_node('False', 'False'))
    assert (not_ready['category'], not_ready['severity'], not_ready['confidence']) == (
        'node_not_ready',
        'critical',
        0.9,
    )
    unknown = assess_node_metadata(_node('Unknown', 'False'))
    assert unknown['category'] == 'node_not_ready'
    pid = assess_node_metadata(_node('True', 'True'))
    assert (pid['category'], pid['severity']) == ('pid_pressure', 'high')
    # Both: NotReady is critical and wins the confidence tie on severity.
    assert assess_node_metadata(_node('False', 'True'))['category'] == 'node_not_ready'


def _hpa(*, current: int, limited_since: str | None, ups: int, downs: int) -> Json:
    limited = (
        {'status': 'True', 'reason': 'TooManyReplicas', 'message': 'm', 'since': limited_since}
        if limited_since
        else {'status': 'False', 'reason': 'DesiredWithinRange', 'message': 'm', 'since': '2026-01-01T00:00:00Z'}
    )
    rescales = [
        {'replicas': 8, 'direction': 'up', 'reason': 'above target', 'count': ups, 'first': 'a', 'last': 'b'},
        {'replicas': 4, 'direction': 'down', 'reason': 'below target', 'count': downs, 'first': 'a', 'last': 'b'},
    ]
    return {
        'name': 'web',
        'min_replicas': 2,
        'max_replicas': 12,
        'current_replicas': current,
        'target_cpu_utilization': 60,
        'current_cpu_utilization': 142,
        'conditions': {'ScalingLimited': limited},
        'rescales_in_window': [r for r in rescales if r['count']],
    }


def _autoscaler_verdict(hpa: Json) -> tuple[str, str]:
    assessor = Assessor()
    assess_autoscaler(hpa, datetime(2026, 4, 8, 19, 30, tzinfo=UTC), assessor)
    verdict = assessor.result(['-'])
    return verdict['category'], verdict['severity']


def test_an_autoscaler_at_its_maximum_for_ten_minutes_with_demand_above_target() -> None:
    # Limited since 19:03, the window ends 19:30: 27 minutes at the maximum.
    assert _autoscaler_verdict(_hpa(current=12, limited_since='2026-04-08T19:03:00Z', ups=0, downs=0)) == (
        'hpa_at_max',
        'high',
    )
    # Limited for 9 minutes only: passing through.
    assert _autoscaler_verdict(_hpa(current=12, limited_since='2026-04-08T19:21:00Z', ups=0, downs=0)) == (
        'none',
        'none',
    )
    # Below its maximum.
    assert _autoscaler_verdict(_hpa(current=11, limited_since='2026-04-08T19:03:00Z', ups=0, downs=0)) == (
        'none',
        'none',
    )


def test_flapping_needs_six_rescales_three_each_way() -> None:
    assert _autoscaler_verdict(_hpa(current=4, limited_since=None, ups=3, downs=3)) == ('hpa_flapping', 'medium')
    assert _autoscaler_verdict(_hpa(current=4, limited_since=None, ups=5, downs=2)) == ('none', 'none')
    assert _autoscaler_verdict(_hpa(current=4, limited_since=None, ups=3, downs=2)) == ('none', 'none')


def test_the_flapping_scenario_reads_five_rescales_each_way() -> None:
    s = scenario_by_id('hpa-flapping-ranker')
    metadata = _run(get_entity_metadata(s.entity_type, s.name, *_incident(s)))
    by_direction = {r['direction']: (r['replicas'], r['count']) for r in metadata['autoscaler']['rescales_in_window']}
    # MOVES: minutes 62, 65, ... 89, alternately to 8 and to 4.
    assert by_direction == {'up': (8, 5), 'down': (4, 5)}
    # In the baseline the autoscaler did not move.
    before = _run(get_entity_metadata(s.entity_type, s.name, s.baseline_start, s.baseline_end))
    assert before['autoscaler']['rescales_in_window'] == []
    assert before['assessment']['anomaly_detected'] is False


def test_readiness_failing_for_29_minutes_without_restarts() -> None:
    s = scenario_by_id('readiness-failing-reviews')
    logs = _run(analyze_logs(s.entity_type, s.name, *_incident(s)))
    # 351 failures from minute 60.6 to 89.8: 29.2 minutes, and not one restart.
    assert logs['events']['by_reason']['Unhealthy'] == 351
    assert logs['restarts']['restarts_in_window'] == 0
    assert (logs['assessment']['category'], logs['assessment']['severity']) == ('readiness_failure', 'medium')
    assert 'over 29 min' in logs['assessment']['evidence'][0]


# --- the injectors of `faults.workloads` --------------------------------------------------------------------------
def _builder() -> Builder:
    return Builder(scenario_by_id('hpa-flapping-ranker'), 0)


def test_rescales_are_aggregated_by_size_and_direction_like_the_event_recorder() -> None:
    b = _builder()
    hpa = autoscaler(
        b, name='web', namespace='ns', target='web', replicas=(4, 4), bounds=(2, 10), utilisation=(40, 50), last_scale=0
    )
    rescales(b, hpa, [(62, 8), (65, 4), (68, 8), (71, 5)], host='')
    events = {(e['message'].split(';')[0], e['count'], e['firstTimestamp'], e['lastTimestamp']) for e in b.events}
    # 4 -> 8 twice (up), 8 -> 4 once and 8 -> 5 once (down): three events; minute 62 of the data is 15:02.
    assert events == {
        ('New size: 8', 2, '2026-04-09T15:02:00Z', '2026-04-09T15:08:00Z'),
        ('New size: 4', 1, '2026-04-09T15:05:00Z', '2026-04-09T15:05:00Z'),
        ('New size: 5', 1, '2026-04-09T15:11:00Z', '2026-04-09T15:11:00Z'),
    }
    assert {e['message'].split('reason: ')[1] for e in b.events if 'New size: 8' in e['message']} == {
        'cpu resource utilization (percentage of request) above target'
    }


def test_a_pod_that_stops_running_keeps_its_baseline_and_loses_its_incident_samples() -> None:
    b = _builder()
    b.pod_series('p', 'n', [0.5] * MINUTES, [100.0 * MIB] * MINUTES)
    not_running(b, 'p', INCIDENT)
    cpu = b.series['k8s:pod/p']['cpu_cores']
    assert cpu[:INCIDENT] == [0.5] * INCIDENT and cpu[INCIDENT:] == [None] * (MINUTES - INCIDENT)


def test_an_unschedulable_pod_has_no_node_and_says_why() -> None:
    b = _builder()
    pod = b.pod(
        name='p-0',
        namespace='ns',
        app='p',
        node='n',
        node_ip='10.0.0.1',
        pod_ip='10.244.0.9',
        image='img:1',
        owner=('StatefulSet', 'p'),
        created_minute=60,
        requests={'cpu': '1'},
        limits={},
        uid='u',
        ready=False,
        unschedulable='0/3 nodes are available: 3 Insufficient cpu.',
    )
    assert 'nodeName' not in pod['spec'] and 'containerStatuses' not in pod['status']
    assert pod['status']['phase'] == 'Pending'
    assert pod['status']['conditions'] == [
        {
            'type': 'PodScheduled',
            'status': 'False',
            'reason': 'Unschedulable',
            'message': '0/3 nodes are available: 3 Insufficient cpu.',
            'lastTransitionTime': '2026-04-09T15:00:00Z',
        }
    ]
