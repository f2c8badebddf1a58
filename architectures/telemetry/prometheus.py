"""Telemetry from a Prometheus server: the CPU and memory series the tools read, as PromQL over HTTP.

`PrometheusBackend` answers `series` with the metrics a kubelet's cAdvisor and node-exporter expose, as Prometheus
stores them when it scrapes a cluster:

| metric | pod `P` (its containers: `pod=P, container!="", container!="POD"`) | node `N` (`id="/", node=N`) |
| --- | --- | --- |
| `cpu_cores` | `sum(rate(container_cpu_usage_seconds_total[1m]))` | the same |
| `memory_bytes` | `sum(avg_over_time(container_memory_working_set_bytes[1m]))` | the same |
| `cpu_throttled_ratio` | `sum(rate(container_cpu_cfs_throttled_periods_total)) / sum(rate(..._periods_total))` | - |
| `ephemeral_storage_used_bytes` | - | `node_filesystem_size_bytes - node_filesystem_avail_bytes` (`mountpoint="/"`) |

(`container!=""` and `container!="POD"` leave out cAdvisor's pod-level cgroup and the pause container; `id="/"` is
a node's root cgroup.) The sample of the minute starting at `t` is the query evaluated at `t + 1m` over `[59s]`: the
scrapes of that minute, whether range selectors include their left end (Prometheus 2) or not (Prometheus 3). A
series so ends where its data ends, with no 5-minute look-back past the last scrape. Values keep 12 significant
digits (see `series`). Objects, events, logs,
entity names and coverage come from `cluster`, another backend (the scenario files by default; a live setup would
read them from the Kubernetes API and a log store).

`openmetrics()` writes the scenario files' series as those metrics, in the OpenMetrics text format, for
`promtool tsdb create-blocks-from openmetrics`: that is how the tests fill a real Prometheus, and how a user can
load the reference scenarios into theirs (`python -m architectures.telemetry.prometheus > k8s.om`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from architectures.telemetry.backend import FixtureBackend, Json, Metric, Sample, TelemetryBackend, parse_bytes
from architectures.telemetry.scenarios import EntityType

__all__ = ('PrometheusBackend', 'PrometheusError', 'openmetrics')

_SAMPLES_PER_STEP = 4
"""Samples `openmetrics` writes per step of a series: a 15 s scrape interval for 1-minute steps."""
_CFS_PERIODS_PER_SECOND = 10
"""The kernel's CFS enforcement periods per second (100 ms, the default `cpu.cfs_period_us`)."""


class PrometheusError(RuntimeError):
    """Prometheus could not be reached, or refused a query."""


def _label(value: str) -> str:
    return value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _queries(entity_type: EntityType, name: str, metric: Metric, window: str) -> str | None:
    """The PromQL query of `metric` for the entity, or None when it has no such metric."""
    if entity_type == 'k8s:pod':
        containers = f'pod="{_label(name)}", container!="", container!="POD"'
        if metric == 'cpu_cores':
            return f'sum(rate(container_cpu_usage_seconds_total{{{containers}}}[{window}]))'
        if metric == 'memory_bytes':
            return f'sum(avg_over_time(container_memory_working_set_bytes{{{containers}}}[{window}]))'
        if metric == 'cpu_throttled_ratio':
            return (
                f'sum(rate(container_cpu_cfs_throttled_periods_total{{{containers}}}[{window}])) / '
                f'sum(rate(container_cpu_cfs_periods_total{{{containers}}}[{window}]))'
            )
        return None
    root = f'id="/", node="{_label(name)}"'
    if metric == 'cpu_cores':
        return f'sum(rate(container_cpu_usage_seconds_total{{{root}}}[{window}]))'
    if metric == 'memory_bytes':
        return f'sum(avg_over_time(container_memory_working_set_bytes{{{root}}}[{window}]))'
    if metric == 'ephemeral_storage_used_bytes':
        disk = f'node="{_label(name)}", mountpoint="/"'
        return (
            f'sum(avg_over_time(node_filesystem_size_bytes{{{disk}}}[{window}]) - '
            f'avg_over_time(node_filesystem_avail_bytes{{{disk}}}[{window}]))'
        )
    return None


