"""The four K8s tools every architecture shares (docs/k8s-contract.md).

Each tool computes real statistics from the backend's telemetry and ends its result with an `assessment`: the
fields of `AnomalyReport` except `entity`, decided by the documented rules below from those statistics alone.
The confidences are calibrated so that the contract's merging rule (the anomalous assessment with the highest
confidence wins) picks the tool most directly tied to a failure mode:

- 0.90  metadata: node DiskPressure; memory: leak / node memory pressure confirmed by a baseline shift;
        cpu: saturation or noisy neighbour confirmed by a baseline shift; logs: crash loop with new error templates
- 0.85  the same without a baseline; metadata: node MemoryPressure or a pod in CrashLoopBackOff after application
        errors; logs: node disk pressure, network errors new against the baseline
- 0.80  logs: node memory pressure, network errors; cpu (node): saturation by one dominant pod (noisy neighbour)
- 0.75  cpu (node): saturation without a dominant pod (0.80 with a baseline shift)
- 0.70  metadata/logs: OOMKilled container, evicted pod
- 0.60  logs: liveness-probe timeouts (a symptom of CPU starvation); cpu/memory: large shift towards the limit
- 0.55  memory: close to the limit without growth
- 0.50  metadata: repeated kills (exit 137) without OOM; cpu: throttled below the limit on an idle node

A healthy verdict carries confidence 0.80; `get_entity_metadata` on a missing entity answers `entity_not_found`
with confidence 1.0.

The tools are coroutine functions: a live backend awaits the cluster's APIs, and agents run them on the event loop
instead of handing each call to a worker thread as they do for plain functions. The fixture backend answers from
memory, so a call never blocks the loop for long.

Statistics are robust: medians and median absolute deviations (MAD); a shift is
`(median_window - median_baseline) / (1.4826 * MAD_baseline)`, with the MAD floored so a perfectly flat baseline
does not turn any change into an infinite shift.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic_ai import ModelRetry

from architectures.report import SEVERITY_RANK, Category, Severity
from architectures.statistics import (
    change_index,
    linear_fit,
    log_template,
    mad,
    median,
    quantile,
    restart_segments,
    robust_shift,
)
from architectures.telemetry.backend import (
    ENTITY_TYPES,
    Metric,
    Sample,
    TelemetryBackend,
    get_backend,
    parse_bytes,
    parse_cpu,
    parse_time,
)
from architectures.telemetry.scenarios import EntityType

__all__ = ('ALL_TOOLS', 'analyze_cpu_metrics', 'analyze_logs', 'analyze_memory_metrics', 'get_entity_metadata')

Json = dict[str, Any]

# --- thresholds ---------------------------------------------------------------------------------------------------
SHIFT_SIGNIFICANT = 3.0
"""A shift of at least this many robust sigmas confirms a change against the baseline."""
SHIFT_LARGE = 6.0
"""A shift this large is an anomaly on its own when usage also approaches the limit."""

CPU_SATURATED_FRACTION = 0.9
"""p95 CPU usage at or above this fraction of the limit is saturation."""
CPU_SHIFT_LIMIT_FRACTION = 0.7
"""A large CPU shift counts only when p95 usage reaches this fraction of the limit."""
THROTTLING_HEAVY = 0.25
"""Median share of CFS periods throttled that counts as heavy throttling."""
NOISY_BELOW_LIMIT_FRACTION = 0.8
"""A throttled pod whose p95 usage stays below this fraction of its limit is not the one saturating."""
NODE_CPU_BUSY = 0.9
"""p95 node CPU utilisation (usage / allocatable) at or above this is saturation."""
DOMINANT_POD_SHARE = 0.5
"""One pod using at least this share of a saturated node's CPU is a noisy neighbour."""

MEMORY_NEAR_LIMIT = 0.9
"""Peak memory at or above this fraction of the limit is close to an OOM kill."""
MEMORY_AT_LIMIT = 0.95
"""Peak memory at or above this fraction of the limit means the limit was reached."""
MEMORY_SHIFT_LIMIT_FRACTION = 0.7
"""A large memory shift counts only when peak usage reaches this fraction of the limit."""
LEAK_MIN_SAMPLES = 10
"""Growth is only fitted on restart-free segments at least this long."""
LEAK_MIN_R2 = 0.8
"""Linear growth must explain at least this share of the segment's variance."""
LEAK_MIN_GROWTH_FRACTION = 0.15
"""Growth over the segment must be at least this fraction of the limit."""
LEAK_HORIZON_MINUTES = 120.0
"""Growth reaching the limit within this many minutes is urgent."""
NODE_MEMORY_PRESSURE = 0.9
"""p95 node memory utilisation (working set / allocatable) at or above this is memory pressure."""

CRASH_MIN_RESTARTS = 3
"""Restarts within the window that make a restart loop."""
PROBE_MIN_FAILURES = 3
"""Liveness-probe failures within the window that count as failing probes."""
NETWORK_MIN_LINES = 5
"""Network-error log lines within the window needed to call network errors."""
NETWORK_MIN_SHARE = 0.5
"""Share of the error lines that must be network errors."""
NETWORK_NEW_RATIO = 0.25
"""Network errors are new when the baseline rate is at most this fraction of the window's."""
TOP_TEMPLATES = 8
"""How many error templates a log analysis lists."""

_CONFIDENCE_HEALTHY = 0.8
_TIME_EXAMPLE = '2026-03-14T10:00:00Z'
_ERROR_LEVELS = frozenset({'ERROR', 'FATAL', 'CRITICAL'})
_WARNING_LEVELS = _ERROR_LEVELS | {'WARN', 'WARNING'}
_NETWORK_ERROR = re.compile(
    r'dial tcp|connection refused|connection reset|no such host|i/o timeout|network is unreachable|'
    r'no route to host|tls handshake timeout|econnrefused|econnreset|etimedout|name resolution|lookup \S+ on',
    re.IGNORECASE,
)
_MIB = 1024 * 1024


# --- assessments --------------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class _Finding:
    category: Category
    severity: Severity
    confidence: float
    evidence: list[str]
    actions: list[str]


