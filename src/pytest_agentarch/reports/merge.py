"""`agentarch merge`: the report of a split session, rebuilt from its shards' JSON reports.

Every statistic is recomputed from the per-run records the shards kept (`Report.shard`), never from their figures:
an item's runs from every shard are put back together in index order, its statistics and gates are computed as the
session would have computed them, and the whole report (comparisons, the baseline's too) is built by the same
`build_report`. Shards that do not belong together are refused with the reason: another seed, model, option or
version of a case, a shard given twice, a shard missing, or runs a shard should not hold. No pytest here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..core.compare import BaselineError
from ..core.gates import Thresholds, check, pick
from ..core.shards import run_owner
from ..core.stats import case_stats
from .report import Baseline, ItemResult, Report, ShardPart, build_report

__all__ = (
    'PER_SHARD_OPTIONS',
    'MergeError',
    'Merged',
    'exit_status',
    'merge_reports',
    'read_shard',
    'write_junit',
)

PER_SHARD_OPTIONS = frozenset(
    {
        'shard',
        'json',
        'html',
        'markdown',
        'record',
        'resume',
        'concurrency',
        'max_requests',
        'rpm',
        'tpm',
        'retries',
        'budget_tokens',
        'budget_usd',
        'store',
        'plan',
    }
)
"""Options shards may set differently: where their own outputs go and how fast they may send, none of which changes
what a run does. (Budgets differ per shard too: a budget that stopped a shard shows as runs not run.) Every other
option must be the same in every shard."""


class MergeError(ValueError):
    """Shard reports that cannot be merged; the message names the files and says what differs."""


@dataclass(kw_only=True)
class _Shard:
    path: Path
    report: Report
    items: list[ItemResult]


def read_shard(path: Path) -> Report:
    """A shard's JSON report; raises MergeError when it cannot be read or is not a shard's."""
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as exc:
        raise MergeError(f'cannot read {path}: {exc.strerror or exc}') from None
    try:
        report = Report.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first['loc']) or '(top level)'
        raise MergeError(
            f'{path} is not a pytest-agentarch JSON report of this version ({exc.error_count()} problem(s); first '
            f'at {where}: {first["msg"]})'
        ) from None
    if report.shard is None:
        raise MergeError(
            f'{path} is the report of a whole session, not of a shard: merge the reports that sessions run with '
            '--agentarch-shard i/N --agentarch-json PATH wrote'
        )
    return report


@dataclass(kw_only=True)
class Merged:
    """The merged report and what the session's exit status depends on."""

    report: Report
    failed_tests: list[str] = field(default_factory=list[str])
    """Tests that are not dataset items and failed in their shard."""
    fail_on_regression: bool = False
    """The shards ran with --fail-on-regression."""


def merge_reports(paths: Sequence[Path], *, baseline: Path | None = None) -> Merged:
    """Merge the shard reports at `paths` into the report of the whole session.

    `baseline` replaces the baseline the shards named (`--agentarch-baseline`), e.g. when its path is not valid where
    the merge runs. Raises MergeError saying why the shards cannot be merged."""
    if not paths:
        raise MergeError('no shard reports given')
    shards: list[_Shard] = []
    for path in paths:
        report = read_shard(path)
        items = _items(path, report)
        # The records now live in `items`: the shard's plain-data copy of them and its own statistics are never read
        # again, and dropping them keeps one copy of every run in memory, not three.
        _part_of(report).items = []
        report.architectures = []
        shards.append(_Shard(path=path, report=report, items=items))
    _check_complete(shards)
    _check_same(shards)
    first = shards[0].report
    options: dict[str, Any] = dict(first.metadata.options) if first.metadata is not None else {}
    base, overrides = _thresholds(first.metadata.thresholds if first.metadata is not None else {})
    items = _combine(shards, base, overrides)
    missing = {m.nodeid: f'{m.reason} (in shard {_index(s)}/{_count(s)})' for s in shards for m in s.report.missing}
    chosen = baseline if baseline is not None else (Path(options['baseline']) if options.get('baseline') else None)
    try:
        compared = Baseline.read(chosen) if chosen is not None else None
    except BaselineError as exc:
        raise MergeError(f'the baseline report: {exc}; pass --baseline OLD.json to name it here') from None
    report = build_report(
        items,
        model=first.model,
        models=first.models,
        seed=first.seed,
        runs=first.runs_per_case,
        missing=missing,
        level=first.level,
        stopped_by=next((s.report.stopped_by for s in shards if s.report.stopped_by), None),
        replay_of=first.replay_of,
        judge_model=first.judge_model,
        metadata=_metadata(shards, options),
        baseline=compared,
    )
    return Merged(
        report=report,
        failed_tests=sorted({t for s in shards for t in _part(s).failed_tests}),
        fail_on_regression=bool(options.get('fail_on_regression')),
    )


