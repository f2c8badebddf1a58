"""The healthy cluster around a fault: workload pods and their observations, steady usage, quiet companions and
nodes, request log lines, and the events every fault writes through (`pod_event`, `node_event`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from architectures.telemetry.builder import GIB, MIB, MINUTES, REGISTRY, Builder, Json, iso

__all__ = (
    'Companion',
    'Host',
    'client_ip',
    'companion',
    'companions',
    'healthy_node',
    'node_event',
    'node_local_dns',
    'observe',
    'pod_event',
    'quiet_node',
    'request_line',
    'restarted',
    'service_pod',
    'steady_usage',
)


class Host(NamedTuple):
    """The node a scenario's pods run on."""

    name: str
    ip: str
    zone: str


def service_pod(
    b: Builder,
    host: Host,
    *,
    name: str,
    namespace: str,
    app: str,
    pod_ip: str,
    version: str,
    requests: dict[str, str],
    limits: dict[str, str],
    container: str = 'app',
    created_minute: float = -60 * 24 * 2,
    image_name: str | None = None,
    owner_kind: str = 'ReplicaSet',
    probe: bool = True,
) -> Json:
    """A workload's pod on `host`: the keyword arguments `Builder.pod` builds it from (`observe` writes its
    snapshots).

    The image is `<registry>/<namespace>/<image_name or app>:<version>`; the owner is the `owner_kind` (a
    Deployment's ReplicaSet unless told otherwise) named like the pod without its last `-` part. Draws the pod's
    uid, so call it where the scenario's random generator is due to draw it.
    """
    return dict(
        name=name,
        namespace=namespace,
        app=app,
        node=host.name,
        node_ip=host.ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/{namespace}/{image_name or app}:{version}',
        owner=(owner_kind, name.rsplit('-', 1)[0]),
        created_minute=created_minute,
        uid=b.uid(),
        requests=requests,
        limits=limits,
        container=container,
        probe=probe,
    )


def node_local_dns(b: Builder, host: Host, name: str) -> Json:
    """The node-local DNS cache on `host` (a hostNetwork DaemonSet pod, `kube-system`), which every pod of the node
    resolves through: `service_pod`'s keyword arguments for it (its uid drawn here)."""
    return service_pod(
        b,
        host,
        name=name,
        namespace='kube-system',
        app='node-local-dns',
        pod_ip=host.ip,  # a hostNetwork DaemonSet: the node's own address
        version='1.23.1',
        requests={'cpu': '25m', 'memory': '5Mi'},
        limits={'cpu': '500m', 'memory': '128Mi'},
        container='node-cache',
        created_minute=-60 * 24 * 9,
        image_name='k8s-dns-node-cache',
        owner_kind='DaemonSet',
    )


def observe(b: Builder, pod: Json, end_state: Json | None = None, *, first: int = 0) -> None:
    """The pod as observed at minute `first` and at the last minute; `end_state` overrides fields of the last
    observation (restart count, state, last termination...)."""
    b.snapshot('Pod', first, b.pod(**pod))
    b.snapshot('Pod', MINUTES - 1, b.pod(**pod, **(end_state or {})))


def restarted(
    b: Builder,
    *,
    count: int,
    running_since: float,
    exit_code: int,
    reason: str,
    previous_start: float,
    previous_end: float,
) -> Json:
    """The `end_state` of a pod whose container was restarted `count` times and runs again since `running_since`;
    its last termination ran from `previous_start` to `previous_end` and exited with `exit_code` (`reason`)."""
    return {
        'restart_count': count,
        'state': {'running': {'startedAt': iso(b.at(running_since))}},
        'last_terminated': {
            'exitCode': exit_code,
            'reason': reason,
            'startedAt': iso(b.at(previous_start)),
            'finishedAt': iso(b.at(previous_end)),
        },
    }


def steady_usage(
    b: Builder,
    name: str,
    node: str,
    *,
    cpu: tuple[float, float],
    memory_mib: float,
    throttled: tuple[float, float],
) -> None:
    """Series of a pod with nothing wrong: CPU `(level, relative sd)`, memory at `memory_mib` (1% noise) and a
    throttled ratio `(level, relative sd)`, flat over the whole data."""
    b.pod_series(
        name,
        node,
        b.flat(MINUTES, cpu[0], cpu[1]),
        b.flat(MINUTES, memory_mib * MIB, 0.01),
        b.flat(MINUTES, throttled[0], throttled[1]),
    )


def pod_event(
    b: Builder,
    pod: Json,
    reason: str,
    message: str,
    first: float,
    *,
    last: float | None = None,
    count: int = 1,
    warning: bool = False,
    container: bool = True,
    component: str = 'kubelet',
) -> None:
    """An event about `pod` (a `service_pod` spec) from its node's kubelet; `container` names the pod's container
    in the involved object's field path, as the kubelet does for container events."""
    b.event(
        kind='Pod',
        name=pod['name'],
        namespace=pod['namespace'],
        type_='Warning' if warning else 'Normal',
        reason=reason,
        host=pod['node'],
        component=component,
        message=message,
        first=first,
        last=last,
        count=count,
        field_path=f'spec.containers{{{pod.get("container", "app")}}}' if container else None,
    )


