"""Trouble of a node, and of pods because of their node: resource pressure with its condition, taint, events and
kubelet lines, image garbage collection that cannot free enough, evictions, and a neighbour that takes the CPU.
"""

from __future__ import annotations

from typing import Literal

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults.cluster import Host, node_event, pod_event, service_pod
from architectures.telemetry.faults.pods import scheduled

__all__ = (
    'Resource',
    'batch_progress',
    'best_effort_eviction',
    'evicted_state',
    'eviction',
    'image_gc_failures',
    'noisy_neighbour',
    'pressure',
    'pressured_node',
    'reclaim_lines',
)

Resource = Literal['memory', 'ephemeral-storage', 'pids']
"""A resource whose shortage puts a node under pressure."""

_CONDITIONS: dict[Resource, tuple[str, str, str, str]] = {
    # resource: (condition type, kubelet reason, condition message, node event reason)
    'memory': (
        'MemoryPressure',
        'KubeletHasInsufficientMemory',
        'kubelet has insufficient memory available',
        'NodeHasInsufficientMemory',
    ),
    'ephemeral-storage': (
        'DiskPressure',
        'KubeletHasDiskPressure',
        'kubelet has disk pressure',
        'NodeHasDiskPressure',
    ),
    'pids': (
        'PIDPressure',
        'KubeletHasInsufficientPID',
        'kubelet has insufficient PID available',
        'NodeHasInsufficientPID',
    ),
}
_TAINTS: dict[Resource, str] = {
    'memory': 'node.kubernetes.io/memory-pressure',
    'ephemeral-storage': 'node.kubernetes.io/disk-pressure',
    'pids': 'node.kubernetes.io/pid-pressure',
}


def pressured_node(
    b: Builder,
    host: Host,
    *,
    instance_type: str,
    memory_gib: int,
    resource: Resource,
    at: int,
) -> None:
    """Snapshots of a 4-core node that is healthy at the start and, at the end, reports the `resource` pressure
    condition since minute `at` and carries its NoSchedule taint."""
    spec: Json = dict(
        name=host.name,
        ip=host.ip,
        zone=host.zone,
        instance_type=instance_type,
        cpu=4,
        memory_gib=memory_gib,
        disk_gib=100,
    )
    condition, reason, message, _ = _CONDITIONS[resource]
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            **spec,
            minute=MINUTES - 1,
            taints=[(_TAINTS[resource], at)],
            conditions={condition: ('True', reason, message, at)},
        ),
    )


def pressure(
    b: Builder, *, node: str, resource: Resource, at: int, reclaims: int, reclaim_from: float, reclaim_until: float
) -> None:
    """The node's events when `resource` runs short at minute `at`: its condition changes, and the eviction
    threshold is met `reclaims` times from `reclaim_from` to `reclaim_until`."""
    event_reason = _CONDITIONS[resource][3]
    node_event(b, node, event_reason, f'Node {node} status is now: {event_reason}', at)
    node_event(
        b,
        node,
        'EvictionThresholdMet',
        f'Attempting to reclaim {resource}',
        reclaim_from,
        last=reclaim_until,
        count=reclaims,
        warning=True,
    )


def reclaim_lines(
    b: Builder, *, node: str, resource: Resource, at: int, every: int, offset: float, must_evict: float | None = None
) -> None:
    """The kubelet's eviction manager trying to reclaim `resource`: a WARN line every `every` minutes from `at`
    (`offset` minutes into the minute); with `must_evict` (another offset), also an INFO line saying it must evict
    pods, with how much memory is available below the 100Mi threshold."""
    entity = f'k8s:node/{node}'
    for minute in range(at, MINUTES, every):
        b.log(entity, minute + offset, 'WARN', f'"Eviction manager: attempting to reclaim" resourceName="{resource}"')
        if must_evict is not None:
            b.log(
                entity,
                minute + must_evict,
                'INFO',
                f'"Eviction manager: must evict pod(s) to reclaim" resourceName="{resource}" '
                f'available="{b.rng.randint(60, 99)}Mi" threshold="100Mi"',
            )


def image_gc_failures(
    b: Builder,
    *,
    node: str,
    first: int,
    last: float,
    count: int,
    wanted: int,
    freed: int,
    every: int,
    eligible: int | None = None,
) -> None:
    """Image garbage collection that cannot free the `wanted` bytes: `count` events from `first` to `last` and an
    ERROR line every `every` minutes from `first`.

    Without `eligible`, the kubelet's older wording: ImageGCFailed, it freed only `freed` bytes. With it, the newer
    one: FreeDiskSpaceFailed, only `eligible` bytes could be freed at all (besides the ImageGCFailed event); its log
    lines ask for one byte more every minute.
    """
    gc_failed = f'garbage collect required amount of images. Wanted to free {wanted} bytes, but freed {freed} bytes'
    if eligible is not None:
        node_event(
            b,
            node,
            'FreeDiskSpaceFailed',
            f'Failed to garbage collect required amount of images. Attempted to free {wanted} bytes, '
            f'but only found {eligible} bytes eligible to free.',
            first,
            last=last,
            count=count,
            warning=True,
        )
    node_event(b, node, 'ImageGCFailed', f'failed to {gc_failed}', first, last=last, count=count, warning=True)
    for minute in range(first, MINUTES, every):
        if eligible is None:
            error = f'failed to {gc_failed}'
        else:
            error = (
                f'Failed to garbage collect required amount of images. Attempted to free {wanted + minute} bytes, '
                f'but only found {eligible} bytes eligible to free.'
            )
        b.log(
            f'k8s:node/{node}',
            minute + 0.05,
            'ERROR',
            f'"Image garbage collection failed multiple times in a row" err="{error}"',
        )