def exit_status(merged: Merged) -> int:
    """The exit status the unsplit session would have ended with: 2 when a shard was interrupted, 1 when a gate was
    missed, a test failed, an item never reported, a budget stopped the session, or (with --fail-on-regression) an
    item is significantly worse than in the baseline; else 0."""
    report = merged.report
    if any(c.interrupted for a in report.architectures for c in a.cases):
        return 2
    regressed = report.baseline is not None and bool(report.baseline.regressions()) and merged.fail_on_regression
    failed = report.gate_misses or merged.failed_tests or report.missing or report.stopped_by or regressed
    return 1 if failed else 0


def _part(shard: _Shard) -> Any:
    return _part_of(shard.report)


def _part_of(report: Report) -> ShardPart:
    assert report.shard is not None  # read_shard refuses a report without it
    return report.shard


def _index(shard: _Shard) -> int:
    return int(_part(shard).index)


def _count(shard: _Shard) -> int:
    return int(_part(shard).count)


def _items(path: Path, report: Report) -> list[ItemResult]:
    assert report.shard is not None
    try:
        return [ItemResult.from_wire(data) for data in report.shard.items]
    except (TypeError, KeyError) as exc:
        raise MergeError(f"{path}: a shard's item results do not read back ({exc}); write the shard again") from None


def _check_complete(shards: Sequence[_Shard]) -> None:
    """One report for every shard 1..N, none twice, all of one split."""
    counts = {_count(s) for s in shards}
    if len(counts) > 1:
        listed = ', '.join(f'{s.path} is {_index(s)}/{_count(s)}' for s in shards)
        raise MergeError(f'the shards come from splits into different numbers of shards: {listed}')
    count = counts.pop()
    seen: dict[int, Path] = {}
    for s in shards:
        if (other := seen.get(_index(s))) is not None:
            raise MergeError(f'shard {_index(s)}/{count} is given twice: {other} and {s.path} (overlapping shards)')
        seen[_index(s)] = s.path
    if absent := [i for i in range(1, count + 1) if i not in seen]:
        names = ', '.join(f'{i}/{count}' for i in absent)
        raise MergeError(
            f"shard(s) {names} missing: a split into {count} needs every shard's report (given: "
            f'{", ".join(f"{i}/{count}" for i in sorted(seen))})'
        )


def _check_same(shards: Sequence[_Shard]) -> None:
    """The shards ran the same session: seed, models, runs, options (but `PER_SHARD_OPTIONS`), thresholds, versions."""
    first = shards[0]

    def differ(what: str, get: Any) -> None:
        value = get(first)
        for s in shards[1:]:
            if (other := get(s)) != value:
                raise MergeError(
                    f'the shards ran different sessions: {what} is {value!r} in {first.path} but {other!r} in '
                    f'{s.path}; every shard of a split must run with the same {what}'
                )

    differ('seed (--agentarch-seed)', lambda s: s.report.seed)
    differ('model (--agentarch-model)', lambda s: s.report.models)
    differ('runs per case (--runs)', lambda s: s.report.runs_per_case)
    differ('determinism level', lambda s: s.report.level)
    differ('judge model', lambda s: s.report.judge_model)
    differ('replayed recording', lambda s: s.report.replay_of)
    metas = [s.report.metadata for s in shards]
    if any(m is None for m in metas):
        return
    differ('pytest-agentarch version', lambda s: s.report.metadata.plugin_version)
    differ('pydantic-ai version', lambda s: s.report.metadata.pydantic_ai_version)
    differ('thresholds', lambda s: s.report.metadata.thresholds)
    commits = {m.git_commit for m in metas if m is not None and m.git_commit is not None}
    if len(commits) > 1:
        differ('git commit', lambda s: s.report.metadata.git_commit)
    names = sorted({k for m in metas if m is not None for k in m.options} - PER_SHARD_OPTIONS)
    for name in names:
        differ(f'option {name!r}', lambda s, name=name: s.report.metadata.options.get(name))


