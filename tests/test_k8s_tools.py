"""The K8s tools: their statistics, their calibrated assessments on every scenario, and their argument errors."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import ModelRetry

from architectures import tools
from architectures.common import findings
from architectures.report import AnomalyReport
from architectures.statistics import (
    change_index,
    linear_fit,
    log_template,
    mad,
    median,
    quantile,
    restart_segments,
    robust_shift,
)
from architectures.telemetry import SCENARIOS, FixtureBackend, Scenario, get_backend, scenario_by_id, use_backend
from architectures.telemetry.backend import DEFAULT_DATA_DIR, parse_bytes, parse_cpu
from architectures.telemetry.generate import generate
from architectures.telemetry.scenarios import ADAPTIVE_SCENARIOS
from architectures.tools.rules import ASSESSMENT_VARIABLE
from architectures.tools.thresholds import CRASH_MIN_RESTARTS, NETWORK_MIN_LINES

Json = dict[str, Any]


def synchronous(tool: tools.ToolFunction) -> Callable[..., Json]:
    """The tool as a plain function: each call runs the coroutine to completion."""

    @functools.wraps(tool)
    def call(*args: Any, **kwargs: Any) -> Json:
        return asyncio.run(tool(*args, **kwargs))

    return call


ALL_TOOLS = tuple(synchronous(tool) for tool in tools.ALL_TOOLS)
get_entity_metadata, analyze_cpu_metrics, analyze_memory_metrics, analyze_logs = ALL_TOOLS
ANALYSES = (analyze_cpu_metrics, analyze_memory_metrics, analyze_logs)
_RANK = {'none': 0, 'low': 1, 'medium': 2, 'high': 3, 'critical': 4}
EXISTING = [s for s in SCENARIOS if s.expected_category != 'entity_not_found']
HEALTHY = [s for s in EXISTING if not s.expected_anomaly]
ANOMALOUS = [s for s in EXISTING if s.expected_anomaly]


def merge(assessments: list[Json]) -> Json:
    """The contract's merging rule: highest-confidence anomalous assessment (ties: severity, then the later one);
    without an anomalous one, the highest-confidence assessment."""
    pool = [a for a in assessments if a['anomaly_detected']] or assessments
    best = pool[0]
    for candidate in pool[1:]:
        if (candidate['confidence'], _RANK[candidate['severity']]) >= (best['confidence'], _RANK[best['severity']]):
            best = candidate
    return best


def incident(s: Scenario) -> tuple[str, str]:
    return s.incident_start, s.incident_end


def baseline(s: Scenario) -> tuple[str, str]:
    return s.baseline_start, s.baseline_end


def investigation(s: Scenario) -> list[Json]:
    """Every assessment of a thorough investigation: metadata, all analyses of the entity on the baseline window,
    on the incident window with and without the baseline, and the same for a pod's node."""
    metadata = get_entity_metadata(s.entity_type, s.name, *incident(s))
    results = [metadata]
    if not metadata['exists']:
        return results
    entities = [(s.entity_type, s.name)]
    if s.entity_type == 'k8s:pod' and metadata['node_name']:  # a pod no node took has none
        entities.append(('k8s:node', metadata['node_name']))
        results.append(get_entity_metadata('k8s:node', metadata['node_name'], *incident(s)))
    for entity_type, name in entities:
        for tool in ANALYSES:
            results.append(tool(entity_type, name, *baseline(s)))
            results.append(tool(entity_type, name, *incident(s)))
            results.append(tool(entity_type, name, *incident(s), *baseline(s)))
    return results


def raw(s: Scenario) -> Json:
    return json.loads((DEFAULT_DATA_DIR / f'{s.id}.json').read_text())


# --- pure statistics ----------------------------------------------------------------------------------------------
def test_median_and_quantile_interpolate_like_numpy() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)
    assert quantile([7.0], 0.95) == 7.0


