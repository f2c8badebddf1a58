"""Scenario `network-errors-notifications`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json
from architectures.telemetry.faults import companion, healthy_node

__all__ = ('SEED', 'build')

SEED = 707
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'messaging',
        'ip-10-0-6-33.eu-west-1.compute.internal',
        '10.0.6.33',
        '10.244.7.21',
    )
    b.pod_series(pod, node, b.flat(MINUTES, 0.12, 0.07), b.flat(MINUTES, 190 * MIB, 0.01), b.flat(MINUTES, 0.004, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='notification-worker',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/messaging/notification-worker:v3.1.4',
        owner=('ReplicaSet', 'notification-worker-84c6d7f9b'),
        created_minute=-60 * 70,
        uid=b.uid(),
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '500m', 'memory': '512Mi'},
        container='worker',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        message_id = f'msg_{b.hexid(12)}'
        roll = b.rng.random()
        if minute >= INCIDENT + 2 and roll < 0.55:
            port = b.rng.randint(32768, 60999)
            choice = b.rng.random()
            if choice < 0.5:
                return 'ERROR', (
                    f'smtp send failed msg_id={message_id}: dial tcp: lookup '
                    f'smtp-relay.messaging.svc.cluster.local on 10.96.0.10:53: read udp '
                    f'{pod_ip}:{port}->10.96.0.10:53: i/o timeout'
                )
            if choice < 0.8:
                return 'ERROR', (
                    f'smtp send failed msg_id={message_id}: dial tcp 10.100.32.7:587: connect: connection refused'
                )
            return 'ERROR', (
                f'failed to fetch template "order_shipped" for msg_id={message_id}: Get '
                f'"http://templates.messaging.svc:8080/v1/templates/order_shipped": dial tcp: lookup '
                'templates.messaging.svc on 10.96.0.10:53: no such host'
            )
        if minute >= INCIDENT + 2 and roll < 0.75:
            attempt = b.rng.randint(2, 5)
            return 'WARN', f'retrying delivery msg_id={message_id} attempt={attempt} backoff={b.rng.randint(1, 16)}s'
        return 'INFO', (
            f'sent email template=order_shipped msg_id={message_id} to=sha256:{b.hexid(12)} '
            f'in {max(20, int(b.noisy(230, 0.3)))}ms'
        )

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    companion(
        b,
        name='fluent-bit-w5b9c',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.7.2',
        cpu=0.08,
        memory_mib=92,
    )
    companion(
        b,
        name='webhooks-dispatcher-6f9b8c7d5-n6r4q',
        namespace='messaging',
        app='webhooks-dispatcher',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.7.30',
        cpu=0.3,
        memory_mib=450,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-w5b9c', 'messaging/webhooks-dispatcher-6f9b8c7d5-n6r4q'],
    )