def _thresholds(data: Mapping[str, Any]) -> tuple[Thresholds, dict[str, Thresholds]]:
    """The session's thresholds and the per-architecture ones, from the report's `metadata.thresholds`."""

    def one(d: Mapping[str, Any]) -> Thresholds:
        return Thresholds(
            min_determinism=d.get('min_determinism'),
            min_pass_rate=d.get('min_pass_rate'),
            lower_bound=bool(d.get('lower_bound', False)),
            level=d.get('level', 'steps'),
            min_scores=dict(d.get('min_scores') or {}),
        )

    overrides = data.get('overrides') or {}
    return one(data), {key: one(value) for key, value in overrides.items()}


def _combine(shards: Sequence[_Shard], base: Thresholds, overrides: Mapping[str, Thresholds]) -> list[ItemResult]:
    """Every item once: a dataset item's runs from every shard in index order, its gates judged on all of them; any
    other test's results as the one shard that ran it sent them."""
    first = shards[0].report
    count = _count(shards[0])
    default_model = first.models[0] if first.models else first.model
    parts: dict[str, list[tuple[_Shard, ItemResult]]] = {}
    whole: dict[str, tuple[_Shard, list[ItemResult]]] = {}
    for s in shards:
        for item in s.items:
            if item.fingerprint is None:
                owner = whole.setdefault(item.nodeid, (s, []))
                if owner[0] is not s:
                    raise MergeError(
                        f'test {item.nodeid} ran in two shards ({owner[0].path} and {s.path}): overlapping shards'
                    )
                owner[1].append(item)
            else:
                parts.setdefault(item.nodeid, []).append((s, item))
    missing_in = {(_index(s), m.nodeid) for s in shards for m in s.report.missing}
    out: list[ItemResult] = []
    for nodeid, found in parts.items():
        head = found[0][1]
        for s, item in found[1:]:
            if item.fingerprint != head.fingerprint:
                raise MergeError(
                    f'case {head.case!r} ({nodeid}) differs between shards: fingerprint {head.fingerprint} in '
                    f'{found[0][0].path} but {item.fingerprint} in {s.path}; every shard must run the same dataset '
                    'files'
                )
            if (item.architecture, item.model, item.case, item.dataset) != (
                head.architecture,
                head.model,
                head.case,
                head.dataset,
            ):
                raise MergeError(f'{nodeid} names different items in {found[0][0].path} and {s.path}')
        model = head.model or default_model

        def owner_of(index: int, head: ItemResult = head, model: str = model) -> int:
            return run_owner(
                dataset=head.dataset,
                case=head.case,
                architecture=head.architecture,
                model=model,
                index=index,
                count=count,
            )

        by_index: dict[int, Path] = {}
        records = []
        for s, item in found:
            for record in item.records:
                maker = owner_of(record.index)
                if maker != _index(s) or not 0 <= record.index < first.runs_per_case:
                    raise MergeError(
                        f'{s.path} holds run {record.index} of {nodeid}, which shard {maker}/{count} makes: the '
                        'shards were not split alike (another --runs or --agentarch-model?)'
                    )
                if record.index in by_index:
                    raise MergeError(f'run {record.index} of {nodeid} is in {by_index[record.index]} and {s.path}')
                by_index[record.index] = s.path
                records.append(record)
        present = {_index(s) for s, _ in found}
        owners = {owner_of(i) for i in range(first.runs_per_case)}
        for lacking in sorted(owners - present):
            if (lacking, nodeid) not in missing_in:
                path = next(s.path for s in shards if _index(s) == lacking)
                raise MergeError(
                    f'{path} (shard {lacking}/{count}) has no results for {nodeid}, whose runs it owns, and does '
                    'not list it as missing: it collected other cases (other dataset files or options?)'
                )
        records.sort(key=lambda r: r.index)
        peaks = [item.peak_memory for _, item in found if item.peak_memory is not None]
        merged = ItemResult(
            nodeid=nodeid,
            architecture=head.architecture,
            model=head.model,
            description=head.description,
            case=head.case,
            dataset=head.dataset,
            records=records,
            expected_steps=head.expected_steps,
            peak_memory=max(peaks) if peaks else None,
            interrupted=any(item.interrupted for _, item in found),
            not_run=sum(item.not_run for _, item in found),
            stopped_by=next((item.stopped_by for _, item in found if item.stopped_by), None),
            fingerprint=head.fingerprint,
        )
        if not merged.interrupted and not merged.not_run:
            thresholds = pick(base, overrides, head.architecture, head.model)
            stats = case_stats(
                records,
                architecture=head.architecture,
                case=head.case,
                dataset=head.dataset,
                expected_steps=head.expected_steps,
                level=thresholds.level,
                model=head.model,
            )
            merged.misses = [m.model_dump() for m in check(stats, thresholds)]
        out.append(merged)
    for _, results in whole.values():
        out.extend(results)
    return out