def test_mad_shift_has_sign_and_magnitude_and_survives_flat_baselines() -> None:
    reference = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert mad(reference) == 1.0  # |x - 3| = 2, 1, 0, 1, 97: the outlier does not inflate it
    assert robust_shift([10.0, 10.0], reference, 0.0) == pytest.approx(7 / 1.4826)
    assert robust_shift([0.0, 0.0], reference, 0.0) == pytest.approx(-3 / 1.4826)
    # MAD 0: sigma falls back to 1% of the median, or to the absolute floor when larger.
    assert robust_shift([6.0], [5.0, 5.0, 5.0], 0.0) == pytest.approx(20.0)
    assert robust_shift([6.0], [5.0, 5.0, 5.0], 1.0) == pytest.approx(1.0)
    assert robust_shift([0.0], [0.0, 0.0], 0.5) == 0.0


def test_change_index_needs_consecutive_exceedances() -> None:
    reference = [10.0, 11.0, 9.0, 10.0, 10.5, 9.5]
    assert change_index([10.0, 50.0, 10.0, 50.0, 50.0, 50.0, 50.0], reference, 0.0) == 3
    assert change_index([10.0, 50.0, 50.0, 10.0], reference, 0.0) is None


def test_linear_fit_and_restart_segments() -> None:
    assert linear_fit([1.0, 3.0, 5.0, 7.0]) == pytest.approx((2.0, 1.0))
    slope, r_squared = linear_fit([5.0, 5.0, 5.0])
    assert (slope, r_squared) == (0.0, 0.0)
    assert restart_segments([100.0, 120.0, 140.0, 20.0, 40.0]) == [(0, 3), (3, 5)]
    assert restart_segments([100.0, 80.0, 90.0]) == [(0, 3)]  # a 20% dip is not a restart


def test_log_template_collapses_variable_parts() -> None:
    first = 'request timeout after 5000ms: POST /api/v1/checkout order_id=ord_8f3a2c1b client=10.244.1.7:4411'
    second = 'request timeout after 1250ms: POST /api/v1/checkout order_id=ord_00aa11ff client=10.0.0.12:80'
    assert log_template(first) == 'request timeout after <num>ms: POST /api/v1/checkout order_id=ord_<hex> client=<ip>'
    assert log_template(first) == log_template(second)
    assert log_template('missing key "DB_DSN" in v2.4.0 pod 265a0574-e771-4b60-8baa-b6cc425c3179') == (
        'missing key <str> in <num> pod <uuid>'
    )
    assert log_template('"Eviction manager: attempting to reclaim" resourceName="memory"') == (
        '"Eviction manager: attempting to reclaim" resourceName=<str>'
    )


def test_quantities_parse_like_kubernetes() -> None:
    assert parse_cpu('500m') == 0.5
    assert parse_cpu('2') == 2.0
    assert parse_bytes('512Mi') == 512 * 1024 * 1024
    assert parse_bytes('16068516Ki') == 16068516 * 1024
    assert parse_bytes('96625420948') == 96625420948
    assert parse_bytes('1G') == 10**9
    with pytest.raises(ValueError, match='not a CPU quantity'):
        parse_cpu('1Gi')


# --- statistics on the scenario data ------------------------------------------------------------------------------
def test_cpu_statistics_match_an_independent_computation_on_the_raw_series() -> None:
    s = scenario_by_id('cpu-saturation-checkout')
    series = raw(s)['series'][s.entity]
    window, reference = series['cpu_cores'][60:90], series['cpu_cores'][:60]
    result = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    assert result['window']['samples'] == 30
    assert result['usage']['median'] == pytest.approx(statistics.median(window), abs=1e-4)
    assert result['usage']['p95'] == pytest.approx(statistics.quantiles(window, n=20, method='inclusive')[-1], abs=1e-4)
    assert result['usage']['max'] == max(window)
    sigma = 1.4826 * statistics.median([abs(v - statistics.median(reference)) for v in reference])
    expected_shift = (statistics.median(window) - statistics.median(reference)) / sigma
    assert result['baseline']['shift'] == pytest.approx(expected_shift, abs=0.01)
    assert result['baseline']['shift'] > 10
    assert result['baseline']['change_time'] == s.incident_start
    assert result['limits_cores'] == 1.0
    assert result['p95_over_limit'] == pytest.approx(result['usage']['p95'], abs=1e-3)
    assert result['throttled_ratio']['median'] > 0.25


