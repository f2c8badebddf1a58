"""The fault injectors that write the scenario files: what each writes, on noise-free draws worked out by hand.

A `Builder` whose generator draws no Gaussian noise makes every noisy level exact, so a test can state the value
of a series at a given minute. The committed files themselves are checked byte for byte in test_k8s_tools.py.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from architectures.telemetry import faults, scenario_by_id
from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    cpu_rise,
    cpu_saturation,
    crash_loop,
    crash_loop_state,
    crash_loop_usage,
    disk_fill,
    eviction,
    image_gc_failures,
    linear_growth,
    liveness_kills,
    memory_leak_until_oom,
    network_failure,
    node_memory_fill,
    noisy_neighbour,
    pressure,
    pressured_node,
    quiet_node,
    reclaim_lines,
    scrape_gap,
    service_pod,
    step_changes,
    traffic_peak,
)

Json = dict[str, Any]
HOST = Host('node-a', '10.0.0.1', 'eu-west-1a')
MODULES = ('cluster', 'usage', 'pods', 'nodes')


class NoiseFree(random.Random):
    """A generator whose Gaussian draws are their mean; with `uniform`, every `random()` returns it too."""

    def __init__(self, uniform: float | None = None) -> None:
        super().__init__(0)
        self.uniform_value = uniform

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return mu

    def random(self) -> float:
        return super().random() if self.uniform_value is None else self.uniform_value


class Counting(random.Random):
    """A generator whose n-th Gaussian draw (from 0) is n: `noisy(level, 1)` then returns `level * (1 + n)`."""

    def __init__(self) -> None:
        super().__init__(0)
        self.draws = 0

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        self.draws += 1
        return float(self.draws - 1)


def builder(rng: random.Random | None = None) -> Builder:
    b = Builder(scenario_by_id('healthy-pod'), 1)
    b.rng = rng or NoiseFree()
    return b


def pod(b: Builder, **overrides: Any) -> Json:
    spec: Json = dict(
        name='api-5d8b7c9f4-m4q7p',
        namespace='shop',
        app='api',
        pod_ip='10.244.0.5',
        version='v1.0.0',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='api',
    )
    return service_pod(b, HOST, **{**spec, **overrides})


def reasons(b: Builder) -> list[tuple[str, float, int]]:
    """(reason, first minute, count) of every event, in the order written."""
    return [
        (event['reason'], minute_of(b, event['firstTimestamp']), event['count'])
        for event in b.events  # not sorted: `document()` sorts
    ]


def minute_of(b: Builder, timestamp: str) -> float:
    seconds = (b.at(0).fromisoformat(timestamp.replace('Z', '+00:00')) - b.at(0)).total_seconds()
    return round(seconds / 60, 2)


# --- usage shapes ---------------------------------------------------------------------------------------------
def test_step_changes_draw_every_metric_of_a_minute_before_the_next_minute() -> None:
    # The n-th draw is n: metric a at minute m is draw 2m, metric b draw 2m + 1 (a level of 1 with sd 1 gives 1 + n).
    a, c = step_changes(builder(Counting()), ((1.0, 1.0), (1.0, 1.0)), ((10.0, 1.0), (100.0, 1.0)))
    assert a[:3] == [1.0, 3.0, 5.0]
    assert c[:2] == [20.0, 40.0]
    # Minute 60 is draws 120 (a) and 121 (c): c now steps to 100, so 100 * 122.
    assert (a[INCIDENT], c[INCIDENT]) == (121.0, 12_200.0)
    with pytest.raises(ValueError, match='at least one metric'):
        step_changes(builder())


def test_linear_growth_is_flat_in_the_baseline_and_grows_per_incident_minute() -> None:
    memory = linear_growth(builder(), 300 * MIB, 10 * MIB, 0.05)
    assert set(memory[:INCIDENT]) == {300 * MIB}
    # 10 incident minutes in: 300 + 10 * 10 MiB.
    assert memory[INCIDENT + 10] == 400 * MIB
    # The incident window's mean is the mean of 0..29 steps: 300 + 10 * 14.5 = 445 MiB.
    assert statistics.fmean(memory[INCIDENT:]) == 445 * MIB


def test_cpu_saturation_ramps_to_the_limit_and_shows_each_kill() -> None:
    cpu, memory, throttled = cpu_saturation(builder(), kills=[71, 76], cpu=0.42, memory_mib=300)
    assert (cpu[0], throttled[0], memory[0]) == (0.42, 0.02, 300 * MIB)
    # First incident minute: a quarter of the ramp, 0.45 + 0.535 / 4 = 0.58375 cores, 0.1 + 0.55 / 4 throttled.
    assert cpu[INCIDENT] == pytest.approx(0.58375)
    assert throttled[INCIDENT] == pytest.approx(0.2375)
    # From the fourth minute on: 0.45 + 0.535 = 0.985 cores, 65% throttled, memory 330 MiB.
    assert (cpu[INCIDENT + 3], throttled[INCIDENT + 3], memory[INCIDENT + 3]) == pytest.approx((0.985, 0.65, 330 * MIB))
    assert (cpu[71], throttled[71], memory[71]) == (0.55, 0.3, 262 * MIB)
    assert cpu[72] == pytest.approx(0.985)


def test_a_leak_is_capped_below_the_limit_killed_and_grows_again() -> None:
    cpu, memory = memory_leak_until_oom(builder(), oom=86, limit_mib=512, cpu=0.18, memory_mib=270, leak_mib=20)
    assert memory[INCIDENT - 1] == 270 * MIB
    # 5 minutes in: 272 + 5 * 20 = 372 MiB; CPU 0.18 + 0.06 + 5 * 0.004 = 0.26.
    assert memory[INCIDENT + 5] == 372 * MIB
    assert cpu[INCIDENT + 5] == pytest.approx(0.26)
    # 272 + 20 * 12 = 512 MiB would reach the limit: held at 99.5% of it, 509.44 MiB.
    assert memory[INCIDENT + 12] == pytest.approx(509.44 * MIB)
    # Killed at 86: 140 MiB again, growing 20 a minute (two minutes later: 180 MiB), CPU back to 0.2.
    assert (memory[86], memory[88], cpu[88]) == (140 * MIB, 180 * MIB, 0.2)


def test_crash_loop_usage_lives_only_in_the_minutes_of_a_start() -> None:
    cpu, memory = crash_loop_usage(
        builder(), starts=[60.3, 61.7, 65.0], cpu=(0.31, 0.07), memory_mib=610, start_cpu=0.22, start_memory_mib=48
    )
    assert (cpu[59], memory[59]) == (0.31, 610 * MIB)
    assert [(cpu[m], memory[m]) for m in (60, 61, 65)] == [(0.22, 48 * MIB)] * 3
    assert [(cpu[m], memory[m]) for m in (62, 63, 64, 66, 89)] == [(0.002, 3 * MIB)] * 5
    with pytest.raises(ValueError, match='at least one restart'):
        crash_loop_usage(builder(), starts=[60.0], cpu=(0.3, 0.1), memory_mib=1, start_cpu=1, start_memory_mib=1)
    with pytest.raises(ValueError, match='must increase'):
        crash_loop_usage(builder(), starts=[61.0, 60.0], cpu=(0.3, 0.1), memory_mib=1, start_cpu=1, start_memory_mib=1)


def test_traffic_peak_climbs_twelve_percent_a_minute_and_levels_off() -> None:
    cpu, memory = traffic_peak(builder(), cpu=0.32, memory_mib=380)
    assert (cpu[INCIDENT - 1], memory[INCIDENT - 1]) == (0.32, 380 * MIB)
    # Minute 60: load 1.12 -> 0.3584 cores, 380 + 20 * 0.12 = 382.4 MiB.
    assert (cpu[INCIDENT], memory[INCIDENT]) == pytest.approx((0.3584, 382.4 * MIB))
    # From minute 68 on, 1 + 0.12 * 9 = 2.08 is capped at 2.05: 0.656 cores, 401 MiB.
    assert (cpu[INCIDENT + 8], memory[INCIDENT + 8]) == pytest.approx((0.656, 401 * MIB))
    assert cpu[MINUTES - 1] == pytest.approx(0.656)


def test_node_memory_fill_takes_what_the_node_leaves_and_what_evictions_free() -> None:
    cpu, memory = node_memory_fill(builder(), allocatable=1000.0, others=100.0, evictions=[(74, 50.0)])
    # Baseline: 60% of 1000, minus the others (100) and the pod still to be evicted (50).
    assert (memory[0], cpu[0]) == (450.0, 0.9)
    # Minute 61: 62% + 3 points = 65% -> 650 - 150 = 500; CPU 1.4.
    assert (memory[INCIDENT + 1], cpu[INCIDENT + 1]) == pytest.approx((500.0, 1.4))
    # The target is capped at 96.5% from minute 72 on; the eviction at 74 frees 50 for the pod.
    assert (memory[73], memory[74]) == pytest.approx((815.0, 865.0))


def test_disk_fill_is_a_fraction_of_a_100_gib_filesystem_less_its_reserved_blocks() -> None:
    used = disk_fill(builder(), lambda minute: 0.5 if minute < INCIDENT else 0.9)
    # 100 GiB = 107,374,182,400 bytes, less 12,000 KiB (12,288,000 bytes) = 107,361,894,400 bytes of capacity.
    assert used[0] == 53_680_947_200
    assert used[INCIDENT] == pytest.approx(0.9 * 107_361_894_400)


def test_a_scrape_gap_removes_every_metric_in_its_minutes_only() -> None:
    b = builder()
    b.pod_series('p', 'n', [0.5] * MINUTES, [MIB] * MINUTES)
    scrape_gap(b, 'k8s:pod/p', 70, 73)
    block = b.series['k8s:pod/p']
    for key in ('cpu_cores', 'memory_bytes', 'cpu_throttled_ratio'):
        assert [m for m, v in enumerate(block[key]) if v is None] == [70, 71, 72], key
    assert (block['cpu_cores'][69], block['cpu_cores'][73]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="no series of 'k8s:pod/q'"):
        scrape_gap(b, 'k8s:pod/q', 70, 73)
    with pytest.raises(ValueError, match='0 <= first < stop <= 90'):
        scrape_gap(b, 'k8s:pod/p', 80, 95)


# --- pod trouble ----------------------------------------------------------------------------------------------
def test_liveness_kills_write_probe_failures_kills_restarts_and_late_back_off() -> None:
    b = builder()
    liveness_kills(b, pod(b), kills=[70, 75, 80], back_off_from=2)
    # Per kill: 3 probe failures 0.4 minutes before, the kill, the restart 0.9 after; back-off only at the third.
    assert reasons(b)[:5] == [
        ('Unhealthy', 69.6, 3),
        ('Killing', 70.0, 1),
        ('Pulled', 70.9, 1),
        ('Created', 70.9, 1),
        ('Started', 70.9, 1),
    ]
    assert [r for r, *_ in reasons(b)].count('BackOff') == 1
    assert ('BackOff', 80.3, 2) in reasons(b)
    assert len(b.events) == 3 * 5 + 1


def test_a_crash_loop_counts_restarts_and_ends_in_crash_loop_back_off() -> None:
    b = builder()
    spec = pod(b)
    starts = [60.0, 60.5, 61.5, 64.0]
    crash_loop(b, spec, starts=starts)
    # 3 restarts from 60.5; back-off from just after the first exit, twice a minute for 30 minutes.
    assert reasons(b) == [('Pulled', 60.5, 3), ('Created', 60.5, 3), ('Started', 60.5, 3), ('BackOff', 60.1, 60)]
    state = crash_loop_state(b, spec, starts=starts, exit_code=2, runs_for=0.05)
    assert state['restart_count'] == 3
    assert state['state']['waiting']['reason'] == 'CrashLoopBackOff'
    assert state['state']['waiting']['message'].startswith('back-off restarting failed container=api ')
    assert state['last_terminated']['exitCode'] == 2
    assert minute_of(b, state['last_terminated']['finishedAt']) == 64.05


def test_a_fresh_crash_loop_also_creates_the_container_at_its_first_start() -> None:
    b = builder()
    crash_loop(b, pod(b), starts=[60.3, 60.6, 61.0], fresh=True, back_off_first=60.5, back_off_count=118)
    assert reasons(b) == [('Pulled', 60.6, 2), ('Created', 60.3, 3), ('Started', 60.3, 3), ('BackOff', 60.5, 118)]
    with pytest.raises(ValueError, match='lie in the data'):
        crash_loop(b, pod(b), starts=[88.0, 91.0])


def test_cpu_rise_steps_cpu_and_throttling_and_slows_requests() -> None:
    b = builder(NoiseFree(uniform=0.5))
    spec = pod(b, app='geo-service')
    cpu_rise(b, spec, cpu=(0.62, 0.69, 0.05), throttled=(0.02, 0.06), memory_mib=900)
    series = b.series['k8s:pod/api-5d8b7c9f4-m4q7p']
    assert (statistics.fmean(series['cpu_cores'][:INCIDENT]), statistics.fmean(series['cpu_cores'][INCIDENT:])) == (
        pytest.approx(0.62),
        pytest.approx(0.69),
    )
    assert (series['cpu_throttled_ratio'][0], series['cpu_throttled_ratio'][INCIDENT]) == (0.02, 0.06)
    lines = b.logs['k8s:pod/api-5d8b7c9f4-m4q7p']
    # Exactly two requests a minute; 40 ms before the incident, 55 ms in it, on the app's quote path.
    assert len(lines) == 2 * MINUTES
    assert all(' 40ms ' in line['message'] for line in lines[: 2 * INCIDENT])
    assert all(line['message'].startswith('GET /v2/geo-service/quote 200 55ms ') for line in lines[2 * INCIDENT :])


@pytest.mark.parametrize(
    ('draw', 'expected'),
    [
        (0.3, 'send failed: dial tcp: lookup relay.svc on 10.96.0.10:53: read udp 10.244.0.5:'),
        (0.6, 'send failed: dial tcp 10.100.0.7:587: connect: connection refused'),
        (0.9, 'fetch failed: dial tcp: lookup templates.svc on 10.96.0.10:53: no such host'),
    ],
)
def test_a_network_failure_is_a_timeout_a_refusal_or_an_unknown_host(draw: float, expected: str) -> None:
    b = builder(NoiseFree(uniform=draw))
    level, message = network_failure(
        b,
        pod_ip='10.244.0.5',
        what='send failed',
        host='relay.svc',
        address='10.100.0.7:587',
        missing=('fetch failed', 'templates.svc'),
    )
    assert level == 'ERROR'
    assert message.startswith(expected)


# --- node trouble ---------------------------------------------------------------------------------------------
def test_a_pressured_node_ends_with_its_condition_and_taint() -> None:
    b = builder()
    pressured_node(b, HOST, instance_type='m5.xlarge', memory_gib=16, resource='memory', at=71)
    first, last = (snapshot['object'] for snapshot in b.nodes)
    assert 'taints' not in first['spec']
    assert last['spec']['taints'][0]['key'] == 'node.kubernetes.io/memory-pressure'
    condition = {c['type']: c for c in last['status']['conditions']}['MemoryPressure']
    assert (condition['status'], minute_of(b, condition['lastTransitionTime'])) == ('True', 71.0)
    assert {c['type']: c['status'] for c in first['status']['conditions']}['MemoryPressure'] == 'False'


def test_disk_pressure_events_and_reclaim_lines() -> None:
    b = builder()
    pressure(b, node='n', resource='ephemeral-storage', at=74, reclaims=5, reclaim_from=74.1, reclaim_until=88.5)
    assert reasons(b) == [('NodeHasDiskPressure', 74.0, 1), ('EvictionThresholdMet', 74.1, 5)]
    assert b.events[1]['message'] == 'Attempting to reclaim ephemeral-storage'
    reclaim_lines(b, node='n', resource='memory', at=71, every=3, offset=0.21, must_evict=0.22)
    # Minutes 71, 74, ..., 89: 7 reclaim attempts, each with a must-evict line.
    lines = b.logs['k8s:node/n']
    assert len(lines) == 14
    assert sum('must evict' in line['message'] for line in lines) == 7


def test_image_gc_failures_in_the_older_and_the_newer_wording() -> None:
    b = builder()
    image_gc_failures(b, node='n', first=69, last=87, count=4, wanted=100, freed=10, every=5)
    assert reasons(b) == [('ImageGCFailed', 69.0, 4)]
    # Minutes 69, 74, 79, 84, 89.
    assert len(b.logs['k8s:node/n']) == 5
    assert b.logs['k8s:node/n'][0]['message'].endswith('Wanted to free 100 bytes, but freed 10 bytes"')
    newer = builder()
    image_gc_failures(newer, node='n', first=69, last=87, count=4, wanted=100, freed=10, every=5, eligible=20)
    assert [r for r, *_ in reasons(newer)] == ['FreeDiskSpaceFailed', 'ImageGCFailed']
    # The newer lines ask for one byte more each minute: 100 + 74 at minute 74.
    assert 'Attempted to free 174 bytes, but only found 20 bytes' in newer.logs['k8s:node/n'][1]['message']


def test_an_eviction_writes_its_events_and_the_eviction_managers_lines() -> None:
    b = builder()
    eviction(b, pod(b), at=77.1, message='low on disk', stopped=77.2, done=77.4)
    assert reasons(b) == [('Evicted', 77.1, 1), ('Killing', 77.2, 1)]
    assert [minute_of(b, line['timestamp']) for line in b.logs['k8s:node/node-a']] == [77.1, 77.4]


def test_a_noisy_neighbour_takes_what_the_node_leaves_up_to_its_appetite() -> None:
    b = builder()
    others = [1.0] * 15 + [3.0] * 15
    hog = noisy_neighbour(
        b,
        HOST,
        name='batch-1-x',
        namespace='search',
        app='batch',
        pod_ip='10.244.0.40',
        image=('reindexer', 'v1'),
        others=others,
        capacity=8.0,
    )
    series = b.series['k8s:pod/batch-1-x']
    # 8 - 1 = 7 cores free: it takes its 5.8; 8 - 3 = 5 free: it takes 5.
    assert series['cpu_cores'] == [5.8] * 15 + [5.0] * 15
    assert minute_of(b, series['start']) == INCIDENT
    assert hog['owner'] == ('Job', 'batch-1')
    assert reasons(b) == [('Scheduled', 59.5, 1), ('Started', 59.7, 1)]
    with pytest.raises(ValueError, match='one value per incident minute'):
        noisy_neighbour(b, HOST, **{**hog_arguments(), 'others': [1.0] * 29})


def hog_arguments() -> Json:
    return dict(
        name='batch-2-y',
        namespace='search',
        app='batch',
        pod_ip='10.244.0.41',
        image=('reindexer', 'v1'),
        others=[1.0] * 30,
        capacity=8.0,
    )


def test_a_quiet_node_lists_tenants_then_companions_and_adds_their_usage() -> None:
    b = builder()
    b.pod_series('api', 'node-a', [0.5] * MINUTES, [100 * MIB] * MINUTES)
    quiet_node(
        b,
        HOST,
        tenants=['shop/api'],
        pods=[Companion('fluent-bit-x', 'logging', 'fluent-bit', '10.244.0.2', 0.1, 50)],
    )
    assert [s['object']['metadata']['name'] for s in b.pods] == ['fluent-bit-x', 'fluent-bit-x']
    node = b.series['k8s:node/node-a']
    # System 0.22 cores + the tenant's 0.5 + the companion's 0.1; 1.3 GiB + 100 MiB + 50 MiB.
    assert node['cpu_cores'][0] == pytest.approx(0.82)
    assert node['memory_bytes'][0] == int(1.3 * GIB + 150 * MIB)
    pods_in_chatter = {
        line['message'].split('pod="')[1].rstrip('"')
        for line in b.logs['k8s:node/node-a']
        if 'SyncLoop' in line['message']
    }
    assert pods_in_chatter == {'shop/api', 'logging/fluent-bit-x'}


def test_the_contract_lists_every_injector() -> None:
    contract = (Path(__file__).parents[1] / 'docs' / 'k8s-contract.md').read_text(encoding='utf-8')
    types = {'Companion', 'Host', 'Level', 'Resource'}
    missing = [name for name in faults.__all__ if name not in types and f'`{name}`' not in contract]
    missing = [name for name in missing if not any(f'`{module}.{name}`' in contract for module in MODULES)]
    assert not missing, f'docs/k8s-contract.md ("Fault injectors") does not mention {missing}'
