"""Scenario `scrape-gap-recommendations`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import Builder
from architectures.telemetry.faults import Companion, Host, observe, quiet_node, scrape_gap, service_pod, steady_usage

__all__ = ('GAP', 'SEED', 'build')

SEED = 1616
"""Seed of the scenario's random generator."""

GAP = (70, 83)
"""Minutes `[first, stop)` with no sample of the pod's metrics."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a steady pod whose metrics have a 13-minute gap in the incident window (the
    monitoring lost its target; the node's own series are complete) and whose logs are not collected at all."""
    pod, ns, pod_ip = b.scenario.name, 'shop', '10.244.15.20'
    host = Host('ip-10-0-13-44.eu-west-1.compute.internal', '10.0.13.44', 'eu-west-1c')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='recommendations-api',
        pod_ip=pod_ip,
        version='v3.0.8',
        requests={'cpu': '250m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='recommendations',
    )
    observe(b, spec)
    steady_usage(b, pod, host.name, cpu=(0.22, 0.05), memory_mib=280, throttled=(0.008, 0.4))
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-t4c7h', 'logging', 'fluent-bit', '10.244.15.2', 0.08, 90),
            Companion('ads-ranker-6b8c7d9f5-g6h2w', 'shop', 'ads-ranker', '10.244.15.26', 0.5, 800),
        ],
    )
    # After the node's series, which add the pod's usage: the node exporter kept answering.
    scrape_gap(b, f'k8s:pod/{pod}', *GAP)
