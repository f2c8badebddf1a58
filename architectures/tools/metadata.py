"""`get_entity_metadata`: the state of a pod or node (spec, status, conditions, taints) as of a window's end."""

from __future__ import annotations

import re
from typing import Any

from architectures.telemetry.backend import parse_bytes, parse_cpu
from architectures.tools.arguments import Json, Request, check_coverage, iso, known_names, parse_request
from architectures.tools.measurement import rounded
from architectures.tools.rules import assess_node_metadata, assess_pod_metadata, attach_assessment, not_found_assessment

__all__ = ('get_entity_metadata',)


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
    request = await parse_request(entity_type, name, start, end, must_exist=False)
    if request.name not in await request.backend.entity_names(request.entity_type):
        # Close matches only for a name that is not known: difflib's ratios are most of this tool's own cost.
        names, close = await known_names(request.backend, request.entity_type, request.name)
        hint = f' Closest names: {", ".join(close)}.' if close else ''
        missing = {'entity': request.entity, 'exists': False, 'known_entities': names}
        return attach_assessment(missing, not_found_assessment(request.kind, request.name, names, hint))
    await check_coverage(request, request.start, request.end, 'requested')
    obj = await request.backend.get_object(request.entity_type, request.name, request.end)
    assert obj is not None
    if request.entity_type == 'k8s:pod':
        return _pod_metadata(request, obj, await _autoscaler(request, obj))
    return await _node_metadata(request, obj)


def _container_summary(spec: Json, status: Json) -> Json:
    resources: Json = spec.get('resources', {})
    states: Json = status.get('state') or {'unknown': {}}
    state_name = next(iter(states))
    state: Json = states[state_name]
    terminated: Json | None = status.get('lastState', {}).get('terminated')
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
        # Only where there is one, so results without it keep their shape (recorded exchanges hash them).
        **({'state_message': state['message']} if state.get('message') else {}),
        'last_termination': {
            'reason': terminated.get('reason'),
            'exit_code': terminated.get('exitCode'),
            'finished_at': terminated.get('finishedAt'),
        }
        if terminated
        else None,
    }


_NEW_SIZE = re.compile(r'New size: (\d+)')


async def _autoscaler(request: Request, pod: Json) -> Json | None:
    """The HorizontalPodAutoscaler scaling the pod's workload, summarised, with its rescales in the window."""
    owner = next(iter(pod['metadata'].get('ownerReferences', [])), None)
    if owner is None:
        return None
    # A Deployment's pods belong to a ReplicaSet named after it plus a template hash: try both names.
    workloads = [owner['name'], owner['name'].rsplit('-', 1)[0]]
    found = await request.backend.autoscaler(pod['metadata']['namespace'], workloads, request.start, request.end)
    if found is None:
        return None
    hpa, events = found
    spec, status = hpa['spec'], hpa['status']
    target: Json = next((m['resource']['target'] for m in spec.get('metrics', []) if m['type'] == 'Resource'), {})
    current: Json = next(
        (m['resource']['current'] for m in status.get('currentMetrics', []) if m['type'] == 'Resource'), {}
    )
    # The event recorder aggregates identical rescales (same size, same reason) into one event with a count.
    rescales = sorted(
        (e['firstTimestamp'], e['lastTimestamp'], e['count'], int(match.group(1)), e['message'])
        for e in events
        if e['reason'] == 'SuccessfulRescale' and (match := _NEW_SIZE.search(e['message']))
    )
    return {
        'name': hpa['metadata']['name'],
        'target': f'{spec["scaleTargetRef"]["kind"]}/{spec["scaleTargetRef"]["name"]}',
        'min_replicas': spec.get('minReplicas', 1),
        'max_replicas': spec['maxReplicas'],
        'current_replicas': status.get('currentReplicas'),
        'desired_replicas': status.get('desiredReplicas'),
        'target_cpu_utilization': target.get('averageUtilization'),
        'current_cpu_utilization': current.get('averageUtilization'),
        'conditions': {
            c['type']: {
                'status': c['status'],
                'reason': c.get('reason'),
                'message': c.get('message'),
                'since': c.get('lastTransitionTime'),
            }
            for c in status.get('conditions', [])
        },
        'rescales_in_window': [
            {
                'replicas': size,
                'direction': 'down' if 'below target' in message else 'up',
                'reason': message.split('reason: ', 1)[-1],
                'count': count,
                'first': first,
                'last': last,
            }
            for first, last, count, size, message in rescales
        ],
    }


def _pod_metadata(request: Request, pod: Json, autoscaler: Json | None) -> Json:
    statuses = {status['name']: status for status in pod['status'].get('containerStatuses', [])}
    containers = [_container_summary(spec, statuses.get(spec['name'], {})) for spec in pod['spec']['containers']]
    status = pod['status']
    owner = next(iter(pod['metadata'].get('ownerReferences', [])), None)
    terminations = [c['last_termination'] for c in containers if c['last_termination']]
    unschedulable = next(
        (c.get('message') for c in status.get('conditions', []) if c.get('reason') == 'Unschedulable'), None
    )
    result: Json = {
        'entity': request.entity,
        'exists': True,
        'observed_at': iso(request.end),
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
        **({'unschedulable': unschedulable} if unschedulable else {}),
        'restart_count': sum(c['restart_count'] for c in containers),
        'last_termination_reason': terminations[0]['reason'] if terminations else None,
        'containers': containers,
        **({'autoscaler': autoscaler} if autoscaler else {}),
    }
    return attach_assessment(result, assess_pod_metadata(result, request.start, request.end))


async def _node_metadata(request: Request, node: Json) -> Json:
    status = node['status']
    conditions = {
        c['type']: {
            'status': c['status'],
            'reason': c.get('reason'),
            'since': c.get('lastTransitionTime'),
            # The message of a condition in trouble only (Ready not True, a pressure True): it says what is wrong.
            **({'message': c.get('message')} if (c['status'] == 'True') != (c['type'] == 'Ready') else {}),
        }
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
        'observed_at': iso(request.end),
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
        'ephemeral_storage_used_fraction': rounded(disk[-1][1] / disk_capacity, 3) if disk else None,
        'running_pods': pods,
    }
    return attach_assessment(result, assess_node_metadata(result))
