"""Scenario `cpu-near-limit-pricing`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import Builder
from architectures.telemetry.faults import Companion, Host, cpu_rise, observe, quiet_node, service_pod

__all__ = ('SEED', 'build')

SEED = 1717
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a pricing engine whose CPU rises about 2.3 robust sigmas, to a p95 at 92%
    of its 2-core limit."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-14-9.eu-west-1.compute.internal', '10.0.14.9', 'eu-west-1a')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='pricing-engine',
        pod_ip='10.244.16.31',
        version='v1.14.2',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='pricing-engine',
    )
    observe(b, spec)
    cpu_rise(b, spec, cpu=(1.45, 1.63, 0.06), throttled=(0.02, 0.04), memory_mib=900)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[Companion('fleet-sync-7d6c5b8f9-j8r3n', ns, 'fleet-sync', '10.244.16.40', 0.3, 400)],
    )
