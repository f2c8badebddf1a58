"""`Builder`: accumulates one scenario's Kubernetes objects and telemetry, with all randomness from one seed.

Scenario modules (`scenarios/<id>.py`) drive a `Builder`; `faults.py` holds the pieces they share. Values are
rounded before serialisation so a scenario's file is byte-for-byte identical on every run and platform.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from architectures.telemetry.scenarios import BASELINE_MINUTES, INCIDENT_MINUTES, Scenario

__all__ = ('GIB', 'INCIDENT', 'MIB', 'MINUTES', 'REGISTRY', 'Builder', 'Json', 'iso', 'iso_ms')

MINUTES = BASELINE_MINUTES + INCIDENT_MINUTES
"""Minutes of data in every scenario: the baseline window, then the incident window."""
INCIDENT = BASELINE_MINUTES
"""Index of the first incident minute."""
MIB = 1024 * 1024
"""Bytes in a MiB."""
GIB = 1024 * MIB
"""Bytes in a GiB."""
REGISTRY = 'registry.example.com'
"""The image registry every scenario's images come from."""

Json = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def iso_ms(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


class Builder:
    """Accumulates one scenario's objects and telemetry; `at(i)` is the start of minute `i` of the data."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.t0 = scenario.incident_start_dt - timedelta(minutes=BASELINE_MINUTES)
        self.pods: list[Json] = []
        self.nodes: list[Json] = []
        self.series: dict[str, Json] = {}
        self.events: list[Json] = []
        self.logs: dict[str, list[Json]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.autoscalers: list[Json] = []
        self._pod_usage: dict[str, tuple[str, int, list[float], list[float]]] = {}

    # --- helpers -------------------------------------------------------------------------------------------
    def at(self, minute: float) -> datetime:
        return self.t0 + timedelta(minutes=minute)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, digits: int) -> str:
        return f'{self.rng.getrandbits(4 * digits):0{digits}x}'

    def noisy(self, level: float, rel_sd: float) -> float:
        return level * (1.0 + self.rng.gauss(0.0, rel_sd))

    def flat(self, count: int, level: float, rel_sd: float) -> list[float]:
        return [self.noisy(level, rel_sd) for _ in range(count)]

    # --- objects -------------------------------------------------------------------------------------------
    def snapshot(self, kind: str, minute: int, obj: Json) -> None:
        observation = {'observedAt': iso(self.at(minute)), 'object': obj}
        if kind == 'HorizontalPodAutoscaler':
            self.autoscalers.append(observation)
        else:
            (self.pods if kind == 'Pod' else self.nodes).append(observation)

    def node(
        self,
        *,
        name: str,
        ip: str,
        zone: str,
        instance_type: str,
        cpu: int,
        memory_gib: int,
        disk_gib: int,
        conditions: dict[str, tuple[str, str, str, int]] | None = None,
        taints: list[tuple[str, int]] | None = None,
        minute: int = 0,
    ) -> Json:
        """A v1 Node; `conditions` overrides type -> (status, reason, message, minute of transition)."""
        created = self.at(-60 * 24 * 21)
        defaults = {
            'MemoryPressure': ('False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
            'DiskPressure': ('False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
            'PIDPressure': ('False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
            'Ready': ('True', 'KubeletReady', 'kubelet is posting ready status'),
        }
        condition_list = []
        for kind, (status, reason, message) in defaults.items():
            since = created
            if conditions and kind in conditions:
                status, reason, message, since_minute = conditions[kind]
                since = self.at(since_minute)
            condition_list.append(
                {
                    'type': kind,
                    'status': status,
                    'reason': reason,
                    'message': message,
                    'lastHeartbeatTime': iso(self.at(minute)),
                    'lastTransitionTime': iso(since),
                }
            )
        memory_ki = int(memory_gib * GIB * 0.9475) // 1024
        disk_ki = disk_gib * GIB // 1024 - 12_000
        obj: Json = {
            'apiVersion': 'v1',
            'kind': 'Node',
            'metadata': {
                'name': name,
                'uid': self.uid(),
                'creationTimestamp': iso(created),
                'labels': {
                    'kubernetes.io/hostname': name,
                    'kubernetes.io/os': 'linux',
                    'node.kubernetes.io/instance-type': instance_type,
                    'topology.kubernetes.io/zone': zone,
                },
            },
            'spec': {'providerID': f'aws:///{zone}/i-0{self.hexid(16)}'},
            'status': {
                'capacity': {
                    'cpu': str(cpu),
                    'memory': f'{memory_ki}Ki',
                    'ephemeral-storage': f'{disk_ki}Ki',
                    'pods': '110',
                },
                'allocatable': {
                    'cpu': f'{cpu * 1000 - (80 if cpu <= 4 else 90)}m',
                    'memory': f'{memory_ki - 993_856}Ki',
                    'ephemeral-storage': str(int(disk_ki * 1024 * 0.9)),
                    'pods': '110',
                },
                'conditions': condition_list,
                'addresses': [{'type': 'InternalIP', 'address': ip}, {'type': 'Hostname', 'address': name}],
                'nodeInfo': {
                    'kubeletVersion': 'v1.29.4-eks-036c24b',
                    'containerRuntimeVersion': 'containerd://1.7.11',
                    'osImage': 'Amazon Linux 2',
                    'kernelVersion': '5.10.210-201.852.amzn2.x86_64',
                },
            },
        }
        if taints:
            obj['spec']['taints'] = [
                {'key': key, 'effect': 'NoSchedule', 'timeAdded': iso(self.at(when))} for key, when in taints
            ]
        return obj

    def pod(
        self,
        *,
        name: str,
        namespace: str,
        app: str,
        node: str,
        node_ip: str,
        pod_ip: str,
        image: str,
        owner: tuple[str, str],
        created_minute: float,
        requests: dict[str, str],
        limits: dict[str, str],
        uid: str,
        container: str = 'app',
        restart_count: int = 0,
        state: Json | None = None,
        last_terminated: Json | None = None,
        ready: bool = True,
        phase: str = 'Running',
        evicted_message: str | None = None,
        probe: bool = True,
        unschedulable: str | None = None,
    ) -> Json:
        """A v1 Pod with one container; `unschedulable` (the scheduler's message) makes it a Pending pod no node
        took: no node, no IP, no container status, condition PodScheduled=False."""
        created = self.at(created_minute)
        if not requests and not limits:
            qos = 'BestEffort'
        elif requests == limits and set(limits) == {'cpu', 'memory'}:
            qos = 'Guaranteed'
        else:
            qos = 'Burstable'
        resources: Json = {}
        if requests:
            resources['requests'] = requests
        if limits:
            resources['limits'] = limits
        spec_container: Json = {
            'name': container,
            'image': image,
            'ports': [{'containerPort': 8080, 'protocol': 'TCP'}],
            'resources': resources,
        }
        if probe:
            spec_container['livenessProbe'] = {
                'httpGet': {'path': '/healthz', 'port': 8080},
                'periodSeconds': 10,
                'timeoutSeconds': 1,
                'failureThreshold': 3,
            }
            spec_container['readinessProbe'] = {
                'httpGet': {'path': '/ready', 'port': 8080},
                'periodSeconds': 5,
                'timeoutSeconds': 1,
            }
        container_status: Json = {
            'name': container,
            'image': image,
            'imageID': f'{image.split(":")[0]}@sha256:{self.hexid(64)}',
            'containerID': f'containerd://{self.hexid(64)}',
            'ready': ready,
            'started': ready,
            'restartCount': restart_count,
            'state': state or {'running': {'startedAt': iso(created + timedelta(seconds=4))}},
            'lastState': {'terminated': last_terminated} if last_terminated else {},
        }
        ready_status = 'True' if ready and phase == 'Running' else 'False'
        status: Json = {
            'phase': phase,
            'qosClass': qos,
            'hostIP': node_ip,
            'podIP': pod_ip,
            'startTime': iso(created),
            'conditions': [
                {'type': 'PodScheduled', 'status': 'True', 'lastTransitionTime': iso(created)},
                {'type': 'Initialized', 'status': 'True', 'lastTransitionTime': iso(created)},
                {
                    'type': 'ContainersReady',
                    'status': ready_status,
                    'lastTransitionTime': iso(created + timedelta(seconds=9)),
                },
                {'type': 'Ready', 'status': ready_status, 'lastTransitionTime': iso(created + timedelta(seconds=9))},
            ],
            'containerStatuses': [container_status],
        }
        if ready_status == 'False' and phase == 'Running':
            for condition in status['conditions'][2:]:
                condition['reason'] = 'ContainersNotReady'
                condition['message'] = f'containers with unready status: [{container}]'
        if evicted_message:
            status['reason'] = 'Evicted'
            status['message'] = evicted_message
        spec: Json = {'nodeName': node, 'containers': [spec_container], 'restartPolicy': 'Always'}
        if unschedulable:
            del spec['nodeName'], status['hostIP'], status['podIP'], status['containerStatuses']
            status['phase'] = 'Pending'
            status['conditions'] = [
                {
                    'type': 'PodScheduled',
                    'status': 'False',
                    'reason': 'Unschedulable',
                    'message': unschedulable,
                    'lastTransitionTime': iso(created),
                }
            ]
        return {
            'apiVersion': 'v1',
            'kind': 'Pod',
            'metadata': {
                'name': name,
                'namespace': namespace,
                'uid': uid,
                'creationTimestamp': iso(created),
                'labels': {'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': namespace},
                'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': owner[0], 'name': owner[1], 'controller': True}],
            },
            'spec': spec,
            'status': status,
        }

    # --- telemetry -----------------------------------------------------------------------------------------
    def pod_series(
        self,
        name: str,
        node: str,
        cpu: list[float],
        memory: list[float],
        throttled: list[float] | None = None,
        start: int = 0,
        cpu_waiting: list[float] | None = None,
    ) -> None:
        """A pod's series from minute `start`; `cpu_waiting` (CPU pressure: seconds a task waited for a CPU, per
        second) only where the scenario measures it."""
        self.series[f'k8s:pod/{name}'] = {
            'start': iso(self.at(start)),
            'step_seconds': 60,
            'cpu_cores': [round(max(v, 0.001), 4) for v in cpu],
            'memory_bytes': [int(max(v, 1.0)) for v in memory],
            'cpu_throttled_ratio': [round(min(max(v, 0.0), 1.0), 4) for v in throttled or [0.0] * len(cpu)],
        }
        if cpu_waiting is not None:
            self.series[f'k8s:pod/{name}']['cpu_waiting_ratio'] = [round(min(max(v, 0.0), 1.0), 4) for v in cpu_waiting]
        self._pod_usage[name] = (node, start, cpu, memory)

    def node_series(
        self,
        name: str,
        system_cpu: float,
        system_memory: float,
        disk_used: list[float],
        cpu_cap: float,
    ) -> None:
        """Node usage = its own overhead plus every pod scheduled on it at that minute (capped at capacity)."""
        cpu = self.flat(MINUTES, system_cpu, 0.08)
        memory = self.flat(MINUTES, system_memory, 0.01)
        for node, start, pod_cpu, pod_memory in self._pod_usage.values():
            if node != name:
                continue
            for offset, (c, m) in enumerate(zip(pod_cpu, pod_memory, strict=True)):
                cpu[start + offset] += c
                memory[start + offset] += m
        self.series[f'k8s:node/{name}'] = {
            'start': iso(self.at(0)),
            'step_seconds': 60,
            'cpu_cores': [round(min(v, cpu_cap), 4) for v in cpu],
            'memory_bytes': [int(v) for v in memory],
            'ephemeral_storage_used_bytes': [int(v) for v in disk_used],
        }

    def event(
        self,
        *,
        kind: str,
        name: str,
        namespace: str,
        type_: str,
        reason: str,
        message: str,
        first: float,
        last: float | None = None,
        count: int = 1,
        host: str,
        component: str = 'kubelet',
        field_path: str | None = None,
    ) -> None:
        involved: Json = {'kind': kind, 'name': name, 'namespace': namespace if kind != 'Node' else ''}
        if field_path:
            involved['fieldPath'] = field_path
        self.events.append(
            {
                'metadata': {
                    'name': f'{name}.{self.hexid(16)}',
                    'namespace': namespace if kind != 'Node' else 'default',
                },
                'involvedObject': involved,
                'type': type_,
                'reason': reason,
                'message': message,
                'source': {'component': component, 'host': host},
                'firstTimestamp': iso(self.at(first)),
                'lastTimestamp': iso(self.at(first if last is None else last)),
                'count': count,
            }
        )

    def restart(self, pod: str, minute: float) -> None:
        """The kubelet starts a new container in `pod` at `minute` (a restart in the same pod: the container's
        counters start again from zero, which a Prometheus backfill of the data must show)."""
        self.restarts.setdefault(f'k8s:pod/{pod}', []).append(minute)

    def log(self, entity: str, minute: float, level: str, message: str) -> None:
        line = {'timestamp': iso_ms(self.at(minute)), 'level': level, 'message': message}
        self.logs.setdefault(entity, []).append(line)

    def kubelet_routine(self, node: str, pods: list[str]) -> None:
        """Background kubelet chatter every node has, healthy or not."""
        entity = f'k8s:node/{node}'
        for minute in range(0, MINUTES, 5):
            pod = pods[minute // 5 % len(pods)]
            self.log(
                entity,
                minute + self.rng.uniform(0, 4.9),
                'INFO',
                f'"SyncLoop (probe)" probe="readiness" status="ready" pod="{pod}"',
            )
            if self.rng.random() < 0.15:
                self.log(
                    entity,
                    minute + self.rng.uniform(0, 4.9),
                    'WARN',
                    f'"Housekeeping took longer than expected" err="housekeeping took too long" '
                    f'expected="1s" actual="{self.rng.uniform(1.05, 1.6):.3f}s"',
                )

    def request_logs(
        self,
        entity: str,
        start: int,
        stop: int,
        per_minute: float,
        render_line: Callable[[float], tuple[str, str]],
    ) -> None:
        """`per_minute` lines on average per minute in [start, stop), each rendered from its minute offset."""
        for minute in range(start, stop):
            whole = int(per_minute)
            count = whole + (1 if self.rng.random() < per_minute - whole else 0)
            for offset in sorted(self.rng.uniform(0, 0.999) for _ in range(count)):
                level, message = render_line(minute + offset)
                self.log(entity, minute + offset, level, message)

    def document(self) -> Json:
        for lines in self.logs.values():
            lines.sort(key=lambda line: line['timestamp'])
        self.events.sort(key=lambda event: (event['firstTimestamp'], event['involvedObject']['name'], event['reason']))
        document: Json = {
            'scenario': self.scenario.id,
            'description': self.scenario.description,
            'entity': self.scenario.entity,
            'baseline': {'start': self.scenario.baseline_start, 'end': self.scenario.baseline_end},
            'incident': {'start': self.scenario.incident_start, 'end': self.scenario.incident_end},
            'nodes': self.nodes,
            'pods': self.pods,
            'series': self.series,
            'events': self.events,
            'logs': self.logs,
            **({'autoscalers': self.autoscalers} if self.autoscalers else {}),
        }
        if self.restarts:  # only scenarios in which a container restarts carry the key
            document['restarts'] = {
                entity: [iso_ms(self.at(minute)) for minute in sorted(minutes)]
                for entity, minutes in sorted(self.restarts.items())
            }
        return document
