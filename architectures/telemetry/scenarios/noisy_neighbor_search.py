"""Scenario `noisy-neighbor-search`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json
from architectures.telemetry.faults import companion, healthy_node
from architectures.telemetry.scenarios import INCIDENT_MINUTES

__all__ = ('SEED', 'build')

SEED = 505
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'search',
        'ip-10-0-4-19.eu-west-1.compute.internal',
        '10.0.4.19',
        '10.244.5.14',
    )
    cpu, throttled, memory = [], [], []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            cpu.append(b.noisy(0.9, 0.05))
            throttled.append(b.noisy(0.03, 0.3))
        else:
            cpu.append(b.noisy(1.2, 0.06))
            throttled.append(b.noisy(0.38, 0.12))
        memory.append(b.noisy(1150 * MIB, 0.01))
    b.pod_series(pod, node, cpu, memory, throttled)
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='search-api',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/search/search-api:v7.0.3',
        owner=('ReplicaSet', 'search-api-6c9f8b7d4'),
        created_minute=-60 * 40,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='search-api',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**common))
    companion(
        b,
        name='metrics-agent-r8t5v',
        namespace='monitoring',
        app='metrics-agent',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.3',
        cpu=0.15,
        memory_mib=200,
    )
    companion(
        b,
        name='geo-api-8d6c5b7f9-v3h8m',
        namespace='search',
        app='geo-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.22',
        cpu=1.4,
        memory_mib=2100,
    )
    hog = 'batch-reindex-29563860-vx9lm'
    # Whatever the node has left goes to the unlimited batch job: the node is pinned at capacity.
    others = [0.3 + c + 0.15 + 1.4 for c in cpu[INCIDENT:]]
    hog_cpu = [min(b.noisy(5.8, 0.03), 8.0 - other) for other in others]
    hog_common: Json = dict(
        name=hog,
        namespace='search',
        app='batch-reindex',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.40',
        image=f'{REGISTRY}/search/reindexer:v2.2.1',
        owner=('Job', 'batch-reindex-29563860'),
        created_minute=INCIDENT - 0.5,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={},
        container='reindexer',
        probe=False,
    )
    b.snapshot('Pod', INCIDENT, b.pod(**hog_common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**hog_common))
    b.pod_series(
        hog, node, hog_cpu, b.flat(INCIDENT_MINUTES, 2.6 * GIB, 0.02), [0.0] * INCIDENT_MINUTES, start=INCIDENT
    )
    b.event(
        kind='Pod',
        name=hog,
        namespace='search',
        type_='Normal',
        reason='Scheduled',
        host=node,
        component='default-scheduler',
        message=f'Successfully assigned search/{hog} to {node}',
        first=INCIDENT - 0.5,
    )
    b.event(
        kind='Pod',
        name=hog,
        namespace='search',
        type_='Normal',
        reason='Started',
        host=node,
        message='Started container reindexer',
        first=INCIDENT - 0.3,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        pods=[f'{ns}/{pod}', 'monitoring/metrics-agent-r8t5v', 'search/geo-api-8d6c5b7f9-v3h8m'],
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        query = b.rng.choice(['running shoes', 'usb-c cable', 'desk lamp', 'coffee grinder', 'rain jacket'])
        if minute >= INCIDENT and b.rng.random() < 0.3:
            return 'WARN', (
                f'slow query took {b.rng.randint(1100, 3900)}ms index=products shard={b.rng.randint(0, 5)} q="{query}"'
            )
        latency = 45 if minute < INCIDENT else 380
        took = max(3, int(b.noisy(latency, 0.3)))
        return 'INFO', f'GET /search q="{query}" 200 {took}ms hits={b.rng.randint(0, 400)}'

    b.request_logs(entity, 0, MINUTES, 3.0, line)
    for batch, minute in enumerate(range(INCIDENT, MINUTES)):
        b.log(
            f'k8s:pod/{hog}',
            minute + 0.5,
            'INFO',
            f'reindexed batch {batch + 1}/400 docs=5000 elapsed={b.rng.uniform(50, 59):.1f}s',
        )