@dataclass(kw_only=True)
class _Assessor:
    """Collects a tool's findings and keeps the strongest (confidence, then severity) as its assessment."""

    context: list[str] = field(default_factory=list)
    """Statistics worth quoting whatever the verdict."""
    findings: list[_Finding] = field(default_factory=list)

    def add(
        self, category: Category, severity: Severity, confidence: float, evidence: list[str], actions: list[str]
    ) -> None:
        self.findings.append(
            _Finding(category=category, severity=severity, confidence=confidence, evidence=evidence, actions=actions)
        )

    def result(self, healthy_actions: list[str]) -> Json:
        if not self.findings:
            return _assessment(False, 'none', 'none', _CONFIDENCE_HEALTHY, self.context, healthy_actions)
        best = max(self.findings, key=lambda f: (f.confidence, SEVERITY_RANK[f.severity]))
        others = [
            f'also consistent with {f.category} (confidence {f.confidence:.2f})'
            for f in self.findings
            if f is not best and f.category != best.category
        ]
        return _assessment(
            True, best.severity, best.category, best.confidence, best.evidence + self.context + others, best.actions
        )


def _assessment(
    anomaly: bool, severity: Severity, category: Category, confidence: float, evidence: list[str], actions: list[str]
) -> Json:
    return {
        'anomaly_detected': anomaly,
        'severity': severity,
        'category': category,
        'confidence': round(confidence, 2),
        'evidence': evidence,
        'recommended_actions': actions,
    }


# --- argument handling --------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Request:
    entity_type: EntityType
    name: str
    start: datetime
    end: datetime
    baseline: tuple[datetime, datetime] | None
    backend: TelemetryBackend

    @property
    def entity(self) -> str:
        return f'{self.entity_type}/{self.name}'

    @property
    def kind(self) -> str:
        return 'pod' if self.entity_type == 'k8s:pod' else 'node'


def _iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _parse_time(argument: str, value: str) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, TypeError, AttributeError):
        raise ModelRetry(
            f'{argument}={value!r} is not a valid time: use ISO 8601 UTC, for example {_TIME_EXAMPLE!r}.'
        ) from None


def _parse_window(start_argument: str, start: str, end_argument: str, end: str) -> tuple[datetime, datetime]:
    begin, finish = _parse_time(start_argument, start), _parse_time(end_argument, end)
    if finish <= begin:
        raise ModelRetry(
            f'{end_argument} ({end}) must be after {start_argument} ({start}): pass the earlier time as '
            f'{start_argument}, for example {start_argument}={_TIME_EXAMPLE!r}, {end_argument}="2026-03-14T10:30:00Z".'
        )
    return begin, finish


def _entity_type(entity_type: str) -> EntityType:
    if entity_type not in ENTITY_TYPES:
        valid = ', '.join(repr(kind) for kind in ENTITY_TYPES)
        raise ModelRetry(f'entity_type={entity_type!r} is not valid: use one of {valid}.')
    return cast(EntityType, entity_type)


def _name(entity_type: EntityType, name: str) -> str:
    # Models often pass the entity as written in a report ("k8s:pod/<name>"); that is unambiguous, so accept it.
    return name.strip().removeprefix(f'{entity_type}/')


async def _known(backend: TelemetryBackend, entity_type: EntityType, name: str) -> tuple[list[str], list[str]]:
    names = await backend.entity_names(entity_type)
    return names, difflib.get_close_matches(name, names, n=3, cutoff=0.6)


async def _check_coverage(request: _Request, start: datetime, end: datetime, which: str) -> None:
    coverage = await request.backend.coverage(request.entity_type, request.name)
    if coverage is None:
        raise ModelRetry(f'{request.entity} has no telemetry at all; analyse another entity.')
    first, last = coverage
    if start >= last or end <= first:
        raise ModelRetry(
            f'the {which} window {_iso(start)} to {_iso(end)} has no data for {request.entity}: its data covers '
            f'{_iso(first)} to {_iso(last)}; choose a window inside that range.'
        )


async def _request(
    entity_type: str,
    name: str,
    start: str,
    end: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
    *,
    must_exist: bool = True,
) -> _Request:
    kind = _entity_type(entity_type)
    begin, finish = _parse_window('start', start, 'end', end)
    baseline = None
    if (baseline_start is None) != (baseline_end is None):
        missing = 'baseline_end' if baseline_end is None else 'baseline_start'
        raise ModelRetry(
            f'{missing} is missing: give both baseline_start and baseline_end (a window before the incident, '
            'e.g. the hour before start) or neither.'
        )
    if baseline_start is not None and baseline_end is not None:
        baseline = _parse_window('baseline_start', baseline_start, 'baseline_end', baseline_end)
    backend = get_backend()
    request = _Request(
        entity_type=kind, name=_name(kind, name), start=begin, end=finish, baseline=baseline, backend=backend
    )
    if must_exist and request.name not in await backend.entity_names(kind):
        names, close = await _known(backend, kind, request.name)
        hint = f' Did you mean {", ".join(repr(n) for n in close)}?' if close else ''
        raise ModelRetry(
            f'unknown {request.kind} {request.name!r}.{hint} Known {request.kind}s: {", ".join(names)}. '
            'Call get_entity_metadata to check an entity first.'
        )
    return request


async def _values(request: _Request, metric: Metric, start: datetime, end: datetime, which: str) -> list[Sample]:
    await _check_coverage(request, start, end, which)
    samples = await request.backend.series(request.entity_type, request.name, metric, start, end)
    if not samples:
        raise ModelRetry(f'{request.entity} has no {metric} samples between {_iso(start)} and {_iso(end)}.')
    return samples


def _r(value: float, digits: int = 4) -> float:
    return round(value, digits)


def _summary(values: Sequence[float], digits: int = 4) -> Json:
    return {
        'median': _r(median(values), digits),
        'p95': _r(quantile(values, 0.95), digits),
        'max': _r(max(values), digits),
        'min': _r(min(values), digits),
    }


def _window(request: _Request, samples: Sequence[Sample] | None = None) -> Json:
    block: Json = {'start': _iso(request.start), 'end': _iso(request.end)}
    if samples is not None:
        block['samples'] = len(samples)
    return block


