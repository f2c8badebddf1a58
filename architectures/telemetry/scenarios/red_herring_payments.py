"""Scenario `red-herring-payments`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    observe,
    quiet_node,
    readiness_failures,
    request_line,
    service_pod,
    steady_usage,
)

__all__ = ('SEED', 'build')

SEED = 1313
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a healthy pod whose logs hold a recovered panic and a short burst of refused
    connections (four, one fewer than the network rule needs) during a Redis failover."""
    pod, ns, pod_ip = b.scenario.name, 'payments', '10.244.12.9'
    host = Host('ip-10-0-10-58.eu-west-1.compute.internal', '10.0.10.58', 'eu-west-1c')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='payments-api',
        pod_ip=pod_ip,
        version='v7.0.3',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='payments-api',
    )
    observe(b, spec)
    steady_usage(b, pod, host.name, cpu=(0.28, 0.05), memory_mib=350, throttled=(0.01, 0.4))
    entity = f'k8s:pod/{pod}'
    b.request_logs(entity, 0, MINUTES, 2.5, lambda minute: request_line(b, 'POST', '/api/v1/payments', 60))
    b.log(
        entity,
        INCIDENT + 7.2,
        'ERROR',
        'panic recovered in POST /api/v1/refunds: runtime error: index out of range [3] with length 3; '
        'request answered 500, worker continues',
    )
    for offset in range(4):
        b.log(
            entity,
            INCIDENT + 15.1 + 0.07 * offset,
            'ERROR',
            f'redis GET idempotency:{b.hexid(12)} failed: dial tcp 10.100.40.9:6379: connect: connection refused',
        )
    b.log(entity, INCIDENT + 15.5, 'INFO', 'redis: reconnected to new master 10.100.40.12:6379 after failover')
    readiness_failures(b, spec, first=INCIDENT + 15.2, last=INCIDENT + 15.3, count=2)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-s8w2m', 'logging', 'fluent-bit', '10.244.12.2', 0.08, 90),
            Companion('ledger-sync-7b9c8d6f5-q5t8x', 'payments', 'ledger-sync', '10.244.12.21', 0.4, 650),
        ],
    )
