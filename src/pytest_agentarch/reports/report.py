"""The session report: architectures -> cases -> metrics and trajectory variants, as a pydantic model.

Its JSON Schema ships inside the package (`pytest_agentarch/reports/schema.json`, also served by the docs site as
`report.schema.json`) so other tools can read reports.
The report is built on the controller from the per-run records that items send, so it is the same with and
without xdist, and an item that never reported (crashed worker, interrupt) is listed as missing.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core.compare import (
    BaselineComparison,
    BaselineError,
    Observed,
    PairComparison,
    compare_pairs,
    compare_to_baseline,
    observed_in_report,
)
from ..core.divergence import Divergence, ExampleRun, TreeNode, divergence, examples, tree
from ..core.gates import Miss
from ..core.records import RunRecord
from ..core.sequential import SequentialItem, SequentialTotals
from ..core.stats import LEVELS, ArchitectureStats, CaseStats, Level, Totals, aggregate, case_stats, variant_key
from .metadata import ReportMetadata

__all__ = (
    'NO_DATASET',
    'ArchitectureReport',
    'Baseline',
    'DatasetSummary',
    'ItemResult',
    'MissingItem',
    'Report',
    'ShardPart',
    'build_report',
    'write_json',
)

SCHEMA_VERSION = 8
"""2: determinism at three levels, errors as variants, infrastructure failures, scores, labels, totals.
3: several models per session (`models`, `model` on architectures, cases and misses), retries and waiting in totals,
runs not started (`not_run`), what stopped the session (`stopped_by`), the recording a replay read (`replay_of`).
4: evaluators' (judges') spend in totals, the judge model (`judge_model`), runs whose evaluators could not reach their
model (`unjudged`, `evaluator_infra_errors`).
5: where the report came from (`metadata`: versions, git commit, start and duration, options and thresholds), a
fingerprint per case, pairwise comparisons of architectures (`comparisons`), the comparison with a baseline report
(`baseline`); and where runs diverge, per case: the tree of their step sequences (`tree`), the first step at which
they differ with the branches and the model's context on each (`divergence`), and one example run per variant
(`examples`).;
sequential gates (`sequential` on cases, architectures and the report; misses `judged_on` 'sequential'); fields
added by `pytest_agentarch_report` hooks (`extra`, empty without one: readers of 5 without it are unaffected).
6: modal shares (determinism, output agreement) carry `held_out` and an interval built on it (`held-out`,
`cluster-held-out`); architecture rates carry the fixed-suite interval (`suite_low`, `suite_high`); sequential gates
undecided at the maximum are judged by the final test (misses `judged_on` 'undecided').
7: a shard's part of a split session (`shard`: its per-run records, for `agentarch merge`).
8: each architecture's summary per dataset (`by_dataset`), in a session whose items come from more than one dataset
(empty otherwise)."""


@dataclass(kw_only=True)
class ItemResult:
    """What one (architecture, case) item sent to the controller."""

    nodeid: str
    architecture: str
    description: str
    case: str
    dataset: str | None
    records: list[RunRecord]
    model: str | None = None
    """The model the item ran on, in a session with several models (else None)."""
    expected_steps: list[list[str]] | None = None
    misses: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    peak_memory: int | None = None
    interrupted: bool = False
    """The session was interrupted while this item ran: `records` holds the runs that had finished."""
    not_run: int = 0
    """Runs never started because the session was stopped (`stopped_by`)."""
    stopped_by: str | None = None
    """Why runs of this item were not started (a budget reached), one line."""
    fingerprint: str | None = None
    """The case's fingerprint (`metadata.case_fingerprint`); None for runs that are not a dataset case."""
    sequential: dict[str, Any] | None = None
    """`SequentialItem` as plain data, when the item ran under `--agentarch-sequential`."""
    stats: CaseStats | None = None
    """The statistics the item judged its gates on, in the process that ran it: the report reuses them at their
    level instead of computing them again. Not sent on the wire (a controller recomputes them from the records)."""

    def to_wire(self) -> dict[str, Any]:
        return {
            'nodeid': self.nodeid,
            'architecture': self.architecture,
            'model': self.model,
            'description': self.description,
            'case': self.case,
            'dataset': self.dataset,
            'records': [r.to_wire() for r in self.records],
            'expected_steps': self.expected_steps,
            'misses': self.misses,
            'peak_memory': self.peak_memory,
            'interrupted': self.interrupted,
            'not_run': self.not_run,
            'stopped_by': self.stopped_by,
            'fingerprint': self.fingerprint,
            'sequential': self.sequential,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ItemResult:
        return cls(**{**data, 'records': [RunRecord.from_wire(r) for r in data['records']]})


class RunSummary(BaseModel):
    """One run, compactly: enough to plot distributions or compare sessions run by run."""

    index: int
    passed: bool
    error_type: str | None
    error_kind: Literal['behaviour', 'infrastructure'] | None = None
    variant: int | None = Field(
        description="index into `variants` of this run's trajectory (or error); null for an infrastructure failure"
    )
    output_key: str | None = Field(description='canonical JSON of the compared output fields')
    duration: float = Field(description="wall seconds (in a replay: the replay's own)")
    recorded_latency: float | None = Field(
        default=None,
        description="replay only: the recorded model's seconds for the run (the sum of the recorded durations of its "
        'exchanges); null outside a replay and when the recording stored none',
    )
    requests: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    unjudged: bool = Field(
        default=False,
        description='an evaluator could not reach its model: the run is in no pass rate, `passed` '
        'reflects the other assertions only',
    )
    capture: str = Field(
        default='',
        description="which capture recorded the run: 'requests' (the model-request layer) or 'spans' (pydantic-ai's "
        'instrumentation: real spans were needed, or the run decided whether the architecture uses its model)',
    )
    conforms: bool | None = Field(
        default=None, description='the run passed every path assertion; null when the case has no path evaluator'
    )
    faults: dict[str, int] = Field(
        default_factory=dict[str, int], description='faults injected into its model requests, by kind'
    )


def _recorded_latencies(records: list[RunRecord]) -> list[float] | None:
    """The recorded latencies of `records` (a replay's counted runs), or None unless every one has one."""
    known = [r.recorded_latency for r in records if r.recorded_latency is not None]
    return known if known and len(known) == len(records) else None


def _summaries(records: list[RunRecord], variants: list[str], level: Level) -> list[RunSummary]:
    position = {t: i for i, t in enumerate(variants)}
    return [
        RunSummary(
            index=r.index,
            passed=r.passed,
            error_type=r.error_type,
            error_kind=(r.error_kind or 'behaviour') if r.errored else None,
            variant=None if r.infrastructure else position.get(variant_key(r, level)),
            output_key=r.output_key,
            duration=r.duration,
            recorded_latency=r.recorded_latency,
            requests=r.requests,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cost=r.cost,
            unjudged=r.unjudged,
            capture=r.capture,
            conforms=r.conforms,
            faults=dict(r.faults),
        )
        for r in sorted(records, key=lambda r: r.index)
    ]


def capture_paths(runs: Iterable[RunSummary]) -> str:
    """How many runs each capture recorded, e.g. `requests 19, spans 1` (empty for records without the field)."""
    counts: dict[str, int] = {}
    for r in runs:
        if r.capture:
            counts[r.capture] = counts.get(r.capture, 0) + 1
    return ', '.join(f'{path} {n}' for path, n in sorted(counts.items()))


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
    not_run: int = Field(default=0, description='runs never started because the session was stopped (a budget)')
    tree: list[TreeNode] = Field(
        default_factory=list[TreeNode],
        description="the prefix tree of the counted runs' step sequences (docs/reports.md), first steps at the root",
    )
    divergence: Divergence | None = Field(
        default=None, description='the first step at which the counted runs differ; null when they all agree'
    )
    examples: list[ExampleRun] = Field(
        default_factory=list[ExampleRun], description='one run per variant, in the order of `variants`'
    )
    fingerprint: str | None = Field(
        default=None,
        description="hash of the case's inputs, expected output and evaluators: reports whose fingerprints of a case "
        'differ ran different versions of it; null for runs that are not a dataset case',
    )
    sequential: SequentialItem | None = Field(
        default=None, description='runs used and gate decisions under --agentarch-sequential (null otherwise)'
    )


NO_DATASET = '(no dataset)'
"""How reports name the group of tests that are not dataset cases (test functions using the `arch` fixture)."""


class DatasetSummary(BaseModel):
    """One architecture (on one model) over the cases of one dataset: the statistics of its summary, computed on
    those cases only, so that a dataset it cannot answer does not pull down its figures on the others."""

    dataset: str | None = Field(
        description="the dataset's name; null for the tests that are not dataset cases (the `arch` fixture's runs)"
    )
    summary: ArchitectureStats

    @property
    def label(self) -> str:
        """The dataset's name as reports show it: `NO_DATASET` for the tests that are not dataset cases."""
        return NO_DATASET if self.dataset is None else self.dataset


class ArchitectureReport(BaseModel):
    """One architecture: its pooled statistics and its cases."""

    summary: ArchitectureStats
    cases: list[CaseReport]
    sequential: SequentialTotals | None = Field(
        default=None, description='its sequential items summed: runs and tokens used and saved, decisions'
    )
    by_dataset: list[DatasetSummary] = Field(
        default_factory=list[DatasetSummary],
        description='its summary per dataset, datasets by name (the tests that are not dataset cases, if any, last), '
        "each computed on that dataset's cases only, as `summary` is on all of them; filled when the session's items "
        'come from more than one dataset (the tests that are not dataset cases count as one), empty otherwise',
    )


class MissingItem(BaseModel):
    """An item that was expected but sent no results."""

    nodeid: str
    reason: str


class ShardPart(BaseModel):
    """What one shard of a split session (`--agentarch-shard i/N`) made, whole: `agentarch merge` rebuilds the
    session's report from the shards' parts, every statistic from the per-run records."""

    index: int = Field(description='this shard, 1..count')
    count: int = Field(description='the shards the session was split into')
    items: list[dict[str, Any]] = Field(
        description="every item's results in this shard with their per-run records (the form items send to the "
        'controller)'
    )
    failed_tests: list[str] = Field(
        default_factory=list[str],
        description='node ids of the tests run here that are not dataset items and failed (their own assertions)',
    )


class Report(BaseModel):
    """A pytest-agentarch session report."""

    schema_version: int = SCHEMA_VERSION
    model: str = Field(description='the --agentarch-model spec as given')
    models: list[str] = Field(default_factory=list[str], description='the models of the session, in order')
    seed: int
    runs_per_case: int
    level: Level = Field(default='steps', description='the trajectory level of the headline determinism and variants')
    architectures: list[ArchitectureReport]
    total: Totals = Field(description="the session's spend: every run, errors and infrastructure failures included")
    gate_misses: list[Miss]
    missing: list[MissingItem] = Field(description='items that never reported (crashed worker, interrupt)')
    not_run: int = Field(default=0, description='runs never started because the session was stopped (a budget)')
    stopped_by: str | None = Field(
        default=None, description='what stopped the session before every run started (a budget, SIGTERM), one line'
    )
    replay_of: str | None = Field(
        default=None, description='the recording every model response was read from (--agentarch-replay), if any'
    )
    judge_model: str | None = Field(
        default=None, description='the model evaluators such as LLMJudge used by default (--agentarch-judge-model)'
    )
    metadata: ReportMetadata | None = Field(default=None, description='where the report came from')
    comparisons: list[PairComparison] = Field(
        default_factory=list[PairComparison],
        description='every pair of architectures (on the same model) over the cases both ran: which is more '
        'deterministic at `level`, paired by case (docs/statistics.md)',
    )
    baseline: BaselineComparison | None = Field(
        default=None, description='the comparison with a baseline report (--agentarch-baseline), if one was given'
    )
    sequential: SequentialTotals | None = Field(
        default=None, description="the session's sequential items summed (--agentarch-sequential; null otherwise)"
    )
    extra: dict[str, Any] = Field(
        default_factory=dict[str, Any],
        description='fields added by pytest_agentarch_report hook implementations (plugins, conftest.py files)',
    )
    shard: ShardPart | None = Field(
        default=None,
        description="a shard's own runs, whole (--agentarch-shard): its statistics cover only them and it judges no "
        'gate; `agentarch merge` makes the report of the whole session. Null in any other report',
    )

    def runs_done(self) -> str:
        """The runs each case had, for headers: `20`, or `5-20` when cases differ (`arch.repeat(..., runs=)`, a
        sequential item that stopped early, a budget); `runs_per_case` (the `--runs` setting) when no case ran."""
        counts = {c.runs for a in self.architectures for c in a.cases}
        if not counts:
            return str(self.runs_per_case)
        return str(min(counts)) if len(counts) == 1 else f'{min(counts)}-{max(counts)}'


def build_report(
    items: Iterable[ItemResult],
    *,
    model: str,
    models: list[str] | None = None,
    seed: int,
    runs: int,
    missing: dict[str, str],
    level: Level = 'steps',
    stopped_by: str | None = None,
    replay_of: str | None = None,
    judge_model: str | None = None,
    metadata: ReportMetadata | None = None,
    baseline: Baseline | None = None,
) -> Report:
    """Aggregate item results into the report, in a stable order (architecture, model in the order given, then case
    name). An architecture on two models is two rows: runs of different models are never pooled.

    `level` is the trajectory level of the headline determinism and of the variants listed. Architectures are
    compared pairwise, and with `baseline` when one is given, at that level. When the items come from more than one
    dataset (the tests that are not dataset cases count as one), each architecture's summary is also computed per
    dataset (`ArchitectureReport.by_dataset`)."""
    order = {m: i for i, m in enumerate(models or [])}
    by_arch: dict[tuple[str, str | None], list[ItemResult]] = defaultdict(list)
    all_items = list(items)
    for item in all_items:
        by_arch[item.architecture, item.model].append(item)
    # Decided over the whole session, not per architecture: every architecture gets its breakdown, even one that
    # served a single dataset of several.
    split = len({item.dataset for item in all_items}) > 1
    archs: list[ArchitectureReport] = []
    all_misses: list[Miss] = []
    for key in sorted(by_arch, key=lambda k: (k[0], order.get(k[1] or '', len(order)), k[1] or '')):
        name, model_label = key
        cases: list[CaseReport] = []
        ran = sorted(by_arch[key], key=lambda i: (i.case, i.nodeid))
        for item in ran:
            stats = (
                item.stats
                if item.stats is not None and item.stats.level == level
                else case_stats(
                    item.records,
                    architecture=name,
                    case=item.case,
                    dataset=item.dataset,
                    expected_steps=item.expected_steps,
                    level=level,
                    model=model_label,
                )
            )
            misses = [Miss.model_validate(m) for m in item.misses]
            all_misses.extend(misses)
            cases.append(
                CaseReport(
                    **stats.model_dump(),
                    nodeid=item.nodeid,
                    run_results=_summaries(item.records, [v.trajectory for v in stats.variants], level),
                    peak_memory=item.peak_memory,
                    gate_misses=misses,
                    interrupted=item.interrupted,
                    not_run=item.not_run,
                    tree=tree(item.records, level, stats.variants),
                    divergence=divergence(item.records, level),
                    examples=examples(item.records, stats.variants),
                    fingerprint=item.fingerprint,
                    sequential=SequentialItem.model_validate(item.sequential) if item.sequential else None,
                )
            )
        pairs = list(zip(ran, cases, strict=True))
        sequential = [c.sequential for c in cases if c.sequential is not None]
        archs.append(
            ArchitectureReport(
                summary=_summarize(pairs),
                cases=cases,
                sequential=SequentialTotals.of(sequential) if sequential else None,
                by_dataset=_by_dataset(pairs) if split else [],
            )
        )
    observed = observe(archs, level)
    return Report(
        model=model,
        models=list(models) if models else [model],
        seed=seed,
        runs_per_case=runs,
        level=level,
        architectures=archs,
        total=Totals.sum(a.summary.total for a in archs),
        gate_misses=all_misses,
        missing=[MissingItem(nodeid=k, reason=v) for k, v in sorted(missing.items())],
        not_run=sum(c.not_run for a in archs for c in a.cases),
        stopped_by=stopped_by or next((i.stopped_by for i in all_items if i.stopped_by), None),
        replay_of=replay_of,
        judge_model=judge_model,
        metadata=metadata,
        comparisons=compare_pairs(observed, level=level),
        baseline=baseline.compare(observed, level) if baseline is not None else None,
        sequential=SequentialTotals.of(every)
        if (every := [c.sequential for a in archs for c in a.cases if c.sequential])
        else None,
    )


def _summarize(pairs: Sequence[tuple[ItemResult, CaseReport]]) -> ArchitectureStats:
    """The summary of one architecture's items (each with its case's report): its cases pooled, latency percentiles
    over their counted runs, the largest memory peak."""
    cases = [c for _, c in pairs]
    counted = [r for item, _ in pairs for r in item.records if not r.infrastructure]
    summary = aggregate(
        cases,
        description=pairs[0][0].description,
        latencies=[r.duration for r in counted],
        recorded_latencies=_recorded_latencies(counted),
    )
    peaks = [c.peak_memory for c in cases if c.peak_memory is not None]
    summary.peak_memory = max(peaks) if peaks else None
    return summary


def _by_dataset(pairs: Sequence[tuple[ItemResult, CaseReport]]) -> list[DatasetSummary]:
    """One architecture's summary per dataset: `_summarize` on that dataset's items only, datasets by name and the
    tests that are not dataset cases last."""
    groups: dict[str | None, list[tuple[ItemResult, CaseReport]]] = defaultdict(list)
    for item, case in pairs:
        groups[item.dataset].append((item, case))
    return [
        DatasetSummary(dataset=name, summary=_summarize(groups[name]))
        for name in sorted(groups, key=lambda d: (d is None, d or ''))
    ]


def observe(architectures: Iterable[ArchitectureReport], level: Level) -> list[Observed]:
    """What comparisons need of each case of the report, determinism at `level`."""
    return [
        Observed(
            architecture=c.architecture,
            model=c.model,
            dataset=c.dataset,
            case=c.case,
            determinism=(c.determinism_by_level[level].successes, c.determinism_by_level[level].n),
            pass_rate=(c.pass_rate.successes, c.pass_rate.n),
            fingerprint=c.fingerprint,
            top=c.variants[0].trajectory if c.variants and c.level == level else None,
            held_out=c.determinism_by_level[level].held_out,
        )
        for a in architectures
        for c in a.cases
    ]


@dataclass(kw_only=True)
class Baseline:
    """A previous report to compare the session with (`--agentarch-baseline`), as read from its JSON."""

    path: str
    data: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> Baseline:
        """Read and check a JSON report; raises BaselineError (a ValueError) saying what is wrong."""
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except OSError as exc:
            raise BaselineError(f'cannot read {path}: {exc.strerror or exc}') from None
        except ValueError as exc:
            raise BaselineError(f'{path} is not JSON: {exc}') from None
        if not isinstance(data, dict):
            raise BaselineError(f'{path} is not a pytest-agentarch JSON report (--agentarch-json writes one)')
        try:
            for level in LEVELS:
                observed_in_report(data, level)
        except BaselineError as exc:
            raise BaselineError(f'{path}: {exc} (--agentarch-json writes a report to compare with)') from None
        return cls(path=str(path), data=data)

    def compare(self, current: list[Observed], level: Level) -> BaselineComparison:
        """This session's items against the baseline's, determinism at `level`."""
        meta = self.data.get('metadata') or {}
        return compare_to_baseline(
            current,
            observed_in_report(self.data, level),
            path=self.path,
            level=level,
            baseline_model=self.data.get('model'),
            baseline_commit=meta.get('git_commit') if isinstance(meta, dict) else None,
        )


def write_json(report: Report, path: Path) -> None:
    """Write the report atomically and durably: readers see the old file or the new one, never half of one, and
    after a crash the new one is on disk whole or not at all.

    The file gets the mode any new file gets under the process's umask (0644 under umask 022): the temporary file
    is created with 0666 and the umask applied by the system, not with mkstemp's private 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f'.{path.name}.{secrets.token_hex(6)}.tmp'
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(report.model_dump_json(indent=2))
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable. Windows cannot open a directory for this; there it is skipped."""
    if os.name != 'posix':
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_schema() -> str:
    """The report's JSON Schema, as shipped in the package (`schema.json` beside this module)."""
    return json.dumps(Report.model_json_schema(), indent=2, sort_keys=True) + '\n'