def _baseline_block(
    request: _Request,
    window: Sequence[Sample],
    baseline: Sequence[Sample],
    floor: float,
    digits: int,
) -> Json:
    values, reference = [v for _, v in window], [v for _, v in baseline]
    change = change_index(values, reference, floor)
    assert request.baseline is not None
    number: Callable[[float], float] = (lambda v: _r(v, digits)) if digits else int
    return {
        'start': _iso(request.baseline[0]),
        'end': _iso(request.baseline[1]),
        'samples': len(reference),
        'median': number(median(reference)),
        'p95': number(quantile(reference, 0.95)),
        'mad': number(mad(reference)),
        'shift': _r(robust_shift(values, reference, floor), 2),
        'change_time': _iso(window[change][0]) if change is not None else None,
    }


# --- resources from objects ---------------------------------------------------------------------------------------
def _pod_resources(pod: Json, section: str, resource: str, parse: Callable[[str], float]) -> float | None:
    """Sum of a resource over the pod's containers; None when any container leaves it unset."""
    total = 0.0
    for container in pod['spec']['containers']:
        quantity = container.get('resources', {}).get(section, {}).get(resource)
        if quantity is None:
            return None
        total += parse(quantity)
    return total


def _in_window(timestamp: str | None, start: datetime, end: datetime) -> bool:
    return timestamp is not None and start <= parse_time(timestamp) < end


def _gib(value: float) -> str:
    return f'{value / (1024 * _MIB):.2f}GiB'


def _mib(value: float) -> str:
    return f'{value / _MIB:.0f}MiB'


# --- get_entity_metadata ------------------------------------------------------------------------------------------
async def get_entity_metadata(entity_type: str, name: str, start: str, end: str) -> dict[str, Any]:
    """Look up a Kubernetes pod or node and summarise its state as of the end of a time window.

    For a pod: phase, node (`node_name`, analyse it next with entity_type 'k8s:node'), containers with image,
    requests/limits, restart count, current state and last termination (reason such as OOMKilled or Error, exit
    code). For a node: capacity, allocatable, conditions (Ready, MemoryPressure, DiskPressure, PIDPressure),
    taints and the pods on it. An entity that does not exist returns `exists: false` and the known names.
    Ends with an `assessment` (anomaly_detected, severity, category, confidence, evidence, recommended_actions).

    Args:
        entity_type: 'k8s:pod' or 'k8s:node'.
        name: The pod or node name, e.g. 'checkout-7f9c4d-x2k1'.
        start: Window start, ISO 8601 UTC, e.g. '2026-03-14T10:00:00Z'.
        end: Window end (after start), ISO 8601 UTC; the state shown is the one observed last before it.
    """
    request = await _request(entity_type, name, start, end, must_exist=False)
    names, close = await _known(request.backend, request.entity_type, request.name)
    if request.name not in names:
        hint = f' Closest names: {", ".join(close)}.' if close else ''
        return {
            'entity': request.entity,
            'exists': False,
            'known_entities': names,
            'assessment': _assessment(
                False,
                'none',
                'entity_not_found',
                1.0,
                [
                    f'no {request.kind} named {request.name!r} exists.{hint}',
                    f'known {request.kind}s: {", ".join(names)}',
                ],
                [f'check the {request.kind} name; it may have been deleted or misspelled'],
            ),
        }
    await _check_coverage(request, request.start, request.end, 'requested')
    obj = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert obj is not None
    if request.entity_type == 'k8s:pod':
        return _pod_metadata(request, obj)
    return await _node_metadata(request, obj)


def _container_summary(spec: Json, status: Json) -> Json:
    resources = spec.get('resources', {})
    state_name, state = next(iter(status.get('state', {}).items()), ('unknown', {}))
    terminated = status.get('lastState', {}).get('terminated')
    return {
        'name': spec['name'],
        'image': spec['image'],
        'requests': {
            'cpu_cores': parse_cpu(resources['requests']['cpu']) if 'cpu' in resources.get('requests', {}) else None,
            'memory_bytes': parse_bytes(resources['requests']['memory'])
            if 'memory' in resources.get('requests', {})
            else None,
        },
        'limits': {
            'cpu_cores': parse_cpu(resources['limits']['cpu']) if 'cpu' in resources.get('limits', {}) else None,
            'memory_bytes': parse_bytes(resources['limits']['memory'])
            if 'memory' in resources.get('limits', {})
            else None,
        },
        'ready': status.get('ready', False),
        'restart_count': status.get('restartCount', 0),
        'state': state_name,
        'state_reason': state.get('reason'),
        'last_termination': {
            'reason': terminated.get('reason'),
            'exit_code': terminated.get('exitCode'),
            'finished_at': terminated.get('finishedAt'),
        }
        if terminated
        else None,
    }


