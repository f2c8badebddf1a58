"""The session's results: items' records travel on their test reports (across xdist too), the controller
aggregates them into the report, writes the JSON and prints the summary.

Roles: every process runs items and attaches each item's `ItemResult` to its call-phase report; only the
controller (the process without `workerinput`: the xdist controller, or the only process without xdist) holds a
`Collector`. Results travel as soon as an item finishes, so a worker that dies later loses nothing already reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from .html import write_html
from .options import SETTINGS
from .report import ItemResult, Report, build_report, write_json
from .table import render_session

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
        )
        if settings.json_path is not None:
            write_json(self.report, settings.json_path)
        if settings.html_path is not None:
            write_html(self.report, settings.html_path)
        return self.report

    def summary(self, terminalreporter: Any) -> None:
        """The terminal section."""
        if self.report is None:
            return
        tr = terminalreporter
        tr.section('agentarch: architecture comparison')
        for line in render_session(self.report, verbose=self.config.getoption('verbose') > 0):
            tr.write_line(line)
        json_path = self.config.stash[SETTINGS].json_path
        if json_path is not None:
            tr.write_line(f'report written to {json_path}')
        html_path = self.config.stash[SETTINGS].html_path
        if html_path is not None:
            tr.write_line(f'HTML report written to {html_path}')
        if self.report.stopped_by:
            not_run = f'; {self.report.not_run} runs not run' if self.report.not_run else ''
            tr.write_line(f'agentarch: session stopped by {self.report.stopped_by}{not_run}', red=True, bold=True)


COLLECTOR = pytest.StashKey[Collector]()
"""The controller's collector (`config.stash[COLLECTOR]`; absent on xdist workers)."""
