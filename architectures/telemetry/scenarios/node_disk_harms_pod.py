"""Scenario `node-disk-harms-pod`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    companions,
    disk_fill,
    eviction,
    image_gc_failures,
    observe,
    pressure,
    pressured_node,
    reclaim_lines,
    request_line,
    service_pod,
    steady_usage,
)

__all__ = ('SEED', 'build')

SEED = 1414
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a pod whose CPU, memory and object are normal on a node under disk pressure;
    its only trace of the trouble is warnings that its cache writes fail."""
    pod, ns, pod_ip = b.scenario.name, 'media', '10.244.13.17'
    host = Host('ip-10-0-11-63.eu-west-1.compute.internal', '10.0.11.63', 'eu-west-1a')
    pressure_at = 66
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='image-resizer',
        pod_ip=pod_ip,
        version='v2.3.1',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='resizer',
    )
    observe(b, spec)
    steady_usage(b, pod, host.name, cpu=(0.4, 0.05), memory_mib=600, throttled=(0.01, 0.4))

    def line(minute: float) -> tuple[str, str]:
        if minute >= pressure_at + 1 and b.rng.random() < 0.2:
            return 'WARN', (
                f'could not write cache file /var/cache/resizer/{b.hexid(12)}.webp: no space left on device; '
                'serving uncached'
            )
        return request_line(b, 'POST', '/v1/resize', 120 if minute < pressure_at else 210)

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 2.5, line)
    neighbours = companions(
        b,
        host,
        [
            Companion('fluent-bit-b6n4x', 'logging', 'fluent-bit', '10.244.13.2', 0.08, 90),
            Companion('video-previews-5c9d8b7f6-m3k8j', ns, 'video-previews', '10.244.13.25', 0.6, 900),
        ],
    )
    # The disk fills 5 points a minute from the incident start, from 62% to 92%.
    disk = disk_fill(b, lambda minute: 0.62 if minute < INCIDENT else min(0.92, 0.62 + 0.05 * (minute - INCIDENT)))
    pressured_node(
        b,
        host,
        instance_type='c5.xlarge',
        memory_gib=8,
        resource='ephemeral-storage',
        at=pressure_at,
    )
    b.node_series(host.name, 0.25, 1.1 * GIB, disk, 4.0)
    b.kubelet_routine(host.name, [f'{ns}/{pod}', *neighbours])
    pressure(
        b,
        node=host.name,
        resource='ephemeral-storage',
        at=pressure_at,
        reclaims=4,
        reclaim_from=pressure_at + 0.1,
        reclaim_until=MINUTES - 1.5,
    )
    reclaim_lines(b, node=host.name, resource='ephemeral-storage', at=pressure_at, every=3, offset=0.11)
    image_gc_failures(
        b,
        node=host.name,
        first=pressure_at + 2,
        last=MINUTES - 4,
        count=3,
        wanted=10737418240,
        freed=1288490188,
        every=6,
    )
    archiver = {'name': 'log-archiver-6f7d8c9b5-z2x4c', 'namespace': ns, 'node': host.name}
    eviction(
        b,
        archiver,
        at=pressure_at + 3,
        message='The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 8%. '
        'Container log was using 3712Mi, request is 0.',
    )
