"""The session report: architectures -> cases -> metrics and trajectory variants, as a pydantic model.

Its JSON Schema is published in the repository (`docs/report.schema.json`) so other tools can read reports.
The report is built on the controller from the per-run records that items send, so it is the same with and
without xdist, and an item that never reported (crashed worker, interrupt) is listed as missing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .gates import Miss
from .records import RunRecord
from .stats import ArchitectureStats, CaseStats, aggregate, case_stats

__all__ = ('ArchitectureReport', 'ItemResult', 'MissingItem', 'Report', 'build_report', 'write_json')

SCHEMA_VERSION = 1


@dataclass(kw_only=True)
class ItemResult:
    """What one (architecture, case) item sent to the controller."""

    nodeid: str
    architecture: str
    description: str
    case: str
    dataset: str | None
    records: list[RunRecord]
    expected_steps: list[list[str]] | None = None
    misses: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    peak_memory: int | None = None
    interrupted: bool = False
    """The session was interrupted while this item ran: `records` holds the runs that had finished."""

    def to_wire(self) -> dict[str, Any]:
        return {
            'nodeid': self.nodeid,
            'architecture': self.architecture,
            'description': self.description,
            'case': self.case,
            'dataset': self.dataset,
            'records': [r.to_wire() for r in self.records],
            'expected_steps': self.expected_steps,
            'misses': self.misses,
            'peak_memory': self.peak_memory,
            'interrupted': self.interrupted,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ItemResult:
        return cls(**{**data, 'records': [RunRecord.from_wire(r) for r in data['records']]})


class RunSummary(BaseModel):
    """One run, compactly: enough to plot distributions or compare sessions run by run."""

    index: int
    passed: bool
    error_type: str | None
    variant: int | None = Field(description="index into `variants` of this run's trajectory; null if it errored")
    output_key: str | None = Field(description='canonical JSON of the compared output fields')
    duration: float = Field(description='wall seconds')
    requests: int
    input_tokens: int
    output_tokens: int
    cost: float | None


def _summaries(records: list[RunRecord], variants: list[str]) -> list[RunSummary]:
    position = {t: i for i, t in enumerate(variants)}
    return [
        RunSummary(
            index=r.index,
            passed=r.passed,
            error_type=r.error_type,
            variant=None if r.errored else position.get(r.trajectory),
            output_key=r.output_key,
            duration=r.duration,
            requests=r.requests,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cost=r.cost,
        )
        for r in sorted(records, key=lambda r: r.index)
    ]


class CaseReport(CaseStats):
    """Statistics of one case, plus where it ran and its runs."""

    nodeid: str
    run_results: list[RunSummary] = Field(default_factory=list[RunSummary])
    peak_memory: int | None = Field(
        default=None,
        description=(
            'Python heap peak (tracemalloc) of one extra run of the case, alone, above the level at its start, '
            'bytes; null if untraced'
        ),
    )
    gate_misses: list[Miss] = Field(default_factory=list[Miss])
    interrupted: bool = Field(default=False, description='the session was interrupted while the item ran: partial runs')


class ArchitectureReport(BaseModel):
    """One architecture: its pooled statistics and its cases."""

    summary: ArchitectureStats
    cases: list[CaseReport]


class MissingItem(BaseModel):
    """An item that was expected but sent no results."""

    nodeid: str
    reason: str


class Report(BaseModel):
    """A pytest-agentarch session report."""

    schema_version: int = SCHEMA_VERSION
    model: str = Field(description='the --agentarch-model spec')
    seed: int
    runs_per_case: int
    architectures: list[ArchitectureReport]
    gate_misses: list[Miss]
    missing: list[MissingItem] = Field(description='items that never reported (crashed worker, interrupt)')


def build_report(items: Iterable[ItemResult], *, model: str, seed: int, runs: int, missing: dict[str, str]) -> Report:
    """Aggregate item results into the report, in a stable order (architecture, then case name)."""
    by_arch: dict[str, list[ItemResult]] = defaultdict(list)
    for item in items:
        by_arch[item.architecture].append(item)
    archs: list[ArchitectureReport] = []
    all_misses: list[Miss] = []
    for name in sorted(by_arch):
        cases: list[CaseReport] = []
        for item in sorted(by_arch[name], key=lambda i: (i.case, i.nodeid)):
            stats = case_stats(
                item.records,
                architecture=name,
                case=item.case,
                dataset=item.dataset,
                expected_steps=item.expected_steps,
            )
            misses = [Miss.model_validate(m) for m in item.misses]
            all_misses.extend(misses)
            cases.append(
                CaseReport(
                    **stats.model_dump(),
                    nodeid=item.nodeid,
                    run_results=_summaries(item.records, [v.trajectory for v in stats.variants]),
                    peak_memory=item.peak_memory,
                    gate_misses=misses,
                    interrupted=item.interrupted,
                )
            )
        summary = aggregate(
            cases,
            description=by_arch[name][0].description,
            latencies=[r.duration for i in by_arch[name] for r in i.records],
        )
        peaks = [c.peak_memory for c in cases if c.peak_memory is not None]
        summary.peak_memory = max(peaks) if peaks else None
        archs.append(ArchitectureReport(summary=summary, cases=cases))
    return Report(
        model=model,
        seed=seed,
        runs_per_case=runs,
        architectures=archs,
        gate_misses=all_misses,
        missing=[MissingItem(nodeid=k, reason=v) for k, v in sorted(missing.items())],
    )


def write_json(report: Report, path: Path) -> None:
    """Write the report atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(report.model_dump_json(indent=2))
            f.write('\n')
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def json_schema() -> str:
    """The report's JSON Schema, as published in docs/report.schema.json."""
    return json.dumps(Report.model_json_schema(), indent=2, sort_keys=True) + '\n'