def test_memory_growth_is_the_regression_slope_of_the_restart_free_stretch() -> None:
    s = scenario_by_id('memory-leak-cart')
    result = analyze_memory_metrics(s.entity_type, s.name, *incident(s))
    assert result['restarts_detected'] == 1
    assert result['growth']['segment_minutes'] == 26
    assert result['growth']['slope_bytes_per_min'] == pytest.approx(9.4 * 1024 * 1024, rel=0.1)
    assert result['growth']['r_squared'] > 0.95
    assert result['max_over_limit'] > 0.95
    remaining = result['limit_bytes'] - raw(s)['series'][s.entity]['memory_bytes'][89]
    assert result['time_to_limit_minutes'] == pytest.approx(remaining / result['growth']['slope_bytes_per_min'], 0.01)


def test_logs_count_templates_restarts_and_first_error() -> None:
    s = scenario_by_id('crash-loop-ledger')
    result = analyze_logs(s.entity_type, s.name, *incident(s), *baseline(s))
    lines = raw(s)['logs'][s.entity]
    errors = [line for line in lines if line['level'] in ('ERROR', 'FATAL') and line['timestamp'] >= s.incident_start]
    assert result['logs']['first_error_time'] == errors[0]['timestamp']
    assert result['logs']['error_lines'] == len(errors) == 20
    top = result['error_templates'][0]
    assert top['count'] == 10
    assert top['template'] == 'config validation failed: missing required key <str> (renamed from <str> in <num>)'
    assert result['restarts']['restarts_in_window'] == 9
    assert result['restarts']['last_termination']['exit_code'] == 1
    assert result['events']['by_reason']['BackOff'] == 118
    assert result['baseline']['error_lines'] == 0
    assert top['template'] in result['baseline']['new_templates']


def test_pod_metadata_names_its_node_and_node_metadata_lists_conditions() -> None:
    s = scenario_by_id('memory-leak-cart')
    pod = get_entity_metadata(s.entity_type, s.name, *incident(s))
    assert pod['node_name'] == 'ip-10-0-1-52.eu-west-1.compute.internal'
    assert pod['last_termination_reason'] == 'OOMKilled'
    assert pod['restart_count'] == 1
    before = get_entity_metadata(s.entity_type, s.name, *baseline(s))
    assert before['restart_count'] == 0  # state as observed before the window's end
    node = get_entity_metadata(
        'k8s:node', 'ip-10-0-3-41.eu-west-1.compute.internal', *incident(scenario_by_id('node-memory-pressure'))
    )
    assert node['conditions']['MemoryPressure']['status'] == 'True'
    assert node['taints'] == ['node.kubernetes.io/memory-pressure:NoSchedule']


def test_noisy_neighbour_pod_sees_its_saturated_node() -> None:
    s = scenario_by_id('noisy-neighbor-search')
    result = analyze_cpu_metrics(s.entity_type, s.name, *incident(s))
    assert result['p95_over_limit'] < 0.8
    # Contention, not its own quota: it waits for a CPU (pressure) and is hardly throttled.
    assert result['cpu_waiting_ratio']['median'] >= 0.2
    assert result['throttled_ratio']['median'] < 0.25
    assert result['assessment']['category'] == 'noisy_neighbor'
    assert result['node']['utilization_p95'] >= 0.9
    node = analyze_cpu_metrics('k8s:node', result['node']['name'], *incident(s))
    assert node['top_pods'][0]['pod'] == 'batch-reindex-29563860-vx9lm'
    assert node['top_pods'][0]['limit'] is None


