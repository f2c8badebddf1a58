"""Scenario `failed-mount-postgres`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder, Json, iso
from architectures.telemetry.faults import Companion, Host, node_event, pod_event, quiet_node, scheduled, service_pod
from architectures.telemetry.faults.workloads import not_running, waiting
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1104
"""Seed of the scenario's random generator."""

VOLUME = 'pvc-4f1c9a2e-7b3d-4e8a-9c61-2d5f8e0b7a13'
MULTI_ATTACH = (
    f'Multi-Attach error for volume "{VOLUME}" Volume is already exclusively attached to one node and can\'t be '
    'attached to another'
)
TIMED_OUT = (
    'Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data kube-api-access-7xk2p]: '
    'timed out waiting for the condition'
)

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"waiting": {"reason": "ContainerCreating"',
        meaning='the pod is scheduled but its container is not created after 30 minutes',
    ),
    Reading(
        source='event',
        text=f'FailedAttachVolume: {MULTI_ATTACH}',
        meaning='its EBS volume is still attached to the drained node: it cannot be attached to the new one',
    ),
    Reading(
        source='event',
        text=f'FailedMount: {TIMED_OUT}',
        meaning='the kubelet gives up mounting every two minutes: the container waits for the volume',
    ),
    Reading(
        source='series',
        text='memory_bytes',
        meaning='no usage sample in the incident: the database replica is down',
    ),
)
"""The data lines behind the verdict volume_mount_error, high: a database replica down."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: the node of postgres-orders-1 is drained at the incident start; its volume stays
    attached there, so the pod rescheduled on another node waits in ContainerCreating (Multi-Attach, FailedMount)."""
    pod, ns = b.scenario.name, 'orders-db'
    old_host = Host('ip-10-0-15-33.eu-west-1.compute.internal', '10.0.15.33', 'eu-west-1b')
    new_host = Host('ip-10-0-15-58.eu-west-1.compute.internal', '10.0.15.58', 'eu-west-1b')
    revision: Json = dict(
        namespace=ns,
        name=pod,
        app='postgres-orders',
        image_name='postgres',
        owner_kind='StatefulSet',
        requests={'cpu': '1', 'memory': '4Gi'},
        limits={'cpu': '2', 'memory': '4Gi'},
        container='postgres',
        version='15.6',
        probe=False,
    )
    old = service_pod(b, old_host, **revision, pod_ip='10.244.35.40', created_minute=-60 * 24 * 15)
    b.snapshot('Pod', 0, b.pod(**old))
    new = service_pod(b, new_host, **revision, pod_ip='10.244.36.9', created_minute=INCIDENT + 0.3)
    b.snapshot('Pod', MINUTES - 1, b.pod(**new, **waiting('ContainerCreating', '')))
    cpu = [b.noisy(0.45, 0.1) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    memory = [b.noisy(2900 * MIB, 0.005) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    b.pod_series(pod, old_host.name, cpu, memory, b.flat(MINUTES, 0.005, 0.5))
    pod_event(b, old, 'Killing', f'Stopping container {old["container"]}', INCIDENT)
    scheduled(b, new, INCIDENT + 0.3)
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='FailedAttachVolume',
        message=MULTI_ATTACH,
        first=INCIDENT + 0.3,
        host='',
        component='attachdetach-controller',
    )
    pod_event(
        b, new, 'FailedMount', TIMED_OUT, INCIDENT + 2.3, last=MINUTES - 1.7, count=14, warning=True, container=False
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'checkpoint complete: wrote {b.rng.randint(300, 3000)} buffers ({b.rng.uniform(0.5, 4):.1f}%); '
            f'0 WAL file(s) added, {b.rng.randint(0, 2)} removed, 1 recycled; write={b.noisy(2.1, 0.3):.3f} s'
        )

    b.request_logs(entity, 0, INCIDENT, 0.5, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received fast shutdown request')
    quiet_node(
        b,
        old_host,
        tenants=[f'{ns}/{pod}'],
        pods=[Companion('fluent-bit-j5k8l', 'logging', 'fluent-bit', '10.244.35.2', 0.07, 88)],
    )
    drained = b.nodes[-1]['object']
    drained['spec']['unschedulable'] = True
    drained['spec']['taints'] = [
        {'key': 'node.kubernetes.io/unschedulable', 'effect': 'NoSchedule', 'timeAdded': iso(b.at(INCIDENT))}
    ]
    node_event(
        b, old_host.name, 'NodeNotSchedulable', f'Node {old_host.name} status is now: NodeNotSchedulable', INCIDENT
    )
    quiet_node(
        b,
        new_host,
        tenants=[],
        pods=[
            Companion('fluent-bit-t4y7u', 'logging', 'fluent-bit', '10.244.36.2', 0.07, 87),
            Companion('orders-api-7c8d9e6f5-r3s5v', 'orders', 'orders-api', '10.244.36.14', 0.8, 1100),
        ],
    )
    not_running(b, pod, INCIDENT)
