"""Scenario `network-errors-notifications`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    network_failure,
    observe,
    quiet_node,
    service_pod,
    steady_usage,
)

__all__ = ('SEED', 'build')

SEED = 707
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: from two minutes into the incident, the overloaded cluster DNS makes more than
    half of the notification worker's sends fail (lookup timeouts, refused connections, unknown hosts) and a fifth
    of them retry, while its CPU and memory stay normal."""
    pod, ns = b.scenario.name, 'messaging'
    host = Host('ip-10-0-6-33.eu-west-1.compute.internal', '10.0.6.33', 'eu-west-1a')
    pod_ip = '10.244.7.21'
    steady_usage(b, pod, host.name, cpu=(0.12, 0.07), memory_mib=190, throttled=(0.004, 0.5))
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='notification-worker',
        pod_ip=pod_ip,
        version='v3.1.4',
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '500m', 'memory': '512Mi'},
        container='worker',
        created_minute=-60 * 70,
    )
    observe(b, spec)

    def line(minute: float) -> tuple[str, str]:
        message_id = f'msg_{b.hexid(12)}'
        roll = b.rng.random()
        if minute >= INCIDENT + 2 and roll < 0.55:
            return network_failure(
                b,
                pod_ip=pod_ip,
                what=f'smtp send failed msg_id={message_id}',
                host='smtp-relay.messaging.svc.cluster.local',
                address='10.100.32.7:587',
                missing=(
                    f'failed to fetch template "order_shipped" for msg_id={message_id}: Get '
                    '"http://templates.messaging.svc:8080/v1/templates/order_shipped"',
                    'templates.messaging.svc',
                ),
            )
        if minute >= INCIDENT + 2 and roll < 0.75:
            attempt = b.rng.randint(2, 5)
            return 'WARN', f'retrying delivery msg_id={message_id} attempt={attempt} backoff={b.rng.randint(1, 16)}s'
        return 'INFO', (
            f'sent email template=order_shipped msg_id={message_id} to=sha256:{b.hexid(12)} '
            f'in {max(20, int(b.noisy(230, 0.3)))}ms'
        )

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 2.5, line)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-w5b9c', 'logging', 'fluent-bit', '10.244.7.2', 0.08, 92),
            Companion(
                'webhooks-dispatcher-6f9b8c7d5-n6r4q', 'messaging', 'webhooks-dispatcher', '10.244.7.30', 0.3, 450
            ),
        ],
    )
