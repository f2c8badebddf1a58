"""Scenario `rolling-crash-consumers`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    crash_loop,
    crash_loop_state,
    crash_loop_usage,
    observe,
    quiet_node,
    service_pod,
    start_up_lines,
)

__all__ = ('REPLICAS', 'SEED', 'build')

SEED = 1515
"""Seed of the scenario's random generator."""

REPLICAS: tuple[tuple[str, str, list[float]], ...] = (
    # (pod, pod IP, minutes its container starts: the first crash, then restarts with the kubelet's back-off)
    (
        'order-events-consumer-84d5f6c7b-2xk9p',
        '10.244.14.11',
        [62.0, 62.2, 62.55, 63.25, 64.6, 67.3, 72.35, 77.4, 82.45, 87.5],
    ),
    ('order-events-consumer-84d5f6c7b-7mq4r', '10.244.14.12', [71.0, 71.2, 71.55, 72.25, 73.6, 76.3, 81.35, 86.4]),
    ('order-events-consumer-84d5f6c7b-c8t2w', '10.244.14.13', [86.8, 87.0, 87.35, 88.05]),
)
"""The three replicas, in the order the poison message reaches them; the last is the scenario's entity."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a poison message crashes each consumer replica that takes over its partition,
    one after another; each then loops, re-reading the same offset on every start."""
    ns, host = 'events', Host('ip-10-0-12-7.eu-west-1.compute.internal', '10.0.12.7', 'eu-west-1b')
    offset = 184467

    def crash_lines(minute: float) -> list[tuple[float, str, str]]:
        return [
            (0.01, 'INFO', 'starting order-events-consumer v2.7.1 group=order-events'),
            (0.02, 'INFO', f'assigned partitions [3]; resuming at committed offset {offset}'),
            (
                0.03,
                'ERROR',
                f'failed to decode message offset={offset} partition=3 topic=order-events: json: cannot unmarshal '
                'string into Go struct field Order.total of type float64',
            ),
            (0.04, 'FATAL', 'panic: unrecoverable decode error; exiting with code 2'),
        ]

    for pod, pod_ip, starts in REPLICAS:
        first = int(starts[0])
        spec = service_pod(
            b,
            host,
            name=pod,
            namespace=ns,
            app='order-events-consumer',
            pod_ip=pod_ip,
            version='v2.7.1',
            requests={'cpu': '250m', 'memory': '256Mi'},
            limits={'cpu': '1', 'memory': '512Mi'},
            container='consumer',
            created_minute=-60 * 24 * 4,
        )
        crash_loop(b, spec, starts=starts)
        start_up_lines(b, spec, starts=starts, lines=crash_lines)
        observe(b, spec, crash_loop_state(b, spec, starts=starts, exit_code=2, runs_for=0.05))
        cpu, memory = crash_loop_usage(
            b, starts=starts, cpu=(0.35, 0.06), memory_mib=420, start_cpu=0.15, start_memory_mib=40
        )
        b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.004, 0.5))
        entity = f'k8s:pod/{pod}'
        b.request_logs(
            entity,
            0,
            first,
            3.0,
            lambda minute: (
                'INFO',
                f'processed order event offset={b.rng.randint(170000, 184466)} partition={b.rng.randint(0, 5)} '
                f'in {max(1, int(b.noisy(6, 0.4)))}ms',
            ),
        )
        b.log(entity, first - 0.02, 'INFO', 'rebalance: partition 3 assigned to this member')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}' for pod, _, _ in REPLICAS],
        pods=[Companion('fluent-bit-p7v3q', 'logging', 'fluent-bit', '10.244.14.2', 0.08, 90)],
    )
