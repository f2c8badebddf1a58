"""Scenario `healthy-pod`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json
from architectures.telemetry.faults import companion, healthy_node, request_line

__all__ = ('SEED', 'build')

SEED = 808
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-7-12.eu-west-1.compute.internal',
        '10.0.7.12',
        '10.244.8.17',
    )
    b.pod_series(pod, node, b.flat(MINUTES, 0.35, 0.05), b.flat(MINUTES, 410 * MIB, 0.01), b.flat(MINUTES, 0.01, 0.4))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='inventory-api',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/shop/inventory-api:v2.9.1',
        owner=('ReplicaSet', 'inventory-api-5b7c8d9f6'),
        created_minute=-60 * 24 * 2,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='inventory-api',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if b.rng.random() < 0.03:
            return 'WARN', f'cache miss ratio {b.rng.uniform(0.1, 0.14):.2f} above target 0.10 for region=eu-west-1'
        return request_line(b, 'GET', f'/api/v1/stock/SKU-{b.rng.randint(10000, 99999)}', 22)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    b.log(entity, INCIDENT + 12.4, 'ERROR', 'upstream returned 503 for sku=SKU-10233, retrying in 200ms')
    companion(
        b,
        name='fluent-bit-j7p3z',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.8.2',
        cpu=0.08,
        memory_mib=90,
    )
    companion(
        b,
        name='reviews-api-7c9d6b8f5-b8w2e',
        namespace='shop',
        app='reviews-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.8.25',
        cpu=0.45,
        memory_mib=600,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-j7p3z', 'shop/reviews-api-7c9d6b8f5-b8w2e'],
    )
