"""Write the fixed telemetry of every scenario in `scenarios.py` to `data/<scenario id>.json`.

The files are committed; this script documents how they were made and lets a test prove they are reproducible.
All randomness comes from one `random.Random(seed)` per scenario, values are rounded before serialisation, so
the output is byte-for-byte identical on every run and platform.

Each file holds Kubernetes-API-shaped objects and telemetry for one small slice of a cluster:

- `pods`, `nodes`: snapshots `{"observedAt": ..., "object": <v1 Pod or Node>}`, one at the start of the data and
  one at its last minute (objects change during an incident: restart counts, conditions, taints);
- `series`: per entity (`"k8s:pod/<name>"`), one-minute samples from `start`: `cpu_cores`, `memory_bytes`
  (working set), for pods `cpu_throttled_ratio` (throttled CFS periods / periods), for nodes
  `ephemeral_storage_used_bytes`; node series include their pods' usage;
- `events`: v1 Events (aggregated with `count`, `firstTimestamp`, `lastTimestamp`);
- `logs`: per entity, container log lines (pods) or kubelet journal lines (nodes): `timestamp`, `level`, `message`.

Run `python -m architectures.telemetry.generate [--out DIR]` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from architectures.telemetry.scenarios import BASELINE_MINUTES, INCIDENT_MINUTES, SCENARIOS, Scenario

__all__ = ('DATA_DIR', 'generate', 'main', 'render')

DATA_DIR = Path(__file__).parent / 'data'
"""Where the committed scenario files live."""

_MINUTES = BASELINE_MINUTES + INCIDENT_MINUTES
_INCIDENT = BASELINE_MINUTES  # index of the first incident minute
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
_REGISTRY = 'registry.example.com'

Json = dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _iso_ms(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


class _Builder:
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
        (self.pods if kind == 'Pod' else self.nodes).append({'observedAt': _iso(self.at(minute)), 'object': obj})

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
                    'lastHeartbeatTime': _iso(self.at(minute)),
                    'lastTransitionTime': _iso(since),
                }
            )
        memory_ki = int(memory_gib * _GIB * 0.9475) // 1024
        disk_ki = disk_gib * _GIB // 1024 - 12_000
        obj: Json = {
            'apiVersion': 'v1',
            'kind': 'Node',
            'metadata': {
                'name': name,
                'uid': self.uid(),
                'creationTimestamp': _iso(created),
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
                {'key': key, 'effect': 'NoSchedule', 'timeAdded': _iso(self.at(when))} for key, when in taints
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
    ) -> Json:
        """A v1 Pod with one container."""
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
            'state': state or {'running': {'startedAt': _iso(created + timedelta(seconds=4))}},
            'lastState': {'terminated': last_terminated} if last_terminated else {},
        }
        ready_status = 'True' if ready and phase == 'Running' else 'False'
        status: Json = {
            'phase': phase,
            'qosClass': qos,
            'hostIP': node_ip,
            'podIP': pod_ip,
            'startTime': _iso(created),
            'conditions': [
                {'type': 'PodScheduled', 'status': 'True', 'lastTransitionTime': _iso(created)},
                {'type': 'Initialized', 'status': 'True', 'lastTransitionTime': _iso(created)},
                {
                    'type': 'ContainersReady',
                    'status': ready_status,
                    'lastTransitionTime': _iso(created + timedelta(seconds=9)),
                },
                {'type': 'Ready', 'status': ready_status, 'lastTransitionTime': _iso(created + timedelta(seconds=9))},
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
        return {
            'apiVersion': 'v1',
            'kind': 'Pod',
            'metadata': {
                'name': name,
                'namespace': namespace,
                'uid': uid,
                'creationTimestamp': _iso(created),
                'labels': {'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': namespace},
                'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': owner[0], 'name': owner[1], 'controller': True}],
            },
            'spec': {'nodeName': node, 'containers': [spec_container], 'restartPolicy': 'Always'},
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
    ) -> None:
        self.series[f'k8s:pod/{name}'] = {
            'start': _iso(self.at(start)),
            'step_seconds': 60,
            'cpu_cores': [round(max(v, 0.001), 4) for v in cpu],
            'memory_bytes': [int(max(v, 1.0)) for v in memory],
            'cpu_throttled_ratio': [round(min(max(v, 0.0), 1.0), 4) for v in throttled or [0.0] * len(cpu)],
        }
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
        cpu = self.flat(_MINUTES, system_cpu, 0.08)
        memory = self.flat(_MINUTES, system_memory, 0.01)
        for node, start, pod_cpu, pod_memory in self._pod_usage.values():
            if node != name:
                continue
            for offset, (c, m) in enumerate(zip(pod_cpu, pod_memory, strict=True)):
                cpu[start + offset] += c
                memory[start + offset] += m
        self.series[f'k8s:node/{name}'] = {
            'start': _iso(self.at(0)),
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
                'firstTimestamp': _iso(self.at(first)),
                'lastTimestamp': _iso(self.at(first if last is None else last)),
                'count': count,
            }
        )

    def log(self, entity: str, minute: float, level: str, message: str) -> None:
        line = {'timestamp': _iso_ms(self.at(minute)), 'level': level, 'message': message}
        self.logs.setdefault(entity, []).append(line)

    def kubelet_routine(self, node: str, pods: list[str]) -> None:
        """Background kubelet chatter every node has, healthy or not."""
        entity = f'k8s:node/{node}'
        for minute in range(0, _MINUTES, 5):
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
        return {
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
        }


# --- shared pieces ---------------------------------------------------------------------------------------------
def _companion(
    b: _Builder,
    *,
    name: str,
    namespace: str,
    app: str,
    node: str,
    node_ip: str,
    pod_ip: str,
    cpu: float,
    memory_mib: float,
) -> None:
    """A quiet pod sharing the node, so node usage and top-pod rankings look like a real node."""
    uid = b.uid()
    obj = b.pod(
        name=name,
        namespace=namespace,
        app=app,
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{_REGISTRY}/{namespace}/{app}:v1.{b.rng.randint(2, 9)}.{b.rng.randint(0, 9)}',
        owner=('ReplicaSet', name.rsplit('-', 1)[0]),
        created_minute=-60 * 24 * 3,
        uid=uid,
        requests={'cpu': f'{int(cpu * 1000 * 1.2)}m', 'memory': f'{int(memory_mib * 1.2)}Mi'},
        limits={'cpu': f'{int(cpu * 1000 * 3)}m', 'memory': f'{int(memory_mib * 2)}Mi'},
    )
    b.snapshot('Pod', 0, obj)
    b.snapshot('Pod', _MINUTES - 1, obj)
    b.pod_series(
        name, node, b.flat(_MINUTES, cpu, 0.07), b.flat(_MINUTES, memory_mib * _MIB, 0.01), b.flat(_MINUTES, 0.005, 0.5)
    )


def _healthy_node(
    b: _Builder,
    *,
    name: str,
    ip: str,
    zone: str,
    pods: list[str],
    cpu: int = 4,
    memory_gib: int = 16,
    instance_type: str = 'm5.xlarge',
    disk_fraction: float = 0.41,
) -> None:
    """Snapshots, series and kubelet chatter of an unremarkable node; call after its pods' series exist."""
    obj = b.node(name=name, ip=ip, zone=zone, instance_type=instance_type, cpu=cpu, memory_gib=memory_gib, disk_gib=100)
    b.snapshot('Node', 0, obj)
    b.snapshot(
        'Node',
        _MINUTES - 1,
        b.node(
            name=name,
            ip=ip,
            zone=zone,
            instance_type=instance_type,
            cpu=cpu,
            memory_gib=memory_gib,
            disk_gib=100,
            minute=_MINUTES - 1,
        ),
    )
    disk = [100 * _GIB * disk_fraction + 2 * _MIB * minute for minute in range(_MINUTES)]
    b.node_series(name, 0.22 * cpu / 4, 1.3 * _GIB, disk, float(cpu))
    b.kubelet_routine(name, pods)


