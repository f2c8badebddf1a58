"""Scenario `hpa-flapping-ranker`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import Companion, Host, observe, quiet_node, request_line, service_pod
from architectures.telemetry.faults.workloads import autoscaler, observed_autoscaler, rescales
from architectures.telemetry.scenarios import Reading

__all__ = ('MOVES', 'READINGS', 'SEED', 'build')

SEED = 1110
"""Seed of the scenario's random generator."""

MOVES = tuple((INCIDENT + 2 + 3 * k, 8 if k % 2 == 0 else 4) for k in range(10))
"""The autoscaler's rescales in the incident: (minute, new size), 4 -> 8 and back five times each way."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='event',
        text='SuccessfulRescale: New size: 8; reason: cpu resource utilization (percentage of request) above target',
        meaning='five scale-ups to 8 replicas in the incident (one event, count 5)...',
    ),
    Reading(
        source='event',
        text='SuccessfulRescale: New size: 4; reason: All metrics below target',
        meaning='...and five scale-downs back to 4, every three minutes: the autoscaler flaps',
    ),
    Reading(
        source='autoscaler',
        text='"type": "ScalingLimited", "status": "False"',
        meaning='it is not at a bound: it chooses to go back and forth',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='the pod alternates between about 0.2 and 0.5 cores of its 1-core limit: never short of CPU',
        low=0.2,
        high=0.5,
    ),
)
"""The data lines behind the verdict hpa_flapping, medium: churn (cold starts, dropped connections), no outage."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a change at the incident start removes the ranker autoscaler's scale-down
    stabilisation; it follows every three-minute burst of traffic, rescaling 4 -> 8 -> 4 ten times."""
    pod, ns = b.scenario.name, 'ml'
    host = Host('ip-10-0-23-8.eu-west-1.compute.internal', '10.0.23.8', 'eu-west-1b')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='recs-ranker',
        pod_ip='10.244.43.29',
        version='v0.31.0',
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={'cpu': '1', 'memory': '2Gi'},
        container='recs-ranker',
        created_minute=-60 * 24 * 2,
    )
    cpu = [
        b.noisy(0.3 if minute < INCIDENT else (0.5 if (minute - INCIDENT) % 6 < 3 else 0.2), 0.06)
        for minute in range(MINUTES)
    ]
    b.pod_series(pod, host.name, cpu, b.flat(MINUTES, 1300 * MIB, 0.01), b.flat(MINUTES, 0.01, 0.5))
    observe(b, spec)
    start = autoscaler(
        b,
        name='recs-ranker',
        namespace=ns,
        target='recs-ranker',
        replicas=(4, 4),
        bounds=(2, 10),
        utilisation=(46, 50),
        last_scale=-60 * 5,
    )
    end = autoscaler(
        b,
        name='recs-ranker',
        namespace=ns,
        target='recs-ranker',
        replicas=(4, 4),
        bounds=(2, 10),
        utilisation=(38, 50),
        last_scale=MOVES[-1][0],
        uid=start['metadata']['uid'],
    )
    observed_autoscaler(b, start, end)
    rescales(b, start, list(MOVES), host='')
    entity = f'k8s:pod/{pod}'
    b.request_logs(
        entity,
        0,
        MINUTES,
        2.0,
        lambda minute: request_line(b, 'POST', '/v1/rank', 35 if minute < INCIDENT else 70),
    )
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-m3n5b', 'logging', 'fluent-bit', '10.244.43.2', 0.07, 90),
            Companion('feature-store-6d5c4b8f7-v7c2x', 'ml', 'feature-store', '10.244.43.16', 0.6, 2100),
        ],
    )
