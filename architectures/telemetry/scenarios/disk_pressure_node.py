"""Scenario `disk-pressure-node`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults import companion

__all__ = ('SEED', 'build')

SEED = 606
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    node, node_ip, zone = b.scenario.name, '10.0.5.77', 'eu-west-1c'
    pressure_at, evicted_at = 74, 77
    capacity = (100 * GIB // 1024 - 12_000) * 1024
    disk = []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            fraction = 0.56 + 0.0002 * minute
        elif minute < evicted_at:
            fraction = 0.57 + 0.0245 * (minute - INCIDENT)
        else:
            fraction = 0.86 + 0.0025 * (minute - evicted_at)
        disk.append(capacity * b.noisy(fraction, 0.002))
    transcoder = 'media-transcoder-5f6b8c9d7-t4v2n'
    for name, ns, app, ip, cpu, memory_mib in [
        ('thumbnailer-6c7d8b9f5-k2j6p', 'media', 'thumbnailer', '10.244.6.19', 0.5, 800),
        ('fluent-bit-d3r6x', 'logging', 'fluent-bit', '10.244.6.2', 0.09, 95),
    ]:
        companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    message = (
        f'The node was low on resource: ephemeral-storage. Threshold quantity: 10486528Ki, available: '
        f'{b.rng.randint(9_000_000, 10_400_000)}Ki. Container transcoder was using 31457280Ki, request is 0, '
        'has larger consumption of ephemeral-storage.'
    )
    common: Json = dict(
        name=transcoder,
        namespace='media',
        app='media-transcoder',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.6.33',
        image=f'{REGISTRY}/media/transcoder:v1.14.2',
        owner=('ReplicaSet', 'media-transcoder-5f6b8c9d7'),
        created_minute=-60 * 9,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='transcoder',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        MINUTES - 1,
        b.pod(
            **common,
            phase='Failed',
            ready=False,
            evicted_message=message,
            state={'terminated': {'exitCode': 137, 'reason': 'Error', 'finishedAt': iso(b.at(evicted_at + 0.4))}},
        ),
    )
    b.pod_series(
        transcoder,
        node,
        b.flat(evicted_at, 1.1, 0.06),
        b.flat(evicted_at, 900 * MIB, 0.02),
        b.flat(evicted_at, 0.05, 0.3),
    )
    spec: Json = dict(name=node, ip=node_ip, zone=zone, instance_type='c5.xlarge', cpu=4, memory_gib=8, disk_gib=100)
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            **spec,
            minute=MINUTES - 1,
            taints=[('node.kubernetes.io/disk-pressure', pressure_at)],
            conditions={'DiskPressure': ('True', 'KubeletHasDiskPressure', 'kubelet has disk pressure', pressure_at)},
        ),
    )
    b.node_series(node, 0.25, 1.1 * GIB, disk, 4.0)
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='NodeHasDiskPressure',
        host=node,
        message=f'Node {node} status is now: NodeHasDiskPressure',
        first=pressure_at,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='EvictionThresholdMet',
        host=node,
        message='Attempting to reclaim ephemeral-storage',
        first=pressure_at + 0.1,
        last=MINUTES - 1.5,
        count=5,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='FreeDiskSpaceFailed',
        host=node,
        message='Failed to garbage collect required amount of images. Attempted to free 12884901888 bytes, '
        'but only found 2147483648 bytes eligible to free.',
        first=INCIDENT + 9,
        last=MINUTES - 3,
        count=4,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='ImageGCFailed',
        host=node,
        message='failed to garbage collect required amount of images. Wanted to free 12884901888 bytes, but '
        'freed 1932735283 bytes',
        first=INCIDENT + 9,
        last=MINUTES - 3,
        count=4,
    )
    b.event(
        kind='Pod',
        name=transcoder,
        namespace='media',
        type_='Warning',
        reason='Evicted',
        host=node,
        message=message,
        first=evicted_at + 0.1,
    )
    b.event(
        kind='Pod',
        name=transcoder,
        namespace='media',
        type_='Normal',
        reason='Killing',
        host=node,
        message='Stopping container transcoder',
        first=evicted_at + 0.2,
    )
    entity = f'k8s:node/{node}'
    b.kubelet_routine(node, [f'media/{transcoder}', 'media/thumbnailer-6c7d8b9f5-k2j6p', 'logging/fluent-bit-d3r6x'])
    for minute in range(INCIDENT + 9, MINUTES, 5):
        b.log(
            entity,
            minute + 0.05,
            'ERROR',
            f'"Image garbage collection failed multiple times in a row" err="Failed to garbage collect required '
            f'amount of images. Attempted to free {12884901888 + minute} bytes, but only found 2147483648 bytes '
            f'eligible to free."',
        )
    for minute in range(pressure_at, MINUTES, 2):
        b.log(
            entity, minute + 0.11, 'WARN', '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"'
        )
    b.log(entity, evicted_at + 0.1, 'INFO', f'"Eviction manager: pods ranked for eviction" pods=["media/{transcoder}"]')
    b.log(entity, evicted_at + 0.4, 'INFO', f'"Eviction manager: pod is evicted successfully" pod="media/{transcoder}"')
    for minute in range(0, evicted_at, 2):
        b.log(
            f'k8s:pod/{transcoder}',
            minute + 0.3,
            'INFO',
            f'transcoded asset=vid_{b.hexid(10)} preset=1080p scratch=/scratch/{b.hexid(8)} '
            f'bytes={b.rng.randint(200, 900) * MIB}',
        )