def _request_line(b: _Builder, method: str, path: str, latency_ms: float, status: int = 200) -> tuple[str, str]:
    latency = max(1, int(b.noisy(latency_ms, 0.35)))
    return 'INFO', f'{method} {path} {status} {latency}ms trace_id={b.hexid(16)} client={_client_ip(b)}'


def _client_ip(b: _Builder) -> str:
    return f'10.244.{b.rng.randint(0, 9)}.{b.rng.randint(2, 250)}'


# --- scenarios -------------------------------------------------------------------------------------------------
def _cpu_saturation(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-1-17.eu-west-1.compute.internal',
        '10.0.1.17',
        '10.244.1.23',
    )
    image = f'{_REGISTRY}/shop/checkout:v3.8.2'
    uid = b.uid()
    kills = [71, 76, 81, 86]
    cpu, throttled, memory = [], [], []
    for minute in range(_MINUTES):
        if minute < _INCIDENT:
            cpu.append(b.noisy(0.42, 0.06))
            throttled.append(b.noisy(0.02, 0.4))
            memory.append(b.noisy(300 * _MIB, 0.015))
        elif minute in kills:
            cpu.append(b.noisy(0.55, 0.05))
            throttled.append(b.noisy(0.3, 0.1))
            memory.append(b.noisy(262 * _MIB, 0.01))
        else:
            ramp = min(1.0, (minute - _INCIDENT + 1) / 4)
            cpu.append(min(0.999, 0.45 + ramp * b.noisy(0.535, 0.012)))
            throttled.append(b.noisy(0.1 + ramp * 0.55, 0.08))
            memory.append(b.noisy(330 * _MIB, 0.015))
    b.pod_series(pod, node, cpu, memory, throttled)
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='checkout',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=image,
        owner=('ReplicaSet', 'checkout-7f9c4d'),
        created_minute=-60 * 26,
        uid=uid,
        requests={'cpu': '500m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='checkout',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        _MINUTES - 1,
        b.pod(
            **common,
            restart_count=len(kills),
            state={'running': {'startedAt': _iso(b.at(kills[-1] + 0.9))}},
            last_terminated={
                'exitCode': 137,
                'reason': 'Error',
                'startedAt': _iso(b.at(kills[-2] + 0.9)),
                'finishedAt': _iso(b.at(kills[-1] + 0.5)),
            },
        ),
    )
    probe_url = f'http://{pod_ip}:8080/healthz'
    for number, kill in enumerate(kills):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Warning',
            reason='Unhealthy',
            host=node,
            message=f'Liveness probe failed: Get "{probe_url}": context deadline exceeded '
            '(Client.Timeout exceeded while awaiting headers)',
            first=kill - 0.4,
            last=kill - 0.1,
            count=3,
            field_path='spec.containers{checkout}',
        )
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason='Killing',
            host=node,
            message='Container checkout failed liveness probe, will be restarted',
            first=kill,
            field_path='spec.containers{checkout}',
        )
        if number >= 2:
            b.event(
                kind='Pod',
                name=pod,
                namespace=ns,
                type_='Warning',
                reason='BackOff',
                host=node,
                message=f'Back-off restarting failed container checkout in pod {pod}_{ns}({uid})',
                first=kill + 0.3,
                last=kill + 0.6,
                count=2,
                field_path='spec.containers{checkout}',
            )
        for reason, message in (
            ('Pulled', f'Container image "{image}" already present on machine'),
            ('Created', 'Created container checkout'),
            ('Started', 'Started container checkout'),
        ):
            b.event(
                kind='Pod',
                name=pod,
                namespace=ns,
                type_='Normal',
                reason=reason,
                host=node,
                message=message,
                first=kill + 0.9,
                field_path='spec.containers{checkout}',
            )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='Unhealthy',
        host=node,
        message=f'Readiness probe failed: Get "http://{pod_ip}:8080/ready": context deadline exceeded',
        first=_INCIDENT + 5,
        last=_MINUTES - 1,
        count=61,
        field_path='spec.containers{checkout}',
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute < _INCIDENT + 3:
            return _request_line(b, 'POST', '/api/v1/checkout', 85)
        roll = b.rng.random()
        order = f'ord_{b.hexid(8)}'
        if roll < 0.45:
            return 'WARN', (
                f'slow request POST /api/v1/checkout took {b.rng.randint(1200, 4800)}ms '
                f'(threshold 1000ms) order_id={order}'
            )
        if roll < 0.7:
            return 'ERROR', f'request timeout after 5000ms: POST /api/v1/checkout order_id={order}'
        return _request_line(b, 'POST', '/api/v1/checkout', 900)

    b.request_logs(entity, 0, _MINUTES, 3.0, line)
    for kill in kills:
        b.log(entity, kill + 0.92, 'INFO', 'starting checkout service version=v3.8.2 port=8080 workers=8')
        b.log(
            entity,
            kill + 0.95,
            'INFO',
            f'connected to postgres host=10.100.12.4:5432 pool_size=20 in {b.rng.randint(40, 90)}ms',
        )

    _companion(
        b,
        name='fluent-bit-7xk2p',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.1.4',
        cpu=0.08,
        memory_mib=90,
    )
    _companion(
        b,
        name='catalog-api-6b9d7c5f8-p2t6w',
        namespace='shop',
        app='catalog-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.1.31',
        cpu=0.55,
        memory_mib=700,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-7xk2p', 'shop/catalog-api-6b9d7c5f8-p2t6w'],
    )


