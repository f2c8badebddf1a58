"""Scenario `dns-cache-timeouts-shipping`: how its data is made and what an SRE reads in it (verdict: `__init__.py`).

Beyond the fixed workflow: the pod's own CPU, memory and logs and its node's are normal; the cause sits in another
pod on the node, the node-local DNS cache every pod of the node resolves through, which only an investigation that
looks at the node's pods finds.
"""

from __future__ import annotations

from architectures.telemetry.builder import INCIDENT, MIB, MINUTES, Builder
from architectures.telemetry.faults import (
    Companion,
    Host,
    node_local_dns,
    observe,
    quiet_node,
    request_line,
    service_pod,
    steady_usage,
)
from architectures.telemetry.scenarios import Reading

__all__ = ('CACHE_POD', 'READINGS', 'SEED', 'build')

SEED = 1301
"""Seed of the scenario's random generator."""

CACHE_POD = 'node-local-dns-7q2vx'
"""The node-local DNS cache (a DaemonSet pod) on the shipping pod's node: where the evidence is."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='log',
        text='ERROR [ERROR] plugin/errors: 2 api.carrier-dhl.example.com. A: read udp 169.254.20.10:',
        meaning="the node's DNS cache cannot reach the cluster DNS: its upstream lookups time out (i/o timeout), "
        'from minute 1 of the incident, about eight a minute; none in the baseline',
    ),
    Reading(
        source='log',
        text='WARN carrier quote exceeded its 2000ms budget',
        meaning="the shipping pod's only symptom: quotes take 2.5 to 3.5 s instead of about 0.3 s, all answered "
        '200: its lookups are served late (retried), not refused',
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='the shipping pod uses about 0.25 cores of its 1-core limit, as in the baseline: it is not short of '
        'CPU, it waits',
        low=0.2,
        high=0.3,
    ),
    Reading(
        source='series',
        text='memory_bytes',
        meaning='its working set stays at about 240Mi of 512Mi: nothing grows',
        low=230 * MIB,
        high=250 * MIB,
    ),
)
"""The data lines behind the verdict network_errors, medium: the pod's DNS lookups time out upstream (seen in the
node's DNS cache) and its requests slow down; nothing fails outright."""

_UPSTREAM = '10.96.0.10:53'
"""The cluster DNS service the node-local cache forwards to."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: from minute 1 of the incident the cluster DNS stops answering the node-local
    cache of the shipping pod's node in time; the cache retries and serves late, so the shipping pod's quotes slow
    down tenfold while its own metrics and logs hold no error."""
    pod, ns = b.scenario.name, 'fulfilment'
    host = Host('ip-10-0-31-46.eu-west-1.compute.internal', '10.0.31.46', 'eu-west-1a')
    pod_ip = '10.244.52.17'
    steady_usage(b, pod, host.name, cpu=(0.25, 0.08), memory_mib=240, throttled=(0.003, 0.5))
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='shipping-quotes',
        pod_ip=pod_ip,
        version='v2.7.1',
        requests={'cpu': '250m', 'memory': '384Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='quotes',
        created_minute=-60 * 30,
    )
    observe(b, spec)
    carriers = ('dhl', 'ups', 'dpd')

    def line(minute: float) -> tuple[str, str]:
        carrier = b.rng.choice(carriers)
        if minute >= INCIDENT + 1:
            elapsed = int(b.rng.uniform(2500, 3500))
            if b.rng.random() < 0.3:
                return 'WARN', f'carrier quote exceeded its 2000ms budget carrier={carrier} elapsed={elapsed}ms'
            return request_line(b, 'POST', f'/v1/quotes/{carrier}', elapsed)
        return request_line(b, 'POST', f'/v1/quotes/{carrier}', 300)

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 3.0, line)

    cache = node_local_dns(b, host, CACHE_POD)
    steady_usage(b, CACHE_POD, host.name, cpu=(0.04, 0.15), memory_mib=22, throttled=(0.0, 0.5))
    observe(b, cache)
    names = ('api.carrier-dhl.example.com.', 'api.carrier-ups.example.com.', 'api.carrier-dpd.example.com.')

    def cache_line(minute: float) -> tuple[str, str]:
        port = b.rng.randint(32768, 60999)
        return 'ERROR', (
            f'[ERROR] plugin/errors: 2 {b.rng.choice(names)} A: read udp 169.254.20.10:{port}->{_UPSTREAM}: i/o timeout'
        )

    cache_entity = f'k8s:pod/{CACHE_POD}'
    b.request_logs(cache_entity, 0, MINUTES, 0.1, lambda minute: ('INFO', '[INFO] Reloading complete'))
    b.request_logs(cache_entity, INCIDENT + 1, MINUTES, 8.0, cache_line)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}', f'kube-system/{CACHE_POD}'],
        pods=[
            Companion('fluent-bit-q8m3z', 'logging', 'fluent-bit', '10.244.52.2', 0.07, 90),
            Companion('returns-api-5c8d7e6f9-k3j7h', 'fulfilment', 'returns-api', '10.244.52.23', 0.2, 310),
        ],
    )
