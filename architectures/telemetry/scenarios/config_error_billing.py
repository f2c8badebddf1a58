"""Scenario `config-error-billing`: how its data is made and what an SRE reads in it (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder, Json
from architectures.telemetry.faults import Companion, Host, pod_event, quiet_node, scheduled, service_pod
from architectures.telemetry.faults.workloads import not_running, waiting
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1102
"""Seed of the scenario's random generator."""

MISSING = "couldn't find key STRIPE_WEBHOOK_SECRET in Secret billing/billing-secrets"

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"waiting": {"reason": "CreateContainerConfigError"',
        meaning='the kubelet cannot create the container from its spec: it has never started since the rollout',
    ),
    Reading(
        source='event',
        text=f'Failed: Error: {MISSING}',
        meaning='the new revision reads an environment variable from a Secret key that does not exist',
    ),
    Reading(
        source='event',
        text='Pulled: Container image "registry.example.com/billing/billing-worker:v1.8.0" already present',
        meaning='the image is fine (pulled): the failure is the configuration, not the image',
    ),
    Reading(
        source='series',
        text='memory_bytes',
        meaning='no usage sample in the incident: no container ran',
    ),
)
"""The data lines behind the verdict config_error, high: a StatefulSet replica down after a rollout."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a rollout at the incident start recreates the billing worker with v1.8.0, which
    reads STRIPE_WEBHOOK_SECRET from a Secret key nobody created; the container is never created."""
    pod, ns = b.scenario.name, 'billing'
    host = Host('ip-10-0-18-44.eu-west-1.compute.internal', '10.0.18.44', 'eu-west-1c')
    revision: Json = dict(
        name=pod,
        namespace=ns,
        app='billing-worker',
        pod_ip='10.244.38.27',
        owner_kind='StatefulSet',
        requests={'cpu': '500m', 'memory': '768Mi'},
        limits={'cpu': '1', 'memory': '1536Mi'},
        container='billing-worker',
    )
    old = service_pod(b, host, **revision, version='v1.7.4', created_minute=-60 * 24 * 12)
    b.snapshot('Pod', 0, b.pod(**old))
    new = service_pod(b, host, **revision, version='v1.8.0', created_minute=INCIDENT + 0.1)
    b.snapshot('Pod', MINUTES - 1, b.pod(**new, **waiting('CreateContainerConfigError', MISSING)))
    cpu = [b.noisy(0.34, 0.1) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    memory = [b.noisy(610 * MIB, 0.01) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.006, 0.5))
    pod_event(b, old, 'Killing', f'Stopping container {old["container"]}', INCIDENT)
    scheduled(b, new, INCIDENT + 0.1)
    pod_event(b, new, 'Pulling', f'Pulling image "{new["image"]}"', INCIDENT + 0.1)
    pod_event(
        b,
        new,
        'Pulled',
        f'Successfully pulled image "{new["image"]}" in 2.871s (2.871s including waiting)',
        INCIDENT + 0.2,
    )
    pod_event(
        b,
        new,
        'Pulled',
        f'Container image "{new["image"]}" already present on machine',
        INCIDENT + 0.4,
        last=MINUTES - 0.3,
        count=141,
    )
    pod_event(b, new, 'Failed', f'Error: {MISSING}', INCIDENT + 0.2, last=MINUTES - 0.3, count=142, warning=True)
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'invoice inv_{b.hexid(10)} settled customer=cus_{b.hexid(8)} amount={b.rng.randint(500, 90000) / 100:.2f} '
            f'EUR in {max(3, int(b.noisy(25, 0.3)))}ms'
        )

    b.request_logs(entity, 0, INCIDENT, 2.0, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received SIGTERM, finishing 2 invoices before exit')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-z8x3c', 'logging', 'fluent-bit', '10.244.38.2', 0.07, 86),
            Companion('billing-api-7d8e9f6c5-m2n4b', 'billing', 'billing-api', '10.244.38.15', 0.6, 950),
        ],
    )
    not_running(b, pod, INCIDENT)
