"""`analyze_memory_metrics`: working set of a pod (growth, restarts, time to its limit) or a node (its biggest pods)."""

from __future__ import annotations

from typing import Any

from architectures.statistics import linear_fit, median, quantile, restart_segments
from architectures.telemetry.backend import parse_bytes
from architectures.tools.arguments import Json, fetch_series, iso, parse_request
from architectures.tools.measurement import (
    MIB,
    baseline_block,
    missing_samples,
    pod_resources,
    rounded,
    summary,
    top_pods,
    window_block,
)
from architectures.tools.rules import (
    Assessor,
    assess_node_memory,
    assess_pod_memory,
    attach_assessment,
    no_usage_assessment,
    note_missing_samples,
)

__all__ = ('analyze_memory_metrics',)


async def analyze_memory_metrics(
    entity_type: str,
    name: str,
    start: str,
    end: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
) -> dict[str, Any]:
    """Analyse memory working set (bytes) of a pod or node over a window, optionally against a baseline window.

    Reports median/p95/max usage, usage relative to the limit (pods) or allocatable memory (nodes), restarts seen
    as sudden drops, the growth slope (bytes/minute, linear regression on the longest restart-free stretch) and
    time to reach the limit, the biggest pods (nodes) and, with a baseline, the robust shift and change time.
    Ends with an `assessment`.

    Args:
        entity_type: 'k8s:pod' or 'k8s:node'.
        name: The pod or node name.
        start: Window start, ISO 8601 UTC, e.g. '2026-03-14T10:00:00Z'.
        end: Window end (after start), ISO 8601 UTC.
        baseline_start: Start of a normal period to compare against (give both baseline times or neither).
        baseline_end: End of the baseline period.
    """
    request = await parse_request(entity_type, name, start, end, baseline_start, baseline_end)
    samples = await fetch_series(request, 'memory_bytes', request.start, request.end, 'requested', allow_empty=True)
    missing = await missing_samples(request, samples, request.start, request.end)
    if not samples:
        empty: Json = {'entity': request.entity, 'window': window_block(request, samples, missing), 'unit': 'bytes'}
        return attach_assessment(empty | {'usage': None}, no_usage_assessment(request.entity_type, 'memory'))
    values = [v for _, v in samples]
    obj = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert obj is not None
    if request.entity_type == 'k8s:pod':
        limit = pod_resources(obj, 'limits', 'memory', parse_bytes)
        reference_name = 'limit'
    else:
        allocatable = float(parse_bytes(obj['status']['allocatable']['memory']))
        limit = allocatable
        reference_name = 'allocatable'
    segments = restart_segments(values)
    first, stop = max(segments, key=lambda segment: (segment[1] - segment[0], segment[0]))
    slope, r_squared = linear_fit(values[first:stop])
    time_to_limit = (limit - values[-1]) / slope if limit and slope > 0 and values[-1] < limit else None
    result: Json = {
        'entity': request.entity,
        'window': window_block(request, samples, missing),
        'unit': 'bytes',
        'usage': {key: int(value) for key, value in summary(values).items()},
        f'{reference_name}_bytes': int(limit) if limit else None,
        f'max_over_{reference_name}': rounded(max(values) / limit, 3) if limit else None,
        f'p95_over_{reference_name}': rounded(quantile(values, 0.95) / limit, 3) if limit else None,
        'restarts_detected': len(segments) - 1,
        'growth': {
            'segment_start': iso(samples[first][0]),
            'segment_minutes': stop - first,
            'slope_bytes_per_min': int(slope),
            'r_squared': rounded(r_squared, 3),
        },
        'time_to_limit_minutes': rounded(time_to_limit, 1) if time_to_limit is not None else None,
    }
    baseline_samples = None
    baseline_missing = 0
    if request.baseline:
        baseline_samples = await fetch_series(request, 'memory_bytes', *request.baseline, 'baseline')
        result['baseline'] = baseline_block(request, samples, baseline_samples, float(MIB), 0)
        baseline_missing = await missing_samples(request, baseline_samples, *request.baseline)
        if baseline_missing:
            result['baseline']['missing_samples'] = baseline_missing
    else:
        result['baseline'] = None
    assessor = Assessor()
    note_missing_samples(assessor, 'requested', missing, len(samples))
    if baseline_missing:
        note_missing_samples(assessor, 'baseline', baseline_missing, len(baseline_samples or ()))
    if request.entity_type == 'k8s:pod':
        assess_pod_memory(result, values, limit, stop - first, slope, r_squared, time_to_limit, assessor)
    else:
        result['top_pods'] = await top_pods(request, 'memory_bytes', median(values))
        assess_node_memory(result, values, allocatable, assessor)
    return attach_assessment(result, assessor.result(['no memory action needed']))
