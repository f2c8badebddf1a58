"""Scenario `cpu-saturation-checkout`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, REGISTRY, Builder, Json, iso
from architectures.telemetry.faults import companion, healthy_node, request_line

__all__ = ('SEED', 'build')

SEED = 101
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`."""
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-1-17.eu-west-1.compute.internal',
        '10.0.1.17',
        '10.244.1.23',
    )
    image = f'{REGISTRY}/shop/checkout:v3.8.2'
    uid = b.uid()
    kills = [71, 76, 81, 86]
    cpu, throttled, memory = [], [], []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            cpu.append(b.noisy(0.42, 0.06))
            throttled.append(b.noisy(0.02, 0.4))
            memory.append(b.noisy(300 * MIB, 0.015))
        elif minute in kills:
            cpu.append(b.noisy(0.55, 0.05))
            throttled.append(b.noisy(0.3, 0.1))
            memory.append(b.noisy(262 * MIB, 0.01))
        else:
            ramp = min(1.0, (minute - INCIDENT + 1) / 4)
            cpu.append(min(0.999, 0.45 + ramp * b.noisy(0.535, 0.012)))
            throttled.append(b.noisy(0.1 + ramp * 0.55, 0.08))
            memory.append(b.noisy(330 * MIB, 0.015))
    b.pod_series(pod, node, cpu, memory, throttled)
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='checkout',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=image,
        owner=('ReplicaSet', 'checkout-7f9c4d'),
        created_minute=-60 * 26,
        uid=uid,
        requests={'cpu': '500m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='checkout',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        MINUTES - 1,
        b.pod(
            **common,
            restart_count=len(kills),
            state={'running': {'startedAt': iso(b.at(kills[-1] + 0.9))}},
            last_terminated={
                'exitCode': 137,
                'reason': 'Error',
                'startedAt': iso(b.at(kills[-2] + 0.9)),
                'finishedAt': iso(b.at(kills[-1] + 0.5)),
            },
        ),
    )
    probe_url = f'http://{pod_ip}:8080/healthz'
    for number, kill in enumerate(kills):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Warning',
            reason='Unhealthy',
            host=node,
            message=f'Liveness probe failed: Get "{probe_url}": context deadline exceeded '
            '(Client.Timeout exceeded while awaiting headers)',
            first=kill - 0.4,
            last=kill - 0.1,
            count=3,
            field_path='spec.containers{checkout}',
        )
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason='Killing',
            host=node,
            message='Container checkout failed liveness probe, will be restarted',
            first=kill,
            field_path='spec.containers{checkout}',
        )
        if number >= 2:
            b.event(
                kind='Pod',
                name=pod,
                namespace=ns,
                type_='Warning',
                reason='BackOff',
                host=node,
                message=f'Back-off restarting failed container checkout in pod {pod}_{ns}({uid})',
                first=kill + 0.3,
                last=kill + 0.6,
                count=2,
                field_path='spec.containers{checkout}',
            )
        for reason, message in (
            ('Pulled', f'Container image "{image}" already present on machine'),
            ('Created', 'Created container checkout'),
            ('Started', 'Started container checkout'),
        ):
            b.event(
                kind='Pod',
                name=pod,
                namespace=ns,
                type_='Normal',
                reason=reason,
                host=node,
                message=message,
                first=kill + 0.9,
                field_path='spec.containers{checkout}',
            )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='Unhealthy',
        host=node,
        message=f'Readiness probe failed: Get "http://{pod_ip}:8080/ready": context deadline exceeded',
        first=INCIDENT + 5,
        last=MINUTES - 1,
        count=61,
        field_path='spec.containers{checkout}',
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute < INCIDENT + 3:
            return request_line(b, 'POST', '/api/v1/checkout', 85)
        roll = b.rng.random()
        order = f'ord_{b.hexid(8)}'
        if roll < 0.45:
            return 'WARN', (
                f'slow request POST /api/v1/checkout took {b.rng.randint(1200, 4800)}ms '
                f'(threshold 1000ms) order_id={order}'
            )
        if roll < 0.7:
            return 'ERROR', f'request timeout after 5000ms: POST /api/v1/checkout order_id={order}'
        return request_line(b, 'POST', '/api/v1/checkout', 900)

    b.request_logs(entity, 0, MINUTES, 3.0, line)
    for kill in kills:
        b.log(entity, kill + 0.92, 'INFO', 'starting checkout service version=v3.8.2 port=8080 workers=8')
        b.log(
            entity,
            kill + 0.95,
            'INFO',
            f'connected to postgres host=10.100.12.4:5432 pool_size=20 in {b.rng.randint(40, 90)}ms',
        )

    companion(
        b,
        name='fluent-bit-7xk2p',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.1.4',
        cpu=0.08,
        memory_mib=90,
    )
    companion(
        b,
        name='catalog-api-6b9d7c5f8-p2t6w',
        namespace='shop',
        app='catalog-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.1.31',
        cpu=0.55,
        memory_mib=700,
    )
    healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-7xk2p', 'shop/catalog-api-6b9d7c5f8-p2t6w'],
    )
