"""Scenario `pid-pressure-node`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    companions,
    disk_fill,
    pressure,
    pressured_node,
    reclaim_lines,
    request_line,
    service_pod,
    steady_usage,
)
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1107
"""Seed of the scenario's random generator."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='node',
        text='"type": "PIDPressure", "status": "True", "reason": "KubeletHasInsufficientPID"',
        meaning='the kubelet reports the node short of process IDs',
    ),
    Reading(
        source='node',
        text='"key": "node.kubernetes.io/pid-pressure"',
        meaning='tainted: no new pod is scheduled on it',
    ),
    Reading(
        source='event',
        text='EvictionThresholdMet: Attempting to reclaim pids',
        meaning='the eviction manager is about to evict pods to free PIDs',
    ),
    Reading(
        source='log',
        text='ERROR fork/exec /usr/bin/chromium: resource temporarily unavailable',
        meaning='the renderer cannot start processes any more (EAGAIN): it leaked them',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='node CPU stays moderate (about 1.6 of 4 cores): not a CPU or memory problem',
        low=1.0,
        high=2.5,
    ),
)
"""The data lines behind the verdict pid_pressure, high: the node refuses new pods and will evict."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a report renderer on the node starts a headless browser per report and never
    reaps it; from minute 12 of the incident the node reports PIDPressure and tries to reclaim PIDs."""
    host = Host(b.scenario.name, '10.0.17.12', 'eu-west-1a')
    at = INCIDENT + 12
    renderer = service_pod(
        b,
        host,
        name='report-renderer-6c5b8d7f9-x7v2n',
        namespace='reports',
        app='report-renderer',
        pod_ip='10.244.37.33',
        version='v3.4.1',
        requests={'cpu': '250m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '2Gi'},
        container='report-renderer',
        created_minute=-60 * 24 * 4,
    )
    b.snapshot('Pod', 0, b.pod(**renderer))
    b.snapshot('Pod', MINUTES - 1, b.pod(**renderer))
    steady_usage(b, renderer['name'], host.name, cpu=(0.35, 0.1), memory_mib=900, throttled=(0.01, 0.5))
    neighbours = companions(
        b,
        host,
        [
            Companion('fluent-bit-g3h6j', 'logging', 'fluent-bit', '10.244.37.2', 0.07, 90),
            Companion('invoices-api-5d6c7b8f9-k8l3m', 'billing', 'invoices-api', '10.244.37.19', 0.6, 1000),
        ],
    )
    pressured_node(b, host, instance_type='m5.xlarge', memory_gib=16, resource='pids', at=at)
    b.node_series(host.name, 0.22, 1.3 * GIB, disk_fill(b, lambda minute: 0.44 + 0.0001 * minute), 4.0)
    b.kubelet_routine(host.name, [f'reports/{renderer["name"]}', *neighbours])
    pressure(b, node=host.name, resource='pids', at=at, reclaims=6, reclaim_from=at + 0.5, reclaim_until=MINUTES - 2)
    reclaim_lines(b, node=host.name, resource='pids', at=at, every=3, offset=0.4)
    entity = f'k8s:pod/{renderer["name"]}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= at and b.rng.random() < 0.4:
            return 'ERROR', 'fork/exec /usr/bin/chromium: resource temporarily unavailable'
        if minute >= INCIDENT and b.rng.random() < 0.2:
            return 'WARN', f'{b.rng.randint(2000, 9000)} chromium processes running (expected <= 8)'
        return request_line(b, 'POST', f'/v1/reports/rep_{b.hexid(8)}/render', 900)

    b.request_logs(entity, 0, MINUTES, 2.0, line)
