"""`analyze_logs`: events and log lines of a pod or node, error templates, restarts, what is new against a baseline."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from architectures.statistics import robust_shift
from architectures.telemetry.backend import parse_time
from architectures.tools.arguments import Json, Request, check_coverage, iso, parse_request
from architectures.tools.measurement import ERROR_LEVELS, NETWORK_ERROR, rounded, template_counts, window_block
from architectures.tools.rules import Assessor, assess_logs, attach_assessment
from architectures.tools.thresholds import TOP_TEMPLATES

__all__ = ('analyze_logs',)


async def analyze_logs(
    entity_type: str,
    name: str,
    start: str,
    end: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
) -> dict[str, Any]:
    """Analyse Kubernetes events and log lines of a pod (container logs) or node (kubelet logs) over a window.

    Reports event counts by type and reason with the main warning events, log lines by level, the first error
    time, recurring error templates (ids, numbers, IPs and quoted strings masked) with counts, container restarts
    and last termination (pods) and, with a baseline, the error rate then and the templates that are new.
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
    await check_coverage(request, request.start, request.end, 'requested')
    if request.baseline:
        await check_coverage(request, *request.baseline, 'baseline')
    events = await request.backend.events(request.entity_type, request.name, request.start, request.end)
    lines = await request.backend.logs(request.entity_type, request.name, request.start, request.end)
    minutes = (request.end - request.start) / timedelta(minutes=1)
    templates = template_counts(lines)
    errors = [line for line in lines if line['level'] in ERROR_LEVELS]
    network = [line for line in errors if NETWORK_ERROR.search(line['message'])]
    by_reason: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for event in events:
        by_reason[event['reason']] += event['count']
        by_type[event['type']] += event['count']
    warnings = sorted((e for e in events if e['type'] == 'Warning'), key=lambda e: (-e['count'], e['firstTimestamp']))
    result: Json = {
        'entity': request.entity,
        'window': window_block(request),
        'events': {
            'total': sum(by_type.values()),
            'by_type': dict(sorted(by_type.items())),
            'by_reason': dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))),
            'top_warnings': [
                {
                    'reason': e['reason'],
                    'object': f'{e["involvedObject"]["kind"]}/{e["involvedObject"]["name"]}',
                    'count': e['count'],
                    'first': e['firstTimestamp'],
                    'last': e['lastTimestamp'],
                    'message': e['message'],
                }
                for e in warnings[:5]
            ],
        },
        'logs': {
            'total': len(lines),
            'by_level': dict(sorted(Counter(line['level'] for line in lines).items())),
            'first_error_time': errors[0]['timestamp'] if errors else None,
            'error_lines': len(errors),
            'error_rate_per_min': rounded(len(errors) / minutes, 3),
            'network_error_lines': len(network),
            'network_error_rate_per_min': rounded(len(network) / minutes, 3),
        },
        'error_templates': templates[:TOP_TEMPLATES],
        'restarts': None,
        'baseline': None,
    }
    assessor = Assessor()
    if request.entity_type == 'k8s:pod':
        result['restarts'] = await _restarts(request)
    if request.baseline:
        result['baseline'] = await _log_baseline(request, templates, errors)
    assess_logs(request, result, events, assessor)
    return attach_assessment(result, assessor.result(['no action needed from events and logs']))


async def _restarts(request: Request) -> Json:
    at_end = await request.backend.get_object(request.entity_type, request.name, request.end)
    at_start = await request.backend.get_object(request.entity_type, request.name, request.start)
    assert at_end is not None and at_start is not None

    def count(pod: Json) -> int:
        return sum(status.get('restartCount', 0) for status in pod['status'].get('containerStatuses', []))

    statuses = at_end['status'].get('containerStatuses', [])
    terminated = next(
        (s['lastState']['terminated'] for s in statuses if s.get('lastState', {}).get('terminated')), None
    )
    waiting = next((s['state']['waiting'].get('reason') for s in statuses if 'waiting' in s.get('state', {})), None)
    same_pod = at_start['metadata']['uid'] == at_end['metadata']['uid']
    return {
        'restart_count': count(at_end),
        # A recreated pod (StatefulSet rollout) starts counting from zero again.
        'restarts_in_window': count(at_end) - (count(at_start) if same_pod else 0),
        'waiting_reason': waiting,
        'last_termination': {
            'reason': terminated.get('reason'),
            'exit_code': terminated.get('exitCode'),
            'finished_at': terminated.get('finishedAt'),
        }
        if terminated
        else None,
    }


def _errors_per_minute(errors: list[Json], start: datetime, end: datetime) -> list[float]:
    counts = [0.0] * max(1, math.ceil((end - start) / timedelta(minutes=1)))
    for line in errors:
        counts[int((parse_time(line['timestamp']) - start) / timedelta(minutes=1))] += 1
    return counts


async def _log_baseline(request: Request, templates: list[Json], window_errors: list[Json]) -> Json:
    assert request.baseline is not None
    start, end = request.baseline
    lines = await request.backend.logs(request.entity_type, request.name, start, end)
    errors = [line for line in lines if line['level'] in ERROR_LEVELS]
    # Error counts per minute are mostly zero, so the sigma is floored at one line per minute.
    shift = robust_shift(
        _errors_per_minute(window_errors, request.start, request.end), _errors_per_minute(errors, start, end), 1.0
    )
    baseline_minutes = (end - start) / timedelta(minutes=1)
    known = {(entry['level'], entry['template']) for entry in template_counts(lines)}
    new = [entry for entry in templates if (entry['level'], entry['template']) not in known]
    events = await request.backend.events(request.entity_type, request.name, start, end)
    return {
        'start': iso(start),
        'end': iso(end),
        'error_lines': len(errors),
        'error_rate_per_min': rounded(len(errors) / baseline_minutes, 3),
        'error_count_shift': rounded(shift, 2),
        'network_error_rate_per_min': rounded(
            sum(1 for line in errors if NETWORK_ERROR.search(line['message'])) / baseline_minutes, 3
        ),
        'warning_events': sum(e['count'] for e in events if e['type'] == 'Warning'),
        'new_templates': [entry['template'] for entry in new[:TOP_TEMPLATES]],
    }
