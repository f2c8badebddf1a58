"""Scenario `healthy-node`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, Builder
from architectures.telemetry.faults import companion, healthy_node

__all__ = ('SEED', 'build')

SEED = 909
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    node, node_ip = b.scenario.name, '10.0.8.90'
    pods = [
        ('orders-api-6d9c8b7f5-c4x9v', 'shop', 'orders-api', '10.244.9.14', 1.1, 1800),
        ('shipping-api-5b8d7c6f9-f7q2m', 'shop', 'shipping-api', '10.244.9.19', 0.7, 1200),
        ('kafka-consumer-7f6d5c8b9-t9k4s', 'events', 'kafka-consumer', '10.244.9.23', 1.3, 5200),
        ('fluent-bit-n2d8k', 'logging', 'fluent-bit', '10.244.9.2', 0.09, 95),
    ]
    for name, ns, app, ip, cpu, memory_mib in pods:
        companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1c',
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        pods=[f'{ns}/{name}' for name, ns, *_ in pods],
        disk_fraction=0.48,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='RegisteredNode',
        host=node,
        component='node-controller',
        message=f'Node {node} event: Registered Node {node} in Controller',
        first=INCIDENT + 7,
    )
