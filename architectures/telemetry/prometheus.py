"""Telemetry from a Prometheus server: the CPU, memory and disk series the tools read, as PromQL over HTTP.

`PrometheusBackend` answers `series` with the metrics cAdvisor, node-exporter and kube-state-metrics expose, as
Prometheus stores them when it scrapes a cluster (`backfill.py` describes the series and writes the reference
scenarios as them). For a pod `P` in namespace `NS` (read from `cluster`), its containers are
`namespace="NS", pod="P", container!="", container!="POD"`: a pod's name is unique only within its namespace, and
cAdvisor also reports the pod-level cgroup (`container=""`, the sum of the rest) and the pause container
(`container="POD"`), which would count the pod twice. A node's series come from node-exporter, whose series name
no node: they are joined to the node's name by their `instance` through `node_uname_info{nodename="N"}`.

- `cpu_cores`: pod `sum(rate(container_cpu_usage_seconds_total{containers}[1m]))`; node
  `sum by (instance) (rate(node_cpu_seconds_total{mode` not idle, iowait or steal`}[1m]))`, joined;
- `memory_bytes`: pod `sum(avg_over_time(container_memory_working_set_bytes{containers}[1m]))`; node
  `node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes`, joined;
- `cpu_throttled_ratio` (pods): `sum(rate(container_cpu_cfs_throttled_periods_total{containers}))` over
  `sum(rate(container_cpu_cfs_periods_total{containers}))`;
- `cpu_waiting_ratio` (pods, CPU pressure): `sum(rate(container_pressure_cpu_waiting_seconds_total{containers}[1m]))`;
- `ephemeral_storage_used_bytes` (nodes): `node_filesystem_size_bytes - node_filesystem_avail_bytes` of
  `mountpoint="/"`, joined.

`rate()` takes a counter that drops (a container restarted) as a reset and counts what it reads after it, so a
restart costs no CPU seconds; the last reading minus the first would (tests/test_prometheus_backend.py shows it).
The sample of the minute starting at `t` is the query evaluated at `t + 1m` over `[59s]`: the scrapes of that
minute, whether range selectors include their left end (Prometheus 2) or not (Prometheus 3). A series so ends where
its data ends, with no 5-minute look-back past the last scrape. Values keep 12 significant digits (see `series`).
Objects, events, logs, entity names and coverage come from `cluster`, another backend (the scenario files by
default; a live setup would read them from the Kubernetes API and a log store).

`openmetrics()` (from `backfill.py`) writes the scenario files' series as those metrics, in the OpenMetrics text
format, for `promtool tsdb create-blocks-from openmetrics`: that is how the tests fill a real Prometheus, and how a
user can load the reference scenarios into theirs (`python -m architectures.telemetry.prometheus > k8s.om`).
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from architectures.telemetry.backend import FixtureBackend, Json, Metric, Sample, TelemetryBackend
from architectures.telemetry.backfill import openmetrics
from architectures.telemetry.scenarios import EntityType

__all__ = ('PrometheusBackend', 'PrometheusError', 'openmetrics')

_BUSY = 'mode!="idle", mode!="iowait", mode!="steal"'
"""node-exporter's CPU modes that are not work done on the node (waiting on I/O, or taken by the hypervisor)."""


class PrometheusError(RuntimeError):
    """Prometheus could not be reached, or refused a query."""


def _label(value: str) -> str:
    return value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _queries(entity_type: EntityType, name: str, namespace: str, metric: Metric, window: str) -> str | None:
    """The PromQL query of `metric` for the entity (a pod in `namespace`), or None when it has no such metric."""
    if entity_type == 'k8s:pod':
        containers = f'namespace="{_label(namespace)}", pod="{_label(name)}", container!="", container!="POD"'
        if metric == 'cpu_cores':
            return f'sum(rate(container_cpu_usage_seconds_total{{{containers}}}[{window}]))'
        if metric == 'memory_bytes':
            return f'sum(avg_over_time(container_memory_working_set_bytes{{{containers}}}[{window}]))'
        if metric == 'cpu_throttled_ratio':
            return (
                f'sum(rate(container_cpu_cfs_throttled_periods_total{{{containers}}}[{window}])) / '
                f'sum(rate(container_cpu_cfs_periods_total{{{containers}}}[{window}]))'
            )
        if metric == 'cpu_waiting_ratio':
            return f'sum(rate(container_pressure_cpu_waiting_seconds_total{{{containers}}}[{window}]))'
        return None
    # node-exporter's series carry the scrape target (`instance`), not the node: `node_uname_info` names it.
    node = f'* on(instance) group_left(nodename) node_uname_info{{nodename="{_label(name)}"}}'
    if metric == 'cpu_cores':
        return f'sum(sum by (instance) (rate(node_cpu_seconds_total{{{_BUSY}}}[{window}])) {node})'
    if metric == 'memory_bytes':
        return (
            f'sum((avg_over_time(node_memory_MemTotal_bytes[{window}]) - '
            f'avg_over_time(node_memory_MemAvailable_bytes[{window}])) {node})'
        )
    if metric == 'ephemeral_storage_used_bytes':
        disk = 'mountpoint="/"'
        return (
            f'sum((avg_over_time(node_filesystem_size_bytes{{{disk}}}[{window}]) - '
            f'avg_over_time(node_filesystem_avail_bytes{{{disk}}}[{window}])) {node})'
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
        namespace = ''
        if entity_type == 'k8s:pod':
            pod = await self.cluster.get_object(entity_type, name, start)
            if pod is None:
                return []
            namespace = pod['metadata'].get('namespace', 'default')
        query = _queries(entity_type, name, namespace, metric, f'{seconds - 1:g}s')
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

    async def autoscaler(
        self, namespace: str, workloads: list[str], start: datetime, end: datetime
    ) -> tuple[Json, list[Json]] | None:
        """From `cluster`."""
        return await self.cluster.autoscaler(namespace, workloads, start, end)


if __name__ == '__main__':
    sys.stdout.write(openmetrics())