def _memory_leak(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-1-52.eu-west-1.compute.internal',
        '10.0.1.52',
        '10.244.2.40',
    )
    image = f'{_REGISTRY}/shop/cart:v5.2.0'
    uid = b.uid()
    limit = 512 * _MIB
    oom = 86
    cpu, memory = [], []
    for minute in range(_MINUTES):
        if minute < _INCIDENT:
            cpu.append(b.noisy(0.18, 0.06))
            memory.append(b.noisy(270 * _MIB, 0.012))
        elif minute < oom:
            cpu.append(b.noisy(0.24 + 0.004 * (minute - _INCIDENT), 0.06))
            memory.append(min(limit * 0.995, b.noisy((272 + 9.4 * (minute - _INCIDENT)) * _MIB, 0.006)))
        else:
            cpu.append(b.noisy(0.2, 0.06))
            memory.append(b.noisy((140 + 9.4 * (minute - oom)) * _MIB, 0.006))
    b.pod_series(pod, node, cpu, memory, b.flat(_MINUTES, 0.004, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='cart',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=image,
        owner=('ReplicaSet', 'cart-5d8b7c9f4'),
        created_minute=-60 * 50,
        uid=uid,
        requests={'cpu': '250m', 'memory': '256Mi'},
        limits={'cpu': '1', 'memory': '512Mi'},
        container='cart',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        _MINUTES - 1,
        b.pod(
            **common,
            restart_count=1,
            state={'running': {'startedAt': _iso(b.at(oom + 0.2))}},
            last_terminated={
                'exitCode': 137,
                'reason': 'OOMKilled',
                'startedAt': _iso(b.at(-60 * 50)),
                'finishedAt': _iso(b.at(oom)),
            },
        ),
    )
    for reason, message in (
        ('Pulled', f'Container image "{image}" already present on machine'),
        ('Created', 'Created container cart'),
        ('Started', 'Started container cart'),
    ):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason=reason,
            host=node,
            message=message,
            first=oom + 0.1,
            field_path='spec.containers{cart}',
        )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='OOMKilling',
        host=node,
        component='kernel-monitor',
        message=f'Memory cgroup out of memory: Killed process {b.rng.randint(20000, 40000)} (cart-service) '
        f'total-vm:1843212kB, anon-rss:523004kB, file-rss:11240kB, shmem-rss:0kB, UID:10001 '
        f'pgtables:1420kB oom_score_adj:{b.rng.randint(900, 999)}',
        first=oom,
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if minute >= _INCIDENT and b.rng.random() < 0.18:
            entries = int(1500 * (minute - _INCIDENT if minute < oom else minute - oom) + 9000)
            return 'WARN', (
                f'session cache size={entries} entries (~{entries * 6 // 1024}MiB) exceeds soft limit '
                f'5000; eviction disabled by flag session_cache_v2'
            )
        if minute >= _INCIDENT + 10 and b.rng.random() < 0.1:
            return 'WARN', f'GC pause {b.rng.randint(180, 650)}ms heap_used={b.rng.randint(380, 500)}MiB'
        return _request_line(b, 'GET', f'/api/v1/cart/usr_{b.hexid(10)}', 14)

    b.request_logs(entity, 0, _MINUTES, 2.5, line)
    b.log(entity, _INCIDENT + 0.02, 'INFO', 'feature flag session_cache_v2 enabled by config reload rev=4471')
    b.log(entity, oom + 0.25, 'INFO', 'starting cart-service v5.2.0 port=8080 feature_flags=session_cache_v2')

    _companion(
        b,
        name='fluent-bit-m9c4d',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.2.3',
        cpu=0.07,
        memory_mib=85,
    )
    _companion(
        b,
        name='pricing-api-5c8f7b6d9-q7k3x',
        namespace='shop',
        app='pricing-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.2.18',
        cpu=0.4,
        memory_mib=900,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-m9c4d', 'shop/pricing-api-5c8f7b6d9-q7k3x'],
    )


