"""Trouble of one pod, as its kubelet and its own logs show it: restarts, probe failures, OOM kills, crash loops,
rollouts, scheduling and failing network calls.

Pods are `cluster.service_pod` specs. The functions that return an `end_state` draw nothing, so a scenario can
compute the last observation of a pod wherever its random generator is due to draw that observation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder, Json, iso
from architectures.telemetry.faults.cluster import node_event, pod_event, request_line
from architectures.telemetry.faults.usage import check_starts, level_shift

__all__ = (
    'container_started',
    'cpu_rise',
    'crash_loop',
    'crash_loop_state',
    'dns_failure_line',
    'dns_timeout',
    'liveness_kills',
    'network_failure',
    'oom_kill',
    'readiness_failures',
    'rollout',
    'scheduled',
    'start_up_lines',
)

START_REASONS = ('Pulled', 'Created', 'Started')
"""The kubelet's events when it (re)starts a container whose image is on the node, in order."""


def container_started(
    b: Builder,
    pod: Json,
    first: float,
    *,
    last: float | None = None,
    count: int = 1,
    reasons: tuple[str, ...] = START_REASONS,
) -> None:
    """The kubelet's events of (re)starting the pod's container: image already present, created, started (`count`
    times from `first` to `last`, aggregated as the kubelet does)."""
    container = pod['container']
    messages = {
        'Pulled': f'Container image "{pod["image"]}" already present on machine',
        'Created': f'Created container {container}',
        'Started': f'Started container {container}',
    }
    for reason in reasons:
        pod_event(b, pod, reason, messages[reason], first, last=last, count=count)


def liveness_kills(b: Builder, pod: Json, *, kills: list[int], back_off_from: int) -> None:
    """A container too busy to answer its liveness probe: at each minute of `kills` three probe timeouts, the kill,
    and the restart 0.9 minutes later; from the `back_off_from`-th kill (0-based) on, the kubelet also backs off."""
    container = pod['container']
    probe_url = f'http://{pod["pod_ip"]}:8080/healthz'
    for number, kill in enumerate(kills):
        pod_event(
            b,
            pod,
            'Unhealthy',
            f'Liveness probe failed: Get "{probe_url}": context deadline exceeded '
            '(Client.Timeout exceeded while awaiting headers)',
            kill - 0.4,
            last=kill - 0.1,
            count=3,
            warning=True,
        )
        pod_event(b, pod, 'Killing', f'Container {container} failed liveness probe, will be restarted', kill)
        if number >= back_off_from:
            pod_event(
                b,
                pod,
                'BackOff',
                f'Back-off restarting failed container {container} in pod {pod["name"]}_{pod["namespace"]}'
                f'({pod["uid"]})',
                kill + 0.3,
                last=kill + 0.6,
                count=2,
                warning=True,
            )
        container_started(b, pod, kill + 0.9)
        b.restart(pod['name'], kill + 0.9)


def cpu_rise(
    b: Builder, pod: Json, *, cpu: tuple[float, float, float], throttled: tuple[float, float], memory_mib: float
) -> None:
    """A service that gets busier at the incident start without failing: CPU steps from `cpu[0]` to `cpu[1]` cores
    (relative sd `cpu[2]`), the throttled share of periods from `throttled[0]` to `throttled[1]`, memory stays at
    `memory_mib`, and its quote requests (two a minute) take 55 ms instead of 40.

    How close this comes to the tools' cuts is the scenario's choice of numbers. Draws the throttled ratio, then
    CPU, then memory, then the request lines.
    """
    ratio = level_shift(b, throttled[0], throttled[1], 0.2)
    b.pod_series(pod['name'], pod['node'], level_shift(b, *cpu), b.flat(MINUTES, memory_mib * MIB, 0.01), ratio)
    b.request_logs(
        f'k8s:pod/{pod["name"]}',
        0,
        MINUTES,
        2.0,
        lambda minute: request_line(b, 'GET', f'/v2/{pod["app"]}/quote', 40 if minute < INCIDENT else 55),
    )


def readiness_failures(b: Builder, pod: Json, *, first: float, last: float, count: int) -> None:
    """`count` readiness probe timeouts from `first` to `last`: the pod is taken out of its Service meanwhile."""
    pod_event(
        b,
        pod,
        'Unhealthy',
        f'Readiness probe failed: Get "http://{pod["pod_ip"]}:8080/ready": context deadline exceeded',
        first,
        last=last,
        count=count,
        warning=True,
    )


def oom_kill(b: Builder, pod: Json, *, at: int, process: str) -> None:
    """The kernel's OOM killer ends the pod's `process` at minute `at` (the node's kernel-monitor reports it) and
    the kubelet restarts the container right away."""
    container_started(b, pod, at + 0.1)
    b.restart(pod['name'], at + 0.1)
    node_event(
        b,
        pod['node'],
        'OOMKilling',
        f'Memory cgroup out of memory: Killed process {b.rng.randint(20000, 40000)} ({process}) '
        f'total-vm:1843212kB, anon-rss:523004kB, file-rss:11240kB, shmem-rss:0kB, UID:10001 '
        f'pgtables:1420kB oom_score_adj:{b.rng.randint(900, 999)}',
        at,
        warning=True,
        component='kernel-monitor',
    )


