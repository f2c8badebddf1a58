"""Scenario `memory-leak-cart`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    memory_leak_until_oom,
    observe,
    oom_kill,
    quiet_node,
    request_line,
    restarted,
    service_pod,
)

__all__ = ('SEED', 'build')

SEED = 202
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a feature flag turned on at the incident start makes the cart cache sessions
    without eviction; its memory grows 9.4 MiB a minute to the 512Mi limit, it is OOM-killed at minute 86 and
    grows again."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-1-52.eu-west-1.compute.internal', '10.0.1.52', 'eu-west-1b')
    oom, created = 86, -60 * 50
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='cart',
        pod_ip='10.244.2.40',
        version='v5.2.0',
        requests={'cpu': '250m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='cart',
        created_minute=created,
    )
    cpu, memory = memory_leak_until_oom(b, oom=oom, limit_mib=512, cpu=0.18, memory_mib=270, leak_mib=9.4)
    b.pod_series(pod, host.name, cpu, memory, b.flat(MINUTES, 0.004, 0.5))
    observe(
        b,
        spec,
        restarted(
            b,
            count=1,
            running_since=oom + 0.2,
            exit_code=137,
            reason='OOMKilled',
            previous_start=created,
            previous_end=oom,
        ),
    )
    oom_kill(b, spec, at=oom, process='cart-service')
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= INCIDENT and b.rng.random() < 0.18:
            entries = int(1500 * (minute - INCIDENT if minute < oom else minute - oom) + 9000)
            return 'WARN', (
                f'session cache size={entries} entries (~{entries * 6 // 1024}MiB) exceeds soft limit '
                f'5000; eviction disabled by flag session_cache_v2'
            )
        if minute >= INCIDENT + 10 and b.rng.random() < 0.1:
            return 'WARN', f'GC pause {b.rng.randint(180, 650)}ms heap_used={b.rng.randint(380, 500)}MiB'
        return request_line(b, 'GET', f'/api/v1/cart/usr_{b.hexid(10)}', 14)

    b.request_logs(entity, 0, MINUTES, 2.5, line)
    b.log(entity, INCIDENT + 0.02, 'INFO', 'feature flag session_cache_v2 enabled by config reload rev=4471')
    b.log(entity, oom + 0.25, 'INFO', 'starting cart-service v5.2.0 port=8080 feature_flags=session_cache_v2')
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}'],
        pods=[
            Companion('fluent-bit-m9c4d', 'logging', 'fluent-bit', '10.244.2.3', 0.07, 85),
            Companion('pricing-api-5c8f7b6d9-q7k3x', 'shop', 'pricing-api', '10.244.2.18', 0.4, 900),
        ],
    )
