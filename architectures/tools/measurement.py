"""Measurement helpers shared by the tools: summaries, baseline comparisons, resources, node usage and log templates.

Pure statistics live in `architectures.statistics`; this module applies them to backend data and rounds the numbers
the tools report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from architectures.statistics import change_index, log_template, mad, median, quantile, robust_shift
from architectures.telemetry.backend import Metric, Sample, TelemetryBackend, parse_bytes, parse_cpu, parse_time
from architectures.tools.arguments import Json, Request, iso

__all__ = (
    'ERROR_LEVELS',
    'MIB',
    'NETWORK_ERROR',
    'WARNING_LEVELS',
    'baseline_block',
    'gib',
    'mib',
    'missing_samples',
    'node_utilisation',
    'pod_resources',
    'rounded',
    'summary',
    'template_counts',
    'top_pods',
    'window_block',
    'within',
)

ERROR_LEVELS = frozenset({'ERROR', 'FATAL', 'CRITICAL'})
"""Log levels that count as errors."""
WARNING_LEVELS = ERROR_LEVELS | {'WARN', 'WARNING'}
"""Log levels whose lines are grouped into templates."""
NETWORK_ERROR = re.compile(
    r'dial tcp|connection refused|connection reset|no such host|i/o timeout|network is unreachable|'
    r'no route to host|tls handshake timeout|econnrefused|econnreset|etimedout|name resolution|lookup \S+ on',
    re.IGNORECASE,
)
"""A log message that reports a network failure."""
MIB = 1024 * 1024


def rounded(value: float, digits: int = 4) -> float:
    return round(value, digits)


def summary(values: Sequence[float], digits: int = 4) -> Json:
    return {
        'median': rounded(median(values), digits),
        'p95': rounded(quantile(values, 0.95), digits),
        'max': rounded(max(values), digits),
        'min': rounded(min(values), digits),
    }


def window_block(request: Request, samples: Sequence[Sample] | None = None, missing: int = 0) -> Json:
    block: Json = {'start': iso(request.start), 'end': iso(request.end)}
    if samples is not None:
        block['samples'] = len(samples)
    if missing:
        block['missing_samples'] = missing
    return block


async def missing_samples(request: Request, samples: Sequence[Sample], start: datetime, end: datetime) -> int:
    """Minutes of `[start, end)` within the entity's coverage that have no sample: a gap in the metrics.

    Samples are one a minute (docs/k8s-contract.md); minutes outside the coverage (before a pod existed) are not
    missing, they never had data.
    """
    coverage = await request.backend.coverage(request.entity_type, request.name)
    if coverage is None:
        return 0
    first, last = max(start, coverage[0]), min(end, coverage[1])
    expected = max(0, math.ceil((last - first) / timedelta(minutes=1)))
    return max(0, expected - len(samples))


def baseline_block(
    request: Request,
    window: Sequence[Sample],
    baseline: Sequence[Sample],
    floor: float,
    digits: int,
) -> Json:
    values, reference = [v for _, v in window], [v for _, v in baseline]
    change = change_index(values, reference, floor)
    assert request.baseline is not None
    number: Callable[[float], float] = (lambda v: rounded(v, digits)) if digits else int
    return {
        'start': iso(request.baseline[0]),
        'end': iso(request.baseline[1]),
        'samples': len(reference),
        'median': number(median(reference)),
        'p95': number(quantile(reference, 0.95)),
        'mad': number(mad(reference)),
        'shift': rounded(robust_shift(values, reference, floor), 2),
        'change_time': iso(window[change][0]) if change is not None else None,
    }


def pod_resources(pod: Json, section: str, resource: str, parse: Callable[[str], float]) -> float | None:
    """Sum of a resource over the pod's containers; None when any container leaves it unset."""
    total = 0.0
    for container in pod['spec']['containers']:
        quantity = container.get('resources', {}).get(section, {}).get(resource)
        if quantity is None:
            return None
        total += parse(quantity)
    return total


def within(timestamp: str | None, start: datetime, end: datetime) -> bool:
    return timestamp is not None and start <= parse_time(timestamp) < end


def gib(value: float) -> str:
    return f'{value / (1024 * MIB):.2f}GiB'


def mib(value: float) -> str:
    return f'{value / MIB:.0f}MiB'


async def node_utilisation(backend: TelemetryBackend, node: str, start: datetime, end: datetime) -> Json | None:
    obj = await backend.get_object('k8s:node', node, end)
    samples = await backend.series('k8s:node', node, 'cpu_cores', start, end)
    if obj is None or not samples:
        return None
    allocatable = parse_cpu(obj['status']['allocatable']['cpu'])
    utilisation = [v / allocatable for _, v in samples]
    return {
        'name': node,
        'allocatable_cores': allocatable,
        'utilization_median': rounded(median(utilisation), 3),
        'utilization_p95': rounded(quantile(utilisation, 0.95), 3),
    }


async def top_pods(request: Request, metric: Metric, total: float) -> list[Json]:
    rows = []
    for pod in await request.backend.pods_on_node(request.name):
        samples = await request.backend.series('k8s:pod', pod, metric, request.start, request.end)
        if not samples:
            continue
        obj = await request.backend.get_object('k8s:pod', pod, request.end)
        assert obj is not None
        section = 'cpu' if metric == 'cpu_cores' else 'memory'
        parse = parse_cpu if metric == 'cpu_cores' else parse_bytes
        usage = median([v for _, v in samples])
        limit = pod_resources(obj, 'limits', section, parse)
        rows.append(
            {
                'pod': pod,
                'namespace': obj['metadata']['namespace'],
                'median': rounded(usage, 4) if metric == 'cpu_cores' else int(usage),
                'share_of_node': rounded(usage / total, 3) if total else None,
                'limit': None if limit is None else (limit if metric == 'cpu_cores' else int(limit)),
            }
        )
    rows.sort(key=lambda row: (-row['median'], row['pod']))
    return rows[:5]


def template_counts(lines: list[Json]) -> list[Json]:
    counts: dict[tuple[str, str], Json] = {}
    for line in lines:
        if line['level'] not in WARNING_LEVELS:
            continue
        key = (line['level'], log_template(line['message']))
        entry = counts.setdefault(
            key,
            {
                'level': key[0],
                'template': key[1],
                'count': 0,
                'first_seen': line['timestamp'],
                'example': line['message'],
            },
        )
        entry['count'] += 1
    return sorted(counts.values(), key=lambda entry: (-entry['count'], entry['first_seen'], entry['template']))
