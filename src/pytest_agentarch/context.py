"""Which run is executing now: the identity a model may use to seed itself.

The runner enters a `RunInfo` around every run it starts. Code inside the run, a simulated model above all, reads
it with `current_run()` to derive per-run randomness that depends only on *what* is being run, never on scheduling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ('RunInfo', 'current_run', 'run_scope')


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """Identity of one run of one case by one architecture."""

    session_seed: int
    """The session's `--agentarch-seed`."""
    case: str
    """Case name (or the label a Python test gave its repetitions)."""
    architecture: str
    """Architecture name."""
    index: int
    """0-based index of this run among the case's repetitions."""

    def derive_seed(self, *parts: str) -> int:
        """A 64-bit seed stable across processes for this run and the extra `parts` (no use of `hash()`)."""
        material = '\x1f'.join((str(self.session_seed), self.case, self.architecture, str(self.index), *parts))
        return int.from_bytes(hashlib.blake2b(material.encode(), digest_size=8).digest(), 'big')


_CURRENT: ContextVar[RunInfo | None] = ContextVar('pytest_agentarch_current_run', default=None)


def current_run() -> RunInfo | None:
    """The run executing in this context, or None outside any run."""
    return _CURRENT.get()


@contextmanager
def run_scope(info: RunInfo) -> Iterator[RunInfo]:
    """Make `info` the current run for the code inside the block (task-local, safe under asyncio.gather)."""
    token = _CURRENT.set(info)
    try:
        yield info
    finally:
        _CURRENT.reset(token)
