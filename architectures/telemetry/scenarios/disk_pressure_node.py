"""Scenario `disk-pressure-node`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    companions,
    disk_fill,
    evicted_state,
    eviction,
    image_gc_failures,
    observe,
    pressure,
    pressured_node,
    reclaim_lines,
    service_pod,
)

__all__ = ('SEED', 'build')

SEED = 606
"""Seed of the scenario's random generator."""


def _disk_fraction(minute: int, evicted_at: int) -> float:
    """The transcoder's scratch files fill the disk 2.45 points a minute from the incident start; its eviction
    frees some, and the disk keeps filling slowly after."""
    if minute < INCIDENT:
        return 0.56 + 0.0002 * minute
    if minute < evicted_at:
        return 0.57 + 0.0245 * (minute - INCIDENT)
    return 0.86 + 0.0025 * (minute - evicted_at)


def build(b: Builder) -> None:
    """Write the scenario into `b`: a transcoder writing scratch files to an emptyDir fills its node's disk past
    the eviction threshold; image garbage collection cannot free enough, the node reports DiskPressure, is tainted
    and evicts the transcoder."""
    host = Host(b.scenario.name, '10.0.5.77', 'eu-west-1c')
    pressure_at, evicted_at = 74, 77
    disk = disk_fill(b, lambda minute: _disk_fraction(minute, evicted_at))
    tenants = companions(
        b,
        host,
        [
            Companion('thumbnailer-6c7d8b9f5-k2j6p', 'media', 'thumbnailer', '10.244.6.19', 0.5, 800),
            Companion('fluent-bit-d3r6x', 'logging', 'fluent-bit', '10.244.6.2', 0.09, 95),
        ],
    )
    message = (
        f'The node was low on resource: ephemeral-storage. Threshold quantity: 10486528Ki, available: '
        f'{b.rng.randint(9_000_000, 10_400_000)}Ki. Container transcoder was using 31457280Ki, request is 0, '
        'has larger consumption of ephemeral-storage.'
    )
    transcoder = service_pod(
        b,
        host,
        name='media-transcoder-5f6b8c9d7-t4v2n',
        namespace='media',
        app='media-transcoder',
        pod_ip='10.244.6.33',
        image_name='transcoder',
        version='v1.14.2',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='transcoder',
        created_minute=-60 * 9,
    )
    observe(b, transcoder, evicted_state(b, message=message, done=evicted_at + 0.4))
    b.pod_series(
        transcoder['name'],
        host.name,
        b.flat(evicted_at, 1.1, 0.06),
        b.flat(evicted_at, 900 * MIB, 0.02),
        b.flat(evicted_at, 0.05, 0.3),
    )
    pressured_node(
        b,
        host,
        instance_type='c5.xlarge',
        memory_gib=8,
        resource='ephemeral-storage',
        at=pressure_at,
    )
    b.node_series(host.name, 0.25, 1.1 * GIB, disk, 4.0)
    pressure(
        b,
        node=host.name,
        resource='ephemeral-storage',
        at=pressure_at,
        reclaims=5,
        reclaim_from=pressure_at + 0.1,
        reclaim_until=MINUTES - 1.5,
    )
    image_gc_failures(
        b,
        node=host.name,
        first=INCIDENT + 9,
        last=MINUTES - 3,
        count=4,
        wanted=12884901888,
        freed=1932735283,
        eligible=2147483648,
        every=5,
    )
    eviction(b, transcoder, at=evicted_at + 0.1, message=message, stopped=evicted_at + 0.2, done=evicted_at + 0.4)
    b.kubelet_routine(host.name, [f'media/{transcoder["name"]}', *tenants])
    reclaim_lines(b, node=host.name, resource='ephemeral-storage', at=pressure_at, every=2, offset=0.11)
    for minute in range(0, evicted_at, 2):
        b.log(
            f'k8s:pod/{transcoder["name"]}',
            minute + 0.3,
            'INFO',
            f'transcoded asset=vid_{b.hexid(10)} preset=1080p scratch=/scratch/{b.hexid(8)} '
            f'bytes={b.rng.randint(200, 900) * MIB}',
        )