def _crash_loop(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'payments',
        'ip-10-0-2-8.eu-west-1.compute.internal',
        '10.0.2.8',
        '10.244.3.12',
    )
    old_image, new_image = f'{_REGISTRY}/payments/ledger:v2.3.7', f'{_REGISTRY}/payments/ledger:v2.4.0'
    starts = [60.3, 60.6, 61.0, 61.7, 63.0, 65.7, 71.0, 76.1, 81.2, 86.3]
    cpu, memory = [], []
    for minute in range(_MINUTES):
        if minute < _INCIDENT:
            cpu.append(b.noisy(0.31, 0.07))
            memory.append(b.noisy(610 * _MIB, 0.01))
        elif any(int(start) == minute for start in starts):
            cpu.append(b.noisy(0.22, 0.1))
            memory.append(b.noisy(48 * _MIB, 0.05))
        else:
            cpu.append(b.noisy(0.002, 0.3))
            memory.append(b.noisy(3 * _MIB, 0.1))
    b.pod_series(pod, node, cpu, memory, b.flat(_MINUTES, 0.003, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='payments-ledger',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        owner=('StatefulSet', 'payments-ledger'),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='ledger',
    )
    b.snapshot('Pod', 0, b.pod(**common, image=old_image, created_minute=-60 * 24 * 6, uid=b.uid()))
    new_uid = b.uid()
    restarts = len(starts) - 1
    b.snapshot(
        'Pod',
        _MINUTES - 1,
        b.pod(
            **common,
            image=new_image,
            created_minute=_INCIDENT + 0.1,
            uid=new_uid,
            restart_count=restarts,
            ready=False,
            state={
                'waiting': {
                    'reason': 'CrashLoopBackOff',
                    'message': f'back-off 5m0s restarting failed container=ledger pod={pod}_{ns}({new_uid})',
                }
            },
            last_terminated={
                'exitCode': 1,
                'reason': 'Error',
                'startedAt': _iso(b.at(starts[-1])),
                'finishedAt': _iso(b.at(starts[-1] + 0.04)),
            },
        ),
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Killing',
        host=node,
        message='Stopping container ledger',
        first=_INCIDENT,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Scheduled',
        host=node,
        component='default-scheduler',
        message=f'Successfully assigned {ns}/{pod} to {node}',
        first=_INCIDENT + 0.1,
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulling',
        host=node,
        message=f'Pulling image "{new_image}"',
        first=_INCIDENT + 0.1,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulled',
        host=node,
        message=f'Successfully pulled image "{new_image}" in 3.214s (3.214s including waiting)',
        first=_INCIDENT + 0.2,
        field_path='spec.containers{ledger}',
    )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Normal',
        reason='Pulled',
        host=node,
        message=f'Container image "{new_image}" already present on machine',
        first=starts[1],
        last=starts[-1],
        count=restarts,
        field_path='spec.containers{ledger}',
    )
    for reason, message in (('Created', 'Created container ledger'), ('Started', 'Started container ledger')):
        b.event(
            kind='Pod',
            name=pod,
            namespace=ns,
            type_='Normal',
            reason=reason,
            host=node,
            message=message,
            first=starts[0],
            last=starts[-1],
            count=len(starts),
            field_path='spec.containers{ledger}',
        )
    b.event(
        kind='Pod',
        name=pod,
        namespace=ns,
        type_='Warning',
        reason='BackOff',
        host=node,
        message=f'Back-off restarting failed container ledger in pod {pod}_{ns}({new_uid})',
        first=starts[1] - 0.1,
        last=_MINUTES - 0.5,
        count=118,
        field_path='spec.containers{ledger}',
    )

    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        return 'INFO', (
            f'posted journal entry txn=txn_{b.hexid(12)} account=acc_{b.rng.randint(100000, 999999)} '
            f'amount={b.rng.randint(100, 99999) / 100:.2f} EUR in {max(2, int(b.noisy(9, 0.4)))}ms'
        )

    b.request_logs(entity, 0, _INCIDENT, 2.0, line)
    b.log(entity, _INCIDENT - 0.05, 'INFO', 'received SIGTERM, draining 3 in-flight transactions')
    for start in starts:
        b.log(entity, start + 0.01, 'INFO', f'starting ledger v2.4.0 commit=3f9a1c2 pid={b.rng.randint(1, 9)}')
        b.log(entity, start + 0.015, 'INFO', 'loading config from /etc/ledger/config.yaml')
        b.log(
            entity,
            start + 0.02,
            'ERROR',
            'config validation failed: missing required key "LEDGER_DB_DSN" (renamed from "DB_URL" in v2.4.0)',
        )
        b.log(entity, start + 0.021, 'FATAL', 'exiting: invalid configuration exit_code=1')

    _companion(
        b,
        name='fluent-bit-h4w8s',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.3.2',
        cpu=0.07,
        memory_mib=88,
    )
    _companion(
        b,
        name='fraud-scorer-7c6d9f8b5-x4n2r',
        namespace='payments',
        app='fraud-scorer',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.3.27',
        cpu=0.7,
        memory_mib=1400,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1c',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-h4w8s', 'payments/fraud-scorer-7c6d9f8b5-x4n2r'],
    )


