"""Scenario `cpu-near-limit-pricing`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import companion, healthy_node, level_shift, observe, request_line, service_pod

__all__ = ('SEED', 'build')

SEED = 1717
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a pricing engine whose CPU rises about 2.3 robust sigmas, to a p95 at 92%
    of its 2-core limit."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-14-9.eu-west-1.compute.internal',
        '10.0.14.9',
        '10.244.16.31',
    )
    spec = service_pod(
        b,
        name=pod,
        namespace=ns,
        app='pricing-engine',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        version='v1.14.2',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='pricing-engine',
    )
    observe(b, spec)
    throttled = [b.noisy(0.02 if minute < INCIDENT else 0.04, 0.2) for minute in range(MINUTES)]
    b.pod_series(pod, node, level_shift(b, 1.45, 1.63, 0.06), b.flat(MINUTES, 900 * MIB, 0.01), throttled)
    b.request_logs(
        f'k8s:pod/{pod}',
        0,
        MINUTES,
        2.0,
        lambda minute: request_line(b, 'GET', '/v2/pricing-engine/quote', 40 if minute < INCIDENT else 55),
    )
    companion(
        b,
        name='fleet-sync-7d6c5b8f9-j8r3n',
        namespace=ns,
        app='fleet-sync',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.16.40',
        cpu=0.3,
        memory_mib=400,
    )
    healthy_node(b, name=node, ip=node_ip, zone='eu-west-1a', pods=[f'{ns}/{pod}', f'{ns}/fleet-sync-7d6c5b8f9-j8r3n'])
