"""Scenario `two-faults-orders`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    dns_failure_line,
    level_shift,
    linear_growth,
    observe,
    quiet_node,
    request_line,
    service_pod,
)

__all__ = ('SEED', 'build')

SEED = 1212
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a memory leak and DNS failures in the same pod, from the same minutes."""
    pod, ns, pod_ip = b.scenario.name, 'shop', '10.244.11.14'
    host = Host('ip-10-0-10-21.eu-west-1.compute.internal', '10.0.10.21', 'eu-west-1b')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='orders-api',
        pod_ip=pod_ip,
        version='v4.2.0',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '768Mi'},
        container='orders-api',
    )
    observe(b, spec)
    b.pod_series(
        pod,
        host.name,
        level_shift(b, 0.3, 0.33, 0.06),
        linear_growth(b, 300 * MIB, 10 * MIB, 0.006),
        b.flat(MINUTES, 0.01, 0.4),
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= INCIDENT + 2 and b.rng.random() < 0.3:
            order = f'ord_{b.hexid(8)}'
            return dns_failure_line(
                b, pod_ip, f'reserve stock for order_id={order} failed', 'inventory-api.shop.svc.cluster.local'
            )
        if minute >= INCIDENT and b.rng.random() < 0.1:
            keys = int(40_000 + 26_000 * (minute - INCIDENT))
            return 'WARN', f'idempotency store holds {keys} keys; expiry job not scheduled since config reload'
        return request_line(b, 'POST', '/api/v1/orders', 45)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    b.log(entity, INCIDENT + 0.03, 'INFO', 'config reloaded rev=5120: idempotency.expiry_cron=""')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-k3r8d', 'logging', 'fluent-bit', '10.244.11.2', 0.08, 90),
            Companion('payments-gateway-6d8f7c9b5-v2n4q', 'shop', 'payments-gateway', '10.244.11.30', 0.35, 500),
        ],
    )
