"""The scenario files as a real cluster's Prometheus holds them, in the OpenMetrics text format that
`promtool tsdb create-blocks-from openmetrics` reads (`openmetrics()`).

What a scrape of each exporter gives, and so what `PrometheusBackend`'s queries must cope with:

- **cAdvisor** (the kubelet's `/metrics/cadvisor`; `job="kubelet"`, `instance="<node IP>:10250"`, and the `node`
  label kube-prometheus adds to them): three series per pod and metric, told apart by `container`: the workload
  container (`container="<name>"`, its `image`), the pause container that holds the pod's namespaces
  (`container="POD"`, the pause image) and the pod-level cgroup (`container=""`, no image), whose figures are the
  sum of the other two. A query that does not exclude the last two counts the pod twice. (Docker and CRI-O label
  the pause container `container="POD"`; containerd leaves the label empty and gives it the pause image. The
  queries' `container!="", container!="POD"` leaves out either.)
  `container_cpu_usage_seconds_total` and the CFS period counters start again from zero at every restart of the
  container (the `restarts` of the scenario file); the pod-level cgroup outlives restarts, so its counter does not
  reset. cAdvisor labels a series with its cgroup's path, `id` (`/kubepods/burstable/pod<uid>` for the pod-level
  cgroup, that path and the container's ID for a container), and a container's `name` (its ID); a container's
  change at every restart, as each container has a cgroup of its own. The scrape configuration this stands for
  removes them from the containers' series (`metric_relabel_configs` setting `id` and `name` to "" where `container`
  is not empty, a common way to bound cardinality), so that a container is one series across restarts and a
  restart is a counter reset, which `rate()` handles; the pod-level series keeps its `id`. A pod replaced by one of
  the same name (a StatefulSet rollout) starts every counter from zero in the step it was created in: its container
  and pod-level cgroup are new series (a new image, a new uid in the `id`), its pause container goes on in the old
  one, with a reset.
- **node-exporter** (`job="node-exporter"`, `instance="<node IP>:9100"`): no node name on its series. CPU seconds
  per `cpu` and `mode` (busy time split 3:1 between `user` and `system`, the rest `idle`), `MemTotal` and
  `MemAvailable`, the root filesystem's size and free bytes, and `node_uname_info{nodename="<node>"}`, the only
  series that ties an `instance` to a node name.
- **kube-state-metrics** (`job="kube-state-metrics"`, scraped once a step): `kube_node_info`, `kube_pod_info` and
  `kube_pod_container_status_restarts_total`, the restart count the API reports.

Every series is scraped `SCRAPES_PER_STEP` times per step of the data (15 s for 1-minute steps), at the ends of the
step's equal parts; a step without a value (a scrape gap) has no scrapes. A counter grows by the step's value per
second times the scrape interval, so `rate()` over the step's scrapes gives the value back exactly. A restart at
time r resets a container's counters from the last scrape at or before r (15 s is all a scrape can resolve), so
the first scrape after it reads only what the new container used since; two restarts in one scrape interval are
one reset, and a reset the scrapes could not show (the new reading not below the last, which Prometheus would take
for growth) is written at the first later scrape at which they can.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from architectures.telemetry.backend import FixtureBackend, Json, parse_bytes, parse_time

__all__ = (
    'CFS_PERIODS_PER_SECOND',
    'KUBELET_PORT',
    'NODE_EXPORTER_PORT',
    'PAUSE_CPU_CORES',
    'PAUSE_IMAGE',
    'PAUSE_MEMORY_BYTES',
    'SCRAPES_PER_STEP',
    'openmetrics',
)

SCRAPES_PER_STEP = 4
"""Scrapes per step of a series: a 15 s scrape interval for 1-minute steps."""
CFS_PERIODS_PER_SECOND = 10
"""The kernel's CFS enforcement periods per second (100 ms, the default `cpu.cfs_period_us`)."""
PAUSE_IMAGE = 'registry.k8s.io/pause:3.9'
"""The pause container's image."""
PAUSE_CPU_CORES = 0.0002
"""What a pause container uses: it sleeps, and wakes only for signals."""
PAUSE_MEMORY_BYTES = 524_288
"""A pause container's working set (512 KiB)."""
KUBELET_PORT = 10250
"""The kubelet's port: cAdvisor's `instance` is `<node IP>:10250`."""
NODE_EXPORTER_PORT = 9100
"""node-exporter's port: its `instance` is `<node IP>:9100`."""
_USER_SHARE = 0.75
"""The share of a node's busy CPU time node-exporter reports in `mode="user"` (the rest in `system`)."""

