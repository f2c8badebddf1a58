"""Scenario `cpu-busy-below-limit-geo`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import Builder
from architectures.telemetry.faults import Companion, Host, cpu_rise, observe, quiet_node, service_pod

__all__ = ('SEED', 'build')

SEED = 1818
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a geo service whose CPU rises about 2.7 robust sigmas, to a p95 at 75%
    of its 1-core limit."""
    pod, ns = b.scenario.name, 'platform'
    host = Host('ip-10-0-14-31.eu-west-1.compute.internal', '10.0.14.31', 'eu-west-1a')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='geo-service',
        pod_ip='10.244.17.12',
        version='v1.14.2',
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={'cpu': '1', 'memory': '2Gi'},
        container='geo-service',
    )
    observe(b, spec)
    cpu_rise(b, spec, cpu=(0.62, 0.69, 0.05), throttled=(0.02, 0.06), memory_mib=900)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[Companion('tile-cache-5b9c8d7f6-w7k5p', ns, 'tile-cache', '10.244.17.40', 0.3, 400)],
    )
