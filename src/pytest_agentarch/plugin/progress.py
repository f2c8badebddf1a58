"""The progress line's hooks: runs are counted as they finish, in the process that runs them, and drawn by the
controller (`reports.progress` holds the text and the drawing).

A dataset item calls `RUN_DONE` (from the config's stash) after each of its runs with the runs done so far. In one
process that redraws the line at once (at most every `INTERVAL` seconds while an item runs), with pytest's capture
suspended; under `-s` or live logging, whose output would land after the text, the line is drawn between items only.
An xdist worker has no terminal: it sends the count to the controller on the channel test reports take, as a passed
report of its current item marked with `PROGRESS_KEY` (at most every `INTERVAL` seconds, so a fast item does not flood
the channel, and only when the controller draws a line). The controller counts and draws it; pytest's own plugins
leave it alone: the terminal reporter gives it no letter, word or category (`pytest_report_teststatus`), and it is
no setup, call or teardown report, the phases the others act on. A third-party plugin that handles every report
whatever its phase sees it too, on an interactive terminal under xdist only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import nullcontext
from typing import Any

import pytest

from ..reports import progress
from .options import SETTINGS
from .session import WIRE_KEY, Collector, runs_of

__all__ = ('INTERVAL', 'PROGRESS_KEY', 'RUN_DONE', 'WORKER_KEY', 'ProgressHooks', 'WorkerProgress')

INTERVAL = 0.2
"""Seconds between two counts sent (xdist worker) or drawn (one process) while an item runs."""

PROGRESS_KEY = 'agentarch_progress'
"""The attribute of a worker's progress report: the runs of its item done so far."""

PROGRESS_WHEN = 'agentarch-progress'
"""The phase a progress report names: none of pytest's, so plugins that act on setup, call or teardown leave it."""

WORKER_KEY = 'agentarch_progress'
"""The key in an xdist worker's `workerinput` that tells it to send its counts: the controller draws a line."""

RUN_DONE = pytest.StashKey[Callable[[pytest.Item, int], None]]()
"""Called by a dataset item after each of its runs ends with the runs of the item ended so far."""


def _teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    # No letter, no word and no outcome category: nothing on the screen and nothing in pytest's closing line.
    return ('', '', '') if getattr(report, PROGRESS_KEY, None) is not None else None


class WorkerProgress:
    """On an xdist worker: each item's runs done, sent to the controller (throttled)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.sent = float('-inf')
        config.stash[RUN_DONE] = self.run_done

    def run_done(self, item: pytest.Item, runs: int) -> None:
        """Send `runs` done of `item` unless a count went less than `INTERVAL` seconds ago (the item's report says
        its final count anyway)."""
        now = time.monotonic()
        if now - self.sent < INTERVAL:
            return
        self.sent = now
        when: Any = PROGRESS_WHEN
        report = pytest.TestReport(item.nodeid, item.location, {}, 'passed', None, when)
        setattr(report, PROGRESS_KEY, runs)
        self.config.hook.pytest_runtest_logreport(report=report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        return _teststatus(report)


class ProgressHooks:
    """Runs done / total and an ETA on an interactive terminal (controller only: under xdist the workers' counts
    arrive on reports). Drawn after pytest writes, erased before pytest writes anything else."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.config = collector.config
        self.line: progress.ProgressLine | None = None
        self.state: progress.Progress | None = None
        self.decided = False
        self.drawn = float('-inf')
        # Output that reaches the terminal while an item runs (`-s`, live logging) would land after the drawn text:
        # then the line is drawn only between items (after an item ends, erased when the next one starts).
        capture = self.config.getoption('capture', None)
        live_log = bool(self.config.getini('log_cli')) or self.config.getoption('log_cli_level', None) is not None
        self.during_items = capture != 'no' and not live_log
        if self.during_items:
            self.config.stash[RUN_DONE] = self.run_done

    def run_done(self, item: pytest.Item, runs: int) -> None:
        """`runs` of `item` done (in this process): redrawn at most every `INTERVAL` seconds."""
        if self.state is not None:
            self.state.finished(item.nodeid, runs)
        if progress.now() - self.drawn < INTERVAL:
            return
        # pytest captures the test's output while it runs (into a file, with the default `--capture=fd`): the line
        # is drawn to the terminal with the capture suspended, as pytest's live logging writes there.
        capture = self.config.pluginmanager.get_plugin('capturemanager')
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            self._draw()

    def _active(self) -> bool:
        if not self.decided:
            reporter = self.config.pluginmanager.get_plugin('terminalreporter')
            if progress.interactive(reporter, self.config.get_verbosity()):
                self.line = progress.ProgressLine(self.config.get_terminal_writer())
            self.decided = True
        return self.line is not None

    def _draw(self) -> None:
        if not self._active() or not self.collector.expected:
            return
        assert self.line is not None
        now = progress.now()
        if self.state is None:
            self.state = progress.Progress(len(self.collector.expected) * self.config.stash[SETTINGS].run.runs, now)
        self.drawn = now
        self.line.draw(self.state.text(now), self.state.short(now), self.state.bare())

    def _erase(self) -> None:
        if self.line is not None:
            self.line.erase()

    def _around(self, draw: bool = True) -> Generator[None, object, object]:
        """The one wrapper of every hook the terminal reporter writes in: erase, let it write, draw again (unless
        `draw` is false: an item is about to run or running, and its output is not captured)."""
        self._erase()
        try:
            return (yield)
        finally:
            if draw:
                self._draw()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self) -> Generator[None, object, object]:
        return (yield from self._around(self.during_items))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logfinish(self) -> Generator[None, object, object]:
        return (yield from self._around())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, object, object]:
        if self.state is not None and report.nodeid in self.collector.expected:
            done = getattr(report, PROGRESS_KEY, None)
            if done is None:  # the item's own report: its final count
                data = getattr(report, WIRE_KEY, None) or []
                done = sum(runs_of(d) for d in data) if data else None
            if done is not None:
                self.state.finished(report.nodeid, done)
        return (yield from self._around(self.during_items))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        return _teststatus(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Workers send counts only to a controller that draws them: none into a CI log or a pipe.
        node.workerinput[WORKER_KEY] = self._active()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        # Innermost: the text goes before the terminal reporter's own wrapper writes the final percentage.
        try:
            return (yield)
        finally:
            self._stop()

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self) -> None:
        self._erase()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self._stop()

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self) -> None:
        self._stop()

    def _stop(self) -> None:
        self._erase()
        self.line = None
