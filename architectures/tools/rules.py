"""The rule-based assessments: each tool's statistics turned into a verdict (the fields of `AnomalyReport`).

Every rule reads statistics a tool has already measured (mostly from its `result`) and adds findings to an
`Assessor`, which keeps the strongest. Thresholds are in `thresholds.py`; the confidences are calibrated as the
package docstring lists, so that the contract's merging rule picks the tool most directly tied to a failure mode.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime

from architectures.report import SEVERITY_RANK, Category, Severity
from architectures.statistics import median, quantile
from architectures.telemetry.backend import parse_time
from architectures.tools.arguments import Json, Request
from architectures.tools.measurement import MIB, NETWORK_ERROR, gib, mib, within
from architectures.tools.setting import CHOSEN
from architectures.tools.thresholds import (
    CONFIDENCE_HEALTHY,
    CONFIDENCE_PARTIAL,
    CPU_PRESSURE_CONTENDED,
    CPU_SATURATED_FRACTION,
    CPU_SHIFT_LIMIT_FRACTION,
    CRASH_MIN_RESTARTS,
    DOMINANT_POD_SHARE,
    HPA_AT_MAX_MINUTES,
    HPA_FLAP_MIN_EACH_WAY,
    HPA_FLAP_MIN_RESCALES,
    LEAK_HORIZON_MINUTES,
    LEAK_MIN_GROWTH_FRACTION,
    LEAK_MIN_R2,
    LEAK_MIN_SAMPLES,
    MEMORY_AT_LIMIT,
    MEMORY_NEAR_LIMIT,
    MEMORY_SHIFT_LIMIT_FRACTION,
    MOUNT_MIN_FAILURES,
    NETWORK_MIN_LINES,
    NETWORK_MIN_SHARE,
    NETWORK_NEW_RATIO,
    NODE_CPU_BUSY,
    NODE_MEMORY_PRESSURE,
    NOISY_BELOW_LIMIT_FRACTION,
    PARTIAL_DATA_SHARE,
    PROBE_MIN_FAILURES,
    READINESS_MIN_FAILURES,
    READINESS_MIN_MINUTES,
    SHIFT_LARGE,
    SHIFT_SIGNIFICANT,
    THROTTLING_HEAVY,
)

__all__ = (
    'ASSESSMENT_VARIABLE',
    'Assessor',
    'Finding',
    'assess_logs',
    'assess_node_cpu',
    'assess_node_memory',
    'assess_node_metadata',
    'assess_pod_cpu',
    'assess_pod_memory',
    'assess_pod_metadata',
    'assessment',
    'assessments_enabled',
    'attach_assessment',
    'no_usage_assessment',
    'not_found_assessment',
    'note_missing_samples',
)


ASSESSMENT_VARIABLE = 'K8S_TOOL_ASSESSMENT'
"""Set to `off`, it makes the tools return their statistics without the rule-based `assessment` (default `on`)."""


def assessments_enabled() -> bool:
    """Whether tools end their results with an `assessment`: as the current case chose (`setting.tool_assessments`),
    else from `K8S_TOOL_ASSESSMENT` (read at every call)."""
    chosen = CHOSEN.get()
    if chosen is not None:
        return chosen
    value = os.environ.get(ASSESSMENT_VARIABLE, '').strip().lower()
    if value in ('', 'on'):
        return True
    if value == 'off':
        return False
    raise ValueError(
        f'{ASSESSMENT_VARIABLE}={value!r} is not valid: use "on" (the default: every tool result ends with its '
        'rule-based assessment) or "off" (statistics only, no verdict).'
    )


def attach_assessment(result: Json, verdict: Json) -> Json:
    """`result` ending with `verdict` as its `assessment`, unless assessments are off; returns `result`."""
    if assessments_enabled():
        result['assessment'] = verdict
    return result


@dataclass(kw_only=True)
class Finding:
    """One verdict a rule reached."""

    category: Category
    severity: Severity
    confidence: float
    evidence: list[str]
    actions: list[str]


@dataclass(kw_only=True)
class Assessor:
    """Collects a tool's findings and keeps the strongest (confidence, then severity) as its assessment."""

    context: list[str] = field(default_factory=list)
    """Statistics worth quoting whatever the verdict."""
    findings: list[Finding] = field(default_factory=list)
    partial: bool = False
    """Whether the data was too incomplete for a confident healthy verdict."""

    def add(
        self, category: Category, severity: Severity, confidence: float, evidence: list[str], actions: list[str]
    ) -> None:
        self.findings.append(
            Finding(category=category, severity=severity, confidence=confidence, evidence=evidence, actions=actions)
        )

    def result(self, healthy_actions: list[str]) -> Json:
        if not self.findings:
            confidence = CONFIDENCE_PARTIAL if self.partial else CONFIDENCE_HEALTHY
            return assessment(False, 'none', 'none', confidence, self.context, healthy_actions)
        best = max(self.findings, key=lambda f: (f.confidence, SEVERITY_RANK[f.severity]))
        others = [
            f'also consistent with {f.category} (confidence {f.confidence:.2f})'
            for f in self.findings
            if f is not best and f.category != best.category
        ]
        return assessment(
            True, best.severity, best.category, best.confidence, best.evidence + self.context + others, best.actions
        )


