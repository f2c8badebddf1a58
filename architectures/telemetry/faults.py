"""Reusable pieces of scenarios: healthy companions and nodes, request log lines, and fault injectors.

Each injector writes one kind of trouble into a `Builder` (telemetry, objects, events and logs that belong
together), so a scenario module reads as the list of what happens in it.
"""

from __future__ import annotations

from collections.abc import Callable

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso

__all__ = (
    'client_ip',
    'companion',
    'crash_loop',
    'dns_failure_line',
    'healthy_node',
    'level_shift',
    'linear_growth',
    'node_disk_pressure',
    'observe',
    'request_line',
    'scrape_gap',
    'service_pod',
)


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


# --- fault injectors ---------------------------------------------------------------------------------------------
def service_pod(
    b: Builder,
    *,
    name: str,
    namespace: str,
    app: str,
    node: str,
    node_ip: str,
    pod_ip: str,
    version: str,
    requests: dict[str, str],
    limits: dict[str, str],
    container: str = 'app',
    created_minute: float = -60 * 24 * 2,
) -> Json:
    """A Deployment's pod: the keyword arguments `Builder.pod` builds it from (`observe` writes its snapshots)."""
    common: Json = dict(
        name=name,
        namespace=namespace,
        app=app,
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{REGISTRY}/{namespace}/{app}:{version}',
        owner=('ReplicaSet', name.rsplit('-', 1)[0]),
        created_minute=created_minute,
        uid=b.uid(),
        requests=requests,
        limits=limits,
        container=container,
    )
    return common


def observe(b: Builder, pod: Json, end_state: Json | None = None) -> None:
    """The pod as observed at the first and the last minute; `end_state` overrides fields of the last observation
    (restart count, state, last termination...)."""
    b.snapshot('Pod', 0, b.pod(**pod))
    b.snapshot('Pod', MINUTES - 1, b.pod(**pod, **(end_state or {})))


def level_shift(b: Builder, baseline: float, incident: float, rel_sd: float) -> list[float]:
    """A noisy level that moves from `baseline` to `incident` at the incident start (a step change)."""
    return [b.noisy(baseline if minute < INCIDENT else incident, rel_sd) for minute in range(MINUTES)]


def linear_growth(b: Builder, level: float, per_minute: float, rel_sd: float) -> list[float]:
    """A noisy level, flat during the baseline, that grows by `per_minute` every incident minute (a leak)."""
    return [b.noisy(level + per_minute * max(0, minute - INCIDENT), rel_sd) for minute in range(MINUTES)]


def dns_failure_line(b: Builder, pod_ip: str, what: str, host: str) -> tuple[str, str]:
    """An ERROR line of a DNS lookup that timed out against the cluster DNS service."""
    port = b.rng.randint(32768, 60999)
    return 'ERROR', (
        f'{what}: dial tcp: lookup {host} on 10.96.0.10:53: read udp {pod_ip}:{port}->10.96.0.10:53: i/o timeout'
    )


def scrape_gap(b: Builder, entity: str, first: int, stop: int) -> None:
    """No samples of any of the entity's metrics in minutes `[first, stop)`: the monitoring lost its target."""
    block = b.series[entity]
    for key, values in block.items():
        if isinstance(values, list):
            block[key] = [None if first <= minute < stop else value for minute, value in enumerate(values)]


def crash_loop(
    b: Builder,
    *,
    pod: Json,
    host: str,
    starts: list[float],
    exit_code: int,
    reason_lines: Callable[[float], list[tuple[str, str]]],
) -> Json:
    """A container that exits on its own at every start in `starts` and is restarted with back-off.

    Writes the kubelet's events and the container's log lines of each start (`reason_lines(minute)`), and returns
    the `end_state` of the pod's last observation (CrashLoopBackOff, the restart count, the last termination).
    """
    name, namespace, container, image = pod['name'], pod['namespace'], pod['container'], pod['image']
    field_path = f'spec.containers{{{container}}}'
    restarts = len(starts) - 1
    for reason, message, count in (
        ('Pulled', f'Container image "{image}" already present on machine', restarts),
        ('Created', f'Created container {container}', restarts),
        ('Started', f'Started container {container}', restarts),
    ):
        b.event(
            kind='Pod',
            name=name,
            namespace=namespace,
            type_='Normal',
            reason=reason,
            host=host,
            message=message,
            first=starts[1],
            last=starts[-1],
            count=count,
            field_path=field_path,
        )
    b.event(
        kind='Pod',
        name=name,
        namespace=namespace,
        type_='Warning',
        reason='BackOff',
        host=host,
        message=f'Back-off restarting failed container {container} in pod {name}_{namespace}({pod["uid"]})',
        first=starts[0] + 0.1,
        last=MINUTES - 0.5,
        count=int(2 * (MINUTES - starts[0])),
        field_path=field_path,
    )
    for start in starts:
        for offset, (level, message) in enumerate(reason_lines(start)):
            b.log(f'k8s:pod/{name}', start + 0.01 * (offset + 1), level, message)
    return {
        'restart_count': restarts,
        'ready': False,
        'state': {
            'waiting': {
                'reason': 'CrashLoopBackOff',
                'message': f'back-off restarting failed container={container} pod={name}_{namespace}({pod["uid"]})',
            }
        },
        'last_terminated': {
            'exitCode': exit_code,
            'reason': 'Error',
            'startedAt': iso(b.at(starts[-1])),
            'finishedAt': iso(b.at(starts[-1] + 0.05)),
        },
    }


def node_disk_pressure(b: Builder, *, node: str, pressure_at: int, evicted: str, evicted_namespace: str) -> None:
    """A node whose filesystem crossed the eviction threshold: DiskPressure events, failed image garbage
    collection, kubelet errors, and one best-effort pod evicted for ephemeral storage."""
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='NodeHasDiskPressure',
        host=node,
        message=f'Node {node} status is now: NodeHasDiskPressure',
        first=pressure_at,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='EvictionThresholdMet',
        host=node,
        message='Attempting to reclaim ephemeral-storage',
        first=pressure_at + 0.1,
        last=MINUTES - 1.5,
        count=4,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='ImageGCFailed',
        host=node,
        message='failed to garbage collect required amount of images. Wanted to free 10737418240 bytes, but '
        'freed 1288490188 bytes',
        first=pressure_at + 2,
        last=MINUTES - 4,
        count=3,
    )
    b.event(
        kind='Pod',
        name=evicted,
        namespace=evicted_namespace,
        type_='Warning',
        reason='Evicted',
        host=node,
        message='The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 8%. '
        f'Container {evicted.split("-")[0]} was using 3712Mi, request is 0.',
        first=pressure_at + 3,
    )
    entity = f'k8s:node/{node}'
    for minute in range(pressure_at, MINUTES, 3):
        b.log(
            entity, minute + 0.11, 'WARN', '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"'
        )
    for minute in range(pressure_at + 2, MINUTES, 6):
        b.log(
            entity,
            minute + 0.05,
            'ERROR',
            '"Image garbage collection failed multiple times in a row" err="failed to garbage collect required '
            'amount of images. Wanted to free 10737418240 bytes, but freed 1288490188 bytes"',
        )
