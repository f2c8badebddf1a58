"""Scenario `noisy-neighbor-search`: how its data is made (its verdict: `__init__.py`)."""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    batch_progress,
    companions,
    healthy_node,
    noisy_neighbour,
    observe,
    service_pod,
    step_changes,
)

__all__ = ('SEED', 'build')

SEED = 505
"""Seed of the scenario's random generator."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a reindexing Job without a CPU limit lands on the search API's 8-core node and
    takes all it leaves; the search API stays below its own limit and unthrottled, but waits for a CPU and is slow.

    What an SRE reads (series `k8s:pod/search-api-...`, incident minutes 60-89; node series; the Job's pod):
    - `cpu_waiting_ratio` ~0.02 in the baseline, ~0.38 in the incident: the pod waits for a CPU 38% of the time
      (container_pressure_cpu_waiting_seconds_total rate);
    - `cpu_throttled_ratio` ~0.04: not its own CFS quota; `cpu_cores` ~1.2 of a 2-core limit (60%);
    - node `cpu_cores` at its 8-core capacity from minute 60; `batch-reindex-...` (Job, no CPU limit) ~5.8 cores;
    - request lines: `slow query took ...ms` warnings and latencies ~380ms instead of ~45ms.
    Verdict: noisy_neighbor, medium (degraded, not down), entity the search API pod."""
    pod, ns = b.scenario.name, 'search'
    host = Host('ip-10-0-4-19.eu-west-1.compute.internal', '10.0.4.19', 'eu-west-1b')
    # Under its 2-core limit the API is hardly throttled (its own quota is not the problem); from the incident on
    # its threads wait for a CPU 38% of the time: the CPU pressure (PSI) of a node whose cores another pod holds.
    cpu, throttled, memory, waiting = step_changes(
        b,
        ((0.9, 0.05), (1.2, 0.06)),
        ((0.03, 0.3), (0.04, 0.3)),
        ((1150 * MIB, 0.01), (1150 * MIB, 0.01)),
        ((0.02, 0.3), (0.38, 0.12)),
    )
    b.pod_series(pod, host.name, cpu, memory, throttled, cpu_waiting=waiting)
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='search-api',
        pod_ip='10.244.5.14',
        version='v7.0.3',
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='search-api',
        created_minute=-60 * 40,
    )
    observe(b, spec)
    neighbours = [
        Companion('metrics-agent-r8t5v', 'monitoring', 'metrics-agent', '10.244.5.3', 0.15, 200),
        Companion('geo-api-8d6c5b7f9-v3h8m', 'search', 'geo-api', '10.244.5.22', 1.4, 2100),
    ]
    tenants = companions(b, host, neighbours)
    # Everything else on the node in each incident minute: its system share, the search API and the companions.
    others = [sum((neighbour.cpu for neighbour in neighbours), 0.3 + c) for c in cpu[INCIDENT:]]
    hog = noisy_neighbour(
        b,
        host,
        name='batch-reindex-29563860-vx9lm',
        namespace='search',
        app='batch-reindex',
        pod_ip='10.244.5.40',
        image=('reindexer', 'v2.2.1'),
        others=others,
        capacity=8.0,
    )
    healthy_node(
        b,
        host,
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        pods=[f'{ns}/{pod}', *tenants],
    )

    def line(minute: float) -> tuple[str, str]:
        query = b.rng.choice(['running shoes', 'usb-c cable', 'desk lamp', 'coffee grinder', 'rain jacket'])
        if minute >= INCIDENT and b.rng.random() < 0.3:
            return 'WARN', (
                f'slow query took {b.rng.randint(1100, 3900)}ms index=products shard={b.rng.randint(0, 5)} q="{query}"'
            )
        latency = 45 if minute < INCIDENT else 380
        took = max(3, int(b.noisy(latency, 0.3)))
        return 'INFO', f'GET /search q="{query}" 200 {took}ms hits={b.rng.randint(0, 400)}'

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 3.0, line)
    batch_progress(b, hog, batches=400, docs=5000)
