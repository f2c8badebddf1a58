"""What a session says at its ends besides tests: sequential gates that cannot stop early (at its start and in its
summary), a registration mistake in a conftest.py (as itself, wherever the conftest is), and on pytest's last line
regressions against the baseline and outputs that were not written.

pytest builds its closing line (`=== 8 passed in 3s ===`) from the terminal reporter's `stats`, one part per key,
and counts any key it does not know as well. A session that exits non-zero because of a regression or a report that
could not be written would otherwise end on a green "8 passed"; entries under keys of our own put them on that line
(`8 passed, 1 regression, 1 report not written`), coloured as pytest colours keys it does not know (yellow).
"""

from __future__ import annotations

from typing import Any

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


def sequential_warnings(settings: Settings) -> list[str]:
    """Under `--agentarch-sequential`, the gates in force that cannot be decided met before `--runs`, each with what
    to pass instead (`sequential_notes.undecidable`); empty otherwise."""
    if not settings.sequential:
        return []
    return undecidable(planned_gates(settings), runs=settings.run.runs, batch=settings.batch, alpha=settings.alpha)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def ending(stats: dict[str, list[Any]], *, regressions: int, unwritten: int) -> None:
    """Add `regressions` significant regressions and `unwritten` outputs not written to pytest's closing line."""
    if regressions:
        stats.setdefault(_plural(regressions, 'regression', 'regressions'), []).extend(['agentarch'] * regressions)
    if unwritten:
        key = _plural(unwritten, 'report not written', 'reports not written')
        stats.setdefault(key, []).extend(['agentarch'] * unwritten)