def _node_memory_pressure(b: _Builder) -> None:
    node, node_ip, zone = b.scenario.name, '10.0.3.41', 'eu-west-1a'
    pressure_at = 71
    allocatable = (int(16 * _GIB * 0.9475) // 1024 - 993_856) * 1024
    system = 1.25 * _GIB
    steady = [
        ('recommender-7b9c6d5f8-h8n3j', 'ml', 'recommender', '10.244.4.11', 0.6, 3000),
        ('redis-cache-0', 'shop', 'redis-cache', '10.244.4.15', 0.2, 1500),
        ('fluent-bit-q2v7n', 'logging', 'fluent-bit', '10.244.4.2', 0.08, 90),
    ]
    for name, ns, app, ip, cpu, memory_mib in steady:
        _companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    evicted = [
        ('report-renderer-6d8c7b9f5-z5m2k', 'reports', 74, 640),
        ('docs-preview-5f7b8c6d9-l9p4t', 'docs', 79, 520),
    ]
    for name, ns, when, memory_mib in evicted:
        uid = b.uid()
        common: Json = dict(
            name=name,
            namespace=ns,
            app=name.split('-')[0],
            node=node,
            node_ip=node_ip,
            pod_ip=f'10.244.4.{b.rng.randint(30, 60)}',
            image=f'{_REGISTRY}/{ns}/{name.rsplit("-", 2)[0]}:v0.9.{b.rng.randint(0, 9)}',
            owner=('ReplicaSet', name.rsplit('-', 1)[0]),
            created_minute=-60 * 30,
            uid=uid,
            requests={},
            limits={},
            probe=False,
        )
        b.snapshot('Pod', 0, b.pod(**common))
        message = (
            f'The node was low on resource: memory. Threshold quantity: 100Mi, available: '
            f'{b.rng.randint(60000, 99000)}Ki. Container {name.split("-")[0]} was using '
            f'{memory_mib * 1024 + b.rng.randint(0, 900)}Ki, request is 0, has larger consumption of memory.'
        )
        b.snapshot(
            'Pod',
            _MINUTES - 1,
            b.pod(
                **common,
                phase='Failed',
                ready=False,
                evicted_message=message,
                state={'terminated': {'exitCode': 137, 'reason': 'Error', 'finishedAt': _iso(b.at(when + 0.3))}},
            ),
        )
        b.pod_series(name, node, b.flat(when, 0.05, 0.1), b.flat(when, memory_mib * _MIB, 0.01))
        b.event(
            kind='Pod',
            name=name,
            namespace=ns,
            type_='Warning',
            reason='Evicted',
            host=node,
            message=message,
            first=when + 0.1,
        )
        b.event(
            kind='Pod',
            name=name,
            namespace=ns,
            type_='Normal',
            reason='Killing',
            host=node,
            message=f'Stopping container {name.split("-")[0]}',
            first=when + 0.15,
        )
    others = sum(m for *_, m in steady) * _MIB + system
    etl_cpu, etl_memory = [], []
    for minute in range(_MINUTES):
        still = sum(m * _MIB for _, _, when, m in evicted if minute < when)
        target = 0.6 if minute < _INCIDENT else min(0.965, 0.62 + 0.03 * (minute - _INCIDENT))
        # The ETL pod takes whatever the node's target usage leaves; evictions free memory it then reclaims.
        etl = b.noisy(target * allocatable, 0.004) - others - still
        etl_memory.append(etl)
        etl_cpu.append(b.noisy(0.9 if minute < _INCIDENT else 1.4, 0.05))
    etl = 'analytics-etl-6f7d9b8c5-kp2xw'
    etl_common: Json = dict(
        name=etl,
        namespace='analytics',
        app='analytics-etl',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.4.21',
        image=f'{_REGISTRY}/analytics/etl:v4.1.0',
        owner=('ReplicaSet', 'analytics-etl-6f7d9b8c5'),
        created_minute=-60 * 5,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '2Gi'},
        limits={'cpu': '2'},
        container='etl',
    )
    b.snapshot('Pod', 0, b.pod(**etl_common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**etl_common))
    b.pod_series(etl, node, etl_cpu, etl_memory, b.flat(_MINUTES, 0.01, 0.5))
    conditions = {
        'MemoryPressure': (
            'True',
            'KubeletHasInsufficientMemory',
            'kubelet has insufficient memory available',
            pressure_at,
        )
    }
    spec: Json = dict(name=node, ip=node_ip, zone=zone, instance_type='m5.xlarge', cpu=4, memory_gib=16, disk_gib=100)
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        _MINUTES - 1,
        b.node(
            **spec,
            conditions=conditions,
            minute=_MINUTES - 1,
            taints=[('node.kubernetes.io/memory-pressure', pressure_at)],
        ),
    )
    b.node_series(node, 0.3, system, [41 * _GIB + 2 * _MIB * m for m in range(_MINUTES)], 4.0)
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='NodeHasInsufficientMemory',
        host=node,
        message=f'Node {node} status is now: NodeHasInsufficientMemory',
        first=pressure_at,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='EvictionThresholdMet',
        host=node,
        message='Attempting to reclaim memory',
        first=pressure_at + 0.2,
        last=_MINUTES - 2,
        count=6,
    )
    entity = f'k8s:node/{node}'
    pods = [f'{ns}/{name}' for name, ns, *_ in steady] + [f'analytics/{etl}']
    b.kubelet_routine(node, pods)
    for minute in range(pressure_at, _MINUTES, 3):
        b.log(entity, minute + 0.21, 'WARN', '"Eviction manager: attempting to reclaim" resourceName="memory"')
        b.log(
            entity,
            minute + 0.22,
            'INFO',
            f'"Eviction manager: must evict pod(s) to reclaim" resourceName="memory" '
            f'available="{b.rng.randint(60, 99)}Mi" threshold="100Mi"',
        )
    for name, ns, when, _ in evicted:
        b.log(entity, when + 0.1, 'INFO', f'"Eviction manager: pods ranked for eviction" pods=["{ns}/{name}"]')
        b.log(entity, when + 0.3, 'INFO', f'"Eviction manager: pod is evicted successfully" pod="{ns}/{name}"')
    b.log(
        entity,
        pressure_at + 0.1,
        'INFO',
        f'"Node became not ready for scheduling" node="{node}" reason="MemoryPressure"',
    )


