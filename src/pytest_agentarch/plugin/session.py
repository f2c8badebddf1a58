"""The session's results: items' records travel on their test reports (across xdist too), the controller
aggregates them into the report, has it written (writer.py), judges the session-level gates and prints the summary.

Roles: every process runs items and attaches each item's `ItemResult` to its call-phase report; only the
controller (the process without `workerinput`: the xdist controller, or the only process without xdist) holds a
`Collector`. Results travel as soon as an item finishes, so a worker that dies later loses nothing already reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import pytest

from ..core.gates import Thresholds
from ..reports.metadata import session_metadata
from ..reports.report import ItemResult, Report, ShardPart, build_report
from ..reports.table import render_comparisons, render_session
from .endings import ending, sequential_warnings
from .options import SETTINGS
from .writer import write_report

__all__ = ('COLLECTOR', 'STOPPED_BY', 'WIRE_KEY', 'Collector', 'from_wire', 'is_controller', 'runs_of', 'to_wire')

WIRE_KEY = 'agentarch'
"""The attribute (and serialized key) of a TestReport that carries an item's results: `ItemResult`s in the process
that ran the item, their `to_wire` dicts once the report is serialized (an xdist worker's, sent to the controller)."""


def to_wire(result: ItemResult | dict[str, Any]) -> dict[str, Any]:
    """An item's result as plain data (a report serialized twice holds plain data already)."""
    return result.to_wire() if isinstance(result, ItemResult) else result


def from_wire(result: ItemResult | dict[str, Any]) -> ItemResult:
    """An item's result from a report: as it is when the item ran in this process, rebuilt when it came as data."""
    return result if isinstance(result, ItemResult) else ItemResult.from_wire(result)


def runs_of(result: ItemResult | dict[str, Any]) -> int:
    """The runs an item's result accounts for: those made and those not run."""
    if isinstance(result, ItemResult):
        return len(result.records) + result.not_run
    return len(result['records']) + int(result['not_run'])


STOPPED_BY = pytest.StashKey[str]()
"""Why the session stopped before every run started (a budget, SIGTERM), when it did."""


def is_controller(config: pytest.Config) -> bool:
    """The process that aggregates: not an xdist worker."""
    return not hasattr(config, 'workerinput')


class Collector:
    """Controller side: gathers item results from reports (with or without xdist) and writes the outputs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, list[ItemResult]] = {}
        self.expected: set[str] = set()
        """Node ids of the agentarch items collected (by this process or by the xdist workers)."""
        self.crashed: dict[str, str] = {}
        self.report: Report | None = None
        self.started = time.time()
        self.clock = time.monotonic()
        self.write_errors: list[str] = []
        """Outputs (JSON, HTML, Markdown) that could not be written at the end of the session, and fields a
        `pytest_agentarch_report` hook added that were left out."""
        self.unwritten: list[str] = []
        """Outputs that could not be written (part of `write_errors`): each fails the session."""
        self.missed_budget = False
        """Whether the budget gate failed the session (`gate_misses`)."""
        self.failed_tests: set[str] = set()
        """Tests that failed and are not dataset items (a shard's report lists them for `agentarch merge`)."""

    def expect(self, nodeids: Iterable[str]) -> None:
        """Items that must report; those that never do are listed as missing."""
        self.expected.update(nodeids)

    def add(self, result: ItemResult) -> None:
        """Results that reached the controller without a report (an item interrupted in this process)."""
        self.results.setdefault(result.nodeid, []).append(result)

    def receive(self, report: pytest.TestReport) -> None:
        """Take an item's results from its report, or note why it failed without any."""
        data = getattr(report, WIRE_KEY, None)
        if report.failed and report.nodeid not in self.expected:
            self.failed_tests.add(report.nodeid)
        if data is not None:
            self.results[report.nodeid] = [from_wire(d) for d in data]
        elif report.failed and report.nodeid in self.expected:
            # xdist reports an item whose worker died with when='???': keep the first reason an item gives.
            lines = report.longreprtext.strip().splitlines()
            self.crashed.setdefault(report.nodeid, lines[-1] if lines else 'failed without results')

    def build(self) -> Report | None:
        """The session report (kept as `self.report`), or None when the session had nothing of ours; written by
        `write`. Implementations of `pytest_agentarch_report` add their fields to it."""
        if self.config.option.collectonly or (not self.results and not self.expected):
            return None
        settings = self.config.stash[SETTINGS]
        missing = {
            nodeid: self.crashed.get(nodeid, 'did not report (not run, interrupted, or its worker died)')
            for nodeid in self.expected - set(self.results)
        }
        self.report = build_report(
            [r for rs in self.results.values() for r in rs],
            model=settings.model_spec,
            models=settings.model_specs,
            seed=settings.run.seed,
            runs=settings.run.runs,
            missing=missing,
            level=settings.thresholds.level,
            stopped_by=self.config.stash.get(STOPPED_BY, None),
            replay_of=str(settings.replay_dir) if settings.replay_dir is not None else None,
            judge_model=settings.judge_spec,
            metadata=session_metadata(
                started=self.started,
                duration=time.monotonic() - self.clock,
                rootdir=self.config.rootpath,
                options=settings.options,
                thresholds={
                    **_thresholds(settings.thresholds),
                    'overrides': {k: _thresholds(v) for k, v in settings.overrides.items()},
                },
            ),
            baseline=settings.baseline,
        )
        if (shard := settings.shard) is not None:
            self.report.shard = ShardPart(
                index=shard.index,
                count=shard.count,
                items=[r.to_wire() for rs in self.results.values() for r in rs],
                failed_tests=sorted(self.failed_tests),
            )
        self.report.extra = self._added_fields(self.report)
        return self.report

    def _added_fields(self, report: Report) -> dict[str, Any]:
        """What `pytest_agentarch_report` implementations add; a field named twice or not JSON is left out (and
        named in the summary)."""
        added: dict[str, Any] = {}
        for fields_ in self.config.hook.pytest_agentarch_report(report=report, config=self.config):
            if fields_ is None:
                continue
            if not isinstance(fields_, Mapping):
                self.write_errors.append(
                    f'a pytest_agentarch_report hook returned {type(fields_).__name__}, not a mapping of fields to '
                    'JSON values: return a dict (or None)'
                )
                continue
            for name, value in fields_.items():
                if name in added:
                    self.write_errors.append(
                        f'report field {name!r} was added by two pytest_agentarch_report hooks; the first one is kept'
                    )
                    continue
                try:
                    added[str(name)] = json.loads(json.dumps(value, allow_nan=False))
                except (TypeError, ValueError) as exc:
                    self.write_errors.append(
                        f'report field {name!r} from a pytest_agentarch_report hook is left out: {exc}; '
                        'return JSON values (str, int, float, bool, None, lists and dicts of them)'
                    )
        return added

    def write(self) -> None:
        """Write the report to every output the settings name (`writer.write_report`)."""
        if self.report is not None:
            self.unwritten = write_report(self.report, self.config.stash[SETTINGS])
            self.write_errors.extend(self.unwritten)

    def gate_misses(self, *, budget: str | None) -> list[str]:
        """The session-level gates this session misses, one line each; each fails the session like a failed test.

        A session-level gate judges the session as a whole, after every item ran: the budget (`budget`, the reason
        it stopped the session, or None) and, with `--fail-on-regression`, the comparison with the baseline.
        """
        misses = [f'budget: {budget}'] if budget is not None else []
        self.missed_budget = budget is not None
        if self.config.stash[SETTINGS].fail_on_regression:
            misses += [f'regression: {line}' for line in self.regressions()]
        return misses

    def regressions(self) -> list[str]:
        """One line per significant drop against the baseline (empty without a baseline)."""
        if self.report is None or self.report.baseline is None:
            return []
        return [
            f'{item} {metric}: {c.old_successes}/{c.old_n} -> {c.new_successes}/{c.new_n} '
            f'({c.change:+.1%}, p={c.p_value:.3g}, Holm-adjusted {c.p_adjusted:.3g})'
            for item, metric, c in self.report.baseline.regressions()
        ]

    def summary(self, terminalreporter: Any) -> None:
        """The terminal section."""
        if self.report is None:
            return
        tr = terminalreporter
        tr.section('agentarch: architecture comparison')
        for line in render_session(self.report, verbose=self.config.getoption('verbose') > 0):
            tr.write_line(line)
        verbose = self.config.getoption('verbose') > 0
        for line in render_comparisons(self.report, verbose=verbose):
            tr.write_line(line)
        settings = self.config.stash[SETTINGS]
        regressions = self.regressions()
        if regressions:
            failing = settings.fail_on_regression
            tr.write_line(
                f'agentarch: {len(regressions)} significant regression(s) against the baseline'
                + ('' if failing else ' (not failing the session: --fail-on-regression is off)'),
                red=failing,
                bold=failing,
            )
            for line in regressions:
                tr.write_line(f'  regression: {line}', red=failing)
        failed = ' '.join(self.write_errors)
        if settings.json_path is not None and str(settings.json_path) not in failed:
            tr.write_line(f'report written to {settings.json_path}')
        if settings.html_path is not None and str(settings.html_path) not in failed:
            tr.write_line(f'HTML report written to {settings.html_path}')
        if settings.markdown_path is not None and str(settings.markdown_path) not in failed:
            tr.write_line(f'Markdown summary written to {settings.markdown_path}')
        for problem in self.write_errors:
            tr.write_line(f'agentarch: {problem}', red=True, bold=True)
        if self.report.stopped_by:
            not_run = f'; {self.report.not_run} runs not run' if self.report.not_run else ''
            tr.write_line(f'agentarch: session stopped by {self.report.stopped_by}{not_run}', red=True, bold=True)
        if settings.sequential and self.report.sequential is not None:
            # The default path gate is said again only if an item had one: the report knows now.
            path = any(
                g.metric == 'path_conformance'
                for a in self.report.architectures
                for c in a.cases
                if c.sequential is not None
                for g in c.sequential.gates
            )
            for line in sequential_warnings(settings, path=path):
                tr.write_line(f'agentarch: {line}', yellow=True)
        ending(
            tr,
            regressions=len(regressions),
            failing_regressions=settings.fail_on_regression,
            unwritten=len(self.unwritten),
            budget=self.missed_budget,
        )


def _thresholds(thresholds: Thresholds) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies fields, and `min_scores` is a read-only mapping proxy.
    return {f.name: getattr(thresholds, f.name) for f in fields(thresholds)} | {
        'min_scores': dict(thresholds.min_scores)
    }


COLLECTOR = pytest.StashKey[Collector]()
"""The controller's collector (`config.stash[COLLECTOR]`; absent on xdist workers)."""