def crash_loop(
    b: Builder,
    pod: Json,
    *,
    starts: Sequence[float],
    fresh: bool = False,
    back_off_first: float | None = None,
    back_off_count: int | None = None,
) -> None:
    """The kubelet's events of a container that exits on its own at every start in `starts` and is restarted with
    back-off: a start event for every restart, and BackOff until the end of the data.

    With `fresh`, `starts[0]` is the container's creation in a new pod (it is created and started then too);
    otherwise it is the first crash of a running container. BackOff begins just after the first exit and is
    counted twice a minute unless `back_off_first` and `back_off_count` say otherwise.
    """
    check_starts(starts)
    restarts = len(starts) - 1
    for start in starts[1:]:
        b.restart(pod['name'], start)
    if fresh:
        container_started(b, pod, starts[1], last=starts[-1], count=restarts, reasons=('Pulled',))
        container_started(b, pod, starts[0], last=starts[-1], count=len(starts), reasons=('Created', 'Started'))
    else:
        container_started(b, pod, starts[1], last=starts[-1], count=restarts)
    pod_event(
        b,
        pod,
        'BackOff',
        f'Back-off restarting failed container {pod["container"]} in pod {pod["name"]}_{pod["namespace"]}'
        f'({pod["uid"]})',
        starts[0] + 0.1 if back_off_first is None else back_off_first,
        last=MINUTES - 0.5,
        count=int(2 * (MINUTES - starts[0])) if back_off_count is None else back_off_count,
        warning=True,
    )


def crash_loop_state(
    b: Builder, pod: Json, *, starts: Sequence[float], exit_code: int, runs_for: float, back_off: str | None = None
) -> Json:
    """The `end_state` of a pod in CrashLoopBackOff after the `starts` of `crash_loop`: the restart count, and the
    last run, `runs_for` minutes from the last start, exiting with `exit_code`. `back_off` is the current delay
    when the kubelet's message states it (`'5m0s'`)."""
    check_starts(starts)
    delay = f'back-off {back_off} ' if back_off else 'back-off '
    return {
        'restart_count': len(starts) - 1,
        'ready': False,
        'state': {
            'waiting': {
                'reason': 'CrashLoopBackOff',
                'message': f'{delay}restarting failed container={pod["container"]} '
                f'pod={pod["name"]}_{pod["namespace"]}({pod["uid"]})',
            }
        },
        'last_terminated': {
            'exitCode': exit_code,
            'reason': 'Error',
            'startedAt': iso(b.at(starts[-1])),
            'finishedAt': iso(b.at(starts[-1] + runs_for)),
        },
    }


def start_up_lines(
    b: Builder, pod: Json, *, starts: Sequence[float], lines: Callable[[float], list[tuple[float, str, str]]]
) -> None:
    """The container's own log lines at each of its `starts`: `lines(start)` gives `(minutes after the start,
    level, message)` for one start (called once per start, in order)."""
    for start in starts:
        for offset, level, message in lines(start):
            b.log(f'k8s:pod/{pod["name"]}', start + offset, level, message)


def scheduled(b: Builder, pod: Json, at: float) -> None:
    """The scheduler assigns the pod to its node at minute `at`."""
    pod_event(
        b,
        pod,
        'Scheduled',
        f'Successfully assigned {pod["namespace"]}/{pod["name"]} to {pod["node"]}',
        at,
        container=False,
        component='default-scheduler',
    )


def rollout(b: Builder, pod: Json, *, at: int) -> None:
    """The pod is replaced by its new revision `pod` (same name, new image) at minute `at`: the old container is
    stopped, the new pod scheduled and its image pulled."""
    container, image = pod['container'], pod['image']
    pod_event(b, pod, 'Killing', f'Stopping container {container}', at)
    scheduled(b, pod, at + 0.1)
    pod_event(b, pod, 'Pulling', f'Pulling image "{image}"', at + 0.1)
    pod_event(b, pod, 'Pulled', f'Successfully pulled image "{image}" in 3.214s (3.214s including waiting)', at + 0.2)


def dns_timeout(what: str, host: str, pod_ip: str, port: int) -> str:
    """The message of a DNS lookup of `host` that timed out against the cluster DNS service."""
    return f'{what}: dial tcp: lookup {host} on 10.96.0.10:53: read udp {pod_ip}:{port}->10.96.0.10:53: i/o timeout'


def dns_failure_line(b: Builder, pod_ip: str, what: str, host: str) -> tuple[str, str]:
    """An ERROR line of a DNS lookup that timed out against the cluster DNS service."""
    return 'ERROR', dns_timeout(what, host, pod_ip, b.rng.randint(32768, 60999))


def network_failure(
    b: Builder, *, pod_ip: str, what: str, host: str, address: str, missing: tuple[str, str]
) -> tuple[str, str]:
    """An ERROR line of a failed network call when the cluster DNS is overloaded: half are lookups of `host` that
    time out, 30% connections to `address` refused (its backends are unreachable), 20% lookups of another
    service that answer "no such host" (`missing` is what failed and the host it looked up)."""
    port = b.rng.randint(32768, 60999)
    choice = b.rng.random()
    if choice < 0.5:
        return 'ERROR', dns_timeout(what, host, pod_ip, port)
    if choice < 0.8:
        return 'ERROR', f'{what}: dial tcp {address}: connect: connection refused'
    failed, other = missing
    return 'ERROR', f'{failed}: dial tcp: lookup {other} on 10.96.0.10:53: no such host'