_Samples = list[tuple[float, float]]
"""`(unix time, value)` of one series, oldest first."""


def _escape(value: str) -> str:
    return value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _labels(**labels: str) -> str:
    return '{' + ','.join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + '}'


class _Scrape:
    """The scrape times of one series: `per_step` per step with a value, from `start`."""

    def __init__(
        self, start: datetime, step: timedelta, present: Sequence[bool], *, per_step: int = SCRAPES_PER_STEP
    ) -> None:
        self.start = start.timestamp()
        self.interval = step.total_seconds() / per_step
        self.step = step.total_seconds()
        self.present = present
        self.per_step = per_step

    def times(self) -> Iterable[tuple[float, int]]:
        """`(scrape time, step index)` of every scrape."""
        for index, present in enumerate(self.present):
            if present:
                for k in range(1, self.per_step + 1):
                    yield self.start + index * self.step + k * self.interval, index

    def gauge(self, values: Sequence[float | None]) -> _Samples:
        """Each step's value at each of its scrapes."""
        return [(at, value) for at, index in self.times() if (value := values[index]) is not None]

    def constant(self, value: float) -> _Samples:
        """`value` at every scrape."""
        return [(at, value) for at, _ in self.times()]

    def counter(
        self, per_second: Sequence[float | None], resets: Sequence[float] = (), *, zero: bool = True
    ) -> _Samples:
        """A counter from 0 at `start` growing at `per_second[i]` during step i, reset at `resets` (unix times; see
        the module docstring for where a reset lands). Without `zero`, the reading of 0 at `start` is left out (a
        series that goes on from another pod's, which was read then)."""
        samples: _Samples = [(self.start, 0.0)] if zero else []
        pending = sorted(resets)
        total = 0.0
        for at, index in self.times():
            increment = (per_second[index] or 0.0) * self.interval
            due = bool(pending) and pending[0] < at
            if due and total > increment:
                total = increment
                pending = [moment for moment in pending if moment >= at]
            else:
                total += increment
            samples.append((at, total))
        return samples


class _Exposition:
    """Metric families being written: `(name, type) -> [(labels, samples)]`."""

    def __init__(self) -> None:
        self.families: dict[tuple[str, str], list[tuple[str, _Samples]]] = {}

    def add(self, name: str, kind: str, labels: str, samples: _Samples) -> None:
        self.families.setdefault((name, kind), []).append((labels, samples))

    def text(self) -> str:
        lines: list[str] = []
        for (name, kind), series in sorted(self.families.items()):
            lines.append(f'# TYPE {name.removesuffix("_total") if kind == "counter" else name} {kind}')
            lines.extend(f'{name}{labels} {value!r} {at:.3f}' for labels, samples in series for at, value in samples)
        return '\n'.join([*lines, '# EOF']) + '\n'


def _internal_ip(node: Json) -> str:
    address: str = next(a['address'] for a in node['status']['addresses'] if a['type'] == 'InternalIP')
    return address


def _incarnations(cluster: FixtureBackend, name: str) -> list[list[tuple[datetime, Json]]]:
    """The observations of each pod that bore this name, oldest pod first (a rollout replaces a StatefulSet's pod by
    a new one of the same name: a new uid)."""
    pods: dict[str, list[tuple[datetime, Json]]] = {}
    for moment, obj in cluster.observations('k8s:pod', name):
        pods.setdefault(obj['metadata']['uid'], []).append((moment, obj))  # dicts keep the order of appearance
    return list(pods.values())


def _restart_counts(observations: list[tuple[datetime, Json]], restarts: list[float]) -> tuple[float, int]:
    """`(time, count)` from which the pod's restart count follows the recorded `restarts`: its creation with none
    when it was created during the data, else its first observation. `ValueError` unless the count so reaches the
    one last observed."""
    (first_seen, first), (last_seen, last) = observations[0], observations[-1]
    created = parse_time(first['metadata']['creationTimestamp'])
    base = (created.timestamp(), 0) if created > first_seen else (first_seen.timestamp(), _restart_count(first))
    recorded = sum(1 for moment in restarts if base[0] < moment <= last_seen.timestamp())
    if base[1] + recorded != _restart_count(last):
        meta = last['metadata']
        raise ValueError(
            f'pod {meta["namespace"]}/{meta["name"]}: its restart count goes from {base[1]} to {_restart_count(last)} '
            f'but the scenario records {recorded} restarts in between; record each with Builder.restart (the fault '
            'injectors of faults/pods.py do)'
        )
    return base


def _restart_count(pod: Json) -> int:
    statuses = pod['status'].get('containerStatuses')  # none in a pod no node took
    return int(statuses[0]['restartCount']) if statuses else 0


