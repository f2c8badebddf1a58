"""Scenario `healthy-node`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, Builder
from architectures.telemetry.faults import Companion, Host, node_event, quiet_node

__all__ = ('SEED', 'build')

SEED = 909
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a worker node at moderate utilisation running four quiet pods; its only event
    is the node controller registering it again."""
    host = Host(b.scenario.name, '10.0.8.90', 'eu-west-1c')
    quiet_node(
        b,
        host,
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        disk_fraction=0.48,
        tenants=[],
        pods=[
            Companion('orders-api-6d9c8b7f5-c4x9v', 'shop', 'orders-api', '10.244.9.14', 1.1, 1800),
            Companion('shipping-api-5b8d7c6f9-f7q2m', 'shop', 'shipping-api', '10.244.9.19', 0.7, 1200),
            Companion('kafka-consumer-7f6d5c8b9-t9k4s', 'events', 'kafka-consumer', '10.244.9.23', 1.3, 5200),
            Companion('fluent-bit-n2d8k', 'logging', 'fluent-bit', '10.244.9.2', 0.09, 95),
        ],
    )
    node_event(
        b,
        host.name,
        'RegisteredNode',
        f'Node {host.name} event: Registered Node {host.name} in Controller',
        INCIDENT + 7,
        component='node-controller',
    )