def _pod_metadata(request: _Request, pod: Json) -> Json:
    statuses = {status['name']: status for status in pod['status'].get('containerStatuses', [])}
    containers = [_container_summary(spec, statuses.get(spec['name'], {})) for spec in pod['spec']['containers']]
    status = pod['status']
    owner = next(iter(pod['metadata'].get('ownerReferences', [])), None)
    terminations = [c['last_termination'] for c in containers if c['last_termination']]
    result: Json = {
        'entity': request.entity,
        'exists': True,
        'observed_at': _iso(request.end),
        'kind': 'Pod',
        'namespace': pod['metadata']['namespace'],
        'labels': pod['metadata'].get('labels', {}),
        'owner': f'{owner["kind"]}/{owner["name"]}' if owner else None,
        'created': pod['metadata']['creationTimestamp'],
        'node_name': pod['spec'].get('nodeName'),
        'phase': status['phase'],
        'reason': status.get('reason'),
        'message': status.get('message'),
        'qos_class': status.get('qosClass'),
        'conditions': {c['type']: c['status'] for c in status.get('conditions', [])},
        'restart_count': sum(c['restart_count'] for c in containers),
        'last_termination_reason': terminations[0]['reason'] if terminations else None,
        'containers': containers,
    }
    assessor = _Assessor(
        context=[
            f'phase {status["phase"]} on node {result["node_name"]}, {result["restart_count"]} restarts, '
            f'QoS {result["qos_class"]}'
        ]
    )
    for container in containers:
        last = container['last_termination']
        recent = last is not None and _in_window(last['finished_at'], request.start, request.end)
        restarts = container['restart_count']
        if recent and last['reason'] == 'OOMKilled':
            assessor.add(
                'memory_leak',
                'critical',
                0.7,
                [
                    f'container {container["name"]} was OOMKilled at {last["finished_at"]} (exit 137) after '
                    f'reaching its memory limit of {_mib(container["limits"]["memory_bytes"] or 0)}'
                ],
                [
                    'run analyze_memory_metrics to tell a leak (steady growth) from an undersized limit',
                    'capture a heap profile before the next OOM kill',
                ],
            )
        if (
            container['state_reason'] == 'CrashLoopBackOff'
            and restarts >= CRASH_MIN_RESTARTS
            and (last is not None and last['exit_code'] not in (0, 137, 143))
        ):
            assessor.add(
                'crash_loop',
                'critical',
                0.85,
                [
                    f'container {container["name"]} is in CrashLoopBackOff after {restarts} restarts; last '
                    f'exit code {last["exit_code"]} ({last["reason"]}) is the application failing',
                    f'image {container["image"]}',
                ],
                [
                    'read the container logs of the failed start (analyze_logs)',
                    'roll back to the previous image or fix the configuration it rejects',
                ],
            )
        elif recent and restarts >= CRASH_MIN_RESTARTS and last['exit_code'] == 137 and last['reason'] != 'OOMKilled':
            assessor.add(
                'crash_loop',
                'medium',
                0.5,
                [
                    f'container {container["name"]} restarted {restarts} times, last killed with exit code 137 '
                    '(SIGKILL, not OOM): typically a failing liveness probe'
                ],
                ['check probe failures with analyze_logs and CPU with analyze_cpu_metrics'],
            )
    if status.get('reason') == 'Evicted':
        category: Category = (
            'disk_pressure' if 'ephemeral-storage' in (status.get('message') or '') else ('node_memory_pressure')
        )
        assessor.add(
            category,
            'high',
            0.7,
            [f'pod was evicted: {status.get("message")}'],
            [f'analyse node {result["node_name"]} (entity_type k8s:node)'],
        )
    result['assessment'] = assessor.result(
        [f'nothing wrong in the pod object; analyse metrics and logs, and node {result["node_name"]}']
    )
    return result


async def _node_metadata(request: _Request, node: Json) -> Json:
    status = node['status']
    conditions = {
        c['type']: {'status': c['status'], 'reason': c.get('reason'), 'since': c.get('lastTransitionTime')}
        for c in status.get('conditions', [])
    }
    taints = [f'{t["key"]}:{t["effect"]}' for t in node['spec'].get('taints', [])]
    capacity, allocatable = status['capacity'], status['allocatable']
    disk_capacity = parse_bytes(capacity['ephemeral-storage'])
    disk = await request.backend.series(
        request.entity_type, request.name, 'ephemeral_storage_used_bytes', request.start, request.end
    )
    pods = [
        pod
        for pod in await request.backend.pods_on_node(request.name)
        if (obj := await request.backend.get_object('k8s:pod', pod, request.end)) is not None
        and obj['status']['phase'] in ('Running', 'Pending')
    ]
    result: Json = {
        'entity': request.entity,
        'exists': True,
        'observed_at': _iso(request.end),
        'kind': 'Node',
        'labels': node['metadata'].get('labels', {}),
        'capacity': {
            'cpu_cores': parse_cpu(capacity['cpu']),
            'memory_bytes': parse_bytes(capacity['memory']),
            'ephemeral_storage_bytes': disk_capacity,
        },
        'allocatable': {
            'cpu_cores': parse_cpu(allocatable['cpu']),
            'memory_bytes': parse_bytes(allocatable['memory']),
            'ephemeral_storage_bytes': parse_bytes(allocatable['ephemeral-storage']),
        },
        'conditions': conditions,
        'taints': taints,
        'unschedulable': node['spec'].get('unschedulable', False),
        'ephemeral_storage_used_fraction': _r(disk[-1][1] / disk_capacity, 3) if disk else None,
        'running_pods': pods,
    }
    ready = conditions.get('Ready', {}).get('status')
    assessor = _Assessor(context=[f'Ready={ready}, taints: {", ".join(taints) or "none"}, {len(pods)} running pods'])
    disk_pressure = conditions.get('DiskPressure', {})
    if disk_pressure.get('status') == 'True':
        used = result['ephemeral_storage_used_fraction']
        assessor.add(
            'disk_pressure',
            'high',
            0.9,
            [
                f'condition DiskPressure=True ({disk_pressure["reason"]}) since {disk_pressure["since"]}',
                f'ephemeral storage {used:.0%} used' if used is not None else 'ephemeral storage usage unknown',
            ]
            + [f'taint {t}' for t in taints if 'disk-pressure' in t],
            [
                'find pods writing to emptyDir or container layers (analyze_logs shows evictions)',
                'remove unused images, add ephemeral-storage limits, or enlarge the node disk',
            ],
        )
    memory_pressure = conditions.get('MemoryPressure', {})
    if memory_pressure.get('status') == 'True':
        assessor.add(
            'node_memory_pressure',
            'high',
            0.85,
            [f'condition MemoryPressure=True ({memory_pressure["reason"]}) since {memory_pressure["since"]}']
            + [f'taint {t}' for t in taints if 'memory-pressure' in t],
            [
                'find the pods using the most memory (analyze_memory_metrics on the node)',
                'set memory limits on unbounded pods, or drain and resize the node',
            ],
        )
    result['assessment'] = assessor.result(['node conditions are healthy; analyse its metrics and logs'])
    return result


# --- analyze_cpu_metrics ------------------------------------------------------------------------------------------
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
    request = await _request(entity_type, name, start, end, baseline_start, baseline_end)
    samples = await _values(request, 'cpu_cores', request.start, request.end, 'requested')
    values = [v for _, v in samples]
    result: Json = {
        'entity': request.entity,
        'window': _window(request, samples),
        'unit': 'cores',
        'usage': _summary(values),
    }
    baseline_samples = None
    if request.baseline:
        baseline_samples = await _values(request, 'cpu_cores', *request.baseline, 'baseline')
        result['baseline'] = _baseline_block(request, samples, baseline_samples, 0.001, 4)
    assessor = _Assessor()
    if request.entity_type == 'k8s:pod':
        await _assess_pod_cpu(request, result, values, assessor)
    else:
        await _assess_node_cpu(request, result, values, assessor)
    result.setdefault('baseline', None)
    result['assessment'] = assessor.result(['no CPU action needed'])
    return result


