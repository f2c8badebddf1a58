"""Scenario `hpa-at-max-storefront`: how its data is made and what an SRE reads in it (its verdict:
`__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    level_shift,
    observe,
    quiet_node,
    request_line,
    service_pod,
)
from architectures.telemetry.faults.workloads import autoscaler, observed_autoscaler, rescales
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1109
"""Seed of the scenario's random generator."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='autoscaler',
        text='"currentReplicas": 12, "desiredReplicas": 12',
        meaning='the storefront runs at 12 replicas...',
    ),
    Reading(
        source='autoscaler',
        text='"maxReplicas": 12',
        meaning="...its autoscaler's maximum",
    ),
    Reading(
        source='autoscaler',
        text='"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"',
        meaning='it wants more replicas than it may have, since minute 3 of the incident',
    ),
    Reading(
        source='autoscaler',
        text='"current": {"averageUtilization": 142}',
        meaning='CPU at 142% of the request against a 60% target: the fleet is short of capacity',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='each pod at about 0.71 of its 1-core limit: busy, not saturated on its own',
        low=0.65,
        high=0.78,
    ),
)
"""The data lines behind the verdict hpa_at_max, high: capacity is exhausted and latency grows."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a campaign starts at the incident start; the storefront's autoscaler goes from 6
    to 9 to 12 replicas within three minutes and stays limited at its maximum of 12 with CPU at 142% of request."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-22-31.eu-west-1.compute.internal', '10.0.22.31', 'eu-west-1a')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='storefront',
        pod_ip='10.244.42.44',
        version='v8.2.1',
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='storefront',
        created_minute=-60 * 24,
    )
    throttled = level_shift(b, 0.01, 0.06, 0.3)
    b.pod_series(pod, host.name, level_shift(b, 0.29, 0.71, 0.05), b.flat(MINUTES, 610 * MIB, 0.01), throttled)
    observe(b, spec)
    start = autoscaler(
        b,
        name='storefront',
        namespace=ns,
        target='storefront',
        replicas=(6, 6),
        bounds=(4, 12),
        utilisation=(58, 60),
        last_scale=-60 * 3,
    )
    end = autoscaler(
        b,
        name='storefront',
        namespace=ns,
        target='storefront',
        replicas=(12, 12),
        bounds=(4, 12),
        utilisation=(142, 60),
        limited_since=INCIDENT + 3,
        last_scale=INCIDENT + 3,
        uid=start['metadata']['uid'],
    )
    observed_autoscaler(b, start, end)
    rescales(b, start, [(INCIDENT + 1, 9), (INCIDENT + 3, 12)], host='')
    entity = f'k8s:pod/{pod}'
    b.request_logs(
        entity,
        0,
        MINUTES,
        3.0,
        lambda minute: request_line(b, 'GET', f'/p/{b.rng.randint(10000, 99999)}', 60 if minute < INCIDENT else 240),
    )
    quiet_node(
        b,
        host,
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-p0o9i', 'logging', 'fluent-bit', '10.244.42.2', 0.08, 90),
            Companion('storefront-6b8d9c7f5-z9x8c', 'shop', 'storefront', '10.244.42.51', 0.7, 620),
            Companion('cart-api-7e8f9d6c5-l4k3j', 'shop', 'cart-api', '10.244.42.27', 0.5, 700),
        ],
    )
