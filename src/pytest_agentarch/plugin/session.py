"""The session's results: items' records travel on their test reports (across xdist too), the controller
aggregates them into the report, writes the JSON and prints the summary.

Roles: every process runs items and attaches each item's `ItemResult` to its call-phase report; only the
controller (the process without `workerinput`: the xdist controller, or the only process without xdist) holds a
`Collector`. Results travel as soon as an item finishes, so a worker that dies later loses nothing already reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ..core.gates import Thresholds
from ..reports.html import write_html
from ..reports.markdown import append_markdown, render_markdown
from ..reports.metadata import session_metadata
from ..reports.report import ItemResult, Report, build_report, write_json
from ..reports.table import render_comparisons, render_session
from .options import SETTINGS

__all__ = ('COLLECTOR', 'STOPPED_BY', 'WIRE_KEY', 'Collector', 'is_controller')

WIRE_KEY = 'agentarch'
"""The attribute (and serialized key) of a TestReport that carries an item's results."""


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
        """Outputs (JSON, HTML, Markdown) that could not be written at the end of the session."""

    def expect(self, nodeids: Iterable[str]) -> None:
        """Items that must report; those that never do are listed as missing."""
        self.expected.update(nodeids)

    def add(self, result: ItemResult) -> None:
        """Results that reached the controller without a report (an item interrupted in this process)."""
        self.results.setdefault(result.nodeid, []).append(result)

    def receive(self, report: pytest.TestReport) -> None:
        """Take an item's results from its report, or note why it failed without any."""
        data = getattr(report, WIRE_KEY, None)
        if data is not None:
            self.results[report.nodeid] = [ItemResult.from_wire(d) for d in data]
        elif report.failed and report.nodeid in self.expected:
            # xdist reports an item whose worker died with when='???': keep the first reason an item gives.
            lines = report.longreprtext.strip().splitlines()
            self.crashed.setdefault(report.nodeid, lines[-1] if lines else 'failed without results')

    def build(self) -> Report | None:
        """The session report, or None when the session had nothing of ours."""
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
        report = self.report
        writes: list[tuple[str, Path, Callable[[], None]]] = []
        if (json_path := settings.json_path) is not None:
            writes.append(('JSON report', json_path, lambda: write_json(report, json_path)))
        if (html_path := settings.html_path) is not None:
            writes.append(('HTML report', html_path, lambda: write_html(report, html_path)))
        if settings.markdown_path is not None or os.environ.get('GITHUB_STEP_SUMMARY'):
            text = render_markdown(report)
            if settings.markdown_path is not None:
                md = settings.markdown_path
                writes.append(('Markdown summary', md, lambda: append_markdown(text, md, append=False)))
            if summary := os.environ.get('GITHUB_STEP_SUMMARY'):
                step = Path(summary)
                writes.append(('$GITHUB_STEP_SUMMARY', step, lambda: append_markdown(text, step, append=True)))
        # One output that cannot be written (a full disk, a path removed during the session) keeps none of the others
        # from being written; the summary names it.
        for what, path, write in writes:
            try:
                write()
            except OSError as exc:
                self.write_errors.append(f'{what} could not be written to {path}: {exc}')
        return report

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


def _thresholds(thresholds: Thresholds) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies fields, and `min_scores` is a read-only mapping proxy.
    return {f.name: getattr(thresholds, f.name) for f in fields(thresholds)} | {
        'min_scores': dict(thresholds.min_scores)
    }


COLLECTOR = pytest.StashKey[Collector]()
"""The controller's collector (`config.stash[COLLECTOR]`; absent on xdist workers)."""