def _pod(
    out: _Exposition,
    cluster: FixtureBackend,
    name: str,
    start: datetime,
    step: timedelta,
    values: dict[str, list[float | None]],
) -> None:
    incarnations = _incarnations(cluster, name)
    pods = [observations[-1][1] for observations in incarnations]
    steps = len(values['cpu_cores'])
    # Each pod's series run from the step it was created in (the first one's from the start of the data) to the
    # next one's.
    firsts = [0] + [max(0, (parse_time(p['metadata']['creationTimestamp']) - start) // step) for p in pods[1:]]
    restarts = [moment.timestamp() for moment in cluster.restarts(name)]
    for number, pod in enumerate(pods):
        first, stop = firsts[number], firsts[number + 1] if number + 1 < len(pods) else steps
        begin = start + first * step
        own = {metric: series[first:stop] for metric, series in values.items()}
        scrape = _Scrape(begin, step, [v is not None for v in own['cpu_cores']])
        end = (begin + (stop - first) * step).timestamp()
        resets = [moment for moment in restarts if begin.timestamp() <= moment < end]
        meta, spec, status = pod['metadata'], pod['spec'], pod['status']
        if not spec.get('nodeName'):
            # A pod no node took has no kubelet to report it: kube-state-metrics alone knows it.
            _pod_info(out, _Scrape(begin, step, [True] * (stop - first), per_step=1), pod)
            continue
        container = spec['containers'][0]
        kubelet = dict(
            job='kubelet',
            instance=f'{status["hostIP"]}:{KUBELET_PORT}',
            node=spec['nodeName'],
            namespace=meta['namespace'],
            pod=name,
        )
        workload = _labels(**kubelet, container=container['name'], image=container['image'])
        pause = _labels(**kubelet, container='POD', image=PAUSE_IMAGE)
        qos = status.get('qosClass', 'BestEffort').lower()
        path = '/kubepods' if qos == 'guaranteed' else f'/kubepods/{qos}'
        cgroup = _labels(**kubelet, container='', image='', id=f'{path}/pod{meta["uid"]}')
        cpu, memory = own['cpu_cores'], own['memory_bytes']
        out.add('container_cpu_usage_seconds_total', 'counter', workload, scrape.counter(cpu, resets))
        # The pause container of a pod that replaced another of the same name goes on in the same series (its labels
        # do not change): its counter drops to the new pod's first reading.
        fresh = number == 0
        pause_cpu = [None if v is None else PAUSE_CPU_CORES for v in cpu]
        out.add('container_cpu_usage_seconds_total', 'counter', pause, scrape.counter(pause_cpu, zero=fresh))
        out.add(
            'container_cpu_usage_seconds_total',
            'counter',
            cgroup,
            scrape.counter([None if v is None else v + PAUSE_CPU_CORES for v in cpu]),
        )
        out.add('container_memory_working_set_bytes', 'gauge', workload, scrape.gauge(memory))
        out.add('container_memory_working_set_bytes', 'gauge', pause, scrape.constant(PAUSE_MEMORY_BYTES))
        out.add(
            'container_memory_working_set_bytes',
            'gauge',
            cgroup,
            scrape.gauge([None if v is None else v + PAUSE_MEMORY_BYTES for v in memory]),
        )
        if 'cpu_throttled_ratio' in own:
            ratios = own['cpu_throttled_ratio']
            periods = [None if r is None else float(CFS_PERIODS_PER_SECOND) for r in ratios]
            throttled = [None if r is None else r * CFS_PERIODS_PER_SECOND for r in ratios]
            out.add('container_cpu_cfs_periods_total', 'counter', workload, scrape.counter(periods, resets))
            out.add('container_cpu_cfs_throttled_periods_total', 'counter', workload, scrape.counter(throttled, resets))
        if 'cpu_waiting_ratio' in own:
            # CPU pressure (PSI "some"): seconds a task of the container waited for a CPU, a per-container counter.
            waiting = own['cpu_waiting_ratio']
            out.add(
                'container_pressure_cpu_waiting_seconds_total', 'counter', workload, scrape.counter(waiting, resets)
            )
        # kube-state-metrics: the pod, and its restart count as the API reports it.
        state = _Scrape(begin, step, [True] * (stop - first), per_step=1)
        _pod_info(out, state, pod)
        since, count = _restart_counts(incarnations[number], resets)
        restart_labels = _labels(
            job='kube-state-metrics',
            namespace=meta['namespace'],
            pod=name,
            uid=meta['uid'],
            container=container['name'],
        )
        out.add(
            'kube_pod_container_status_restarts_total',
            'counter',
            restart_labels,
            [
                (at, float(count + sum(1 for r in resets if r <= at) - sum(1 for r in resets if r <= since)))
                for at, _ in state.times()
            ],
        )


def _pod_info(out: _Exposition, state: _Scrape, pod: Json) -> None:
    """kube-state-metrics' `kube_pod_info` of the pod (empty `node` and `host_ip` for a pod no node took)."""
    meta, spec, status = pod['metadata'], pod['spec'], pod['status']
    owner = (meta.get('ownerReferences') or [{}])[0]
    info = _labels(
        job='kube-state-metrics',
        namespace=meta['namespace'],
        pod=meta['name'],
        uid=meta['uid'],
        node=spec.get('nodeName', ''),
        host_ip=status.get('hostIP', ''),
        pod_ip=status.get('podIP', ''),
        created_by_kind=owner.get('kind', ''),
        created_by_name=owner.get('name', ''),
    )
    out.add('kube_pod_info', 'gauge', info, state.constant(1.0))


def _node(
    out: _Exposition,
    cluster: FixtureBackend,
    name: str,
    start: datetime,
    step: timedelta,
    values: dict[str, list[float | None]],
) -> None:
    node = cluster.first_object('k8s:node', name)
    status = node['status']
    ip, cpus = _internal_ip(node), int(status['capacity']['cpu'])
    cpu = values['cpu_cores']
    scrape = _Scrape(start, step, [v is not None for v in cpu])
    exporter = dict(job='node-exporter', instance=f'{ip}:{NODE_EXPORTER_PORT}')
    out.add(
        'node_uname_info',
        'gauge',
        _labels(
            **exporter,
            nodename=name,
            sysname='Linux',
            release=status['nodeInfo']['kernelVersion'],
            machine='x86_64',
            domainname='(none)',
        ),
        scrape.constant(1.0),
    )
    # The node's busy cores, spread evenly over its CPUs; each CPU's seconds add up to one per second.
    shares = {
        'user': [None if v is None else v * _USER_SHARE / cpus for v in cpu],
        'system': [None if v is None else v * (1 - _USER_SHARE) / cpus for v in cpu],
        'idle': [None if v is None else 1 - v / cpus for v in cpu],
    }
    for number in range(cpus):
        for mode, per_second in shares.items():
            labels = _labels(**exporter, cpu=str(number), mode=mode)
            out.add('node_cpu_seconds_total', 'counter', labels, scrape.counter(per_second))
    if 'memory_bytes' in values:
        total = float(parse_bytes(status['capacity']['memory']))
        memory = values['memory_bytes']
        out.add('node_memory_MemTotal_bytes', 'gauge', _labels(**exporter), scrape.constant(total))
        out.add(
            'node_memory_MemAvailable_bytes',
            'gauge',
            _labels(**exporter),
            scrape.gauge([None if v is None else total - v for v in memory]),
        )
    if 'ephemeral_storage_used_bytes' in values:
        size = float(parse_bytes(status['capacity']['ephemeral-storage']))
        used = values['ephemeral_storage_used_bytes']
        disk = _labels(**exporter, device='/dev/nvme0n1p1', fstype='xfs', mountpoint='/')
        out.add('node_filesystem_size_bytes', 'gauge', disk, scrape.gauge([None if v is None else size for v in used]))
        out.add(
            'node_filesystem_avail_bytes', 'gauge', disk, scrape.gauge([None if v is None else size - v for v in used])
        )
    info = status['nodeInfo']
    out.add(
        'kube_node_info',
        'gauge',
        _labels(
            job='kube-state-metrics',
            node=name,
            internal_ip=ip,
            kernel_version=info['kernelVersion'],
            os_image=info['osImage'],
            container_runtime_version=info['containerRuntimeVersion'],
            kubelet_version=info['kubeletVersion'],
            provider_id=node['spec'].get('providerID', ''),
        ),
        _Scrape(start, step, [True] * len(cpu), per_step=1).constant(1.0),
    )


def openmetrics(cluster: FixtureBackend | None = None) -> str:
    """The series of `cluster` (the committed scenarios by default) as cAdvisor, node-exporter and
    kube-state-metrics expose them, in the OpenMetrics text format `promtool tsdb create-blocks-from openmetrics`
    reads."""
    cluster = cluster if cluster is not None else FixtureBackend()
    out = _Exposition()
    for entity_type, name, start, step, values in cluster.all_series():
        if entity_type == 'k8s:pod':
            _pod(out, cluster, name, start, step, values)
        else:
            _node(out, cluster, name, start, step, values)
    return out.text()