def note_missing_samples(assessor: Assessor, which: str, missing: int, samples: int) -> None:
    """Say that a window's metrics have a gap; a large gap makes a healthy verdict a partial-data one."""
    if not missing:
        return
    expected = missing + samples
    assessor.context.append(
        f'{missing} of the {expected} minutes of the {which} window have no sample (a gap in the metrics): '
        f'the statistics use the {samples} present and may miss what happened in the gap'
    )
    if missing > PARTIAL_DATA_SHARE * expected:
        assessor.partial = True


def no_usage_assessment(entity_type: str, which: str) -> Json:
    """The verdict of a metrics tool on a window without a single sample: nothing to judge, partial data."""
    reason = (
        'no container of the pod ran in it (a pod no node took, or whose container could not be created or '
        'started, has no usage)'
        if entity_type == 'k8s:pod'
        else 'the node reported no metrics in it'
    )
    return assessment(
        False,
        'none',
        'none',
        CONFIDENCE_PARTIAL,
        [f'no {which} sample in the window: {reason}; the usage neither shows nor rules out a problem'],
        ['get_entity_metadata and analyze_logs (events) show why the workload is not running'],
    )


def assessment(
    anomaly: bool, severity: Severity, category: Category, confidence: float, evidence: list[str], actions: list[str]
) -> Json:
    """An `assessment` block: the fields of `AnomalyReport` except `entity`."""
    return {
        'anomaly_detected': anomaly,
        'severity': severity,
        'category': category,
        'confidence': round(confidence, 2),
        'evidence': evidence,
        'recommended_actions': actions,
    }


def not_found_assessment(kind: str, name: str, names: list[str], hint: str) -> Json:
    """The verdict on an entity that does not exist: `entity_not_found`, certain."""
    return assessment(
        False,
        'none',
        'entity_not_found',
        1.0,
        [
            f'no {kind} named {name!r} exists.{hint}',
            f'known {kind}s: {", ".join(names)}',
        ],
        [f'check the {kind} name; it may have been deleted or misspelled'],
    )


_IMAGE_PULL_REASONS = ('ImagePullBackOff', 'ErrImagePull', 'InvalidImageName')
"""Waiting reasons of a container whose image the kubelet cannot pull."""
_CONFIG_REASONS = ('CreateContainerConfigError', 'CreateContainerError')
"""Waiting reasons of a container the runtime cannot create from its spec (a missing Secret, ConfigMap or key)."""