def eviction(
    b: Builder,
    pod: Json,
    *,
    at: float,
    message: str,
    stopped: float | None = None,
    done: float | None = None,
) -> None:
    """The kubelet evicts the pod at minute `at` (`message` says for which resource); with `stopped`, its
    container is stopped then; with `done`, the kubelet logs ranking the pod at `at` and evicting it at `done`.

    `pod` needs only `name`, `namespace` and `node` (and `container` with `stopped`): a pod the data holds no other
    trace of can be evicted too."""
    pod_event(b, pod, 'Evicted', message, at, warning=True, container=False)
    if stopped is not None:
        pod_event(b, pod, 'Killing', f'Stopping container {pod["container"]}', stopped, container=False)
    if done is not None:
        entity, ref = f'k8s:node/{pod["node"]}', f'{pod["namespace"]}/{pod["name"]}'
        b.log(entity, at, 'INFO', f'"Eviction manager: pods ranked for eviction" pods=["{ref}"]')
        b.log(entity, done, 'INFO', f'"Eviction manager: pod is evicted successfully" pod="{ref}"')


def evicted_state(b: Builder, *, message: str, done: float) -> Json:
    """The `end_state` of an evicted pod: Failed, not ready, `message` as its status, its container killed at
    minute `done`."""
    return {
        'phase': 'Failed',
        'ready': False,
        'evicted_message': message,
        'state': {'terminated': {'exitCode': 137, 'reason': 'Error', 'finishedAt': iso(b.at(done))}},
    }


def best_effort_eviction(b: Builder, host: Host, *, name: str, namespace: str, at: int, memory_mib: float) -> None:
    """A best-effort pod (no requests, no limits) using about `memory_mib`, evicted at minute `at` when its node
    runs out of memory: its objects, its series until then, and the eviction."""
    container = name.split('-')[0]
    uid = b.uid()
    pod: Json = dict(
        name=name,
        namespace=namespace,
        app=container,
        node=host.name,
        node_ip=host.ip,
        pod_ip=f'10.244.4.{b.rng.randint(30, 60)}',
        image=f'{REGISTRY}/{namespace}/{name.rsplit("-", 2)[0]}:v0.9.{b.rng.randint(0, 9)}',
        owner=('ReplicaSet', name.rsplit('-', 1)[0]),
        created_minute=-60 * 30,
        uid=uid,
        requests={},
        limits={},
        probe=False,
    )
    b.snapshot('Pod', 0, b.pod(**pod))
    message = (
        f'The node was low on resource: memory. Threshold quantity: 100Mi, available: '
        f'{b.rng.randint(60000, 99000)}Ki. Container {container} was using '
        f'{memory_mib * 1024 + b.rng.randint(0, 900)}Ki, request is 0, has larger consumption of memory.'
    )
    b.snapshot('Pod', MINUTES - 1, b.pod(**pod, **evicted_state(b, message=message, done=at + 0.3)))
    b.pod_series(name, host.name, b.flat(at, 0.05, 0.1), b.flat(at, memory_mib * MIB, 0.01))
    eviction(b, {**pod, 'container': container}, at=at + 0.1, message=message, stopped=at + 0.15, done=at + 0.3)


def noisy_neighbour(
    b: Builder,
    host: Host,
    *,
    name: str,
    namespace: str,
    app: str,
    pod_ip: str,
    image: tuple[str, str],
    others: list[float],
    capacity: float,
) -> Json:
    """A batch Job without a CPU limit scheduled half a minute before the incident: it takes 5.8 cores, or all the
    node's `capacity` that `others` (the CPU of everything else on the node, per incident minute) leaves. Writes its
    objects, series and start events; returns its spec. `image` is `(image name, version)`."""
    if len(others) != MINUTES - INCIDENT:
        raise ValueError(f'others needs one value per incident minute ({MINUTES - INCIDENT}), got {len(others)}')
    cpu = [min(b.noisy(5.8, 0.03), capacity - other) for other in others]
    pod = service_pod(
        b,
        host,
        name=name,
        namespace=namespace,
        app=app,
        pod_ip=pod_ip,
        image_name=image[0],
        version=image[1],
        owner_kind='Job',
        created_minute=INCIDENT - 0.5,
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={},
        container=image[0],
        probe=False,
    )
    minutes = MINUTES - INCIDENT
    b.snapshot('Pod', INCIDENT, b.pod(**pod))
    b.snapshot('Pod', MINUTES - 1, b.pod(**pod))
    b.pod_series(name, host.name, cpu, b.flat(minutes, 2.6 * GIB, 0.02), [0.0] * minutes, start=INCIDENT)
    scheduled(b, pod, INCIDENT - 0.5)
    pod_event(b, pod, 'Started', f'Started container {pod["container"]}', INCIDENT - 0.3, container=False)
    return pod


def batch_progress(b: Builder, pod: Json, *, batches: int, docs: int) -> None:
    """A reindexing job's progress line every incident minute (half a minute in), about 50-59 s a batch."""
    for batch, minute in enumerate(range(INCIDENT, MINUTES)):
        b.log(
            f'k8s:pod/{pod["name"]}',
            minute + 0.5,
            'INFO',
            f'reindexed batch {batch + 1}/{batches} docs={docs} elapsed={b.rng.uniform(50, 59):.1f}s',
        )
