"""Scenario `cpu-throttled-quota-thumbnailer`: how its data is made and what an SRE reads in it (its verdict:
`__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import Companion, Host, observe, quiet_node, request_line, service_pod, step_changes
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1111
"""Seed of the scenario's random generator."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='series',
        text='cpu_throttled_ratio',
        meaning='CFS-throttled in about 40% of periods: it uses up its own 500m quota within 100 ms periods',
        low=0.35,
        high=0.45,
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='yet its minute average is about 0.22 cores (44% of the limit): bursts, not a sustained load',
        low=0.19,
        high=0.25,
    ),
    Reading(
        source='series',
        text='cpu_waiting_ratio',
        meaning='it waits for a CPU only about 3% of the time: no other pod takes its CPUs (no noisy neighbour)',
        low=0.0,
        high=0.05,
    ),
    Reading(
        source='pod',
        text='"limits": {"cpu": "500m"',
        meaning='the quota is the limit it bursts over',
    ),
)
"""The data lines behind the verdict cpu_saturation, low: bursts over its own quota add latency, nothing fails."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: uploads arrive in bursts from the incident start; the thumbnailer's bursts
    exceed its 500m CFS quota (throttled ~40% of periods) while its minute average and CPU pressure stay low."""
    pod, ns = b.scenario.name, 'media'
    host = Host('ip-10-0-24-55.eu-west-1.compute.internal', '10.0.24.55', 'eu-west-1c')
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='thumbnailer',
        pod_ip='10.244.44.38',
        version='v2.3.0',
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '500m', 'memory': '512Mi'},
        container='thumbnailer',
        created_minute=-60 * 24 * 3,
    )
    cpu, throttled, memory, waiting = step_changes(
        b,
        ((0.12, 0.1), (0.22, 0.15)),
        ((0.04, 0.3), (0.41, 0.08)),
        ((210 * MIB, 0.01), (225 * MIB, 0.01)),
        ((0.02, 0.3), (0.03, 0.3)),
    )
    b.pod_series(pod, host.name, cpu, memory, throttled, cpu_waiting=waiting)
    observe(b, spec)
    entity = f'k8s:pod/{pod}'
    b.request_logs(
        entity,
        0,
        MINUTES,
        2.0,
        lambda minute: request_line(b, 'POST', f'/v1/thumbnails/img_{b.hexid(8)}', 90 if minute < INCIDENT else 160),
    )
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-r5t7y', 'logging', 'fluent-bit', '10.244.44.2', 0.07, 90),
            Companion('media-api-5e6f7d8c9-s1d3f', 'media', 'media-api', '10.244.44.21', 1.1, 900),
            Companion('transcoder-7c8b9a6d5-g5h7j', 'media', 'transcoder', '10.244.44.30', 1.3, 1500),
        ],
    )
