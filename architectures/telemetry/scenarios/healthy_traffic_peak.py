"""Scenario `healthy-traffic-peak`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    observe,
    quiet_node,
    request_line,
    service_pod,
    traffic_peak,
)

__all__ = ('SEED', 'build')

SEED = 1111
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: evening traffic doubles the frontend's requests and CPU from the incident start,
    far below its 2-core limit and without errors."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-9-15.eu-west-1.compute.internal', '10.0.9.15', 'eu-west-1a')
    cpu, memory = traffic_peak(b, cpu=0.32, memory_mib=380)
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.006, 0.5))
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='web-frontend',
        pod_ip='10.244.10.8',
        version='v12.4.0',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '2', 'memory': '1Gi'},
        container='web',
        created_minute=-60 * 24,
    )
    observe(b, spec)
    pages = ['/', '/products', '/products/42', '/cart', '/account']
    entity = f'k8s:pod/{pod}'
    # Two page views a minute, four in the evening peak.
    for start, stop, per_minute in ((0, INCIDENT, 2.0), (INCIDENT, MINUTES, 4.0)):
        b.request_logs(entity, start, stop, per_minute, lambda minute: request_line(b, 'GET', b.rng.choice(pages), 35))
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-v6h3t', 'logging', 'fluent-bit', '10.244.10.2', 0.08, 90),
            Companion('recommend-widget-6b7c9d8f5-s5n7y', 'shop', 'recommend-widget', '10.244.10.17', 0.3, 420),
        ],
    )
