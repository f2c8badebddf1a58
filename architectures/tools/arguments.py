"""Argument checks shared by the tools: entity types, names, ISO times and windows, and data coverage.

Every problem a model can fix raises `ModelRetry` with a message that says what was wrong and how to fix it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_ai import ModelRetry

from architectures.telemetry.backend import (
    ENTITY_TYPES,
    Metric,
    Sample,
    TelemetryBackend,
    parse_time,
)
from architectures.telemetry.current import get_backend
from architectures.telemetry.scenarios import EntityType

__all__ = ('TIME_EXAMPLE', 'Json', 'Request', 'check_coverage', 'fetch_series', 'iso', 'known_names', 'parse_request')

Json = dict[str, Any]

TIME_EXAMPLE = '2026-03-14T10:00:00Z'


@dataclass(frozen=True, kw_only=True)
class Request:
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


def iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _parse_time(argument: str, value: str) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, TypeError, AttributeError):
        raise ModelRetry(
            f'{argument}={value!r} is not a valid time: use ISO 8601 UTC, for example {TIME_EXAMPLE!r}.'
        ) from None


def _parse_window(start_argument: str, start: str, end_argument: str, end: str) -> tuple[datetime, datetime]:
    begin, finish = _parse_time(start_argument, start), _parse_time(end_argument, end)
    if finish <= begin:
        raise ModelRetry(
            f'{end_argument} ({end}) must be after {start_argument} ({start}): pass the earlier time as '
            f'{start_argument}, for example {start_argument}={TIME_EXAMPLE!r}, {end_argument}="2026-03-14T10:30:00Z".'
        )
    return begin, finish


def _entity_type(entity_type: str) -> EntityType:
    if entity_type not in ENTITY_TYPES:
        valid = ', '.join(repr(kind) for kind in ENTITY_TYPES)
        raise ModelRetry(f'entity_type={entity_type!r} is not valid: use one of {valid}.')
    return entity_type


def _name(entity_type: EntityType, name: str) -> str:
    # Models often pass the entity as written in a report ("k8s:pod/<name>"); that is unambiguous, so accept it.
    return name.strip().removeprefix(f'{entity_type}/')


async def known_names(backend: TelemetryBackend, entity_type: EntityType, name: str) -> tuple[list[str], list[str]]:
    names = await backend.entity_names(entity_type)
    return names, difflib.get_close_matches(name, names, n=3, cutoff=0.6)


async def check_coverage(request: Request, start: datetime, end: datetime, which: str) -> None:
    coverage = await request.backend.coverage(request.entity_type, request.name)
    if coverage is None:
        raise ModelRetry(f'{request.entity} has no telemetry at all; analyse another entity.')
    first, last = coverage
    if start >= last or end <= first:
        raise ModelRetry(
            f'the {which} window {iso(start)} to {iso(end)} has no data for {request.entity}: its data covers '
            f'{iso(first)} to {iso(last)}; choose a window inside that range.'
        )


async def parse_request(
    entity_type: str,
    name: str,
    start: str,
    end: str,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
    *,
    must_exist: bool = True,
) -> Request:
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
    request = Request(
        entity_type=kind, name=_name(kind, name), start=begin, end=finish, baseline=baseline, backend=backend
    )
    if must_exist and request.name not in await backend.entity_names(kind):
        names, close = await known_names(backend, kind, request.name)
        hint = f' Did you mean {", ".join(repr(n) for n in close)}?' if close else ''
        raise ModelRetry(
            f'unknown {request.kind} {request.name!r}.{hint} Known {request.kind}s: {", ".join(names)}. '
            'Call get_entity_metadata to check an entity first.'
        )
    return request


async def fetch_series(
    request: Request, metric: Metric, start: datetime, end: datetime, which: str, *, allow_empty: bool = False
) -> list[Sample]:
    """The samples of `metric` in the window; `ModelRetry` when the window is outside the entity's data or, unless
    `allow_empty` (a pod whose container never ran in a window it existed in has no usage), holds no sample."""
    await check_coverage(request, start, end, which)
    samples = await request.backend.series(request.entity_type, request.name, metric, start, end)
    if not samples and not allow_empty:
        raise ModelRetry(f'{request.entity} has no {metric} samples between {iso(start)} and {iso(end)}.')
    return samples