def _noisy_neighbor(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'search',
        'ip-10-0-4-19.eu-west-1.compute.internal',
        '10.0.4.19',
        '10.244.5.14',
    )
    cpu, throttled, memory = [], [], []
    for minute in range(_MINUTES):
        if minute < _INCIDENT:
            cpu.append(b.noisy(0.9, 0.05))
            throttled.append(b.noisy(0.03, 0.3))
        else:
            cpu.append(b.noisy(1.2, 0.06))
            throttled.append(b.noisy(0.38, 0.12))
        memory.append(b.noisy(1150 * _MIB, 0.01))
    b.pod_series(pod, node, cpu, memory, throttled)
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='search-api',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{_REGISTRY}/search/search-api:v7.0.3',
        owner=('ReplicaSet', 'search-api-6c9f8b7d4'),
        created_minute=-60 * 40,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='search-api',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**common))
    _companion(
        b,
        name='metrics-agent-r8t5v',
        namespace='monitoring',
        app='metrics-agent',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.3',
        cpu=0.15,
        memory_mib=200,
    )
    _companion(
        b,
        name='geo-api-8d6c5b7f9-v3h8m',
        namespace='search',
        app='geo-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.22',
        cpu=1.4,
        memory_mib=2100,
    )
    hog = 'batch-reindex-29563860-vx9lm'
    # Whatever the node has left goes to the unlimited batch job: the node is pinned at capacity.
    others = [0.3 + c + 0.15 + 1.4 for c in cpu[_INCIDENT:]]
    hog_cpu = [min(b.noisy(5.8, 0.03), 8.0 - other) for other in others]
    hog_common: Json = dict(
        name=hog,
        namespace='search',
        app='batch-reindex',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.5.40',
        image=f'{_REGISTRY}/search/reindexer:v2.2.1',
        owner=('Job', 'batch-reindex-29563860'),
        created_minute=_INCIDENT - 0.5,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '1Gi'},
        limits={},
        container='reindexer',
        probe=False,
    )
    b.snapshot('Pod', _INCIDENT, b.pod(**hog_common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**hog_common))
    b.pod_series(
        hog, node, hog_cpu, b.flat(INCIDENT_MINUTES, 2.6 * _GIB, 0.02), [0.0] * INCIDENT_MINUTES, start=_INCIDENT
    )
    b.event(
        kind='Pod',
        name=hog,
        namespace='search',
        type_='Normal',
        reason='Scheduled',
        host=node,
        component='default-scheduler',
        message=f'Successfully assigned search/{hog} to {node}',
        first=_INCIDENT - 0.5,
    )
    b.event(
        kind='Pod',
        name=hog,
        namespace='search',
        type_='Normal',
        reason='Started',
        host=node,
        message='Started container reindexer',
        first=_INCIDENT - 0.3,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        pods=[f'{ns}/{pod}', 'monitoring/metrics-agent-r8t5v', 'search/geo-api-8d6c5b7f9-v3h8m'],
    )
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        query = b.rng.choice(['running shoes', 'usb-c cable', 'desk lamp', 'coffee grinder', 'rain jacket'])
        if minute >= _INCIDENT and b.rng.random() < 0.3:
            return 'WARN', (
                f'slow query took {b.rng.randint(1100, 3900)}ms index=products shard={b.rng.randint(0, 5)} q="{query}"'
            )
        latency = 45 if minute < _INCIDENT else 380
        took = max(3, int(b.noisy(latency, 0.3)))
        return 'INFO', f'GET /search q="{query}" 200 {took}ms hits={b.rng.randint(0, 400)}'

    b.request_logs(entity, 0, _MINUTES, 3.0, line)
    for batch, minute in enumerate(range(_INCIDENT, _MINUTES)):
        b.log(
            f'k8s:pod/{hog}',
            minute + 0.5,
            'INFO',
            f'reindexed batch {batch + 1}/400 docs=5000 elapsed={b.rng.uniform(50, 59):.1f}s',
        )


