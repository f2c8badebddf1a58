"""Scenario `image-pull-backoff-inventory`: how its data is made and what an SRE reads in it (its verdict:
`__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder, Json
from architectures.telemetry.faults import Companion, Host, pod_event, quiet_node, scheduled, service_pod
from architectures.telemetry.faults.workloads import not_running, waiting
from architectures.telemetry.scenarios import Reading

__all__ = ('READINGS', 'SEED', 'build')

SEED = 1101
"""Seed of the scenario's random generator."""

IMAGE = 'registry.example.com/inventory/inventory-sync:v4.2.0'

READINGS: tuple[Reading, ...] = (
    Reading(
        source='pod',
        text='"waiting": {"reason": "ImagePullBackOff"',
        meaning='the container waits for its image and has never started since the rollout',
    ),
    Reading(
        source='event',
        text=f'Failed: Failed to pull image "{IMAGE}": rpc error: code = NotFound',
        meaning='the registry has no such tag: the release names an image that was never pushed',
    ),
    Reading(
        source='event',
        text=f'BackOff: Back-off pulling image "{IMAGE}"',
        meaning='the kubelet retries with back-off for the whole incident: it will not recover on its own',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='no usage sample in the incident: no container ran (the replica is down, not slow)',
    ),
)
"""The data lines behind the verdict image_pull_error, high: a StatefulSet replica down after a bad rollout."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a StatefulSet rollout at the incident start recreates the inventory sync pod with
    image tag v4.2.0, which the registry does not have; the pod waits in ImagePullBackOff from then on."""
    pod, ns = b.scenario.name, 'inventory'
    host = Host('ip-10-0-13-21.eu-west-1.compute.internal', '10.0.13.21', 'eu-west-1a')
    revision: Json = dict(
        name=pod,
        namespace=ns,
        app='inventory-sync',
        pod_ip='10.244.33.31',
        owner_kind='StatefulSet',
        requests={'cpu': '250m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='inventory-sync',
    )
    old = service_pod(b, host, **revision, version='v4.1.3', created_minute=-60 * 24 * 9)
    b.snapshot('Pod', 0, b.pod(**old))
    new = service_pod(b, host, **revision, version='v4.2.0', created_minute=INCIDENT + 0.1)
    assert new['image'] == IMAGE
    b.snapshot('Pod', MINUTES - 1, b.pod(**new, **waiting('ImagePullBackOff', f'Back-off pulling image "{IMAGE}"')))
    cpu = [b.noisy(0.21, 0.08) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    memory = [b.noisy(430 * MIB, 0.01) if minute < INCIDENT else 0.0 for minute in range(MINUTES)]
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.004, 0.5))
    pod_event(b, old, 'Killing', f'Stopping container {old["container"]}', INCIDENT)
    scheduled(b, new, INCIDENT + 0.1)
    pod_event(b, new, 'Pulling', f'Pulling image "{IMAGE}"', INCIDENT + 0.2, last=MINUTES - 3.1, count=7)
    pod_event(
        b,
        new,
        'Failed',
        f'Failed to pull image "{IMAGE}": rpc error: code = NotFound desc = failed to pull and unpack image '
        f'"{IMAGE}": failed to resolve reference "{IMAGE}": {IMAGE}: not found',
        INCIDENT + 0.3,
        last=MINUTES - 3.0,
        count=7,
        warning=True,
    )
    pod_event(b, new, 'Failed', 'Error: ErrImagePull', INCIDENT + 0.3, last=MINUTES - 3.0, count=7, warning=True)
    pod_event(
        b,
        new,
        'BackOff',
        f'Back-off pulling image "{IMAGE}"',
        INCIDENT + 0.5,
        last=MINUTES - 0.5,
        count=112,
        warning=True,
    )
    pod_event(b, new, 'Failed', 'Error: ImagePullBackOff', INCIDENT + 0.5, last=MINUTES - 0.5, count=112, warning=True)
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'synced stock sku=SKU-{b.rng.randint(10000, 99999)} warehouse=wh-{b.rng.randint(1, 6)} '
            f'delta={b.rng.randint(-40, 60)} in {max(2, int(b.noisy(18, 0.3)))}ms'
        )

    b.request_logs(entity, 0, INCIDENT, 3.0, line)
    b.log(entity, INCIDENT - 0.05, 'INFO', 'received SIGTERM, flushing 12 pending stock updates')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-q2w7e', 'logging', 'fluent-bit', '10.244.33.2', 0.07, 90),
            Companion('inventory-api-6f7d8c9b5-p3r6t', 'inventory', 'inventory-api', '10.244.33.18', 0.5, 800),
        ],
    )
    not_running(b, pod, INCIDENT)
