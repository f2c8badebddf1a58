"""Scenario `crash-loop-ledger`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults import companion, healthy_node

__all__ = ('SEED', 'build')

SEED = 303
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'payments',
        'ip-10-0-2-8.eu-west-1.compute.internal',
        '10.0.2.8',
        '10.244.3.12',
    )
    old_image, new_image = f'{REGISTRY}/payments/ledger:v2.3.7', f'{REGISTRY}/payments/ledger:v2.4.0'
    starts = [60.3, 60.6, 61.0, 61.7, 63.0, 65.7, 71.0, 76.1, 81.2, 86.3]
    cpu, memory = [], []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            cpu.append(b.noisy(0.31, 0.07))
            memory.append(b.noisy(610 * MIB, 0.01))
        elif any(int(start) == minute for start in starts):
            cpu.append(b.noisy(0.22, 0.1))
            memory.append(b.noisy(48 * MIB, 0.05))
        else:
            cpu.append(b.noisy(0.002, 0.3))
            memory.append(b.noisy(3 * MIB, 0.1))
    b.pod_series(pod, node, cpu, memory, b.flat(MINUTES, 0.003, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='payments-ledger',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        owner=('StatefulSet', 'payments-ledger'),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='ledger',
    )
    b.snapshot('Pod', 0, b.pod(**common, image=old_image, created_minute=-60 * 24 * 6, uid=b.uid()))
    new_uid = b.uid()
    restarts = len(starts) - 1
    b.snapshot(
        'Pod',
        MINUTES - 1,
        b.pod(
            **common,
            image=new_image,
            created_minute=INCIDENT + 0.1,
            uid=new_uid,
            restart_count=restarts,
            ready=False,
            state={
                'waiting': {
                    'reason': 'CrashLoopBackOff',
                    'message': f'back-off 5m0s restarting failed container=ledger pod={pod}_{ns}({new_uid})',
                }
            },
            last_terminated={
                'exitCode': 1,
                'reason': 'Error',
                'startedAt': iso(b.at(starts[-1])),
                'finishedAt': iso(b.at(starts[-1] + 0.04)),
            },
        ),
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Killing',
        host=node,
        message='Stopping container ledger',
        first=INCIDENT,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Scheduled',
        host=node,
        component='default-scheduler',
        message=f'Successfully assigned {ns}/{pod} to {node}',
        first=INCIDENT + 0.1,
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulling',
        host=node,
        message=f'Pulling image "{new_image}"',
        first=INCIDENT + 0.1,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulled',
        host=node,
        message=f'Successfully pulled image "{new_image}" in 3.214s (3.214s including waiting)',
        first=INCIDENT + 0.2,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulled',
        host=node,
        message=f'Container image "{new_image}" already present on machine',
        first=starts[1],
        last=starts[-1],
        count=restarts,
        field_path='spec.containers{ledger}',
    )
    for reason, message in (('Created', 'Created container ledger'), ('Started', 'Started container ledger')):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason=reason,
            host=node,
            message=message,
            first=starts[0],
            last=starts[-1],
            count=len(starts),
            field_path='spec.containers{ledger}',
        )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='BackOff',
        host=node,
        message=f'Back-off restarting failed container ledger in pod {pod}_{ns}({new_uid})',
        first=starts[1] - 0.1,
        last=MINUTES - 0.5,
        count=118,
        field_path='spec.containers{ledger}',
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'posted journal entry txn=txn_{b.hexid(12)} account=acc_{b.rng.randint(100000, 999999)} '
            f'amount={b.rng.randint(100, 99999) / 100:.2f} EUR in {max(2, int(b.noisy(9, 0.4)))}ms'
        )

    b.request_logs(entity, 0, INCIDENT, 2.0, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received SIGTERM, draining 3 in-flight transactions')
    for start in starts:
        b.log(entity, start + 0.01, 'INFO', f'starting ledger v2.4.0 commit=3f9a1c2 pid={b.rng.randint(1, 9)}')
        b.log(entity, start + 0.015, 'INFO', 'loading config from /etc/ledger/config.yaml')
        b.log(
            entity,
            start + 0.02,
            'ERROR',
            'config validation failed: missing required key "LEDGER_DB_DSN" (renamed from "DB_URL" in v2.4.0)',
        )
        b.log(entity, start + 0.021, 'FATAL', 'exiting: invalid configuration exit_code=1')

    companion(
        b,
        name='fluent-bit-h4w8s',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.3.2',
        cpu=0.07,
        memory_mib=88,
    )
    companion(
        b,
        name='fraud-scorer-7c6d9f8b5-x4n2r',
        namespace='payments',
        app='fraud-scorer',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.3.27',
        cpu=0.7,
        memory_mib=1400,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1c',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-h4w8s', 'payments/fraud-scorer-7c6d9f8b5-x4n2r'],
    )
