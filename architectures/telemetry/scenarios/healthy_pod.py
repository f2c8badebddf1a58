"""Scenario `healthy-pod`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import Companion, Host, observe, quiet_node, request_line, service_pod, steady_usage

__all__ = ('SEED', 'build')

SEED = 808
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: an inventory API serving steady traffic, with a few cache warnings and one
    retried upstream error, as any healthy service has."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-7-12.eu-west-1.compute.internal', '10.0.7.12', 'eu-west-1b')
    steady_usage(b, pod, host.name, cpu=(0.35, 0.05), memory_mib=410, throttled=(0.01, 0.4))
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='inventory-api',
        pod_ip='10.244.8.17',
        version='v2.9.1',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='inventory-api',
    )
    observe(b, spec)
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if b.rng.random() < 0.03:
            return 'WARN', f'cache miss ratio {b.rng.uniform(0.1, 0.14):.2f} above target 0.10 for region=eu-west-1'
        return request_line(b, 'GET', f'/api/v1/stock/SKU-{b.rng.randint(10000, 99999)}', 22)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    b.log(entity, INCIDENT + 12.4, 'ERROR', 'upstream returned 503 for sku=SKU-10233, retrying in 200ms')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-j7p3z', 'logging', 'fluent-bit', '10.244.8.2', 0.08, 90),
            Companion('reviews-api-7c9d6b8f5-b8w2e', 'shop', 'reviews-api', '10.244.8.25', 0.45, 600),
        ],
    )