# --- calibration --------------------------------------------------------------------------------------------------
# The cases beyond the fixed workflow are left out: their evidence is in other pods of the node, by design
# (tests/test_scenarios_adaptive.py shows the investigation below merges to "no anomaly" for them).
WITHIN_THE_WORKFLOW = [s for s in SCENARIOS if s not in ADAPTIVE_SCENARIOS]


@pytest.mark.parametrize('scenario', WITHIN_THE_WORKFLOW, ids=lambda s: s.id)
def test_merged_investigation_yields_the_expected_diagnosis(scenario: Scenario) -> None:
    verdict = merge([result['assessment'] for result in investigation(scenario)])
    assert (verdict['anomaly_detected'], verdict['category'], verdict['severity']) == (
        scenario.expected_anomaly,
        scenario.expected_category,
        scenario.expected_severity,
    )


PRIMARY: dict[str, Callable[..., Json]] = {
    'cpu-saturation-checkout': analyze_cpu_metrics,
    'memory-leak-cart': analyze_memory_metrics,
    'crash-loop-ledger': analyze_logs,
    'node-memory-pressure': analyze_memory_metrics,
    'noisy-neighbor-search': analyze_cpu_metrics,
    'disk-pressure-node': analyze_logs,
    'network-errors-notifications': analyze_logs,
    'two-faults-orders': analyze_memory_metrics,
    'rolling-crash-consumers': analyze_logs,
    'cpu-near-limit-pricing': analyze_cpu_metrics,
    'image-pull-backoff-inventory': analyze_logs,
    'config-error-billing': analyze_logs,
    'failed-scheduling-metrics-store': analyze_logs,
    'failed-mount-postgres': analyze_logs,
    'readiness-failing-reviews': analyze_logs,
    'node-not-ready': analyze_logs,
    'pid-pressure-node': analyze_logs,
    'oom-limit-too-low-pdf': analyze_memory_metrics,
    'hpa-at-max-storefront': analyze_cpu_metrics,
    'hpa-flapping-ranker': analyze_cpu_metrics,
    'cpu-throttled-quota-thumbnailer': analyze_cpu_metrics,
}
NODE_CAUSED = {'node-disk-harms-pod'}
"""Scenarios whose pod looks healthy to every analysis of its own: only its node shows the cause."""


@pytest.mark.parametrize(
    'scenario', [s for s in ANOMALOUS if s.id not in NODE_CAUSED and s not in ADAPTIVE_SCENARIOS], ids=lambda s: s.id
)
@pytest.mark.parametrize('with_baseline', [False, True])
def test_metadata_and_the_primary_tool_alone_suffice(scenario: Scenario, with_baseline: bool) -> None:
    extra = baseline(scenario) if with_baseline else ()
    results = [
        get_entity_metadata(scenario.entity_type, scenario.name, *incident(scenario)),
        PRIMARY[scenario.id](scenario.entity_type, scenario.name, *incident(scenario), *extra),
    ]
    verdict = merge([result['assessment'] for result in results])
    assert (verdict['category'], verdict['severity']) == (scenario.expected_category, scenario.expected_severity)


@pytest.mark.parametrize('scenario', HEALTHY, ids=lambda s: s.id)
def test_healthy_entities_get_no_anomaly_from_any_tool(scenario: Scenario) -> None:
    for result in investigation(scenario):
        assert not result['assessment']['anomaly_detected'], result


@pytest.mark.parametrize('scenario', ANOMALOUS, ids=lambda s: s.id)
def test_baseline_windows_look_healthy(scenario: Scenario) -> None:
    assert not get_entity_metadata(scenario.entity_type, scenario.name, *baseline(scenario))['assessment'][
        'anomaly_detected'
    ]
    for tool in ANALYSES:
        assert not tool(scenario.entity_type, scenario.name, *baseline(scenario))['assessment']['anomaly_detected']


@pytest.mark.parametrize('scenario', EXISTING, ids=lambda s: s.id)
def test_results_are_json_safe_and_assessments_are_reports(scenario: Scenario) -> None:
    for result in investigation(scenario):
        assert json.loads(json.dumps(result)) == result
        report = AnomalyReport(entity=result['entity'], **result['assessment'])
        assert set(result['assessment']) == set(AnomalyReport.model_fields) - {'entity'}
        assert report.evidence


