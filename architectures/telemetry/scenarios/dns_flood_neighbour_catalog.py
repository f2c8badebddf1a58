"""Scenario `dns-flood-neighbour-catalog`: how its data is made and what an SRE reads in it (verdict: `__init__.py`).

Beyond the fixed workflow: the catalog pod's own CPU, memory and logs and its node's are normal; the pod that harms
it is another tenant of the node, a crawler whose lookups flood the node-local DNS cache both resolve through, which
only an investigation that looks at the node's pods finds.
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

__all__ = ('CACHE_POD', 'CRAWLER_POD', 'READINGS', 'SEED', 'build')

SEED = 1302
"""Seed of the scenario's random generator."""

CACHE_POD = 'node-local-dns-h5t8k'
"""The node-local DNS cache (a DaemonSet pod) on the catalog pod's node."""

CRAWLER_POD = 'link-crawler-5f7d8c9b6-p2w9q'
"""The neighbour started at the incident start whose lookups flood the cache."""

READINGS: tuple[Reading, ...] = (
    Reading(
        source='log',
        text='WARN resolver saturated: 1900 lookups/s',
        meaning='the crawler, started on the node at the incident start, resolves about 1,900 names a second '
        '(ndots:5 turns each into up to six queries) through the node-local cache',
    ),
    Reading(
        source='log',
        text='dial tcp: lookup shop-',
        meaning="the crawler's own lookups time out against the cache (169.254.20.10): the cache is overwhelmed",
    ),
    Reading(
        source='log',
        text='ERROR [ERROR] plugin/forward: max concurrent queries reached',
        meaning='the cache refuses further upstream queries: its forwarder is at its limit, from the incident start',
    ),
    Reading(
        source='log',
        text='WARN catalog search slower than 1500ms',
        meaning="the catalog pod's only symptom: searches take 1.8 to 2.6 s instead of about 0.2 s, all answered 200",
    ),
    Reading(
        source='series',
        text='cpu_cores',
        meaning='the catalog pod uses about 0.3 cores of its 1-core limit, as in the baseline: not short of CPU',
        low=0.25,
        high=0.35,
    ),
    Reading(
        source='series',
        text='memory_bytes',
        meaning='its working set stays at about 410Mi of 1Gi',
        low=400 * MIB,
        high=420 * MIB,
    ),
)
"""The data lines behind the verdict noisy_neighbor, medium: another pod on the node floods the DNS cache they
share and the catalog pod's requests slow down; its own data holds only the symptom."""

_CACHE_IP = '169.254.20.10'
"""The link-local address pods of the node resolve through (NodeLocal DNSCache)."""


def build(b: Builder) -> None:
    """Write the scenario into `b`: a crawler job starts on the catalog pod's node at the incident start and floods
    the node-local DNS cache; the cache's forwarder reaches its concurrency limit, the crawler's own lookups time
    out, and the catalog pod's cached lookups are answered late, so its searches slow down tenfold."""
    pod, ns = b.scenario.name, 'shop'
    host = Host('ip-10-0-32-19.eu-west-1.compute.internal', '10.0.32.19', 'eu-west-1c')
    steady_usage(b, pod, host.name, cpu=(0.3, 0.08), memory_mib=410, throttled=(0.004, 0.5))
    spec = service_pod(
        b,
        host,
        name=pod,
        namespace=ns,
        app='catalog-api',
        pod_ip='10.244.53.14',
        version='v5.2.0',
        requests={'cpu': '300m', 'memory': '640Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='catalog',
        created_minute=-60 * 41,
    )
    observe(b, spec)

    def line(minute: float) -> tuple[str, str]:
        if minute >= INCIDENT:
            elapsed = int(b.rng.uniform(1800, 2600))
            if b.rng.random() < 0.3:
                return 'WARN', f'catalog search slower than 1500ms query_id={b.hexid(10)} elapsed={elapsed}ms'
            return request_line(b, 'GET', '/v2/search', elapsed)
        return request_line(b, 'GET', '/v2/search', 200)

    b.request_logs(f'k8s:pod/{pod}', 0, MINUTES, 4.0, line)

    cache = node_local_dns(b, host, CACHE_POD)
    cache_cpu = [b.noisy(0.04, 0.15) if m < INCIDENT else b.noisy(0.3, 0.08) for m in range(MINUTES)]
    cache_memory = [b.noisy(22 * MIB, 0.01) if m < INCIDENT else b.noisy(48 * MIB, 0.02) for m in range(MINUTES)]
    b.pod_series(CACHE_POD, host.name, cache_cpu, cache_memory, b.flat(MINUTES, 0.002, 0.5))
    observe(b, cache)
    cache_entity = f'k8s:pod/{CACHE_POD}'
    b.request_logs(cache_entity, 0, MINUTES, 0.1, lambda minute: ('INFO', '[INFO] Reloading complete'))
    b.request_logs(
        cache_entity,
        INCIDENT,
        MINUTES,
        3.0,
        lambda minute: ('ERROR', '[ERROR] plugin/forward: max concurrent queries reached (max_concurrent=1000)'),
    )

    crawler = service_pod(
        b,
        host,
        name=CRAWLER_POD,
        namespace='crawl',
        app='link-crawler',
        pod_ip='10.244.53.40',
        version='v0.9.3',
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='crawler',
        created_minute=INCIDENT,
        owner_kind='Job',
    )
    incident = MINUTES - INCIDENT
    b.pod_series(
        CRAWLER_POD,
        host.name,
        b.flat(incident, 0.35, 0.1),
        b.flat(incident, 300 * MIB, 0.02),
        b.flat(incident, 0.01, 0.5),
        start=INCIDENT,
    )
    observe(b, crawler, first=INCIDENT)
    crawler_entity = f'k8s:pod/{CRAWLER_POD}'

    def crawler_line(minute: float) -> tuple[str, str]:
        if b.rng.random() < 0.15:
            return 'WARN', (
                f'resolver saturated: 1900 lookups/s, frontier={b.rng.randint(40000, 60000)} hosts, '
                'ndots=5 search path expansion'
            )
        host_name = f'shop-{b.rng.randint(10000, 99999)}.example.net'
        port = b.rng.randint(32768, 60999)
        return 'ERROR', (
            f'fetch https://{host_name}/ failed: dial tcp: lookup {host_name} on {_CACHE_IP}:53: '
            f'read udp 10.244.53.40:{port}->{_CACHE_IP}:53: i/o timeout'
        )

    b.request_logs(crawler_entity, INCIDENT, MINUTES, 6.0, crawler_line)
    quiet_node(
        b,
        host,
        tenants=[f'{ns}/{pod}', f'kube-system/{CACHE_POD}', f'crawl/{CRAWLER_POD}'],
        pods=[
            Companion('fluent-bit-z4c7n', 'logging', 'fluent-bit', '10.244.53.2', 0.07, 90),
            Companion('reviews-web-6b5c4d3e2-m9p4t', 'shop', 'reviews-web', '10.244.53.31', 0.25, 380),
        ],
    )