class PrometheusBackend:
    """Series from the Prometheus at `url` (PromQL over its HTTP API); everything else from `cluster`."""

    def __init__(
        self,
        url: str,
        *,
        cluster: TelemetryBackend | None = None,
        step: timedelta = timedelta(minutes=1),
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip('/')
        """The server's base URL, e.g. `http://127.0.0.1:9090`."""
        self.cluster: TelemetryBackend = cluster if cluster is not None else FixtureBackend()
        """Where objects, events, logs, entity names and coverage come from."""
        self.step = step
        """Resolution of the series: one sample per step, each the average over the step it starts."""
        self.timeout = timeout

    async def query_range(self, query: str, start: datetime, end: datetime) -> list[tuple[float, float]]:
        """`query` evaluated every step from `start` to `end` (both included): `(unix time, value)` pairs of its
        single result series, empty when it has none. Raises PrometheusError when the server fails or refuses."""
        params = {
            'query': query,
            'start': f'{start.timestamp():.3f}',
            'end': f'{end.timestamp():.3f}',
            'step': f'{self.step.total_seconds():g}s',
        }
        # A client per call: tools run on the event loop of whichever item runs them, and a client's connections
        # belong to the loop that opened them.
        try:
            async with httpx2.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(f'{self.url}/api/v1/query_range', params=params)
        except httpx2.HTTPError as exc:
            raise PrometheusError(f'Prometheus at {self.url} could not be reached: {exc}') from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get('status') != 'success':
            raise PrometheusError(
                f'Prometheus at {self.url} refused {query!r}: HTTP {response.status_code} '
                f'{body.get("errorType", "")} {body.get("error", response.text[:200])}'
            )
        results: list[dict[str, Any]] = body['data']['result']
        if len(results) > 1:
            raise PrometheusError(f'{query!r} returned {len(results)} series where one was expected')
        return [(float(t), float(v)) for t, v in results[0]['values']] if results else []

    async def series(
        self, entity_type: EntityType, name: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Sample]:
        """Samples of `metric` in `[start, end)`, one per step (aligned to the step since the epoch)."""
        seconds = self.step.total_seconds()
        # One second short of the step, so that the window holds the step's own scrapes and not the last one of
        # the step before, whether the server's range selectors are left-closed (Prometheus 2) or left-open (3).
        query = _queries(entity_type, name, metric, f'{seconds - 1:g}s')
        first = math.ceil(start.timestamp() / seconds) * seconds
        last = math.ceil(end.timestamp() / seconds) * seconds - seconds
        if query is None or last < first:
            return []
        # The sample of the step starting at t is the query at t + step, over the step that ends there.
        evaluated = await self.query_range(
            query,
            datetime.fromtimestamp(first + seconds, UTC),
            datetime.fromtimestamp(last + seconds, UTC),
        )
        # PromQL's float arithmetic (a rate's extrapolation, sums) leaves noise in the last bits; 12 significant
        # digits is far below any measurement's precision and keeps that noise from flipping the tools' rounding.
        return [
            (datetime.fromtimestamp(t - seconds, UTC), float(f'{v:.12g}')) for t, v in evaluated if not math.isnan(v)
        ]

    async def entity_names(self, entity_type: EntityType) -> list[str]:
        """From `cluster`."""
        return await self.cluster.entity_names(entity_type)

    async def coverage(self, entity_type: EntityType, name: str) -> tuple[datetime, datetime] | None:
        """From `cluster`."""
        return await self.cluster.coverage(entity_type, name)

    async def get_object(self, entity_type: EntityType, name: str, at: datetime) -> Json | None:
        """From `cluster`."""
        return await self.cluster.get_object(entity_type, name, at)

    async def pods_on_node(self, node: str) -> list[str]:
        """From `cluster`."""
        return await self.cluster.pods_on_node(node)

    async def events(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """From `cluster`."""
        return await self.cluster.events(entity_type, name, start, end)

    async def logs(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """From `cluster`."""
        return await self.cluster.logs(entity_type, name, start, end)


# ------------------------------------------------------------------------------------------------ backfill


def _labels(**labels: str) -> str:
    return '{' + ','.join(f'{k}="{_label(v)}"' for k, v in labels.items()) + '}'


def _scrapes(start: datetime, step: timedelta, values: list[float | None]) -> Iterator[tuple[float, int, float]]:
    """`(scrape time, step index, value)`: each step's value scraped `_SAMPLES_PER_STEP` times, at the ends of the
    equal parts of the step (so the step starting at t is read over `(t, t + step]`); a step without a value (a
    scrape gap) has no scrapes."""
    interval = step.total_seconds() / _SAMPLES_PER_STEP
    for index, value in enumerate(values):
        if value is None:
            continue
        for k in range(1, _SAMPLES_PER_STEP + 1):
            yield start.timestamp() + index * step.total_seconds() + k * interval, index, value


def _counter(start: datetime, step: timedelta, per_second: list[float | None]) -> Iterator[tuple[float, float]]:
    """A counter growing at `per_second[i]` during step i, from 0 at `start`; unscraped during a gap."""
    interval = step.total_seconds() / _SAMPLES_PER_STEP
    yield start.timestamp(), 0.0
    total = 0.0
    for at, _, rate in _scrapes(start, step, per_second):
        total += rate * interval
        yield at, total


def _family(name: str, kind: str, series: list[tuple[str, Iterator[tuple[float, float]]]]) -> Iterator[str]:
    yield f'# TYPE {name.removesuffix("_total") if kind == "counter" else name} {kind}'
    for labels, samples in series:
        for at, value in samples:
            yield f'{name}{labels} {value!r} {at:.3f}'


def openmetrics(cluster: FixtureBackend | None = None) -> str:
    """The series of `cluster` (the committed scenarios by default) as cAdvisor and node-exporter metrics, in the
    OpenMetrics text format `promtool tsdb create-blocks-from openmetrics` reads."""
    cluster = cluster if cluster is not None else FixtureBackend()
    families: dict[tuple[str, str], list[tuple[str, Iterator[tuple[float, float]]]]] = {}

    def add(name: str, kind: str, labels: str, samples: Iterator[tuple[float, float]]) -> None:
        families.setdefault((name, kind), []).append((labels, samples))

    for entity_type, name, start, step, values in cluster.all_series():
        obj = cluster.first_object(entity_type, name)
        if entity_type == 'k8s:pod':
            meta, spec = obj['metadata'], obj['spec']
            labels = _labels(
                namespace=meta.get('namespace', 'default'),
                pod=name,
                container=spec['containers'][0]['name'],
                node=spec.get('nodeName', ''),
            )
        else:
            labels = _labels(id='/', node=name)  # the node's root cgroup
        # cAdvisor's CPU counter and working set, for a pod's container or a node's root cgroup alike.
        if 'cpu_cores' in values:
            add('container_cpu_usage_seconds_total', 'counter', labels, _counter(start, step, values['cpu_cores']))
        if 'memory_bytes' in values:
            add(
                'container_memory_working_set_bytes',
                'gauge',
                labels,
                ((at, v) for at, _, v in _scrapes(start, step, values['memory_bytes'])),
            )
        if entity_type == 'k8s:pod':
            if 'cpu_throttled_ratio' in values:
                ratios = values['cpu_throttled_ratio']
                periods = [None if r is None else float(_CFS_PERIODS_PER_SECOND) for r in ratios]
                throttled = [None if r is None else r * _CFS_PERIODS_PER_SECOND for r in ratios]
                add('container_cpu_cfs_periods_total', 'counter', labels, _counter(start, step, periods))
                add('container_cpu_cfs_throttled_periods_total', 'counter', labels, _counter(start, step, throttled))
        elif 'ephemeral_storage_used_bytes' in values:
            disk = _labels(node=name, mountpoint='/', device='/dev/nvme0n1p1')
            used = values['ephemeral_storage_used_bytes']
            size = float(parse_bytes(obj['status']['capacity']['ephemeral-storage']))
            add(
                'node_filesystem_size_bytes',
                'gauge',
                disk,
                ((at, size) for at, _, _ in _scrapes(start, step, used)),
            )
            add(
                'node_filesystem_avail_bytes',
                'gauge',
                disk,
                ((at, size - v) for at, _, v in _scrapes(start, step, used)),
            )
    lines = [line for (name, kind), series in sorted(families.items()) for line in _family(name, kind, series)]
    return '\n'.join([*lines, '# EOF']) + '\n'


if __name__ == '__main__':
    sys.stdout.write(openmetrics())
