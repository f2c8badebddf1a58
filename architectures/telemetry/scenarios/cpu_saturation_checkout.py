"""Scenario `cpu-saturation-checkout`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    cpu_saturation,
    liveness_kills,
    observe,
    quiet_node,
    readiness_failures,
    request_line,
    restarted,
    service_pod,
    start_up_lines,
)

__all__ = ('SEED', 'build')

SEED = 101
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a flash sale pins the checkout pod at its 1-core limit; too busy to answer its
    liveness probe, it is killed and restarted four times, and its requests slow down and time out."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-1-17.eu-west-1.compute.internal', '10.0.1.17', 'eu-west-1a')
    kills = [71, 76, 81, 86]
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='checkout',
        pod_ip='10.244.1.23',
        version='v3.8.2',
        requests={'cpu': '500m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='checkout',
        created_minute=-60 * 26,
    )
    b.pod_series(pod, host.name, *cpu_saturation(b, kills=kills, cpu=0.42, memory_mib=300))
    observe(
        b,
        spec,
        restarted(
            b,
            count=len(kills),
            running_since=kills[-1] + 0.9,
            exit_code=137,
            reason='Error',
            previous_start=kills[-2] + 0.9,
            previous_end=kills[-1] + 0.5,
        ),
    )
    liveness_kills(b, spec, kills=kills, back_off_from=2)
    readiness_failures(b, spec, first=INCIDENT + 5, last=MINUTES - 1, count=61)

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

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 3.0, line)
    start_up_lines(
        b,
        spec,
        starts=kills,
        lines=lambda kill: [
            (0.92, 'INFO', 'starting checkout service version=v3.8.2 port=8080 workers=8'),
            (0.95, 'INFO', f'connected to postgres host=10.100.12.4:5432 pool_size=20 in {b.rng.randint(40, 90)}ms'),
        ],
    )
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-7xk2p', 'logging', 'fluent-bit', '10.244.1.4', 0.08, 90),
            Companion('catalog-api-6b9d7c5f8-p2t6w', 'shop', 'catalog-api', '10.244.1.31', 0.55, 700),
        ],
    )
