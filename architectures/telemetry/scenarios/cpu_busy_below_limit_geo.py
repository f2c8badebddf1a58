"""Scenario `cpu-busy-below-limit-geo`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import companion, healthy_node, level_shift, observe, request_line, service_pod

__all__ = ('SEED', 'build')

SEED = 1818
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a geo service whose CPU rises about 2.7 robust sigmas, to a p95 at 75%
    of its 1-core limit."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'platform',
        'ip-10-0-14-31.eu-west-1.compute.internal',
        '10.0.14.31',
        '10.244.17.12',
    )
    spec = service_pod(
        b,
        name=pod,
        namespace=ns,
        app='geo-service',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        version='v1.14.2',
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={'cpu': '1', 'memory': '2Gi'},
        container='geo-service',
    )
    observe(b, spec)
    throttled = [b.noisy(0.02 if minute < INCIDENT else 0.06, 0.2) for minute in range(MINUTES)]
    b.pod_series(pod, node, level_shift(b, 0.62, 0.69, 0.05), b.flat(MINUTES, 900 * MIB, 0.01), throttled)
    b.request_logs(
        f'k8s:pod/{pod}',
        0,
        MINUTES,
        2.0,
        lambda minute: request_line(b, 'GET', '/v2/geo-service/quote', 40 if minute < INCIDENT else 55),
    )
    companion(
        b,
        name='tile-cache-5b9c8d7f6-w7k5p',
        namespace=ns,
        app='tile-cache',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.17.40',
        cpu=0.3,
        memory_mib=400,
    )
    healthy_node(b, name=node, ip=node_ip, zone='eu-west-1a', pods=[f'{ns}/{pod}', f'{ns}/tile-cache-5b9c8d7f6-w7k5p'])
