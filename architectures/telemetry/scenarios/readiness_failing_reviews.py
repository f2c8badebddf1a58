"""Scenario `readiness-failing-reviews`: how its data is made and what an SRE reads in it (its verdict:
`__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    observe,
    pod_event,
    quiet_node,
    request_line,
    service_pod,
)
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1105
"""Seed of the scenario's random generator."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"type": "Ready", "status": "False"',
        meaning='the pod is not ready: its Service sends it no traffic',
    ),
    Reading(
        source='pod',
        text='"restartCount": 0, "state": {"running"',
        meaning='its container runs and was never restarted: liveness passes, only readiness fails',
    ),
    Reading(
        source='event',
        text='Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503',
        meaning='the readiness endpoint answers 503 (not a timeout) for 29 minutes: out of its Service endpoints',
    ),
    Reading(
        source='log',
        text='WARN readiness check failed: lock on table reviews held by migration',
        meaning='why: a schema migration holds a lock the readiness check waits on',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='CPU falls to about 0.03 cores: the pod gets no traffic, it is not starved',
        low=0.01,
        high=0.06,
    ),
)
"""The data lines behind the verdict readiness_failure, medium: one replica out of rotation, the others serve."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a schema migration locks the reviews table at the incident start; the reviews API
    checks that table in its readiness endpoint, answers 503 and is out of its Service for the rest of the window."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-19-66.eu-west-1.compute.internal', '10.0.19.66', 'eu-west-1a')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='reviews-api',
        pod_ip='10.244.39.41',
        version='v2.11.0',
        requests={'cpu': '250m', 'memory': '384Mi'},
        limits={'cpu': '1', 'memory': '768Mi'},
        container='reviews-api',
        created_minute=-60 * 30,
    )
    cpu = [b.noisy(0.24 if minute < INCIDENT else 0.03, 0.08) for minute in range(MINUTES)]
    memory = b.flat(MINUTES, 300 * MIB, 0.01)
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.004, 0.5))
    observe(b, spec, {'ready': False})
    pod_event(
        b,
        spec,
        'Unhealthy',
        'Readiness probe failed: HTTP probe failed with statuscode: 503',
        INCIDENT + 0.6,
        last=MINUTES - 0.2,
        count=351,
        warning=True,
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= INCIDENT:
            return 'WARN', (
                f'readiness check failed: lock on table reviews held by migration 20260404_add_helpful_votes '
                f'(waited {b.rng.randint(1000, 1999)}ms)'
            )
        return request_line(b, 'GET', f'/v1/products/p{b.rng.randint(1000, 9999)}/reviews', 22)

    b.request_logs(entity, 0, INCIDENT, 3.0, line)
    b.request_logs(entity, INCIDENT, MINUTES, 4.0, line)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-u6i9o', 'logging', 'fluent-bit', '10.244.39.2', 0.07, 89),
            Companion('ratings-api-6c7d8e9f5-d2f4g', 'shop', 'ratings-api', '10.244.39.23', 0.3, 500),
        ],
    )
