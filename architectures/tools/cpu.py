"""`analyze_cpu_metrics`: CPU usage of a pod (with throttling and its node) or of a node (with its busiest pods)."""

from __future__ import annotations

from typing import Any

from architectures.statistics import median, quantile, robust_shift
from architectures.telemetry.backend import parse_cpu
from architectures.tools.arguments import Json, Request, fetch_series, parse_request
from architectures.tools.measurement import (
    baseline_block,
    missing_samples,
    node_utilisation,
    pod_resources,
    rounded,
    summary,
    top_pods,
    window_block,
)
from architectures.tools.rules import (
    Assessor,
    assess_node_cpu,
    assess_pod_cpu,
    attach_assessment,
    no_usage_assessment,
    note_missing_samples,
)

__all__ = ('analyze_cpu_metrics',)


async def analyze_cpu_metrics(
    entity_type: str,
    name: str,
    start: str,
    end: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
) -> dict[str, Any]:
    """Analyse CPU usage (cores) of a pod or node over a window, optionally against a baseline window.

    Reports median/p95/max usage, usage relative to requests and limits, CFS throttling (pods), the pod's node
    utilisation, the busiest pods (nodes) and, with a baseline, the robust shift of the median in baseline
    standard deviations and the first minute usage left the baseline band. Ends with an `assessment`.

    Args:
        entity_type: 'k8s:pod' or 'k8s:node'.
        name: The pod or node name.
        start: Window start, ISO 8601 UTC, e.g. '2026-03-14T10:00:00Z'.
        end: Window end (after start), ISO 8601 UTC.
        baseline_start: Start of a normal period to compare against (give both baseline times or neither).
        baseline_end: End of the baseline period.
    """
    request = await parse_request(entity_type, name, start, end, baseline_start, baseline_end)
    samples = await fetch_series(request, 'cpu_cores', request.start, request.end, 'requested', allow_empty=True)
    missing = await missing_samples(request, samples, request.start, request.end)
    if not samples:
        empty: Json = {'entity': request.entity, 'window': window_block(request, samples, missing), 'unit': 'cores'}
        return attach_assessment(empty | {'usage': None}, no_usage_assessment(request.entity_type, 'CPU'))
    values = [v for _, v in samples]
    result: Json = {
        'entity': request.entity,
        'window': window_block(request, samples, missing),
        'unit': 'cores',
        'usage': summary(values),
    }
    baseline_samples = None
    baseline_missing = 0
    if request.baseline:
        baseline_samples = await fetch_series(request, 'cpu_cores', *request.baseline, 'baseline')
        result['baseline'] = baseline_block(request, samples, baseline_samples, 0.001, 4)
        baseline_missing = await missing_samples(request, baseline_samples, *request.baseline)
        if baseline_missing:
            result['baseline']['missing_samples'] = baseline_missing
    assessor = Assessor()
    note_missing_samples(assessor, 'requested', missing, len(samples))
    if baseline_missing:
        note_missing_samples(assessor, 'baseline', baseline_missing, len(baseline_samples or ()))
    if request.entity_type == 'k8s:pod':
        await _pod_cpu(request, result, values, assessor)
    else:
        await _node_cpu(request, result, values, assessor)
    result.setdefault('baseline', None)
    return attach_assessment(result, assessor.result(['no CPU action needed']))


async def _pod_cpu(request: Request, result: Json, values: list[float], assessor: Assessor) -> None:
    pod = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert pod is not None
    request_cores = pod_resources(pod, 'requests', 'cpu', parse_cpu)
    limit = pod_resources(pod, 'limits', 'cpu', parse_cpu)
    p95 = quantile(values, 0.95)
    throttled = [
        v
        for _, v in await request.backend.series(
            request.entity_type, request.name, 'cpu_throttled_ratio', request.start, request.end
        )
    ]
    waiting = [
        v
        for _, v in await request.backend.series(
            request.entity_type, request.name, 'cpu_waiting_ratio', request.start, request.end
        )
    ]
    node_name = pod['spec'].get('nodeName')
    node = await node_utilisation(request.backend, node_name, request.start, request.end) if node_name else None
    result.update(
        {
            'requests_cores': request_cores,
            'limits_cores': limit,
            'p95_over_request': rounded(p95 / request_cores, 3) if request_cores else None,
            'p95_over_limit': rounded(p95 / limit, 3) if limit else None,
            'throttled_ratio': summary(throttled, 3) if throttled else None,
            # CPU pressure only where measured, so results without it keep their shape.
            **({'cpu_waiting_ratio': summary(waiting, 3)} if waiting else {}),
            'node': node,
        }
    )
    if request.baseline and throttled:
        reference = [
            v
            for _, v in await request.backend.series(
                request.entity_type, request.name, 'cpu_throttled_ratio', *request.baseline
            )
        ]
        if reference:
            result['baseline']['throttled_ratio_median'] = rounded(median(reference), 3)
            result['baseline']['throttled_shift'] = rounded(robust_shift(throttled, reference, 0.01), 2)
    throttling = median(throttled) if throttled else 0.0
    assess_pod_cpu(
        result,
        p95=p95,
        limit=limit,
        throttling=throttling,
        waiting=median(waiting) if waiting else None,
        node_name=node_name,
        assessor=assessor,
    )


async def _node_cpu(request: Request, result: Json, values: list[float], assessor: Assessor) -> None:
    node = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert node is not None
    allocatable = parse_cpu(node['status']['allocatable']['cpu'])
    utilisation = [v / allocatable for v in values]
    top = await top_pods(request, 'cpu_cores', median(values))
    result.update(
        {
            'allocatable_cores': allocatable,
            'utilization': summary(utilisation, 3),
            'top_pods': top,
        }
    )
    assess_node_cpu(result, utilisation, allocatable, assessor)
