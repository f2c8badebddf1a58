"""Where the tools get cluster state and telemetry: a small backend interface and the fixture implementation.

`FixtureBackend` serves the committed scenario files in `data/`; `PrometheusBackend` (`prometheus.py`) reads the
CPU and memory series from a Prometheus server instead. A backend for more of a live cluster (Kubernetes API,
Loki...) only has to implement `TelemetryBackend`. Tools find the backend through `current.get_backend()`; tests
and experiments swap it with `current.use_backend(...)`.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from architectures.telemetry.scenarios import EntityType

__all__ = (
    'DEFAULT_DATA_DIR',
    'ENTITY_TYPES',
    'FixtureBackend',
    'Metric',
    'Sample',
    'TelemetryBackend',
    'parse_bytes',
    'parse_cpu',
    'parse_time',
)

DEFAULT_DATA_DIR = Path(__file__).parent / 'data'
"""The committed scenario files."""

ENTITY_TYPES: tuple[EntityType, ...] = ('k8s:pod', 'k8s:node')
"""Every entity type a backend serves."""

Metric = Literal[
    'cpu_cores', 'memory_bytes', 'cpu_throttled_ratio', 'cpu_waiting_ratio', 'ephemeral_storage_used_bytes'
]
"""Per-minute series a backend may hold for an entity (`cpu_throttled_ratio` and `cpu_waiting_ratio`, the CPU
pressure, for pods only, `ephemeral_storage_used_bytes` for nodes only)."""

Sample = tuple[datetime, float]
"""One sample: the start of its minute (aware UTC datetime) and the value."""

Json = dict[str, Any]


class TelemetryBackend(Protocol):
    """Read-only access to a cluster's objects and telemetry. Times are aware UTC datetimes; windows are
    half-open, `[start, end)`. Returned objects must not be mutated by callers. Every method is a coroutine: a
    backend may answer over the network (`PrometheusBackend`) without holding up the event loop the agents run on."""

    async def entity_names(self, entity_type: EntityType) -> list[str]:
        """Every known entity of this type, sorted."""
        ...

    async def coverage(self, entity_type: EntityType, name: str) -> tuple[datetime, datetime] | None:
        """The time range `[first, last + step)` for which the entity has telemetry, or None if it has none."""
        ...

    async def get_object(self, entity_type: EntityType, name: str, at: datetime) -> Json | None:
        """The v1 Pod/Node as last observed at or before `at` (the first observation if `at` precedes it);
        None for an unknown entity."""
        ...

    async def pods_on_node(self, node: str) -> list[str]:
        """Names of the pods ever scheduled on `node`, sorted."""
        ...

    async def series(
        self, entity_type: EntityType, name: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Sample]:
        """Samples of `metric` in `[start, end)`, oldest first; empty when there are none."""
        ...

    async def events(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """v1 Events about the entity whose occurrences overlap `[start, end)`; for a node, also the events its
        kubelet reported about its pods (evictions, probe failures)."""
        ...

    async def logs(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """Log lines (`timestamp`, `level`, `message`) in `[start, end)`: container logs for a pod, kubelet
        logs for a node."""
        ...

    async def autoscaler(
        self, namespace: str, workloads: list[str], start: datetime, end: datetime
    ) -> tuple[Json, list[Json]] | None:
        """The HorizontalPodAutoscaler of `namespace` that scales one of `workloads` (its `scaleTargetRef` name), as
        last observed before `end`, with its events overlapping `[start, end)`; None when none scales them."""
        ...


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (`'2026-03-14T10:00:00Z'`); naive times are taken as UTC. `ValueError` if invalid."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_QUANTITY = re.compile(r'^([0-9.]+)([a-zA-Z]*)$')
_BINARY = {'Ki': 1024, 'Mi': 1024**2, 'Gi': 1024**3, 'Ti': 1024**4}
_DECIMAL = {'': 1, 'k': 10**3, 'M': 10**6, 'G': 10**9, 'T': 10**12}


def parse_cpu(quantity: str) -> float:
    """A Kubernetes CPU quantity (`'500m'`, `'2'`) in cores."""
    match = _QUANTITY.match(quantity)
    if not match or match.group(2) not in ('', 'm'):
        raise ValueError(f'not a CPU quantity: {quantity!r}')
    value = float(match.group(1))
    return value / 1000 if match.group(2) == 'm' else value


def parse_bytes(quantity: str) -> int:
    """A Kubernetes memory or storage quantity (`'512Mi'`, `'16068516Ki'`, `'96625420948'`) in bytes."""
    match = _QUANTITY.match(quantity)
    unit = match.group(2) if match else None
    if match is None or (unit not in _BINARY and unit not in _DECIMAL):
        raise ValueError(f'not a byte quantity: {quantity!r}')
    return int(float(match.group(1)) * (_BINARY.get(unit) or _DECIMAL[unit]))


@dataclass(frozen=True)
class _Series:
    start: datetime
    step: timedelta
    values: dict[str, list[float | None]]
    """By metric; None marks a step with no sample (a scrape gap)."""

    def window(self, metric: str, start: datetime, end: datetime) -> list[Sample]:
        values = self.values.get(metric)
        if not values:
            return []
        first = max(0, _ceil_div(start - self.start, self.step))
        stop = min(len(values), _ceil_div(end - self.start, self.step))
        return [
            (self.start + index * self.step, value)
            for index in range(first, stop)
            if (value := values[index]) is not None
        ]

    @property
    def end(self) -> datetime:
        return self.start + self.step * max(len(v) for v in self.values.values())


def _ceil_div(delta: timedelta, step: timedelta) -> int:
    return -(-delta // step)


class FixtureBackend:
    """Serves the scenario files of a directory (by default the committed `data/`).

    Entity names must be unique across files, so `(entity_type, name)` alone addresses an entity.
    """

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR) -> None:
        self._objects: dict[tuple[str, str], list[tuple[datetime, Json]]] = {}
        self._series: dict[tuple[str, str], _Series] = {}
        self._events: list[tuple[datetime, datetime, Json]] = []
        self._logs: dict[tuple[str, str], tuple[list[datetime], list[Json]]] = {}
        self._owner: dict[tuple[str, str], str] = {}
        self._restarts: dict[tuple[str, str], list[datetime]] = {}
        self._autoscalers: dict[tuple[str, str], list[tuple[datetime, Json]]] = {}
        paths = sorted(data_dir.glob('*.json'))
        if not paths:
            raise FileNotFoundError(f'no scenario files (*.json) in {data_dir}')
        for path in paths:
            self._load(path)

    def _load(self, path: Path) -> None:
        document = json.loads(path.read_text(encoding='utf-8'))
        scenario = document['scenario']
        for entity_type, key in (('k8s:pod', 'pods'), ('k8s:node', 'nodes')):
            names = {snapshot['object']['metadata']['name'] for snapshot in document[key]}
            for name in names:
                previous = self._owner.setdefault((entity_type, name), scenario)
                if previous != scenario:
                    raise ValueError(f'{entity_type}/{name} is defined by both {previous!r} and {scenario!r}')
            for snapshot in document[key]:
                entry = (parse_time(snapshot['observedAt']), snapshot['object'])
                self._objects.setdefault((entity_type, entry[1]['metadata']['name']), []).append(entry)
        for snapshots in self._objects.values():
            snapshots.sort(key=lambda entry: entry[0])
        for entity, block in document['series'].items():
            entity_type, name = entity.split('/', 1)
            values = {key: value for key, value in block.items() if isinstance(value, list)}
            self._series[(entity_type, name)] = _Series(
                parse_time(block['start']), timedelta(seconds=block['step_seconds']), values
            )
        for snapshot in document.get('autoscalers', []):
            hpa = snapshot['object']
            named = (hpa['metadata']['namespace'], hpa['metadata']['name'])
            self._autoscalers.setdefault(named, []).append((parse_time(snapshot['observedAt']), hpa))
        for event in document['events']:
            self._events.append((parse_time(event['firstTimestamp']), parse_time(event['lastTimestamp']), event))
        for entity, lines in document['logs'].items():
            entity_type, name = entity.split('/', 1)
            times = [parse_time(line['timestamp']) for line in lines]
            self._logs[(entity_type, name)] = (times, lines)
        for entity, moments in document.get('restarts', {}).items():
            entity_type, name = entity.split('/', 1)
            self._restarts[(entity_type, name)] = sorted(parse_time(moment) for moment in moments)

    def all_series(self) -> Iterator[tuple[EntityType, str, datetime, timedelta, dict[str, list[float | None]]]]:
        """Every entity's series: `(entity_type, name, start, step, values by metric)`, in name order; None marks a
        step with no sample (a scrape gap)."""
        for (entity_type, name), series in sorted(self._series.items()):
            yield cast(EntityType, entity_type), name, series.start, series.step, series.values

    def first_object(self, entity_type: EntityType, name: str) -> Json:
        """The entity's first observed object (KeyError for an unknown entity)."""
        return self._objects[(entity_type, name)][0][1]

    def observations(self, entity_type: EntityType, name: str) -> list[tuple[datetime, Json]]:
        """Every observation of the entity, `(observed at, object)`, oldest first (KeyError for an unknown entity)."""
        return list(self._objects[(entity_type, name)])

    def restarts(self, name: str) -> list[datetime]:
        """When the kubelet started a new container in the pod `name` during the data (its restarts), oldest first."""
        return list(self._restarts.get(('k8s:pod', name), []))

    async def entity_names(self, entity_type: EntityType) -> list[str]:
        """Every known entity of this type, sorted."""
        return sorted(name for kind, name in self._objects if kind == entity_type)

    async def coverage(self, entity_type: EntityType, name: str) -> tuple[datetime, datetime] | None:
        """The range `[first, last + step)` of the entity's series, or None if it has none."""
        series = self._series.get((entity_type, name))
        return (series.start, series.end) if series else None

    async def get_object(self, entity_type: EntityType, name: str, at: datetime) -> Json | None:
        """The object as last observed at or before `at` (the first observation if `at` precedes it)."""
        snapshots = self._objects.get((entity_type, name))
        if not snapshots:
            return None
        index = bisect.bisect_right([moment for moment, _ in snapshots], at) - 1
        return snapshots[max(index, 0)][1]

    async def pods_on_node(self, node: str) -> list[str]:
        """Names of the pods ever scheduled on `node`, sorted."""
        return sorted(
            name
            for (kind, name), snapshots in self._objects.items()
            if kind == 'k8s:pod' and any(obj['spec'].get('nodeName') == node for _, obj in snapshots)
        )

    async def series(
        self, entity_type: EntityType, name: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Sample]:
        """Samples of `metric` in `[start, end)`."""
        series = self._series.get((entity_type, name))
        return series.window(metric, start, end) if series else []

    async def events(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """Events about the entity overlapping `[start, end)`; a node also gets its kubelet's pod events."""
        kind = 'Pod' if entity_type == 'k8s:pod' else 'Node'
        selected = []
        for first, last, event in self._events:
            if first >= end or last < start:
                continue
            involved = event['involvedObject']
            about_entity = involved['kind'] == kind and involved['name'] == name
            reported_by_node = kind == 'Node' and event['source'].get('host') == name
            if about_entity or reported_by_node:
                selected.append(event)
        return selected

    async def autoscaler(
        self, namespace: str, workloads: list[str], start: datetime, end: datetime
    ) -> tuple[Json, list[Json]] | None:
        """The autoscaler of `namespace` scaling one of `workloads`, as last observed before `end`, with its events
        overlapping `[start, end)`."""
        for (hpa_namespace, name), snapshots in sorted(self._autoscalers.items()):
            target = snapshots[0][1]['spec']['scaleTargetRef']['name']
            if hpa_namespace != namespace or target not in workloads:
                continue
            seen = [hpa for moment, hpa in sorted(snapshots, key=lambda entry: entry[0]) if moment < end]
            events = [
                event
                for first, last, event in self._events
                if first < end
                and last >= start
                and event['involvedObject']['kind'] == 'HorizontalPodAutoscaler'
                and event['involvedObject']['name'] == name
                and event['involvedObject']['namespace'] == namespace
            ]
            return (seen[-1] if seen else snapshots[0][1]), events
        return None

    async def logs(self, entity_type: EntityType, name: str, start: datetime, end: datetime) -> list[Json]:
        """Log lines in `[start, end)`."""
        times, lines = self._logs.get((entity_type, name), ([], []))
        return lines[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]
