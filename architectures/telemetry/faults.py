"""Reusable pieces of scenarios: healthy companions and nodes, request log lines, and fault injectors.

Each injector writes one kind of trouble into a `Builder` (telemetry, objects, events and logs that belong
together), so a scenario module reads as the list of what happens in it.
"""

from __future__ import annotations

from architectures.telemetry.builder import GIB, MIB, MINUTES, REGISTRY, Builder

__all__ = ('client_ip', 'companion', 'healthy_node', 'request_line')


def companion(
    b: Builder,
    *,
    name: str,
    namespace: str,
    app: str,
    node: str,
    node_ip: str,
    pod_ip: str,
    cpu: float,
    memory_mib: float,
) -> None:
    """A quiet pod sharing the node, so node usage and top-pod rankings look like a real node."""
    uid = b.uid()
    obj = b.pod(
        name=name,
        namespace=namespace,
        app=app,
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/{namespace}/{app}:v1.{b.rng.randint(2, 9)}.{b.rng.randint(0, 9)}',
        owner=('ReplicaSet', name.rsplit('-', 1)[0]),
        created_minute=-60 * 24 * 3,
        uid=uid,
        requests={'cpu': f'{int(cpu * 1000 * 1.2)}m', 'memory': f'{int(memory_mib * 1.2)}Mi'},
        limits={'cpu': f'{int(cpu * 1000 * 3)}m', 'memory': f'{int(memory_mib * 2)}Mi'},
    )
    b.snapshot('Pod', 0, obj)
    b.snapshot('Pod', MINUTES - 1, obj)
    b.pod_series(
        name, node, b.flat(MINUTES, cpu, 0.07), b.flat(MINUTES, memory_mib * MIB, 0.01), b.flat(MINUTES, 0.005, 0.5)
    )


def healthy_node(
    b: Builder,
    *,
    name: str,
    ip: str,
    zone: str,
    pods: list[str],
    cpu: int = 4,
    memory_gib: int = 16,
    instance_type: str = 'm5.xlarge',
    disk_fraction: float = 0.41,
) -> None:
    """Snapshots, series and kubelet chatter of an unremarkable node; call after its pods' series exist."""
    obj = b.node(name=name, ip=ip, zone=zone, instance_type=instance_type, cpu=cpu, memory_gib=memory_gib, disk_gib=100)
    b.snapshot('Node', 0, obj)
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            name=name,
            ip=ip,
            zone=zone,
            instance_type=instance_type,
            cpu=cpu,
            memory_gib=memory_gib,
            disk_gib=100,
            minute=MINUTES - 1,
        ),
    )
    disk = [100 * GIB * disk_fraction + 2 * MIB * minute for minute in range(MINUTES)]
    b.node_series(name, 0.22 * cpu / 4, 1.3 * GIB, disk, float(cpu))
    b.kubelet_routine(name, pods)


def request_line(b: Builder, method: str, path: str, latency_ms: float, status: int = 200) -> tuple[str, str]:
    latency = max(1, int(b.noisy(latency_ms, 0.35)))
    return 'INFO', f'{method} {path} {status} {latency}ms trace_id={b.hexid(16)} client={client_ip(b)}'


def client_ip(b: Builder) -> str:
    return f'10.244.{b.rng.randint(0, 9)}.{b.rng.randint(2, 250)}'