def node_event(
    b: Builder,
    node: str,
    reason: str,
    message: str,
    first: float,
    *,
    last: float | None = None,
    count: int = 1,
    warning: bool = False,
    component: str = 'kubelet',
) -> None:
    """An event about a node, from its own kubelet unless `component` says otherwise."""
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning' if warning else 'Normal',
        reason=reason,
        host=node,
        component=component,
        message=message,
        first=first,
        last=last,
        count=count,
    )


class Companion(NamedTuple):
    """A quiet pod sharing a node with the scenario's trouble."""

    name: str
    namespace: str
    app: str
    pod_ip: str
    cpu: float
    """Mean CPU cores."""
    memory_mib: float
    """Mean working set, MiB."""


def companion(b: Builder, host: Host, pod: Companion) -> None:
    """A quiet pod sharing the node, so node usage and top-pod rankings look like a real node."""
    uid = b.uid()
    obj = b.pod(
        name=pod.name,
        namespace=pod.namespace,
        app=pod.app,
        node=host.name,
        node_ip=host.ip,
        pod_ip=pod.pod_ip,
        image=f'{REGISTRY}/{pod.namespace}/{pod.app}:v1.{b.rng.randint(2, 9)}.{b.rng.randint(0, 9)}',
        owner=('ReplicaSet', pod.name.rsplit('-', 1)[0]),
        created_minute=-60 * 24 * 3,
        uid=uid,
        requests={'cpu': f'{int(pod.cpu * 1000 * 1.2)}m', 'memory': f'{int(pod.memory_mib * 1.2)}Mi'},
        limits={'cpu': f'{int(pod.cpu * 1000 * 3)}m', 'memory': f'{int(pod.memory_mib * 2)}Mi'},
    )
    b.snapshot('Pod', 0, obj)
    b.snapshot('Pod', MINUTES - 1, obj)
    b.pod_series(
        pod.name,
        host.name,
        b.flat(MINUTES, pod.cpu, 0.07),
        b.flat(MINUTES, pod.memory_mib * MIB, 0.01),
        b.flat(MINUTES, 0.005, 0.5),
    )


def companions(b: Builder, host: Host, pods: Sequence[Companion]) -> list[str]:
    """Each of `pods` as a `companion` on `host`, in order; returns their `namespace/name` references."""
    for pod in pods:
        companion(b, host, pod)
    return [f'{pod.namespace}/{pod.name}' for pod in pods]


def healthy_node(
    b: Builder,
    host: Host,
    *,
    pods: list[str],
    cpu: int = 4,
    memory_gib: int = 16,
    instance_type: str = 'm5.xlarge',
    disk_fraction: float = 0.41,
) -> None:
    """Snapshots, series and kubelet chatter of an unremarkable node running `pods` (`namespace/name`); call after
    its pods' series exist."""
    spec: Json = dict(
        name=host.name,
        ip=host.ip,
        zone=host.zone,
        instance_type=instance_type,
        cpu=cpu,
        memory_gib=memory_gib,
        disk_gib=100,
    )
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot('Node', MINUTES - 1, b.node(**spec, minute=MINUTES - 1))
    disk = [100 * GIB * disk_fraction + 2 * MIB * minute for minute in range(MINUTES)]
    b.node_series(host.name, 0.22 * cpu / 4, 1.3 * GIB, disk, float(cpu))
    b.kubelet_routine(host.name, pods)


def quiet_node(
    b: Builder,
    host: Host,
    *,
    tenants: list[str],
    pods: Sequence[Companion],
    cpu: int = 4,
    memory_gib: int = 16,
    instance_type: str = 'm5.xlarge',
    disk_fraction: float = 0.41,
) -> None:
    """The scenario's `tenants` (`namespace/name` of pods already written) on a `healthy_node` with the
    `companions` `pods` beside them."""
    neighbours = companions(b, host, pods)
    healthy_node(
        b,
        host,
        pods=tenants + neighbours,
        cpu=cpu,
        memory_gib=memory_gib,
        instance_type=instance_type,
        disk_fraction=disk_fraction,
    )


def request_line(b: Builder, method: str, path: str, latency_ms: float, status: int = 200) -> tuple[str, str]:
    """An INFO access-log line: the request, its status, a noisy latency around `latency_ms`, a trace id, a client."""
    latency = max(1, int(b.noisy(latency_ms, 0.35)))
    return 'INFO', f'{method} {path} {status} {latency}ms trace_id={b.hexid(16)} client={client_ip(b)}'


def client_ip(b: Builder) -> str:
    """A pod IP of the cluster's pod network."""
    return f'10.244.{b.rng.randint(0, 9)}.{b.rng.randint(2, 250)}'
