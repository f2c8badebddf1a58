"""Progress of a long session: runs done out of the runs the collected items will make, and an estimate of the time
left, drawn only on an interactive terminal.

The text sits at the end of the line pytest is writing (after its dots, or after the test id with `-v`) and is
erased before pytest writes anything else, so pytest's own output is never changed: what remains on the screen and in
a terminal's scrollback is exactly what pytest wrote. It is drawn with `write_raw`, which leaves pytest's idea of
the current line's width alone, and never wider than the terminal (a wrapped text could not be erased): where it
does not fit after pytest's text (a long test id in 80 columns), it goes on the line below, and the cursor back to
pytest's line and column when it is erased.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ('FEW', 'Progress', 'ProgressLine', 'interactive', 'span')


def span(seconds: float) -> str:
    """A duration for people: `45s`, `3m05s`, `2h07m`."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f'{whole}s'
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f'{minutes}m{secs:02d}s'
    hours, minutes = divmod(minutes, 60)
    return f'{hours}h{minutes:02d}m'


FEW = 5
"""Runs done before an ETA is given: the first runs of an architecture start alone, the pace settles after them."""


class Progress:
    """Runs done out of `total`, and the time left at the pace so far."""

    def __init__(self, total: int, started: float) -> None:
        self.total = total
        self.started = started
        self.items: dict[str, int] = {}
        """Runs done so far by each item (finished, or given up: not run)."""

    @property
    def done(self) -> int:
        """Runs done in all."""
        return sum(self.items.values())

    def finished(self, item: str, runs: int) -> None:
        """`item` has `runs` runs done so far. Counts only grow: a count that arrives late changes nothing."""
        self.items[item] = max(self.items.get(item, 0), runs)

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far; None before the first few runs (`FEW`) or when the total is unknown."""
        done = self.done
        if done < min(FEW, self.total) or done <= 0 or self.total <= 0:
            return None
        return max(0.0, (now - self.started) / done * (self.total - done))

    def text(self, now: float) -> str:
        """`agentarch 120/2400 runs (5%), ETA 1m20s`."""
        done = self.done
        share = f' ({done / self.total:.0%})' if self.total else ''
        eta = self.eta(now)
        left = ', ETA -' if eta is None else f', ETA {span(eta)}' if done < self.total else ''
        return f'agentarch {done}/{self.total} runs{share}{left}'

    def short(self, now: float) -> str:
        """`120/2400 runs ETA 1m20s`: what fits after a long test id (`-v`) where `text` does not."""
        eta = self.eta(now)
        left = '' if eta is None or self.done >= self.total else f' ETA {span(eta)}'
        return f'{self.done}/{self.total} runs{left}'

    def bare(self) -> str:
        """`120/2400`: the least that says where the session is."""
        return f'{self.done}/{self.total}'


class _Writer(Protocol):
    @property
    def width_of_current_line(self) -> int: ...

    @property
    def fullwidth(self) -> int: ...

    def write_raw(self, msg: str, *, flush: bool = False) -> None: ...


class ProgressLine:
    """Draws a text at the end of the terminal's current line and erases it again (ANSI: cursor back, erase to the
    end of the line)."""

    def __init__(self, writer: _Writer) -> None:
        self.writer = writer
        self.shown = 0
        """Width of the text on the screen now (0: none)."""
        self.below: int | None = None
        """The column pytest's line ends at, when the text is on the line below it (None: on pytest's line)."""

    def draw(self, text: str, *shorter: str) -> None:
        """Show `text` after what pytest wrote on the current line, or the first of `shorter` that fits there when
        it does not (with `-v` the line already holds the test id). When none fits, the first that fits on a line of
        its own is shown on the line below, and the cursor goes back to where pytest left it when it is erased."""
        self.erase()
        width, full = self.writer.width_of_current_line, self.writer.fullwidth
        for candidate in (text, *shorter):
            candidate = '  ' + candidate
            if width + len(candidate) < full:
                self.writer.write_raw(candidate, flush=True)
                self.shown, self.below = len(candidate), None
                return
        column = width % full
        if width and not column:
            # pytest's text ends at the right margin: the terminal holds the next character's wrap pending, a state
            # that moving the cursor away and back would lose.
            return
        for candidate in (text, *shorter):
            if len(candidate) < full:
                self.writer.write_raw(f'\n\r{candidate}', flush=True)
                self.shown, self.below = len(candidate), column
                return

    def erase(self) -> None:
        """Remove the text, leaving the cursor where pytest left it."""
        if self.shown and self.below is not None:
            # Clear the line below, go up to pytest's line and to its column (1-based).
            self.writer.write_raw(f'\r\x1b[K\x1b[1A\x1b[{self.below + 1}G', flush=True)
        elif self.shown:
            self.writer.write_raw(f'\x1b[{self.shown}D\x1b[K', flush=True)
        self.shown, self.below = 0, None


def interactive(terminalreporter: Any, verbosity: int, environ: Callable[[str], str | None] = os.environ.get) -> bool:
    """Whether progress is wanted: an interactive terminal with markup, not `-q`, not a CI log (pytest's own test
    of `CI` and `BUILD_NUMBER`)."""
    if terminalreporter is None or verbosity < 0 or environ('CI') or environ('BUILD_NUMBER'):
        return False
    return bool(terminalreporter.isatty()) and bool(terminalreporter.hasmarkup)


def now() -> float:
    """The clock progress is measured with."""
    return time.monotonic()