# --- the confounded scenarios ---------------------------------------------------------------------------------------
def test_cpu_just_above_the_saturation_cut_is_saturation_without_confirmation() -> None:
    s = scenario_by_id('cpu-near-limit-pricing')
    series = raw(s)['series'][s.entity]
    window, reference = series['cpu_cores'][60:90], series['cpu_cores'][:60]
    # Worked out from the data file: window median 1.67095 and p95 1.834495 (linear interpolation between the
    # 28th and 29th of 30 sorted values); baseline median 1.45965 and MAD 0.0611, so the shift is
    # (1.67095 - 1.45965) / (1.4826 * 0.0611) = 0.2113 / 0.090587 = 2.33 robust sigmas: below the 3 that confirm.
    assert statistics.median(window) == pytest.approx(1.67095)
    assert statistics.quantiles(window, n=20, method='inclusive')[-1] == pytest.approx(1.834495)
    assert statistics.median(reference) == pytest.approx(1.45965)
    result = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    assert result['usage']['p95'] == pytest.approx(1.8345, abs=1e-4)
    assert result['p95_over_limit'] == pytest.approx(0.917, abs=1e-3)  # 1.834495 / 2 cores, just above 0.9
    assert result['baseline']['mad'] == pytest.approx(0.0611, abs=1e-4)
    assert result['baseline']['shift'] == pytest.approx(2.33, abs=0.01)
    assert result['throttled_ratio']['median'] == pytest.approx(0.04, abs=1e-3)  # light: 0.04035
    verdict = result['assessment']
    assert (verdict['category'], verdict['severity'], verdict['confidence']) == ('cpu_saturation', 'high', 0.85)


def test_cpu_busier_but_below_every_cut_is_healthy() -> None:
    s = scenario_by_id('cpu-busy-below-limit-geo')
    result = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    # By hand: window median 0.69445, p95 0.746335 of a 1-core limit (below 0.9); baseline median 0.61445,
    # MAD 0.0196: shift (0.69445 - 0.61445) / (1.4826 * 0.0196) = 0.08 / 0.029059 = 2.75 (below 3, far below 6).
    assert result['usage']['median'] == pytest.approx(0.69445, abs=1e-4)
    assert result['p95_over_limit'] == pytest.approx(0.746, abs=1e-3)
    assert result['baseline']['median'] == pytest.approx(0.61445, abs=1e-4)
    assert result['baseline']['shift'] == pytest.approx(2.75, abs=0.01)
    assert not result['assessment']['anomaly_detected']
    assert result['assessment']['confidence'] == 0.8


def test_a_red_herring_stays_one_line_short_of_the_network_rule() -> None:
    s = scenario_by_id('red-herring-payments')
    result = analyze_logs(s.entity_type, s.name, *incident(s), *baseline(s))
    # One recovered panic and four refused connections to Redis: 5 error lines, 4 of them network failures,
    # one fewer than NETWORK_MIN_LINES (5).
    assert result['logs']['error_lines'] == 5
    assert result['logs']['network_error_lines'] == NETWORK_MIN_LINES - 1 == 4
    assert result['events']['by_reason'] == {'Unhealthy': 2}
    assert not result['assessment']['anomaly_detected']


