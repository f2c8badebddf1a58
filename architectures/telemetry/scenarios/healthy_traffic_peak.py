"""Scenario `healthy-traffic-peak`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json
from architectures.telemetry.faults import companion, healthy_node, request_line

__all__ = ('SEED', 'build')

SEED = 1111
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-9-15.eu-west-1.compute.internal',
        '10.0.9.15',
        '10.244.10.8',
    )
    cpu, memory = [], []
    for minute in range(MINUTES):
        load = 1.0 if minute < INCIDENT else min(2.05, 1.0 + 0.12 * (minute - INCIDENT + 1))
        cpu.append(b.noisy(0.32 * load, 0.05))
        memory.append(b.noisy((380 + 20 * (load - 1)) * MIB, 0.008))
    b.pod_series(pod, node, cpu, memory, b.flat(MINUTES, 0.006, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='web-frontend',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/shop/web-frontend:v12.4.0',
        owner=('ReplicaSet', 'web-frontend-7d5c9b8f6'),
        created_minute=-60 * 24,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '2', 'memory': '1Gi'},
        container='web',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'
    pages = ['/', '/products', '/products/42', '/cart', '/account']
    for minute in range(MINUTES):
        rate = 2.0 if minute < INCIDENT else 4.0
        count = int(rate) + (1 if b.rng.random() < rate - int(rate) else 0)
        for offset in sorted(b.rng.uniform(0, 0.999) for _ in range(count)):
            level, message = request_line(b, 'GET', b.rng.choice(pages), 35)
            b.log(entity, minute + offset, level, message)
    companion(
        b,
        name='fluent-bit-v6h3t',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.10.2',
        cpu=0.08,
        memory_mib=90,
    )
    companion(
        b,
        name='recommend-widget-6b7c9d8f5-s5n7y',
        namespace='shop',
        app='recommend-widget',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.10.17',
        cpu=0.3,
        memory_mib=420,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-v6h3t', 'shop/recommend-widget-6b7c9d8f5-s5n7y'],
    )