def _disk_pressure(b: _Builder) -> None:
    node, node_ip, zone = b.scenario.name, '10.0.5.77', 'eu-west-1c'
    pressure_at, evicted_at = 74, 77
    capacity = (100 * _GIB // 1024 - 12_000) * 1024
    disk = []
    for minute in range(_MINUTES):
        if minute < _INCIDENT:
            fraction = 0.56 + 0.0002 * minute
        elif minute < evicted_at:
            fraction = 0.57 + 0.0245 * (minute - _INCIDENT)
        else:
            fraction = 0.86 + 0.0025 * (minute - evicted_at)
        disk.append(capacity * b.noisy(fraction, 0.002))
    transcoder = 'media-transcoder-5f6b8c9d7-t4v2n'
    for name, ns, app, ip, cpu, memory_mib in [
        ('thumbnailer-6c7d8b9f5-k2j6p', 'media', 'thumbnailer', '10.244.6.19', 0.5, 800),
        ('fluent-bit-d3r6x', 'logging', 'fluent-bit', '10.244.6.2', 0.09, 95),
    ]:
        _companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    message = (
        f'The node was low on resource: ephemeral-storage. Threshold quantity: 10486528Ki, available: '
        f'{b.rng.randint(9_000_000, 10_400_000)}Ki. Container transcoder was using 31457280Ki, request is 0, '
        'has larger consumption of ephemeral-storage.'
    )
    common: Json = dict(
        name=transcoder,
        namespace='media',
        app='media-transcoder',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.6.33',
        image=f'{_REGISTRY}/media/transcoder:v1.14.2',
        owner=('ReplicaSet', 'media-transcoder-5f6b8c9d7'),
        created_minute=-60 * 9,
        uid=b.uid(),
        requests={'cpu': '1', 'memory': '1Gi'},
        limits={'cpu': '2', 'memory': '2Gi'},
        container='transcoder',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot(
        'Pod',
        _MINUTES - 1,
        b.pod(
            **common,
            phase='Failed',
            ready=False,
            evicted_message=message,
            state={'terminated': {'exitCode': 137, 'reason': 'Error', 'finishedAt': _iso(b.at(evicted_at + 0.4))}},
        ),
    )
    b.pod_series(
        transcoder,
        node,
        b.flat(evicted_at, 1.1, 0.06),
        b.flat(evicted_at, 900 * _MIB, 0.02),
        b.flat(evicted_at, 0.05, 0.3),
    )
    spec: Json = dict(name=node, ip=node_ip, zone=zone, instance_type='c5.xlarge', cpu=4, memory_gib=8, disk_gib=100)
    b.snapshot('Node', 0, b.node(**spec))
    b.snapshot(
        'Node',
        _MINUTES - 1,
        b.node(
            **spec,
            minute=_MINUTES - 1,
            taints=[('node.kubernetes.io/disk-pressure', pressure_at)],
            conditions={'DiskPressure': ('True', 'KubeletHasDiskPressure', 'kubelet has disk pressure', pressure_at)},
        ),
    )
    b.node_series(node, 0.25, 1.1 * _GIB, disk, 4.0)
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='NodeHasDiskPressure',
        host=node,
        message=f'Node {node} status is now: NodeHasDiskPressure',
        first=pressure_at,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='EvictionThresholdMet',
        host=node,
        message='Attempting to reclaim ephemeral-storage',
        first=pressure_at + 0.1,
        last=_MINUTES - 1.5,
        count=5,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='FreeDiskSpaceFailed',
        host=node,
        message='Failed to garbage collect required amount of images. Attempted to free 12884901888 bytes, '
        'but only found 2147483648 bytes eligible to free.',
        first=_INCIDENT + 9,
        last=_MINUTES - 3,
        count=4,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Warning',
        reason='ImageGCFailed',
        host=node,
        message='failed to garbage collect required amount of images. Wanted to free 12884901888 bytes, but '
        'freed 1932735283 bytes',
        first=_INCIDENT + 9,
        last=_MINUTES - 3,
        count=4,
    )
    b.event(
        kind='Pod',
        name=transcoder,
        namespace='media',
        type_='Warning',
        reason='Evicted',
        host=node,
        message=message,
        first=evicted_at + 0.1,
    )
    b.event(
        kind='Pod',
        name=transcoder,
        namespace='media',
        type_='Normal',
        reason='Killing',
        host=node,
        message='Stopping container transcoder',
        first=evicted_at + 0.2,
    )
    entity = f'k8s:node/{node}'
    b.kubelet_routine(node, [f'media/{transcoder}', 'media/thumbnailer-6c7d8b9f5-k2j6p', 'logging/fluent-bit-d3r6x'])
    for minute in range(_INCIDENT + 9, _MINUTES, 5):
        b.log(
            entity,
            minute + 0.05,
            'ERROR',
            f'"Image garbage collection failed multiple times in a row" err="Failed to garbage collect required '
            f'amount of images. Attempted to free {12884901888 + minute} bytes, but only found 2147483648 bytes '
            f'eligible to free."',
        )
    for minute in range(pressure_at, _MINUTES, 2):
        b.log(
            entity, minute + 0.11, 'WARN', '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"'
        )
    b.log(entity, evicted_at + 0.1, 'INFO', f'"Eviction manager: pods ranked for eviction" pods=["media/{transcoder}"]')
    b.log(entity, evicted_at + 0.4, 'INFO', f'"Eviction manager: pod is evicted successfully" pod="media/{transcoder}"')
    for minute in range(0, evicted_at, 2):
        b.log(
            f'k8s:pod/{transcoder}',
            minute + 0.3,
            'INFO',
            f'transcoded asset=vid_{b.hexid(10)} preset=1080p scratch=/scratch/{b.hexid(8)} '
            f'bytes={b.rng.randint(200, 900) * _MIB}',
        )


def _network_errors(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'messaging',
        'ip-10-0-6-33.eu-west-1.compute.internal',
        '10.0.6.33',
        '10.244.7.21',
    )
    b.pod_series(
        pod, node, b.flat(_MINUTES, 0.12, 0.07), b.flat(_MINUTES, 190 * _MIB, 0.01), b.flat(_MINUTES, 0.004, 0.5)
    )
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='notification-worker',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{_REGISTRY}/messaging/notification-worker:v3.1.4',
        owner=('ReplicaSet', 'notification-worker-84c6d7f9b'),
        created_minute=-60 * 70,
        uid=b.uid(),
        requests={'cpu': '200m', 'memory': '256Mi'},
        limits={'cpu': '500m', 'memory': '512Mi'},
        container='worker',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        message_id = f'msg_{b.hexid(12)}'
        roll = b.rng.random()
        if minute >= _INCIDENT + 2 and roll < 0.55:
            port = b.rng.randint(32768, 60999)
            choice = b.rng.random()
            if choice < 0.5:
                return 'ERROR', (
                    f'smtp send failed msg_id={message_id}: dial tcp: lookup '
                    f'smtp-relay.messaging.svc.cluster.local on 10.96.0.10:53: read udp '
                    f'{pod_ip}:{port}->10.96.0.10:53: i/o timeout'
                )
            if choice < 0.8:
                return 'ERROR', (
                    f'smtp send failed msg_id={message_id}: dial tcp 10.100.32.7:587: connect: connection refused'
                )
            return 'ERROR', (
                f'failed to fetch template "order_shipped" for msg_id={message_id}: Get '
                f'"http://templates.messaging.svc:8080/v1/templates/order_shipped": dial tcp: lookup '
                'templates.messaging.svc on 10.96.0.10:53: no such host'
            )
        if minute >= _INCIDENT + 2 and roll < 0.75:
            attempt = b.rng.randint(2, 5)
            return 'WARN', f'retrying delivery msg_id={message_id} attempt={attempt} backoff={b.rng.randint(1, 16)}s'
        return 'INFO', (
            f'sent email template=order_shipped msg_id={message_id} to=sha256:{b.hexid(12)} '
            f'in {max(20, int(b.noisy(230, 0.3)))}ms'
        )

    b.request_logs(entity, 0, _MINUTES, 2.5, line)
    _companion(
        b,
        name='fluent-bit-w5b9c',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.7.2',
        cpu=0.08,
        memory_mib=92,
    )
    _companion(
        b,
        name='webhooks-dispatcher-6f9b8c7d5-n6r4q',
        namespace='messaging',
        app='webhooks-dispatcher',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.7.30',
        cpu=0.3,
        memory_mib=450,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-w5b9c', 'messaging/webhooks-dispatcher-6f9b8c7d5-n6r4q'],
    )


def _healthy_pod(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-7-12.eu-west-1.compute.internal',
        '10.0.7.12',
        '10.244.8.17',
    )
    b.pod_series(
        pod, node, b.flat(_MINUTES, 0.35, 0.05), b.flat(_MINUTES, 410 * _MIB, 0.01), b.flat(_MINUTES, 0.01, 0.4)
    )
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='inventory-api',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{_REGISTRY}/shop/inventory-api:v2.9.1',
        owner=('ReplicaSet', 'inventory-api-5b7c8d9f6'),
        created_minute=-60 * 24 * 2,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '1', 'memory': '1Gi'},
        container='inventory-api',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'

    def line(minute: float) -> tuple[str, str]:
        if b.rng.random() < 0.03:
            return 'WARN', f'cache miss ratio {b.rng.uniform(0.1, 0.14):.2f} above target 0.10 for region=eu-west-1'
        return _request_line(b, 'GET', f'/api/v1/stock/SKU-{b.rng.randint(10000, 99999)}', 22)

    b.request_logs(entity, 0, _MINUTES, 2.5, line)
    b.log(entity, _INCIDENT + 12.4, 'ERROR', 'upstream returned 503 for sku=SKU-10233, retrying in 200ms')
    _companion(
        b,
        name='fluent-bit-j7p3z',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.8.2',
        cpu=0.08,
        memory_mib=90,
    )
    _companion(
        b,
        name='reviews-api-7c9d6b8f5-b8w2e',
        namespace='shop',
        app='reviews-api',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.8.25',
        cpu=0.45,
        memory_mib=600,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1b',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-j7p3z', 'shop/reviews-api-7c9d6b8f5-b8w2e'],
    )