def test_replicas_fail_one_after_another_and_the_last_has_just_enough_restarts() -> None:
    s = scenario_by_id('rolling-crash-consumers')
    # The containers' first starts after the poison message: minutes 62.0, 71.0 and 86.8 of the data, each
    # logging its decode ERROR 0.03 min (1.8 s) after starting; restarts are the starts after the first.
    expected = {
        'order-events-consumer-84d5f6c7b-2xk9p': ('2026-03-27T12:02:01.800Z', 9),
        'order-events-consumer-84d5f6c7b-7mq4r': ('2026-03-27T12:11:01.800Z', 7),
        'order-events-consumer-84d5f6c7b-c8t2w': ('2026-03-27T12:26:49.800Z', 3),
    }
    for name, (first_error, restarts) in expected.items():
        logs = analyze_logs('k8s:pod', name, *incident(s), *baseline(s))
        assert logs['logs']['first_error_time'] == first_error
        assert logs['restarts']['restarts_in_window'] == restarts
        assert logs['restarts']['last_termination']['exit_code'] == 2
        assert (logs['assessment']['category'], logs['assessment']['severity']) == ('crash_loop', 'critical')
    metadata = get_entity_metadata(s.entity_type, s.name, *incident(s))
    assert metadata['restart_count'] == CRASH_MIN_RESTARTS == 3
    assert metadata['assessment']['category'] == 'crash_loop'


def test_a_scrape_gap_and_missing_logs_are_stated_and_lower_the_confidence() -> None:
    s = scenario_by_id('scrape-gap-recommendations')
    cpu = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    # Minutes 70..82 of the data (10 to 22 of the window) have no sample: 13 of 30 missing, 17 present.
    assert cpu['window']['samples'] == 17
    assert cpu['window']['missing_samples'] == 13
    assert 'missing_samples' not in cpu['baseline']
    assert cpu['assessment']['confidence'] == 0.6
    assert cpu['assessment']['evidence'][0].startswith('13 of the 30 minutes of the requested window have no sample')
    memory = analyze_memory_metrics(s.entity_type, s.name, *incident(s))
    assert (memory['window']['missing_samples'], memory['assessment']['confidence']) == (13, 0.6)
    logs = analyze_logs(s.entity_type, s.name, *incident(s), *baseline(s))
    assert logs['logs']['total'] == 0
    assert not logs['assessment']['anomaly_detected']
    assert logs['assessment']['confidence'] == 0.6
    assert any('logs of this entity are missing' in line for line in logs['assessment']['evidence'])
    node = analyze_cpu_metrics('k8s:node', cpu['node']['name'], *incident(s))
    assert node['window']['samples'] == 30 and 'missing_samples' not in node['window']
    assert node['assessment']['confidence'] == 0.8


def test_a_pod_harmed_by_its_node_looks_healthy_on_its_own() -> None:
    s = scenario_by_id('node-disk-harms-pod')
    metadata = get_entity_metadata(s.entity_type, s.name, *incident(s))
    assert not metadata['assessment']['anomaly_detected']
    for tool in ANALYSES:
        for window in ((), baseline(s)):
            assert not tool(s.entity_type, s.name, *incident(s), *window)['assessment']['anomaly_detected']
    node = get_entity_metadata('k8s:node', metadata['node_name'], *incident(s))
    assert node['conditions']['DiskPressure']['since'] == '2026-03-26T07:06:00Z'
    assert (node['assessment']['category'], node['assessment']['confidence']) == ('disk_pressure', 0.9)


def test_two_faults_at_once_are_both_reported_and_the_leak_wins() -> None:
    s = scenario_by_id('two-faults-orders')
    memory = analyze_memory_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    # 10 MiB a minute from 300 MiB: 590 MiB at the last minute, 590 / 768 = 0.77 of the limit; 178 MiB left at
    # 10 MiB/min is about 18 minutes.
    assert memory['growth']['slope_bytes_per_min'] == pytest.approx(10 * 1024 * 1024, rel=0.02)
    assert memory['max_over_limit'] == pytest.approx(0.77, abs=0.01)
    assert memory['time_to_limit_minutes'] == pytest.approx(18, abs=1)
    logs = analyze_logs(s.entity_type, s.name, *incident(s), *baseline(s))
    assert logs['logs']['network_error_lines'] == logs['logs']['error_lines'] > 5
    verdicts = [memory['assessment'], logs['assessment']]
    assert [(v['category'], v['severity'], v['confidence']) for v in verdicts] == [
        ('memory_leak', 'high', 0.9),
        ('network_errors', 'medium', 0.85),
    ]
    assert merge(verdicts)['category'] == 'memory_leak'


