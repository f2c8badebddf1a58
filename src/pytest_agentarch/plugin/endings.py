"""What a session says at its ends besides tests: sequential gates that cannot stop early (at its start and in its
summary), a registration mistake in a conftest.py (as itself, wherever the conftest is), and on pytest's last line
regressions against the baseline and outputs that were not written.

pytest builds its closing line (`=== 8 passed in 3s ===`) from the terminal reporter's `stats`, one part per key,
and counts any key it does not know as well. A session that exits non-zero because of a regression or a report that
could not be written would otherwise end on a green "8 passed"; entries under keys of our own put them on that line
(`8 passed, 1 regression, 1 report not written`, or `1 budget reached`). pytest colours a line with keys it does not
know yellow; one that names a cause of failure is made red, as failed tests make it (`_compat.red_last_line`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .._compat import red_last_line
from ..reports.sequential_notes import undecidable
from ..run.registry import RegistryError
from .options import Settings, planned_gates

__all__ = ('conftest_registry_error', 'ending', 'sequential_warnings')


def conftest_registry_error(exc: BaseException) -> str | None:
    """`path: message` when `exc` is pytest's failure to import a conftest.py whose cause is a `RegistryError` (a
    sync `def` architecture, say): pytest would show it as an import error, with a traceback through its import
    machinery. None for any other exception."""
    cause = getattr(exc, 'cause', None)  # pytest's ConftestImportFailure keeps the original exception here
    if not isinstance(cause, RegistryError):
        return None
    return f'{getattr(exc, "path", "conftest.py")}: {cause}'


def sequential_warnings(settings: Settings, *, path: bool = True) -> list[str]:
    """Under `--agentarch-sequential`, the gates in force that cannot be decided met before `--runs`, each with what
    to pass instead (`sequential_notes.undecidable`); empty otherwise. `path`: the default path-conformance gate
    counts (before any run it may, since which items have path evaluators is known only once they are collected)."""
    if not settings.sequential:
        return []
    gates = planned_gates(settings, default_path=path)
    return undecidable(gates, runs=settings.run.runs, batch=settings.batch, alpha=settings.alpha)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _entry() -> SimpleNamespace:
    # An object, not a string: plugins read every entry of `stats` as a report (hypothesis reads its `__dict__`).
    return SimpleNamespace(agentarch=True)


def ending(terminalreporter: Any, *, regressions: int, failing_regressions: bool, unwritten: int, budget: bool) -> None:
    """Add `regressions` significant regressions, `unwritten` outputs not written and a reached `budget` to pytest's
    closing line; the line is red when one of them fails the session (regressions only with `failing_regressions`,
    i.e. `--fail-on-regression`), as it is for failed tests."""
    stats: dict[str, list[Any]] = terminalreporter.stats
    failing: list[str] = []
    if regressions:
        key = _plural(regressions, 'regression', 'regressions')
        stats.setdefault(key, []).extend(_entry() for _ in range(regressions))
        if failing_regressions:
            failing.append(key)
    if unwritten:
        key = _plural(unwritten, 'report not written', 'reports not written')
        stats.setdefault(key, []).extend(_entry() for _ in range(unwritten))
        failing.append(key)
    if budget:
        stats.setdefault('budget reached', []).append(_entry())
        failing.append('budget reached')
    if failing:
        red_last_line(terminalreporter, failing)