def _start(shard: _Shard) -> float:
    meta = shard.report.metadata
    return datetime.fromisoformat(meta.started_at).timestamp() if meta is not None else 0.0


def _metadata(shards: Sequence[_Shard], options: Mapping[str, Any]) -> Any:
    """The first shard's metadata, spanning every shard: from the earliest start to the latest end."""
    first = shards[0].report.metadata
    if first is None:
        return None
    starts = [_start(s) for s in shards]
    ends = [t + (s.report.metadata.duration if s.report.metadata else 0.0) for t, s in zip(starts, shards, strict=True)]
    earliest = min(range(len(shards)), key=lambda i: starts[i])
    started = shards[earliest].report.metadata
    return first.model_copy(
        update={
            'started_at': started.started_at if started is not None else first.started_at,
            'duration': round(max(ends) - starts[earliest], 3),
            'options': {**options, 'shard': None},
        }
    )


def write_junit(merged: Merged, path: Path) -> None:
    """A JUnit XML file of the merged session: one test case per item, failed when it missed a gate (the misses in
    the message), its figures as properties (the names pytest's `--junitxml` gives them), and the failed tests that
    are not dataset items."""
    from xml.etree import ElementTree as ET

    from .markdown import junit_properties

    report = merged.report
    suite = ET.Element('testsuite', name='agentarch')
    failures = 0
    cases = [c for a in report.architectures for c in a.cases]
    for case in cases:
        module, _, name = case.nodeid.rpartition('::')
        element = ET.SubElement(suite, 'testcase', classname=module.replace('/', '.'), name=name or case.nodeid)
        properties = ET.SubElement(element, 'properties')
        for key, value in junit_properties(case):
            ET.SubElement(properties, 'property', name=key, value=str(value))
        if case.gate_misses:
            failures += 1
            failure = ET.SubElement(element, 'failure', message=str(case.gate_misses[0]))
            failure.text = '\n'.join(str(m) for m in case.gate_misses)
    for nodeid in merged.failed_tests:
        module, _, name = nodeid.rpartition('::')
        element = ET.SubElement(suite, 'testcase', classname=module.replace('/', '.'), name=name or nodeid)
        ET.SubElement(element, 'failure', message="failed in its shard (see that shard's output)")
        failures += 1
    for item in report.missing:
        module, _, name = item.nodeid.rpartition('::')
        element = ET.SubElement(suite, 'testcase', classname=module.replace('/', '.'), name=name or item.nodeid)
        ET.SubElement(element, 'error', message=item.reason)
    suite.set('tests', str(len(cases) + len(merged.failed_tests) + len(report.missing)))
    suite.set('failures', str(failures))
    suite.set('errors', str(len(report.missing)))
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element('testsuites')
    root.append(suite)
    ET.ElementTree(root).write(path, encoding='utf-8', xml_declaration=True)