def _healthy_node_scenario(b: _Builder) -> None:
    node, node_ip = b.scenario.name, '10.0.8.90'
    pods = [
        ('orders-api-6d9c8b7f5-c4x9v', 'shop', 'orders-api', '10.244.9.14', 1.1, 1800),
        ('shipping-api-5b8d7c6f9-f7q2m', 'shop', 'shipping-api', '10.244.9.19', 0.7, 1200),
        ('kafka-consumer-7f6d5c8b9-t9k4s', 'events', 'kafka-consumer', '10.244.9.23', 1.3, 5200),
        ('fluent-bit-n2d8k', 'logging', 'fluent-bit', '10.244.9.2', 0.09, 95),
    ]
    for name, ns, app, ip, cpu, memory_mib in pods:
        _companion(
            b, name=name, namespace=ns, app=app, node=node, node_ip=node_ip, pod_ip=ip, cpu=cpu, memory_mib=memory_mib
        )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1c',
        cpu=8,
        memory_gib=32,
        instance_type='m5.2xlarge',
        pods=[f'{ns}/{name}' for name, ns, *_ in pods],
        disk_fraction=0.48,
    )
    b.event(
        kind='Node',
        name=node,
        namespace='',
        type_='Normal',
        reason='RegisteredNode',
        host=node,
        component='node-controller',
        message=f'Node {node} event: Registered Node {node} in Controller',
        first=_INCIDENT + 7,
    )


def _traffic_peak(b: _Builder) -> None:
    pod, ns, node, node_ip, pod_ip = (
        b.scenario.name,
        'shop',
        'ip-10-0-9-15.eu-west-1.compute.internal',
        '10.0.9.15',
        '10.244.10.8',
    )
    cpu, memory = [], []
    for minute in range(_MINUTES):
        load = 1.0 if minute < _INCIDENT else min(2.05, 1.0 + 0.12 * (minute - _INCIDENT + 1))
        cpu.append(b.noisy(0.32 * load, 0.05))
        memory.append(b.noisy((380 + 20 * (load - 1)) * _MIB, 0.008))
    b.pod_series(pod, node, cpu, memory, b.flat(_MINUTES, 0.006, 0.5))
    common: Json = dict(
        name=pod,
        namespace=ns,
        app='web-frontend',
        node=node,
        node_ip=node_ip,
        pod_ip=pod_ip,
        image=f'{_REGISTRY}/shop/web-frontend:v12.4.0',
        owner=('ReplicaSet', 'web-frontend-7d5c9b8f6'),
        created_minute=-60 * 24,
        uid=b.uid(),
        requests={'cpu': '500m', 'memory': '512Mi'},
        limits={'cpu': '2', 'memory': '1Gi'},
        container='web',
    )
    b.snapshot('Pod', 0, b.pod(**common))
    b.snapshot('Pod', _MINUTES - 1, b.pod(**common))
    entity = f'k8s:pod/{pod}'
    pages = ['/', '/products', '/products/42', '/cart', '/account']
    for minute in range(_MINUTES):
        rate = 2.0 if minute < _INCIDENT else 4.0
        count = int(rate) + (1 if b.rng.random() < rate - int(rate) else 0)
        for offset in sorted(b.rng.uniform(0, 0.999) for _ in range(count)):
            level, message = _request_line(b, 'GET', b.rng.choice(pages), 35)
            b.log(entity, minute + offset, level, message)
    _companion(
        b,
        name='fluent-bit-v6h3t',
        namespace='logging',
        app='fluent-bit',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.10.2',
        cpu=0.08,
        memory_mib=90,
    )
    _companion(
        b,
        name='recommend-widget-6b7c9d8f5-s5n7y',
        namespace='shop',
        app='recommend-widget',
        node=node,
        node_ip=node_ip,
        pod_ip='10.244.10.17',
        cpu=0.3,
        memory_mib=420,
    )
    _healthy_node(
        b,
        name=node,
        ip=node_ip,
        zone='eu-west-1a',
        pods=[f'{ns}/{pod}', 'logging/fluent-bit-v6h3t', 'shop/recommend-widget-6b7c9d8f5-s5n7y'],
    )


_GENERATORS: dict[str, tuple[int, Callable[[_Builder], None]]] = {
    'cpu-saturation-checkout': (101, _cpu_saturation),
    'memory-leak-cart': (202, _memory_leak),
    'crash-loop-ledger': (303, _crash_loop),
    'node-memory-pressure': (404, _node_memory_pressure),
    'noisy-neighbor-search': (505, _noisy_neighbor),
    'disk-pressure-node': (606, _disk_pressure),
    'network-errors-notifications': (707, _network_errors),
    'healthy-pod': (808, _healthy_pod),
    'healthy-node': (909, _healthy_node_scenario),
    'healthy-traffic-peak': (1111, _traffic_peak),
}
"""Scenario id -> (seed, builder). Scenarios whose entity does not exist (pod-not-found) have no file."""


def render(scenario: Scenario) -> str:
    """The JSON text of one scenario's data file."""
    seed, build = _GENERATORS[scenario.id]
    builder = _Builder(scenario, seed)
    build(builder)
    return json.dumps(builder.document(), indent=1) + '\n'


def generate(out_dir: Path = DATA_DIR) -> list[Path]:
    """Write every scenario's data file into `out_dir` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in SCENARIOS:
        if scenario.id not in _GENERATORS:
            continue
        path = out_dir / f'{scenario.id}.json'
        path.write_text(render(scenario), encoding='utf-8')
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: `python -m architectures.telemetry.generate [--out DIR]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=DATA_DIR, help=f'output directory (default: {DATA_DIR})')
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f'wrote {path} ({path.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
