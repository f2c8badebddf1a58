"""Scenario `node-memory-pressure`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults import companion

__all__ = ('SEED', 'build')

SEED = 404
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    node, node_ip, zone = b.scenario.name, '10.0.3.41', 'eu-west-1a'
    pressure_at = 71
    allocatable = (int(16 * GIB * 0.9475) // 1024 - 993_856) * 1024
    system = 1.25 * GIB
    steady = [
        ('recommender-7b9c6d5f8-h8n3j', 'ml', 'recommender', '10.244.4.11', 0.6, 3000),
        ('redis-cache-0', 'shop', 'redis-cache', '10.244.4.15', 0.2, 1500),
        ('fluent-bit-q2v7n', 'logging', 'fluent-bit', '10.244.4.2', 0.08, 90),
    ]
    for name, ns, app, ip, cpu, memory_mib in steady:
        companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    evicted = [
        ('report-renderer-6d8c7b9f5-z5m2k', 'reports', 74, 640),
        ('docs-preview-5f7b8c6d9-l9p4t', 'docs', 79, 520),
    ]
    for name, ns, when, memory_mib in evicted:
        uid = b.uid()
        common: Json = dict(
            name=name,
            namespace=ns,
            app=name.split('-')[0],
            node=node,
            node_ip=node_ip,
            pod_ip=f'10.244.4.{b.rng.randint(30, 60)}',
            image=f'{REGISTRY}/{ns}/{name.rsplit("-", 2)[0]}:v0.9.{b.rng.randint(0, 9)}',
            owner=('ReplicaSet', name.rsplit('-', 1)[0]),
            created_minute=-60 * 30,
            uid=uid,
            requests={},
            limits={},
            probe=False,
        )
        b.snapshot('Pod', 0, b.pod(**common))
        message = (
            f'The node was low on resource: memory. Threshold quantity: 100Mi, available: '
            f'{b.rng.randint(60000, 99000)}Ki. Container {name.split("-")[0]} was using '
            f'{memory_mib * 1024 + b.rng.randint(0, 900)}Ki, request is 0, has larger consumption of memory.'
        )
        b.snapshot(
            'Pod',
            MINUTES - 1,
            b.pod(
                **common,
                phase='Failed',
                ready=False,
                evicted_message=message,
                state={'terminated': {'exitCode': 137, 'reason': 'Error', 'finishedAt': iso(b.at(when + 0.3))}},
            ),
        )
        b.pod_series(name, node, b.flat(when, 0.05, 0.1), b.flat(when, memory_mib * MIB, 0.01))
        b.event(
            kind='Pod',
            name=name,
            namespace=ns,
            type_='Warning',
            reason='Evicted',
            host=node,
            message=message,
            first=when + 0.1,
        )
        b.event(
            kind='Pod',
            name=name,
            namespace=ns,
            type_='Normal',
            reason='Killing',
            host=node,
            message=f'Stopping container {name.split("-")[0]}',
            first=when + 0.15,
        )
    others = sum(m for *_, m in steady) * MIB + system
    etl_cpu, etl_memory = [], []
    for minute in range(MINUTES):
        still = sum(m * MIB for _, _, when, m in evicted if minute < when)
        target = 0.6 if minute < INCIDENT else min(0.965, 0.62 + 0.03 * (minute - INCIDENT))
        # The ETL pod takes whatever the node's target usage leaves; evictions free memory it then reclaims.
        etl = b.noisy(target * allocatable, 0.004) - others - still
        etl_memory.append(etl)
        etl_cpu.append(b.noisy(0.9 if minute < INCIDENT else 1.4, 0.05))
    etl = 'analytics-etl-6f7d9b8c5-kp2xw'
    etl_common: Json = dict(
        name=etl,
        namespace='analytics',
        app='analytics-etl',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.4.21',
        image=f'{REGISTRY}/analytics/etl:v4.1.0',
        owner=('ReplicaSet', 'analytics-etl-6f7d9b8c5'),
        created_minute=-60 * 5,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '2Gi'},
        limits={'cpu': '2'},
        container='etl',
    )
    b.snapshot('Pod', 0, b.pod(**etl_common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**etl_common))
    b.pod_series(etl, node, etl_cpu, etl_memory, b.flat(MINUTES, 0.01, 0.5))
    conditions = {
        'MemoryPressure': (
            'True',
            'KubeletHasInsufficientMemory',
            'kubelet has insufficient memory available',
            pressure_at,
        )
    }
    spec: Json = dict(name=node, ip=node_ip, zone=zone, instance_type='m5.xlarge', cpu=4, memory_gib=16, disk_gib=100)
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            **spec,
            conditions=conditions,
            minute=MINUTES - 1,
            taints=[('node.kubernetes.io/memory-pressure', pressure_at)],
        ),
    )
    b.node_series(node, 0.3, system, [41 * GIB + 2 * MIB * m for m in range(MINUTES)], 4.0)
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='NodeHasInsufficientMemory',
        host=node,
        message=f'Node {node} status is now: NodeHasInsufficientMemory',
        first=pressure_at,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='EvictionThresholdMet',
        host=node,
        message='Attempting to reclaim memory',
        first=pressure_at + 0.2,
        last=MINUTES - 2,
        count=6,
    )
    entity = f'k8s:node/{node}'
    pods = [f'{ns}/{name}' for name, ns, *_ in steady] + [f'analytics/{etl}']
    b.kubelet_routine(node, pods)
    for minute in range(pressure_at, MINUTES, 3):
        b.log(entity, minute + 0.21, 'WARN', '"Eviction manager: attempting to reclaim" resourceName="memory"')
        b.log(
            entity,
            minute + 0.22,
            'INFO',
            f'"Eviction manager: must evict pod(s) to reclaim" resourceName="memory" '
            f'available="{b.rng.randint(60, 99)}Mi" threshold="100Mi"',
        )
    for name, ns, when, _ in evicted:
        b.log(entity, when + 0.1, 'INFO', f'"Eviction manager: pods ranked for eviction" pods=["{ns}/{name}"]')
        b.log(entity, when + 0.3, 'INFO', f'"Eviction manager: pod is evicted successfully" pod="{ns}/{name}"')
    b.log(
        entity,
        pressure_at + 0.1,
        'INFO',
        f'"Node became not ready for scheduling" node="{node}" reason="MemoryPressure"',
    )
