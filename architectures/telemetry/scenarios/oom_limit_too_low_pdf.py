"""Scenario `oom-limit-too-low-pdf`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    observe,
    oom_kill,
    quiet_node,
    request_line,
    restarted,
    service_pod,
)
from architectures.telemetry.scenarios import Reading

__all__ = ('KILLS', 'READINGS', 'SEED', 'build')

SEED = 1108
"""Seed of the scenario's random generator."""

KILLS = (67, 74, 83)
"""Minutes of the three OOM kills."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"restartCount": 3',
        meaning='three restarts in the incident window',
    ),
    Reading(
        source='pod',
        text='"exitCode": 137, "reason": "OOMKilled"',
        meaning='the last one was an OOM kill at its memory limit',
    ),
    Reading(
        source='event',
        text='OOMKilling: Memory cgroup out of memory: Killed process',
        meaning='the kernel killed it in its own cgroup (its limit), not for lack of node memory',
    ),
    Reading(
        source='log',
        text='WARN rendering large export',
        meaning='each kill follows a large export: a spike of demand, not a growing working set',
    ),
    Reading(
        source='series',
        text='memory_bytes',
        meaning='the working set sits flat at about 190Mi of the 256Mi limit and returns there after every restart: '
        'nothing grows, so it is not a leak; the limit is too low for the peaks',
        low=180 * MIB,
        high=200 * MIB,
    ),
)
"""The data lines behind the verdict oom_killed, high: a service restarted three times in 30 minutes."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a PDF exporter whose working set is a flat ~190Mi of its 256Mi limit is
    OOM-killed at minutes 67, 74 and 83 when large exports spike its memory; it comes back to the same level."""
    pod, ns = b.scenario.name, 'docs'
    host = Host('ip-10-0-21-17.eu-west-1.compute.internal', '10.0.21.17', 'eu-west-1b')
    created = -60 * 26
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='pdf-export',
        pod_ip='10.244.41.36',
        version='v1.14.2',
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '256Mi'},
        container='pdf-export',
        created_minute=created,
    )
    cpu: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        cpu.append(b.noisy(0.3, 0.1))
        if minute in KILLS:
            memory.append(252 * MIB)  # the spike reaches the limit within the minute
        elif minute - 1 in KILLS:
            memory.append(b.noisy(120 * MIB, 0.05))  # a fresh process warming up
        else:
            memory.append(b.noisy(190 * MIB, 0.012))
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.01, 0.5))
    observe(
        b,
        spec,
        restarted(
            b,
            count=3,
            running_since=KILLS[-1] + 0.05,
            exit_code=137,
            reason='OOMKilled',
            previous_start=KILLS[-2] + 0.05,
            previous_end=KILLS[-1],
        ),
    )
    for kill in KILLS:
        oom_kill(b, spec, at=kill, process='node')
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return request_line(b, 'POST', f'/v1/exports/exp_{b.hexid(8)}', 450)

    b.request_logs(entity, 0, MINUTES, 2.0, line)
    for kill in KILLS:
        b.log(
            entity,
            kill - 0.4,
            'WARN',
            f'rendering large export exp_{b.hexid(8)} pages={b.rng.randint(1200, 1900)} '
            f'images={b.rng.randint(300, 700)}',
        )
        b.log(entity, kill + 0.06, 'INFO', 'starting pdf-export v1.14.2 port=8080 max_old_space_size=224')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-a1s4d', 'logging', 'fluent-bit', '10.244.41.2', 0.07, 88),
            Companion('docs-api-5b6c7d8e9-f6g8h', 'docs', 'docs-api', '10.244.41.20', 0.4, 700),
        ],
    )