def assess_pod_metadata(result: Json, start: datetime, end: datetime) -> Json:
    """Recent OOM kills, a crash loop, repeated SIGKILLs, evictions, a container that cannot be pulled or created, a
    pod no node takes and an autoscaler at its maximum or flapping, from the pod object summarised in `result`."""
    containers = result['containers']
    assessor = Assessor(
        context=[
            f'phase {result["phase"]} on node {result["node_name"]}, {result["restart_count"]} restarts, '
            f'QoS {result["qos_class"]}'
        ]
    )
    for container in containers:
        last = container['last_termination']
        recent = last is not None and within(last['finished_at'], start, end)
        restarts = container['restart_count']
        if recent and last['reason'] == 'OOMKilled':
            # An OOM kill says the limit was reached, not why: a leak is told apart by steady growth (memory tool).
            assessor.add(
                'oom_killed',
                'high',
                0.7,
                [
                    f'container {container["name"]} was OOMKilled at {last["finished_at"]} (exit 137) after '
                    f'reaching its memory limit of {mib(container["limits"]["memory_bytes"] or 0)}'
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
        waiting = container['state_reason']
        if container['state'] == 'waiting' and waiting in _IMAGE_PULL_REASONS + _CONFIG_REASONS:
            pull = waiting in _IMAGE_PULL_REASONS
            assessor.add(
                'image_pull_error' if pull else 'config_error',
                'high',
                0.9,
                [
                    f'container {container["name"]} is waiting: {waiting}'
                    + (f' ({container["state_message"]})' if container.get('state_message') else ''),
                    f'image {container["image"]}, {restarts} restarts: the container never started',
                ],
                [
                    'check the image name and tag exist in the registry and the pull secret is valid'
                    if pull
                    else 'create the missing Secret/ConfigMap (or key) the container references, or fix the reference',
                    'roll back to the previous revision meanwhile',
                ],
            )
    if result['phase'] == 'Pending' and result.get('unschedulable'):
        assessor.add(
            'scheduling_failure',
            'high',
            0.9,
            [f'pod is Pending and unscheduled (PodScheduled=False, Unschedulable): {result["unschedulable"]}'],
            [
                'free or add capacity matching the pod (cluster autoscaler, node pools), or lower its requests',
                'check its node selectors, affinities, tolerations and volume zones against the nodes',
            ],
        )
    if result.get('autoscaler'):
        assess_autoscaler(result['autoscaler'], end, assessor)
    if result['reason'] == 'Evicted':
        category: Category = (
            'disk_pressure' if 'ephemeral-storage' in (result['message'] or '') else ('node_memory_pressure')
        )
        assessor.add(
            category,
            'high',
            0.7,
            [f'pod was evicted: {result["message"]}'],
            [f'analyse node {result["node_name"]} (entity_type k8s:node)'],
        )
    return assessor.result(
        [f'nothing wrong in the pod object; analyse metrics and logs, and node {result["node_name"]}']
    )


def assess_autoscaler(hpa: Json, end: datetime, assessor: Assessor) -> None:
    """An autoscaler held at its maximum replicas while its metric stays above target, or one flapping."""
    limited = hpa['conditions'].get('ScalingLimited', {})
    utilisation, target = hpa['current_cpu_utilization'], hpa['target_cpu_utilization']
    rescales = hpa['rescales_in_window']
    ups = sum(r['count'] for r in rescales if r['direction'] == 'up')
    downs = sum(r['count'] for r in rescales if r['direction'] == 'down')
    assessor.context.append(
        f'autoscaler {hpa["name"]}: {hpa["current_replicas"]} replicas (min {hpa["min_replicas"]}, max '
        f'{hpa["max_replicas"]}), CPU {utilisation}% of request against a {target}% target, '
        f'{ups} scale-up(s) and {downs} scale-down(s) in the window'
    )
    at_max_minutes = (
        (end - parse_time(limited['since'])).total_seconds() / 60
        if limited.get('status') == 'True' and limited.get('reason') == 'TooManyReplicas' and limited.get('since')
        else 0.0
    )
    if (
        hpa['current_replicas'] == hpa['max_replicas']
        and at_max_minutes >= HPA_AT_MAX_MINUTES
        and utilisation is not None
        and target is not None
        and utilisation > target
    ):
        assessor.add(
            'hpa_at_max',
            'high',
            0.85,
            [
                f'autoscaler {hpa["name"]} has run at its maximum of {hpa["max_replicas"]} replicas for '
                f'{at_max_minutes:.0f} min (ScalingLimited=True, TooManyReplicas: {limited.get("message")})',
                f'CPU {utilisation}% of request against a {target}% target: it would scale further and cannot',
            ],
            [
                f'raise maxReplicas of {hpa["name"]} (check the cluster has room) or cut the per-pod load',
                'find what drove the demand up (traffic, a slower dependency, a costlier release)',
            ],
        )
    if ups + downs >= HPA_FLAP_MIN_RESCALES and min(ups, downs) >= HPA_FLAP_MIN_EACH_WAY:
        assessor.add(
            'hpa_flapping',
            'medium',
            0.85,
            [
                f'autoscaler {hpa["name"]} rescaled {ups + downs} times in the window: {ups} times up and {downs} '
                'times down',
            ]
            + [f'{r["count"]}x to {r["replicas"]} replicas ({r["direction"]}): {r["reason"]}' for r in rescales[:4]]
            + [
                'pods are started and stopped over and over (cold caches, dropped connections)',
            ],
            [
                'lengthen the scale-down stabilisation window (behavior.scaleDown.stabilizationWindowSeconds)',
                'check the metric is stable per pod (a target near the per-pod usage of one request oscillates)',
            ],
        )


def assess_node_metadata(result: Json) -> Json:
    """Ready, DiskPressure, MemoryPressure and PIDPressure conditions, from the node object summarised in
    `result`."""
    conditions, taints, pods = result['conditions'], result['taints'], result['running_pods']
    ready = conditions.get('Ready', {}).get('status')
    assessor = Assessor(context=[f'Ready={ready}, taints: {", ".join(taints) or "none"}, {len(pods)} running pods'])
    if ready != 'True':
        condition = conditions.get('Ready', {})
        assessor.add(
            'node_not_ready',
            'critical',
            0.9,
            [
                f'condition Ready={ready} ({condition.get("reason")}: {condition.get("message")}) since '
                f'{condition.get("since")}',
            ]
            + [f'taint {t}' for t in taints if 'not-ready' in t or 'unreachable' in t],
            [
                'check the kubelet and container runtime on the node (journalctl -u kubelet, crictl ps)',
                'cordon and drain the node, or replace it, so its pods run elsewhere',
            ],
        )
    pid_pressure = conditions.get('PIDPressure', {})
    if pid_pressure.get('status') == 'True':
        assessor.add(
            'pid_pressure',
            'high',
            0.9,
            [f'condition PIDPressure=True ({pid_pressure["reason"]}) since {pid_pressure["since"]}']
            + [f'taint {t}' for t in taints if 'pid-pressure' in t],
            [
                'find the pod forking processes or threads without bound (analyze_logs on the node)',
                'set pod PID limits (podPidsLimit) and fix or restart the leaking workload',
            ],
        )
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
    return assessor.result(['node conditions are healthy; analyse its metrics and logs'])


def shift_confirms(result: Json) -> bool:
    baseline = result.get('baseline')
    return baseline is not None and baseline['shift'] >= SHIFT_SIGNIFICANT


def assess_pod_cpu(
    result: Json,
    *,
    p95: float,
    limit: float | None,
    throttling: float,
    waiting: float | None,
    node_name: str | None,
    assessor: Assessor,
) -> None:
    """Saturation at the limit, a noisy neighbour (below its limit, unthrottled, yet waiting for a CPU: CPU pressure),
    bursts over its own CFS quota (throttled below the limit), or a large shift towards the limit."""
    node = result['node']
    node_busy = node is not None and node['utilization_p95'] >= NODE_CPU_BUSY
    confirmed = shift_confirms(result) or (result.get('baseline') or {}).get('throttled_shift', 0) >= SHIFT_SIGNIFICANT
    assessor.context.append(
        f'CPU p95 {p95:.3f} cores'
        + (f' = {p95 / limit:.0%} of the {limit:g}-core limit' if limit else ' (no CPU limit)')
        + f', throttled {throttling:.0%} of periods'
        + (f', waiting for a CPU {waiting:.0%} of the time (CPU pressure)' if waiting is not None else '')
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
    elif (
        waiting is not None
        and waiting >= CPU_PRESSURE_CONTENDED
        and throttling < THROTTLING_HEAVY
        and (limit is None or p95 < NOISY_BELOW_LIMIT_FRACTION * limit)
    ):
        # Throttling is the pod spending its own quota; waiting while under quota is other tasks holding the CPUs.
        contended = (result.get('baseline') or {}).get('shift', 0) >= SHIFT_SIGNIFICANT or node_busy
        assessor.add(
            'noisy_neighbor',
            'medium',
            0.9 if contended else 0.85,
            [
                f'waiting for a CPU {waiting:.0%} of the time (CPU pressure) while using only '
                + (f'{p95 / limit:.0%} of its limit (p95)' if limit else f'{p95:.3f} cores')
                + f' and throttled in only {throttling:.0%} of periods: the CPUs are taken by others',
                f'its node {node_name} runs at {node["utilization_p95"]:.0%} CPU (p95)'
                if node
                else 'its node is not known',
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
                f'throttled in {throttling:.0%} of periods below its limit (p95): short bursts use up its own CFS '
                'quota within a period'
                + (', whatever its busy node does' if node_busy else '')
                + (f'; it waits for a CPU only {waiting:.0%} of the time' if waiting is not None else '')
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


def assess_node_cpu(result: Json, utilisation: list[float], allocatable: float, assessor: Assessor) -> None:
    """Node saturation, by one dominant pod (a noisy neighbour) or by many."""
    top = result['top_pods']
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
            0.8 if shift_confirms(result) else 0.75,
            [f'node CPU saturated (p95 {p95:.0%}) with no single dominant pod'],
            ['add nodes (cluster autoscaler) or rebalance pods'],
        )


def assess_pod_memory(
    result: Json,
    values: list[float],
    limit: float | None,
    segment_minutes: int,
    slope: float,
    r_squared: float,
    time_to_limit: float | None,
    assessor: Assessor,
) -> None:
    peak = max(values)
    restarts = result['restarts_detected']
    assessor.context.append(
        f'memory median {mib(median(values))}, peak {mib(peak)}'
        + (f' = {peak / limit:.0%} of the {mib(limit)} limit' if limit else ' (no memory limit)')
        + f'; growth {slope / MIB:+.2f}MiB/min (r^2 {r_squared:.2f}) over {segment_minutes} min'
        + (f'; {restarts} restart(s) seen as drops' if restarts else '')
    )
    baseline = result['baseline']
    if baseline:
        assessor.context.append(
            f'median moved {baseline["shift"]:+.1f} robust sigmas from the baseline '
            f'{mib(baseline["median"])} (change at {baseline["change_time"]})'
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
            f'memory grows linearly at {slope / MIB:.1f}MiB/min (r^2 {r_squared:.2f}) for {segment_minutes} min',
            f'peak {peak / limit:.0%} of the {mib(limit)} limit',
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
    elif restarts and peak >= MEMORY_AT_LIMIT * limit:
        assessor.add(
            'oom_killed',
            'high',
            0.75,
            [
                f'peak memory {peak / limit:.0%} of the {mib(limit)} limit without steady growth '
                f'(growth r^2 {r_squared:.2f}), then {restarts} drop(s) to a fresh process: killed at an undersized '
                'limit or by a spike, not a leak',
            ],
            [
                'raise the memory limit to the working set plus its peaks, or bound the spike (batch size, buffers)',
                'check the OOM-killed process in the events',
            ],
        )
    elif peak >= MEMORY_NEAR_LIMIT * limit:
        assessor.add(
            'oom_killed',
            'medium',
            0.55,
            [f'peak memory {peak / limit:.0%} of the limit without steady growth: an undersized limit'],
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


def assess_node_memory(result: Json, values: list[float], allocatable: float, assessor: Assessor) -> None:
    p95 = quantile(values, 0.95) / allocatable
    assessor.context.append(f'node memory p95 {p95:.0%} of {gib(allocatable)} allocatable')
    baseline = result['baseline']
    if baseline:
        assessor.context.append(
            f'median moved {baseline["shift"]:+.1f} robust sigmas from the baseline '
            f'{gib(baseline["median"])} (change at {baseline["change_time"]})'
        )
    if p95 < NODE_MEMORY_PRESSURE:
        return
    top = result['top_pods'][0] if result['top_pods'] else None
    evidence = [f'node memory working set p95 {p95:.0%} of allocatable (pressure threshold {NODE_MEMORY_PRESSURE:.0%})']
    actions = ['set memory limits on unbounded pods and drain or resize the node']
    if top:
        limit = 'no memory limit' if top['limit'] is None else f'a {mib(top["limit"])} limit'
        evidence.append(
            f'largest pod {top["namespace"]}/{top["pod"]} uses {gib(top["median"])} '
            f'({top["share_of_node"]:.0%} of the node) with {limit}'
        )
        actions.insert(0, f'cap or reschedule {top["pod"]}')
    confirmed = baseline is not None and baseline['shift'] >= SHIFT_SIGNIFICANT
    assessor.add('node_memory_pressure', 'high', 0.9 if confirmed else 0.85, evidence, actions)


def events_matching(events: list[Json], reasons: set[str], text: str | None = None) -> int:
    return sum(e['count'] for e in events if e['reason'] in reasons and (text is None or text in e['message']))


def assess_logs(request: Request, result: Json, events: list[Json], assessor: Assessor) -> None:
    logs, baseline = result['logs'], result['baseline']
    top = result['error_templates'][0] if result['error_templates'] else None
    assessor.context.append(
        f'{result["events"]["total"]} events ({result["events"]["by_type"].get("Warning", 0)} warnings), '
        f'{logs["total"]} log lines, {logs["error_lines"]} errors'
        + (f' (first at {logs["first_error_time"]})' if logs['first_error_time'] else '')
    )
    if top:
        assessor.context.append(f'most frequent {top["level"]} template ({top["count"]}x): {top["template"]}')
    if not logs['total']:
        assessor.context.append(
            'no log lines at all in the window: the logs of this entity are missing (not collected), so they '
            'neither show nor rule out a problem'
        )
        assessor.partial = True
    evicted_memory = events_matching(events, {'Evicted'}, 'low on resource: memory')
    evicted_disk = events_matching(events, {'Evicted'}, 'low on resource: ephemeral-storage')
    if request.entity_type == 'k8s:node':
        assess_node_logs(events, evicted_memory, evicted_disk, assessor)
        return
    restarts = result['restarts']
    last = restarts['last_termination']
    recent = last is not None and within(last['finished_at'], request.start, request.end)
    if recent and last['reason'] == 'OOMKilled':
        assessor.add(
            'oom_killed',
            'high',
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
    liveness = events_matching(events, {'Unhealthy'}, 'Liveness probe failed')
    timeouts = sum(
        e['count']
        for e in events
        if e['reason'] == 'Unhealthy'
        and 'Liveness' in e['message']
        and ('deadline exceeded' in e['message'] or 'timeout' in e['message'].lower())
    )
    probe_kills = events_matching(events, {'Killing'}, 'failed liveness probe')
    back_off = events_matching(events, {'BackOff'})
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
    assess_pod_events(events, restarting=in_window > 0 or probe_kills > 0, assessor=assessor)
    network_lines = logs['network_error_lines']
    if network_lines >= NETWORK_MIN_LINES and network_lines >= NETWORK_MIN_SHARE * logs['error_lines']:
        new = baseline is not None and (
            baseline['network_error_rate_per_min'] <= NETWORK_NEW_RATIO * logs['network_error_rate_per_min']
        )
        network_templates = [t for t in result['error_templates'] if NETWORK_ERROR.search(t['template'])]
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


def _span_minutes(events: list[Json]) -> float:
    if not events:
        return 0.0
    first = min(parse_time(e['firstTimestamp']) for e in events)
    last = max(parse_time(e['lastTimestamp']) for e in events)
    return (last - first).total_seconds() / 60


_CONFIG_ERROR = re.compile(r"couldn't find key \S+ in (Secret|ConfigMap)|(secret|configmap) \"[^\"]+\" not found")
"""The kubelet's message when a container's environment or volume names a Secret or ConfigMap (key) that is missing."""


def assess_pod_events(events: list[Json], *, restarting: bool, assessor: Assessor) -> None:
    """The kubelet's and scheduler's warnings about a pod that does not run or serve: image pulls, container
    configuration, scheduling, volumes, and a readiness probe failing for a long time in a pod that is not
    `restarting` (in one that is, unreadiness is a symptom of what kills it)."""
    pulls = [
        e
        for e in events
        if e['reason'] in ('Failed', 'BackOff')
        and ('Failed to pull image' in e['message'] or 'Back-off pulling image' in e['message'])
    ]
    if pulls:
        assessor.add(
            'image_pull_error',
            'high',
            0.85,
            [f'{sum(e["count"] for e in pulls)} image pull failures and back-offs']
            + [f'{e["count"]}x {e["reason"]}: {e["message"]}' for e in pulls[:2]],
            ['fix the image reference or the registry credentials, or roll back'],
        )
    config = [e for e in events if e['reason'] == 'Failed' and _CONFIG_ERROR.search(e['message'])]
    if config:
        assessor.add(
            'config_error',
            'high',
            0.85,
            [f'{e["count"]}x {e["reason"]}: {e["message"]}' for e in config[:2]],
            ['create the Secret/ConfigMap key the container references, or fix the reference'],
        )
    unscheduled = [e for e in events if e['reason'] == 'FailedScheduling']
    if unscheduled:
        assessor.add(
            'scheduling_failure',
            'high',
            0.85,
            [f'{e["count"]}x FailedScheduling: {e["message"]}' for e in unscheduled[:2]],
            ['add capacity matching the pod or relax its requests, affinities or volume zones'],
        )
    mounts = [e for e in events if e['reason'] in ('FailedMount', 'FailedAttachVolume')]
    if sum(e['count'] for e in mounts) >= MOUNT_MIN_FAILURES:
        assessor.add(
            'volume_mount_error',
            'high',
            0.85,
            [f'{sum(e["count"] for e in mounts)} volume attach/mount failures; the container cannot be created']
            + [f'{e["count"]}x {e["reason"]}: {e["message"]}' for e in mounts[:2]],
            [
                'find where the volume is still attached (VolumeAttachment objects) and detach it, or fix the '
                'missing Secret/ConfigMap/PVC the volume names',
            ],
        )
    readiness = [e for e in events if e['reason'] == 'Unhealthy' and 'Readiness probe failed' in e['message']]
    failures = sum(e['count'] for e in readiness)
    span = _span_minutes(readiness)
    if failures >= READINESS_MIN_FAILURES and span >= READINESS_MIN_MINUTES and not restarting:
        assessor.add(
            'readiness_failure',
            'medium',
            0.85,
            [
                f'{failures} readiness probe failures over {span:.0f} min: the pod is out of its Service endpoints',
                f'probe: {readiness[0]["message"]}',
            ],
            [
                'read why the readiness endpoint fails (the dependency it checks, in the container logs)',
                'fix the dependency or the probe; the pod receives no traffic meanwhile',
            ],
        )


def assess_node_logs(events: list[Json], evicted_memory: int, evicted_disk: int, assessor: Assessor) -> None:
    memory_signals = (
        events_matching(events, {'EvictionThresholdMet'}, 'memory')
        + events_matching(events, {'NodeHasInsufficientMemory', 'SystemOOM'})
        + evicted_memory
    )
    disk_signals = (
        events_matching(events, {'FreeDiskSpaceFailed', 'ImageGCFailed', 'NodeHasDiskPressure'})
        + sum(
            e['count']
            for e in events
            if e['reason'] == 'EvictionThresholdMet'
            and any(word in e['message'] for word in ('ephemeral-storage', 'nodefs', 'imagefs'))
        )
        + evicted_disk
    )
    not_ready = events_matching(events, {'NodeNotReady'})
    if not_ready:
        assessor.add(
            'node_not_ready',
            'critical',
            0.85,
            [f'{not_ready} NodeNotReady event(s): the node stopped being ready and its pods are being moved'],
            ['check the kubelet and container runtime on the node, or replace the node'],
        )
    pid_signals = events_matching(events, {'NodeHasInsufficientPID'}) + events_matching(
        events, {'EvictionThresholdMet'}, 'pid'
    )
    if pid_signals:
        assessor.add(
            'pid_pressure',
            'high',
            0.85,
            [f'{pid_signals} PID-pressure events (insufficient PIDs, eviction threshold on pids)'],
            ['find the pod forking without bound; set pod PID limits'],
        )
    cgroup_ooms = events_matching(events, {'OOMKilling'}, 'Memory cgroup out of memory')
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