def _shift_confirms(result: Json) -> bool:
    baseline = result.get('baseline')
    return baseline is not None and baseline['shift'] >= SHIFT_SIGNIFICANT


async def _node_utilisation(backend: TelemetryBackend, node: str, start: datetime, end: datetime) -> Json | None:
    obj = await backend.get_object('k8s:node', node, end)
    samples = await backend.series('k8s:node', node, 'cpu_cores', start, end)
    if obj is None or not samples:
        return None
    allocatable = parse_cpu(obj['status']['allocatable']['cpu'])
    utilisation = [v / allocatable for _, v in samples]
    return {
        'name': node,
        'allocatable_cores': allocatable,
        'utilization_median': _r(median(utilisation), 3),
        'utilization_p95': _r(quantile(utilisation, 0.95), 3),
    }


async def _assess_pod_cpu(request: _Request, result: Json, values: list[float], assessor: _Assessor) -> None:
    pod = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert pod is not None
    request_cores = _pod_resources(pod, 'requests', 'cpu', parse_cpu)
    limit = _pod_resources(pod, 'limits', 'cpu', parse_cpu)
    p95 = quantile(values, 0.95)
    throttled = [
        v
        for _, v in await request.backend.series(
            request.entity_type, request.name, 'cpu_throttled_ratio', request.start, request.end
        )
    ]
    node_name = pod['spec'].get('nodeName')
    node = await _node_utilisation(request.backend, node_name, request.start, request.end) if node_name else None
    result.update(
        {
            'requests_cores': request_cores,
            'limits_cores': limit,
            'p95_over_request': _r(p95 / request_cores, 3) if request_cores else None,
            'p95_over_limit': _r(p95 / limit, 3) if limit else None,
            'throttled_ratio': _summary(throttled, 3) if throttled else None,
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
            result['baseline']['throttled_ratio_median'] = _r(median(reference), 3)
            result['baseline']['throttled_shift'] = _r(robust_shift(throttled, reference, 0.01), 2)
    throttling = median(throttled) if throttled else 0.0
    node_busy = node is not None and node['utilization_p95'] >= NODE_CPU_BUSY
    confirmed = _shift_confirms(result) or (result.get('baseline') or {}).get('throttled_shift', 0) >= SHIFT_SIGNIFICANT
    assessor.context.append(
        f'CPU p95 {p95:.3f} cores'
        + (f' = {p95 / limit:.0%} of the {limit:g}-core limit' if limit else ' (no CPU limit)')
        + f', throttled {throttling:.0%} of periods'
        + (f', node {node_name} at {node["utilization_p95"]:.0%} (p95)' if node else '')
    )
    if result.get('baseline'):
        baseline = result['baseline']
        assessor.context.append(
            f'median moved {baseline["shift"]:+.1f} robust sigmas from the baseline '
            f'{baseline["median"]:.3f} cores (change at {baseline["change_time"]})'
        )
    if limit and p95 >= CPU_SATURATED_FRACTION * limit:
        assessor.add(
            'cpu_saturation',
            'high',
            0.9 if confirmed else 0.85,
            [
                f'p95 CPU {p95:.3f} cores is {p95 / limit:.0%} of the {limit:g}-core limit',
                f'CFS throttling in {throttling:.0%} of periods',
            ],
            ['raise the CPU limit or scale out (more replicas / HPA)', 'profile the hot path that drove the increase'],
        )
    elif throttling >= THROTTLING_HEAVY and node_busy and (limit is None or p95 < NOISY_BELOW_LIMIT_FRACTION * limit):
        assert node is not None
        assessor.add(
            'noisy_neighbor',
            'medium',
            0.9 if confirmed else 0.85,
            [
                f'throttled in {throttling:.0%} of periods while using only '
                + (f'{p95 / limit:.0%} of its limit (p95)' if limit else f'{p95:.3f} cores'),
                f'its node {node_name} is saturated: CPU utilisation p95 {node["utilization_p95"]:.0%}',
            ],
            [
                f'find the pod monopolising node {node_name} (analyze_cpu_metrics on the node)',
                'set CPU limits on that pod, or move it / this workload with affinity or taints',
            ],
        )
    elif throttling >= THROTTLING_HEAVY:
        assessor.add(
            'cpu_saturation',
            'low',
            0.5,
            [
                f'throttled in {throttling:.0%} of periods below its limit on a node that is not busy: '
                'short bursts exceed the CFS quota'
            ],
            ['raise the CPU limit moderately or remove it'],
        )
    elif (
        limit
        and result.get('baseline')
        and result['baseline']['shift'] >= SHIFT_LARGE
        and p95 >= CPU_SHIFT_LIMIT_FRACTION * limit
    ):
        assessor.add(
            'cpu_saturation',
            'medium',
            0.6,
            [
                f'CPU rose {result["baseline"]["shift"]:.1f} robust sigmas above the baseline and reaches '
                f'{p95 / limit:.0%} of the limit'
            ],
            ['watch for saturation; consider scaling out'],
        )


async def _top_pods(request: _Request, metric: Metric, total: float) -> list[Json]:
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
        limit = _pod_resources(obj, 'limits', section, parse)
        rows.append(
            {
                'pod': pod,
                'namespace': obj['metadata']['namespace'],
                'median': _r(usage, 4) if metric == 'cpu_cores' else int(usage),
                'share_of_node': _r(usage / total, 3) if total else None,
                'limit': None if limit is None else (limit if metric == 'cpu_cores' else int(limit)),
            }
        )
    rows.sort(key=lambda row: (-row['median'], row['pod']))
    return rows[:5]


async def _assess_node_cpu(request: _Request, result: Json, values: list[float], assessor: _Assessor) -> None:
    node = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert node is not None
    allocatable = parse_cpu(node['status']['allocatable']['cpu'])
    utilisation = [v / allocatable for v in values]
    top = await _top_pods(request, 'cpu_cores', median(values))
    result.update(
        {
            'allocatable_cores': allocatable,
            'utilization': _summary(utilisation, 3),
            'top_pods': top,
        }
    )
    p95 = quantile(utilisation, 0.95)
    assessor.context.append(f'node CPU utilisation p95 {p95:.0%} of {allocatable:g} allocatable cores')
    if p95 < NODE_CPU_BUSY:
        return
    dominant = next((row for row in top if (row['share_of_node'] or 0) >= DOMINANT_POD_SHARE), None)
    if dominant:
        limit = 'no CPU limit' if dominant['limit'] is None else f'a {dominant["limit"]:g}-core limit'
        assessor.add(
            'noisy_neighbor',
            'medium',
            0.8,
            [
                f'node CPU saturated (p95 {p95:.0%})',
                f'pod {dominant["namespace"]}/{dominant["pod"]} uses {dominant["share_of_node"]:.0%} of the '
                f'node ({dominant["median"]:.2f} cores) with {limit}',
            ],
            [
                f'set a CPU limit on {dominant["pod"]} or move it to a dedicated node pool',
                'check the other pods on this node for throttling and latency',
            ],
        )
    else:
        assessor.add(
            'cpu_saturation',
            'high',
            0.8 if _shift_confirms(result) else 0.75,
            [f'node CPU saturated (p95 {p95:.0%}) with no single dominant pod'],
            ['add nodes (cluster autoscaler) or rebalance pods'],
        )


# --- analyze_memory_metrics ---------------------------------------------------------------------------------------
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
    request = await _request(entity_type, name, start, end, baseline_start, baseline_end)
    samples = await _values(request, 'memory_bytes', request.start, request.end, 'requested')
    values = [v for _, v in samples]
    obj = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert obj is not None
    if request.entity_type == 'k8s:pod':
        limit = _pod_resources(obj, 'limits', 'memory', parse_bytes)
        reference_name = 'limit'
    else:
        limit = float(parse_bytes(obj['status']['allocatable']['memory']))
        reference_name = 'allocatable'
    segments = restart_segments(values)
    first, stop = max(segments, key=lambda segment: (segment[1] - segment[0], segment[0]))
    slope, r_squared = linear_fit(values[first:stop])
    time_to_limit = (limit - values[-1]) / slope if limit and slope > 0 and values[-1] < limit else None
    result: Json = {
        'entity': request.entity,
        'window': _window(request, samples),
        'unit': 'bytes',
        'usage': {key: int(value) for key, value in _summary(values).items()},
        f'{reference_name}_bytes': int(limit) if limit else None,
        f'max_over_{reference_name}': _r(max(values) / limit, 3) if limit else None,
        f'p95_over_{reference_name}': _r(quantile(values, 0.95) / limit, 3) if limit else None,
        'restarts_detected': len(segments) - 1,
        'growth': {
            'segment_start': _iso(samples[first][0]),
            'segment_minutes': stop - first,
            'slope_bytes_per_min': int(slope),
            'r_squared': _r(r_squared, 3),
        },
        'time_to_limit_minutes': _r(time_to_limit, 1) if time_to_limit is not None else None,
    }
    if request.baseline:
        baseline_samples = await _values(request, 'memory_bytes', *request.baseline, 'baseline')
        result['baseline'] = _baseline_block(request, samples, baseline_samples, float(_MIB), 0)
    else:
        result['baseline'] = None
    assessor = _Assessor()
    if request.entity_type == 'k8s:pod':
        _assess_pod_memory(result, values, limit, stop - first, slope, r_squared, time_to_limit, assessor)
    else:
        result['top_pods'] = await _top_pods(request, 'memory_bytes', median(values))
        _assess_node_memory(result, values, limit, assessor)
    result['assessment'] = assessor.result(['no memory action needed'])
    return result


def _assess_pod_memory(
    result: Json,
    values: list[float],
    limit: float | None,
    segment_minutes: int,
    slope: float,
    r_squared: float,
    time_to_limit: float | None,
    assessor: _Assessor,
) -> None:
    peak = max(values)
    restarts = result['restarts_detected']
    assessor.context.append(
        f'memory median {_mib(median(values))}, peak {_mib(peak)}'
        + (f' = {peak / limit:.0%} of the {_mib(limit)} limit' if limit else ' (no memory limit)')
        + f'; growth {slope / _MIB:+.2f}MiB/min (r^2 {r_squared:.2f}) over {segment_minutes} min'
        + (f'; {restarts} restart(s) seen as drops' if restarts else '')
    )
    baseline = result['baseline']
    if baseline:
        assessor.context.append(
            f'median moved {baseline["shift"]:+.1f} robust sigmas from the baseline '
            f'{_mib(baseline["median"])} (change at {baseline["change_time"]})'
        )
    if not limit:
        return
    growing = (
        segment_minutes >= LEAK_MIN_SAMPLES
        and slope > 0
        and r_squared >= LEAK_MIN_R2
        and slope * (segment_minutes - 1) >= LEAK_MIN_GROWTH_FRACTION * limit
    )
    urgent = (
        peak >= MEMORY_NEAR_LIMIT * limit
        or restarts > 0
        or (time_to_limit is not None and time_to_limit <= LEAK_HORIZON_MINUTES)
    )
    if growing and urgent:
        reached = peak >= MEMORY_AT_LIMIT * limit or restarts > 0
        confirmed = baseline is not None and baseline['shift'] >= SHIFT_SIGNIFICANT
        evidence = [
            f'memory grows linearly at {slope / _MIB:.1f}MiB/min (r^2 {r_squared:.2f}) for {segment_minutes} min',
            f'peak {peak / limit:.0%} of the {_mib(limit)} limit',
        ]
        if restarts:
            evidence.append(f'{restarts} drop(s) to a fresh process: the container was restarted (OOM kill)')
        if time_to_limit is not None:
            evidence.append(f'at this rate the limit is reached again in {time_to_limit:.0f} min')
        assessor.add(
            'memory_leak',
            'critical' if reached else 'high',
            0.9 if confirmed else 0.85,
            evidence,
            [
                'capture a heap profile and find what retains memory (caches, listeners, buffers)',
                'roll back the change that started the growth; raise the limit only as a stopgap',
            ],
        )
    elif peak >= MEMORY_NEAR_LIMIT * limit:
        assessor.add(
            'memory_leak',
            'medium',
            0.55,
            [f'peak memory {peak / limit:.0%} of the limit without steady growth'],
            ['raise the memory limit or reduce the working set before an OOM kill'],
        )
    elif baseline and baseline['shift'] >= SHIFT_LARGE and peak >= MEMORY_SHIFT_LIMIT_FRACTION * limit:
        assessor.add(
            'memory_leak',
            'medium',
            0.6,
            [
                f'memory rose {baseline["shift"]:.1f} robust sigmas above the baseline to '
                f'{peak / limit:.0%} of the limit'
            ],
            ['watch memory growth; profile if it keeps rising'],
        )


def _assess_node_memory(result: Json, values: list[float], allocatable: float, assessor: _Assessor) -> None:
    p95 = quantile(values, 0.95) / allocatable
    assessor.context.append(f'node memory p95 {p95:.0%} of {_gib(allocatable)} allocatable')
    baseline = result['baseline']
    if baseline:
        assessor.context.append(
            f'median moved {baseline["shift"]:+.1f} robust sigmas from the baseline '
            f'{_gib(baseline["median"])} (change at {baseline["change_time"]})'
        )
    if p95 < NODE_MEMORY_PRESSURE:
        return
    top = result['top_pods'][0] if result['top_pods'] else None
    evidence = [f'node memory working set p95 {p95:.0%} of allocatable (pressure threshold {NODE_MEMORY_PRESSURE:.0%})']
    actions = ['set memory limits on unbounded pods and drain or resize the node']
    if top:
        limit = 'no memory limit' if top['limit'] is None else f'a {_mib(top["limit"])} limit'
        evidence.append(
            f'largest pod {top["namespace"]}/{top["pod"]} uses {_gib(top["median"])} '
            f'({top["share_of_node"]:.0%} of the node) with {limit}'
        )
        actions.insert(0, f'cap or reschedule {top["pod"]}')
    confirmed = baseline is not None and baseline['shift'] >= SHIFT_SIGNIFICANT
    assessor.add('node_memory_pressure', 'high', 0.9 if confirmed else 0.85, evidence, actions)


# --- analyze_logs -------------------------------------------------------------------------------------------------
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
    request = await _request(entity_type, name, start, end, baseline_start, baseline_end)
    await _check_coverage(request, request.start, request.end, 'requested')
    if request.baseline:
        await _check_coverage(request, *request.baseline, 'baseline')
    events = await request.backend.events(request.entity_type, request.name, request.start, request.end)
    lines = await request.backend.logs(request.entity_type, request.name, request.start, request.end)
    minutes = (request.end - request.start) / timedelta(minutes=1)
    templates = _templates(lines)
    errors = [line for line in lines if line['level'] in _ERROR_LEVELS]
    network = [line for line in errors if _NETWORK_ERROR.search(line['message'])]
    by_reason: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for event in events:
        by_reason[event['reason']] += event['count']
        by_type[event['type']] += event['count']
    warnings = sorted((e for e in events if e['type'] == 'Warning'), key=lambda e: (-e['count'], e['firstTimestamp']))
    result: Json = {
        'entity': request.entity,
        'window': _window(request),
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
            'error_rate_per_min': _r(len(errors) / minutes, 3),
            'network_error_lines': len(network),
            'network_error_rate_per_min': _r(len(network) / minutes, 3),
        },
        'error_templates': templates[:TOP_TEMPLATES],
        'restarts': None,
        'baseline': None,
    }
    assessor = _Assessor()
    if request.entity_type == 'k8s:pod':
        result['restarts'] = await _restarts(request)
    if request.baseline:
        result['baseline'] = await _log_baseline(request, templates, errors)
    _assess_logs(request, result, events, assessor)
    result['assessment'] = assessor.result(['no action needed from events and logs'])
    return result


def _templates(lines: list[Json]) -> list[Json]:
    counts: dict[tuple[str, str], Json] = {}
    for line in lines:
        if line['level'] not in _WARNING_LEVELS:
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


async def _restarts(request: _Request) -> Json:
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


async def _log_baseline(request: _Request, templates: list[Json], window_errors: list[Json]) -> Json:
    assert request.baseline is not None
    start, end = request.baseline
    lines = await request.backend.logs(request.entity_type, request.name, start, end)
    errors = [line for line in lines if line['level'] in _ERROR_LEVELS]
    # Error counts per minute are mostly zero, so the sigma is floored at one line per minute.
    shift = robust_shift(
        _errors_per_minute(window_errors, request.start, request.end), _errors_per_minute(errors, start, end), 1.0
    )
    baseline_minutes = (end - start) / timedelta(minutes=1)
    known = {(entry['level'], entry['template']) for entry in _templates(lines)}
    new = [entry for entry in templates if (entry['level'], entry['template']) not in known]
    events = await request.backend.events(request.entity_type, request.name, start, end)
    return {
        'start': _iso(start),
        'end': _iso(end),
        'error_lines': len(errors),
        'error_rate_per_min': _r(len(errors) / baseline_minutes, 3),
        'error_count_shift': _r(shift, 2),
        'network_error_rate_per_min': _r(
            sum(1 for line in errors if _NETWORK_ERROR.search(line['message'])) / baseline_minutes, 3
        ),
        'warning_events': sum(e['count'] for e in events if e['type'] == 'Warning'),
        'new_templates': [entry['template'] for entry in new[:TOP_TEMPLATES]],
    }


def _events_matching(events: list[Json], reasons: set[str], text: str | None = None) -> int:
    return sum(e['count'] for e in events if e['reason'] in reasons and (text is None or text in e['message']))


def _assess_logs(request: _Request, result: Json, events: list[Json], assessor: _Assessor) -> None:
    logs, baseline = result['logs'], result['baseline']
    top = result['error_templates'][0] if result['error_templates'] else None
    assessor.context.append(
        f'{result["events"]["total"]} events ({result["events"]["by_type"].get("Warning", 0)} warnings), '
        f'{logs["total"]} log lines, {logs["error_lines"]} errors'
        + (f' (first at {logs["first_error_time"]})' if logs['first_error_time'] else '')
    )
    if top:
        assessor.context.append(f'most frequent {top["level"]} template ({top["count"]}x): {top["template"]}')
    evicted_memory = _events_matching(events, {'Evicted'}, 'low on resource: memory')
    evicted_disk = _events_matching(events, {'Evicted'}, 'low on resource: ephemeral-storage')
    if request.entity_type == 'k8s:node':
        _assess_node_logs(events, evicted_memory, evicted_disk, assessor)
        return
    restarts = result['restarts']
    last = restarts['last_termination']
    recent = last is not None and _in_window(last['finished_at'], request.start, request.end)
    if recent and last['reason'] == 'OOMKilled':
        assessor.add(
            'memory_leak',
            'critical',
            0.7,
            [
                f'container OOMKilled at {last["finished_at"]} (exit 137); {restarts["restarts_in_window"]} '
                'restart(s) in the window'
            ],
            ['run analyze_memory_metrics to tell a leak from an undersized limit'],
        )
    if evicted_memory or evicted_disk:
        category: Category = 'disk_pressure' if evicted_disk else 'node_memory_pressure'
        assessor.add(
            category,
            'high',
            0.7,
            ['the pod was evicted by its node for lack of ' + ('ephemeral storage' if evicted_disk else 'memory')],
            ['analyse the node (entity_type k8s:node)'],
        )
    liveness = _events_matching(events, {'Unhealthy'}, 'Liveness probe failed')
    timeouts = sum(
        e['count']
        for e in events
        if e['reason'] == 'Unhealthy'
        and 'Liveness' in e['message']
        and ('deadline exceeded' in e['message'] or 'timeout' in e['message'].lower())
    )
    probe_kills = _events_matching(events, {'Killing'}, 'failed liveness probe')
    back_off = _events_matching(events, {'BackOff'})
    in_window = restarts['restarts_in_window']
    oom = recent and last['reason'] == 'OOMKilled'
    if in_window >= CRASH_MIN_RESTARTS and probe_kills * 2 < in_window and not oom:
        new = baseline is not None and bool(baseline['new_templates'])
        evidence = [
            f'{in_window} restarts in the window ({back_off} back-off events), waiting reason '
            f'{restarts["waiting_reason"]}'
        ]
        if last:
            evidence.append(f'last exit code {last["exit_code"]} ({last["reason"]}): the process exits on its own')
        if top:
            evidence.append(f'recurring {top["level"]}: {top["example"]}')
        assessor.add(
            'crash_loop',
            'critical',
            0.9 if new else 0.85,
            evidence,
            [
                'fix the error the container exits with, or roll back to the last working image/config',
                'compare the pod spec with the previous revision',
            ],
        )
    if liveness >= PROBE_MIN_FAILURES and probe_kills and timeouts * 2 >= liveness:
        assessor.add(
            'cpu_saturation',
            'high',
            0.6,
            [
                f'{liveness} liveness probe failures by timeout led to {probe_kills} kills '
                f'({back_off} back-off events)',
                'probes that time out (rather than fail) point to a starved container',
            ],
            ['confirm CPU saturation with analyze_cpu_metrics', 'raise the probe timeout or the CPU limit'],
        )
    network_lines = logs['network_error_lines']
    if network_lines >= NETWORK_MIN_LINES and network_lines >= NETWORK_MIN_SHARE * logs['error_lines']:
        new = baseline is not None and (
            baseline['network_error_rate_per_min'] <= NETWORK_NEW_RATIO * logs['network_error_rate_per_min']
        )
        network_templates = [t for t in result['error_templates'] if _NETWORK_ERROR.search(t['template'])]
        assessor.add(
            'network_errors',
            'medium',
            0.85 if new else 0.8,
            [
                f'{network_lines} of {logs["error_lines"]} error lines are network failures '
                f'(first error at {logs["first_error_time"]})'
            ]
            + [f'{t["count"]}x {t["template"]}' for t in network_templates[:3]],
            [
                'check DNS (CoreDNS pods and latency) and the reachability of the failing endpoints',
                'check NetworkPolicies and the health of the upstream services',
            ],
        )


def _assess_node_logs(events: list[Json], evicted_memory: int, evicted_disk: int, assessor: _Assessor) -> None:
    memory_signals = (
        _events_matching(events, {'EvictionThresholdMet'}, 'memory')
        + _events_matching(events, {'NodeHasInsufficientMemory', 'SystemOOM'})
        + evicted_memory
    )
    disk_signals = (
        _events_matching(events, {'FreeDiskSpaceFailed', 'ImageGCFailed', 'NodeHasDiskPressure'})
        + sum(
            e['count']
            for e in events
            if e['reason'] == 'EvictionThresholdMet'
            and any(word in e['message'] for word in ('ephemeral-storage', 'nodefs', 'imagefs'))
        )
        + evicted_disk
    )
    cgroup_ooms = _events_matching(events, {'OOMKilling'}, 'Memory cgroup out of memory')
    if cgroup_ooms:
        # A cgroup OOM is one container hitting its own limit, not the node running out: context, not a finding.
        assessor.context.append(f'{cgroup_ooms} container OOM kill(s) at their own memory limit on this node')
    if memory_signals:
        assessor.add(
            'node_memory_pressure',
            'high',
            0.8,
            [
                f'{memory_signals} memory-pressure events (eviction thresholds met, insufficient memory)',
                f'{evicted_memory} pod(s) evicted for memory',
            ],
            [
                'find the pods using the most memory (analyze_memory_metrics on the node)',
                'set memory limits on unbounded pods',
            ],
        )
    if disk_signals:
        assessor.add(
            'disk_pressure',
            'high',
            0.85,
            [
                f'{disk_signals} disk-pressure events (image GC failures, ephemeral-storage evictions)',
                f'{evicted_disk} pod(s) evicted for ephemeral storage',
            ],
            [
                'find pods writing to emptyDir/container layers; add ephemeral-storage limits',
                'prune images or enlarge the node disk',
            ],
        )


ToolFunction = Callable[..., Coroutine[Any, Any, dict[str, Any]]]
"""What the four tools are: coroutine functions that return JSON-able results."""

ALL_TOOLS: tuple[ToolFunction, ...] = (get_entity_metadata, analyze_cpu_metrics, analyze_memory_metrics, analyze_logs)
"""The four tools, in the order an investigation usually calls them."""
