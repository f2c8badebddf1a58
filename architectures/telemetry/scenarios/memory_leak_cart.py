"""Scenario `memory-leak-cart`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults import companion, healthy_node, request_line

__all__ = ('SEED', 'build')

SEED = 202
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-1-52.eu-west-1.compute.internal',
        '10.0.1.52',
        '10.244.2.40',
    )
    image = f'{REGISTRY}/shop/cart:v5.2.0'
    uid = b.uid()
    limit = 512 * MIB
    oom = 86
    cpu, memory = [], []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            cpu.append(b.noisy(0.18, 0.06))
            memory.append(b.noisy(270 * MIB, 0.012))
        elif minute < oom:
            cpu.append(b.noisy(0.24 + 0.004 * (minute - INCIDENT), 0.06))
            memory.append(min(limit * 0.995, b.noisy((272 + 9.4 * (minute - INCIDENT)) * MIB, 0.006)))
        else:
            cpu.append(b.noisy(0.2, 0.06))
            memory.append(b.noisy((140 + 9.4 * (minute - oom)) * MIB, 0.006))
    b.pod_series(pod, node, cpu, memory, b.flat(MINUTES, 0.004, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='cart',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=image,
        owner=('ReplicaSet', 'cart-5d8b7c9f4'),
        created_minute=-60 * 50,
        uid=uid,
        requests={'cpu': '250m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='cart',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        MINUTES - 1,
        b.pod(
            **common,
            restart_count=1,
            state={'running': {'startedAt': iso(b.at(oom + 0.2))}},
            last_terminated={
                'exitCode': 137,
                'reason': 'OOMKilled',
                'startedAt': iso(b.at(-60 * 50)),
                'finishedAt': iso(b.at(oom)),
            },
        ),
    )
    for reason, message in (
        ('Pulled', f'Container image "{image}" already present on machine'),
        ('Created', 'Created container cart'),
        ('Started', 'Started container cart'),
    ):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason=reason,
            host=node,
            message=message,
            first=oom + 0.1,
            field_path='spec.containers{cart}',
        )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='OOMKilling',
        host=node,
        component='kernel-monitor',
        message=f'Memory cgroup out of memory: Killed process {b.rng.randint(20000, 40000)} (cart-service) '
        f'total-vm:1843212kB, anon-rss:523004kB, file-rss:11240kB, shmem-rss:0kB, UID:10001 '
        f'pgtables:1420kB oom_score_adj:{b.rng.randint(900, 999)}',
        first=oom,
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= INCIDENT and b.rng.random() < 0.18:
            entries = int(1500 * (minute - INCIDENT if minute < oom else minute - oom) + 9000)
            return 'WARN', (
                f'session cache size={entries} entries (~{entries * 6 // 1024}MiB) exceeds soft limit '
                f'5000; eviction disabled by flag session_cache_v2'
            )
        if minute >= INCIDENT + 10 and b.rng.random() < 0.1:
            return 'WARN', f'GC pause {b.rng.randint(180, 650)}ms heap_used={b.rng.randint(380, 500)}MiB'
        return request_line(b, 'GET', f'/api/v1/cart/usr_{b.hexid(10)}', 14)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    b.log(entity, INCIDENT + 0.02, 'INFO', 'feature flag session_cache_v2 enabled by config reload rev=4471')
    b.log(entity, oom + 0.25, 'INFO', 'starting cart-service v5.2.0 port=8080 feature_flags=session_cache_v2')

    companion(
        b,
        name='fluent-bit-m9c4d',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.2.3',
        cpu=0.07,
        memory_mib=85,
    )
    companion(
        b,
        name='pricing-api-5c8f7b6d9-q7k3x',
        namespace='shop',
        app='pricing-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.2.18',
        cpu=0.4,
        memory_mib=900,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-m9c4d', 'shop/pricing-api-5c8f7b6d9-q7k3x'],
    )
