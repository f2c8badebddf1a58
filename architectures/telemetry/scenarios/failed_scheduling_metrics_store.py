"""Scenario `failed-scheduling-metrics-store`: how its data is made and what an SRE reads in it (its verdict:
`__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder, Json, iso
from architectures.telemetry.faults import Companion, Host, companions, healthy_node, node_event, pod_event, service_pod
from architectures.telemetry.faults.workloads import not_running
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1103
"""Seed of the scenario's random generator."""

UNSCHEDULABLE = (
    '0/6 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory, 3 node(s) had volume node '
    'affinity conflict. preemption: 0/6 nodes are available: 1 Preemption is not helpful for scheduling, 5 No '
    'preemption victims found for incoming pod.'
)

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"reason": "Unschedulable"',
        meaning='the pod is Pending with PodScheduled=False: no node takes it',
    ),
    Reading(
        source='event',
        text=f'FailedScheduling: {UNSCHEDULABLE}',
        meaning='why: its old node is cordoned, two nodes lack the 12Gi it requests, three are in another zone than '
        'its volume',
    ),
    Reading(
        source='event',
        text="NotTriggerScaleUp: pod didn't trigger scale-up",
        meaning='the cluster autoscaler cannot add a fitting node either: it stays Pending',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='no usage sample in the incident: the replica is not running anywhere',
    ),
)
"""The data lines behind the verdict scheduling_failure, high: one replica of a StatefulSet down for 30 minutes."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: the node of metrics-store-2 is cordoned and drained for an upgrade at the incident
    start; the recreated pod (12Gi request, a zonal volume) fits no other node and stays Pending."""
    pod, ns = b.scenario.name, 'observability'
    host = Host('ip-10-0-25-9.eu-west-1.compute.internal', '10.0.25.9', 'eu-west-1a')
    revision: Json = dict(
        name=pod,
        namespace=ns,
        app='metrics-store',
        pod_ip='10.244.34.21',
        owner_kind='StatefulSet',
        requests={'cpu': '2', 'memory': '12Gi'},
        limits={'cpu': '4', 'memory': '12Gi'},
        container='metrics-store',
        version='v2.9.1',
    )
    old = service_pod(b, host, **revision, created_minute=-60 * 24 * 20)
    b.snapshot('Pod', 0, b.pod(**old))
    new = service_pod(b, host, **revision, created_minute=INCIDENT + 0.2)
    b.snapshot('Pod', MINUTES - 1, b.pod(**new, ready=False, unschedulable=UNSCHEDULABLE))
    cpu = [b.noisy(1.3, 0.06) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    memory = [b.noisy(9300 * MIB, 0.005) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.01, 0.5))
    pod_event(b, old, 'Killing', f'Stopping container {old["container"]}', INCIDENT)
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='FailedScheduling',
        message=UNSCHEDULABLE,
        first=INCIDENT + 0.2,
        last=MINUTES - 0.4,
        count=31,
        host='',
        component='default-scheduler',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='NotTriggerScaleUp',
        message="pod didn't trigger scale-up: 2 node(s) had volume node affinity conflict, 1 max node group size "
        'reached',
        first=INCIDENT + 0.6,
        last=MINUTES - 0.6,
        count=29,
        host='',
        component='cluster-autoscaler',
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'compacted block range={b.rng.randint(1, 9)}h series={b.rng.randint(200000, 400000)} '
            f'in {max(20, int(b.noisy(900, 0.3)))}ms'
        )

    b.request_logs(entity, 0, INCIDENT, 1.0, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received SIGTERM, flushing head block')
    neighbours = companions(
        b,
        host,
        [
            Companion('fluent-bit-c6v9b', 'logging', 'fluent-bit', '10.244.34.2', 0.07, 90),
            Companion('alertmanager-0', 'observability', 'alertmanager', '10.244.34.12', 0.05, 120),
        ],
    )
    healthy_node(b, host, pods=[f'{ns}/{pod}', *neighbours], cpu=8, memory_gib=32, instance_type='r5.xlarge')
    # The drained node: cordoned (unschedulable, tainted) from the incident start.
    last = b.nodes[-1]['object']
    last['spec']['unschedulable'] = True
    last['spec']['taints'] = [
        {'key': 'node.kubernetes.io/unschedulable', 'effect': 'NoSchedule', 'timeAdded': iso(b.at(INCIDENT))}
    ]
    node_event(b, host.name, 'NodeNotSchedulable', f'Node {host.name} status is now: NodeNotSchedulable', INCIDENT)
    not_running(b, pod, INCIDENT)
