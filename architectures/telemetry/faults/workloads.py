"""Trouble of a workload rather than of a running container: a pod whose container never runs (stuck waiting or
unscheduled) and a workload's HorizontalPodAutoscaler (at its maximum, or rescaling back and forth)."""

from __future__ import annotations

from architectures.telemetry.builder import MINUTES, Builder, Json, iso

__all__ = ('autoscaler', 'not_running', 'observed_autoscaler', 'rescales', 'waiting')


def not_running(b: Builder, name: str, first: int) -> None:
    """No sample of the pod's series from minute `first` on: its container stopped and no new one ran (cAdvisor
    exports nothing for a container that does not exist). Call after the node's series are built, so the node's
    usage is the one computed from the pod's values (give them as 0 from `first`)."""
    block = b.series[f'k8s:pod/{name}']
    for key, values in block.items():
        if isinstance(values, list):
            block[key] = [None if minute >= first else value for minute, value in enumerate(values)]


def waiting(reason: str, message: str) -> Json:
    """The `end_state` of a pod whose only container has never started and waits with `reason` (the kubelet's
    `message`): phase Pending, not ready, no restart."""
    return {'state': {'waiting': {'reason': reason, 'message': message}}, 'ready': False, 'phase': 'Pending'}


def autoscaler(
    b: Builder,
    *,
    name: str,
    namespace: str,
    target: str,
    replicas: tuple[int, int],
    bounds: tuple[int, int],
    utilisation: tuple[int, int],
    limited_since: float | None = None,
    last_scale: float,
    uid: str | None = None,
) -> Json:
    """An autoscaling/v2 HorizontalPodAutoscaler of Deployment `target` on CPU: `replicas` (current, desired),
    `bounds` (min, max), `utilisation` (current, target; % of the pods' CPU request); `limited_since` is the minute
    ScalingLimited became True (TooManyReplicas), None when it is False. Draws a uid unless given one (a later
    observation of the same autoscaler)."""
    limited: Json = (
        {
            'type': 'ScalingLimited',
            'status': 'True',
            'reason': 'TooManyReplicas',
            'message': 'the desired replica count is more than the maximum replica count',
            'lastTransitionTime': iso(b.at(limited_since)),
        }
        if limited_since is not None
        else {
            'type': 'ScalingLimited',
            'status': 'False',
            'reason': 'DesiredWithinRange',
            'message': 'the desired count is within the acceptable range',
            'lastTransitionTime': iso(b.at(-60 * 24)),
        }
    )
    return {
        'apiVersion': 'autoscaling/v2',
        'kind': 'HorizontalPodAutoscaler',
        'metadata': {
            'name': name,
            'namespace': namespace,
            'uid': uid or b.uid(),
            'creationTimestamp': iso(b.at(-60 * 24 * 30)),
        },
        'spec': {
            'scaleTargetRef': {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': target},
            'minReplicas': bounds[0],
            'maxReplicas': bounds[1],
            'metrics': [
                {
                    'type': 'Resource',
                    'resource': {
                        'name': 'cpu',
                        'target': {'type': 'Utilization', 'averageUtilization': utilisation[1]},
                    },
                }
            ],
        },
        'status': {
            'currentReplicas': replicas[0],
            'desiredReplicas': replicas[1],
            'lastScaleTime': iso(b.at(last_scale)),
            'currentMetrics': [
                {'type': 'Resource', 'resource': {'name': 'cpu', 'current': {'averageUtilization': utilisation[0]}}}
            ],
            'conditions': [
                {
                    'type': 'AbleToScale',
                    'status': 'True',
                    'reason': 'ReadyForNewScale',
                    'message': 'recommended size matches current size',
                    'lastTransitionTime': iso(b.at(last_scale)),
                },
                {
                    'type': 'ScalingActive',
                    'status': 'True',
                    'reason': 'ValidMetricFound',
                    'message': 'the HPA was able to successfully calculate a replica count from cpu resource '
                    'utilization (percentage of request)',
                    'lastTransitionTime': iso(b.at(-60 * 24 * 30)),
                },
                limited,
            ],
        },
    }


def rescales(b: Builder, hpa: Json, moves: list[tuple[float, int]], host: str) -> None:
    """The autoscaler's `SuccessfulRescale` events for `moves` (minute, new size, in time order), aggregated as the
    event recorder does: one event per (size, direction) with a count, first and last time. A move to more
    replicas than the one before it is a scale-up, otherwise a scale-down; the first move compares with the
    autoscaler's current replicas."""
    size = hpa['status']['currentReplicas']
    grouped: dict[tuple[int, bool], list[float]] = {}
    for minute, new in moves:
        grouped.setdefault((new, new > size), []).append(minute)
        size = new
    for (new, up), minutes in grouped.items():
        reason = 'cpu resource utilization (percentage of request) above target' if up else 'All metrics below target'
        b.event(
            kind='HorizontalPodAutoscaler',
            name=hpa['metadata']['name'],
            namespace=hpa['metadata']['namespace'],
            type_='Normal',
            reason='SuccessfulRescale',
            message=f'New size: {new}; reason: {reason}',
            first=minutes[0],
            last=minutes[-1],
            count=len(minutes),
            host=host,
            component='horizontal-pod-autoscaler',
        )


def observed_autoscaler(b: Builder, start: Json, end: Json) -> None:
    """The autoscaler as observed at the start of the data (`start`) and at its last minute (`end`)."""
    b.snapshot('HorizontalPodAutoscaler', 0, start)
    b.snapshot('HorizontalPodAutoscaler', MINUTES - 1, end)
