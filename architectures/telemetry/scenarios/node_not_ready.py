"""Scenario `node-not-ready`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MINUTES, Builder, Json
from architectures.telemetry.faults import Companion, Host, companions, disk_fill, node_event
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1106
"""Seed of the scenario's random generator."""

NOT_READY = 'container runtime is down, PLEG is not healthy: pleg was last seen active 4m12s ago; threshold is 3m0s'

READINGS: tuple[Reading, ...] = (
    Reading(
        source='node',
        text=f'"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "{NOT_READY}"',
        meaning='the kubelet reports the node not ready: its container runtime does not answer',
    ),
    Reading(
        source='node',
        text='"key": "node.kubernetes.io/not-ready"',
        meaning='the node controller tainted it: nothing new is scheduled there and its pods will be evicted',
    ),
    Reading(
        source='event',
        text='NodeNotReady: Node ip-10-0-16-40.eu-west-1.compute.internal status is now: NodeNotReady',
        meaning='the transition, at minute 4 of the incident',
    ),
    Reading(
        source='log',
        text='ERROR "Skipping pod synchronization" err="PLEG is not healthy',
        meaning='the kubelet cannot start, stop or probe any pod on it',
    ),
)
"""The data lines behind the verdict node_not_ready, critical: every pod of the node is out of control."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: containerd hangs on the node at minute 4 of the incident; the kubelet reports
    Ready=False (PLEG not healthy), the node controller taints it and records NodeNotReady."""
    host = Host(b.scenario.name, '10.0.16.40', 'eu-west-1c')
    at = INCIDENT + 4
    neighbours = companions(
        b,
        host,
        [
            Companion('fluent-bit-w9e2r', 'logging', 'fluent-bit', '10.244.40.2', 0.07, 90),
            Companion('checkout-worker-6d7c8b9f5-b5n7m', 'shop', 'checkout-worker', '10.244.40.17', 0.9, 1400),
            Companion('email-sender-5f6e7d8c9-q9w1e', 'notify', 'email-sender', '10.244.40.25', 0.3, 600),
        ],
    )
    spec: Json = dict(
        name=host.name, ip=host.ip, zone=host.zone, instance_type='m5.xlarge', cpu=4, memory_gib=16, disk_gib=100
    )
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            **spec,
            minute=MINUTES - 1,
            taints=[('node.kubernetes.io/not-ready', at + 1)],
            conditions={'Ready': ('False', 'KubeletNotReady', NOT_READY, at)},
        ),
    )
    b.node_series(host.name, 0.22, 1.3 * GIB, disk_fill(b, lambda minute: 0.39), 4.0)
    b.kubelet_routine(host.name, neighbours)
    node_event(
        b,
        host.name,
        'NodeNotReady',
        f'Node {host.name} status is now: NodeNotReady',
        at + 0.7,
        component='node-controller',
    )
    entity = f'k8s:node/{host.name}'
    for minute in range(at, MINUTES):
        for offset in (0.1, 0.43, 0.76):
            seen = (minute - at) * 60 + int(offset * 60) + 185
            b.log(
                entity,
                minute + offset,
                'ERROR',
                f'"Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active '
                f'{seen // 60}m{seen % 60}s ago; threshold is 3m0s"',
            )
        if minute % 5 == 0:
            b.log(
                entity,
                minute + 0.9,
                'ERROR',
                '"ContainerStatus from runtime service failed" err="rpc error: code = DeadlineExceeded desc = '
                'context deadline exceeded"',
            )