# --- without the rule-based assessment -----------------------------------------------------------------------------
def test_assessments_off_leave_the_statistics_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    s = scenario_by_id('cpu-saturation-checkout')
    statistics_keys = [
        'entity',
        'window',
        'unit',
        'usage',
        'baseline',
        'requests_cores',
        'limits_cores',
        'p95_over_request',
        'p95_over_limit',
        'throttled_ratio',
        'node',
    ]
    on = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    assert list(on) == [*statistics_keys, 'assessment']
    monkeypatch.setenv(ASSESSMENT_VARIABLE, 'off')
    off = analyze_cpu_metrics(s.entity_type, s.name, *incident(s), *baseline(s))
    assert list(off) == statistics_keys
    assert off == {key: value for key, value in on.items() if key != 'assessment'}
    for tool in ALL_TOOLS:
        assert 'assessment' not in tool(s.entity_type, s.name, *incident(s)), tool.__name__
    missing = get_entity_metadata('k8s:pod', 'checkout-7f9c4d-q8w3z', *incident(s))
    assert list(missing) == ['entity', 'exists', 'known_entities']
    # What the merge and summary steps then read: the statistics themselves, under the finding's source.
    finding = findings('cpu', off)
    assert list(finding) == ['source', *statistics_keys[1:]]
    assert finding['p95_over_limit'] == on['p95_over_limit']


def test_an_unknown_assessment_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ASSESSMENT_VARIABLE, 'no')
    with pytest.raises(ValueError, match=r"K8S_TOOL_ASSESSMENT='no' is not valid: use \"on\" .* or \"off\""):
        analyze_logs(S1.entity_type, S1.name, *incident(S1))
    monkeypatch.setenv(ASSESSMENT_VARIABLE, ' ON ')
    assert 'assessment' in analyze_logs(S1.entity_type, S1.name, *incident(S1))


# --- arguments ----------------------------------------------------------------------------------------------------
S1 = scenario_by_id('cpu-saturation-checkout')


@pytest.mark.parametrize('tool', ALL_TOOLS, ids=lambda tool: tool.__name__)
def test_bad_arguments_raise_actionable_model_retries(tool: Callable[..., Json]) -> None:
    start, end = incident(S1)
    with pytest.raises(ModelRetry, match=r"entity_type='pod' is not valid: use one of 'k8s:pod', 'k8s:node'"):
        tool('pod', S1.name, start, end)
    with pytest.raises(ModelRetry, match=r"start='yesterday' is not a valid time: .*'2026-03-14T10:00:00Z'"):
        tool(S1.entity_type, S1.name, 'yesterday', end)
    with pytest.raises(ModelRetry, match=r'end \(2026-03-14T10:00:00Z\) must be after start'):
        tool(S1.entity_type, S1.name, start, start)
    with pytest.raises(
        ModelRetry,
        match=r'window 2026-01-01T00:00:00Z to 2026-01-01T01:00:00Z has no data .* covers '
        r'2026-03-14T09:00:00Z to 2026-03-14T10:30:00Z',
    ):
        tool(S1.entity_type, S1.name, '2026-01-01T00:00:00Z', '2026-01-01T01:00:00Z')


