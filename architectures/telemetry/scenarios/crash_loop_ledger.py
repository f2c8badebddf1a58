"""Scenario `crash-loop-ledger`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder, Json
from architectures.telemetry.faults import (
    Companion,
    Host,
    crash_loop,
    crash_loop_state,
    crash_loop_usage,
    quiet_node,
    rollout,
    service_pod,
    start_up_lines,
)

__all__ = ('SEED', 'build')

SEED = 303
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a StatefulSet rollout at the incident start replaces the ledger pod by one whose
    image expects a renamed configuration key; it exits with code 1 on every start and loops in CrashLoopBackOff."""
    pod, ns = b.scenario.name, 'payments'
    host = Host('ip-10-0-2-8.eu-west-1.compute.internal', '10.0.2.8', 'eu-west-1c')
    starts = [60.3, 60.6, 61.0, 61.7, 63.0, 65.7, 71.0, 76.1, 81.2, 86.3]
    cpu, memory = crash_loop_usage(
        b, starts=starts, cpu=(0.31, 0.07), memory_mib=610, start_cpu=0.22, start_memory_mib=48
    )
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.003, 0.5))
    revision: Json = dict(
        name=pod,
        namespace=ns,
        app='payments-ledger',
        pod_ip='10.244.3.12',
        image_name='ledger',
        owner_kind='StatefulSet',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='ledger',
    )
    # The old revision is observed at the start, the rollout's new pod (same name, new uid and image) at the end.
    old = service_pod(b, host, **revision, version='v2.3.7', created_minute=-60 * 24 * 6)
    b.snapshot('Pod', 0, b.pod(**old))
    new = service_pod(b, host, **revision, version='v2.4.0', created_minute=INCIDENT + 0.1)
    b.snapshot(
        'Pod',
        MINUTES - 1,
        b.pod(**new, **crash_loop_state(b, new, starts=starts, exit_code=1, runs_for=0.04, back_off='5m0s')),
    )
    rollout(b, new, at=INCIDENT)
    crash_loop(b, new, starts=starts, fresh=True, back_off_first=starts[1] - 0.1, back_off_count=118)
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'posted journal entry txn=txn_{b.hexid(12)} account=acc_{b.rng.randint(100000, 999999)} '
            f'amount={b.rng.randint(100, 99999) / 100:.2f} EUR in {max(2, int(b.noisy(9, 0.4)))}ms'
        )

    b.request_logs(entity, 0, INCIDENT, 2.0, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received SIGTERM, draining 3 in-flight transactions')
    start_up_lines(
        b,
        new,
        starts=starts,
        lines=lambda start: [
            (0.01, 'INFO', f'starting ledger v2.4.0 commit=3f9a1c2 pid={b.rng.randint(1, 9)}'),
            (0.015, 'INFO', 'loading config from /etc/ledger/config.yaml'),
            (
                0.02,
                'ERROR',
                'config validation failed: missing required key "LEDGER_DB_DSN" (renamed from "DB_URL" in v2.4.0)',
            ),
            (0.021, 'FATAL', 'exiting: invalid configuration exit_code=1'),
        ],
    )
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-h4w8s', 'logging', 'fluent-bit', '10.244.3.2', 0.07, 88),
            Companion('fraud-scorer-7c6d9f8b5-x4n2r', 'payments', 'fraud-scorer', '10.244.3.27', 0.7, 1400),
        ],
    )
