"""Scenario `node-disk-harms-pod`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, Builder, Json
from architectures.telemetry.faults import companion, node_disk_pressure, observe, request_line, service_pod

__all__ = ('SEED', 'build')

SEED = 1414
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a pod whose CPU, memory and object are normal on a node under disk pressure;
    its only trace of the trouble is warnings that its cache writes fail."""
    pod, ns, node, node_ip, pod_ip, zone = (
        b.scenario.name,
        'media',
        'ip-10-0-11-63.eu-west-1.compute.internal',
        '10.0.11.63',
        '10.244.13.17',
        'eu-west-1a',
    )
    pressure_at = 66
    spec = service_pod(
        b,
        name=pod,
        namespace=ns,
        app='image-resizer',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        version='v2.3.1',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='resizer',
    )
    observe(b, spec)
    b.pod_series(pod, node, b.flat(MINUTES, 0.4, 0.05), b.flat(MINUTES, 600 * MIB, 0.01), b.flat(MINUTES, 0.01, 0.4))
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= pressure_at + 1 and b.rng.random() < 0.2:
            return 'WARN', (
                f'could not write cache file /var/cache/resizer/{b.hexid(12)}.webp: no space left on device; '
                'serving uncached'
            )
        return request_line(b, 'POST', '/v1/resize', 120 if minute < pressure_at else 210)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    for name, app, ip, cpu, memory_mib in (
        ('fluent-bit-b6n4x', 'fluent-bit', '10.244.13.2', 0.08, 90),
        ('video-previews-5c9d8b7f6-m3k8j', 'video-previews', '10.244.13.25', 0.6, 900),
    ):
        companion(
            b,
            name=name,
            namespace='logging' if app == 'fluent-bit' else ns,
            app=app,
            node=node,
            node_ip=node_ip,
            pod_ip=ip,
            cpu=cpu,
            memory_mib=memory_mib,
        )
    capacity = (100 * GIB // 1024 - 12_000) * 1024
    disk = []
    for minute in range(MINUTES):
        fraction = 0.62 if minute < INCIDENT else min(0.92, 0.62 + 0.05 * (minute - INCIDENT))
        disk.append(capacity * b.noisy(fraction, 0.002))
    spec: Json = dict(name=node, ip=node_ip, zone=zone, instance_type='c5.xlarge', cpu=4, memory_gib=8, disk_gib=100)
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        MINUTES - 1,
        b.node(
            **spec,
            minute=MINUTES - 1,
            taints=[('node.kubernetes.io/disk-pressure', pressure_at)],
            conditions={'DiskPressure': ('True', 'KubeletHasDiskPressure', 'kubelet has disk pressure', pressure_at)},
        ),
    )
    b.node_series(node, 0.25, 1.1 * GIB, disk, 4.0)
    b.kubelet_routine(node, [f'{ns}/{pod}', 'logging/fluent-bit-b6n4x', f'{ns}/video-previews-5c9d8b7f6-m3k8j'])
    node_disk_pressure(
        b, node=node, pressure_at=pressure_at, evicted='log-archiver-6f7d8c9b5-z2x4c', evicted_namespace=ns
    )
