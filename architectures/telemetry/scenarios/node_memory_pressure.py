"""Scenario `node-memory-pressure`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    best_effort_eviction,
    companions,
    node_memory_fill,
    observe,
    pressure,
    pressured_node,
    reclaim_lines,
    service_pod,
)

__all__ = ('SEED', 'build')

SEED = 404
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a nightly ETL pod without a memory limit grows until its node reports
    MemoryPressure at minute 71, is tainted, and the kubelet evicts two best-effort pods (at 74 and 79)."""
    host = Host(b.scenario.name, '10.0.3.41', 'eu-west-1a')
    pressure_at = 71
    allocatable = (int(16 * GIB * 0.9475) // 1024 - 993_856) * 1024
    system = 1.25 * GIB
    steady = [
        Companion('recommender-7b9c6d5f8-h8n3j', 'ml', 'recommender', '10.244.4.11', 0.6, 3000),
        Companion('redis-cache-0', 'shop', 'redis-cache', '10.244.4.15', 0.2, 1500),
        Companion('fluent-bit-q2v7n', 'logging', 'fluent-bit', '10.244.4.2', 0.08, 90),
    ]
    tenants = companions(b, host, steady)
    evicted = [
        ('report-renderer-6d8c7b9f5-z5m2k', 'reports', 74, 640),
        ('docs-preview-5f7b8c6d9-l9p4t', 'docs', 79, 520),
    ]
    for name, ns, when, memory_mib in evicted:
        best_effort_eviction(b, host, name=name, namespace=ns, at=when, memory_mib=memory_mib)
    cpu, memory = node_memory_fill(
        b,
        allocatable=allocatable,
        others=sum(pod.memory_mib for pod in steady) * MIB + system,
        evictions=[(when, memory_mib * MIB) for _, _, when, memory_mib in evicted],
    )
    etl = service_pod(
        b,
        host,
        name='analytics-etl-6f7d9b8c5-kp2xw',
        namespace='analytics',
        app='analytics-etl',
        pod_ip='10.244.4.21',
        image_name='etl',
        version='v4.1.0',
        requests={'cpu': '1', 'memory': '2Gi'},
        limits={'cpu': '2'},
        container='etl',
        created_minute=-60 * 5,
    )
    observe(b, etl)
    b.pod_series(etl['name'], host.name, cpu, memory, b.flat(MINUTES, 0.01, 0.5))
    pressured_node(
        b,
        host,
        instance_type='m5.xlarge',
        memory_gib=16,
        resource='memory',
        at=pressure_at,
    )
    b.node_series(host.name, 0.3, system, [41 * GIB + 2 * MIB * m for m in range(MINUTES)], 4.0)
    pressure(
        b,
        node=host.name,
        resource='memory',
        at=pressure_at,
        reclaims=6,
        reclaim_from=pressure_at + 0.2,
        reclaim_until=MINUTES - 2,
    )
    b.kubelet_routine(host.name, [*tenants, f'analytics/{etl["name"]}'])
    reclaim_lines(b, node=host.name, resource='memory', at=pressure_at, every=3, offset=0.21, must_evict=0.22)
    b.log(
        f'k8s:node/{host.name}',
        pressure_at + 0.1,
        'INFO',
        f'"Node became not ready for scheduling" node="{host.name}" reason="MemoryPressure"',
    )