@pytest.mark.parametrize('tool', ANALYSES, ids=lambda tool: tool.__name__)
def test_analysis_specific_model_retries(tool: Callable[..., Json]) -> None:
    start, end = incident(S1)
    with pytest.raises(ModelRetry, match='baseline_end is missing: give both baseline_start and baseline_end'):
        tool(S1.entity_type, S1.name, start, end, baseline_start=S1.baseline_start)
    with pytest.raises(ModelRetry, match='baseline_start is missing'):
        tool(S1.entity_type, S1.name, start, end, baseline_end=S1.baseline_end)
    with pytest.raises(ModelRetry, match=r'baseline_end \(.*\) must be after baseline_start'):
        tool(S1.entity_type, S1.name, start, end, S1.baseline_end, S1.baseline_start)
    with pytest.raises(ModelRetry, match=r'the baseline window .* has no data'):
        tool(S1.entity_type, S1.name, start, end, '2026-03-13T09:00:00Z', '2026-03-13T10:00:00Z')
    with pytest.raises(
        ModelRetry,
        match=r"unknown pod 'checkout-7f9c4d-q8w3z'\. Did you mean 'checkout-7f9c4d-x2k1'\?"
        r' Known pods: .*payments-ledger-0',
    ):
        tool('k8s:pod', 'checkout-7f9c4d-q8w3z', start, end)
    with pytest.raises(ModelRetry, match='Known nodes: ip-10-0-1-17'):
        tool('k8s:node', S1.name, start, end)


def test_unknown_entity_metadata_is_a_result_not_an_error() -> None:
    s = scenario_by_id('pod-not-found')
    result = get_entity_metadata(s.entity_type, s.name, *incident(s))
    assert result['exists'] is False
    assert 'checkout-7f9c4d-x2k1' in result['known_entities']
    assert result['assessment'] == {
        'anomaly_detected': False,
        'severity': 'none',
        'category': 'entity_not_found',
        'confidence': 1.0,
        'evidence': result['assessment']['evidence'],
        'recommended_actions': result['assessment']['recommended_actions'],
    }
    assert 'Closest names: checkout-7f9c4d-x2k1' in result['assessment']['evidence'][0]


def test_entity_written_as_in_a_report_is_accepted() -> None:
    plain = analyze_cpu_metrics(S1.entity_type, S1.name, *incident(S1))
    assert analyze_cpu_metrics(S1.entity_type, S1.entity, *incident(S1)) == plain


def test_tool_docstrings_describe_every_parameter() -> None:
    assert [tool.__name__ for tool in ALL_TOOLS] == [
        'get_entity_metadata',
        'analyze_cpu_metrics',
        'analyze_memory_metrics',
        'analyze_logs',
    ]
    for tool in ALL_TOOLS:
        doc = inspect.getdoc(tool) or ''
        assert doc.splitlines()[0].endswith('.')
        for parameter in inspect.signature(tool).parameters:
            assert f'\n    {parameter}: ' in doc, (tool.__name__, parameter)


# --- data ---------------------------------------------------------------------------------------------------------
def test_data_files_are_modest_and_name_their_scenario() -> None:
    paths = sorted(DEFAULT_DATA_DIR.glob('*.json'))
    assert sum(path.stat().st_size for path in paths) < 3_000_000
    assert {path.stem for path in paths} == {s.id for s in EXISTING}
    for s in EXISTING:
        document = raw(s)
        assert document['scenario'] == s.id
        assert s.entity in document['series']
        for snapshot in document['pods']:
            node = snapshot['object']['spec'].get('nodeName')
            assert node is None or node in asyncio.run(get_backend().entity_names('k8s:node'))


def test_generator_reproduces_the_committed_data_byte_for_byte(tmp_path: Path) -> None:
    for path in generate(tmp_path):
        assert path.read_bytes() == (DEFAULT_DATA_DIR / path.name).read_bytes(), path.name


def test_use_backend_swaps_and_restores_and_names_are_unique(tmp_path: Path) -> None:
    source = DEFAULT_DATA_DIR / 'healthy-pod.json'
    (tmp_path / 'healthy-pod.json').write_bytes(source.read_bytes())
    original = get_backend()
    with use_backend(FixtureBackend(tmp_path)):
        assert get_backend() is not original
        with pytest.raises(ModelRetry, match='unknown pod'):
            analyze_cpu_metrics(S1.entity_type, S1.name, *incident(S1))
    assert get_backend() is original
    document = json.loads(source.read_text())
    document['scenario'] = 'copy'
    (tmp_path / 'copy.json').write_text(json.dumps(document))
    with pytest.raises(ValueError, match='is defined by both'):
        FixtureBackend(tmp_path)
