"""Which run is executing now: the identity a model may use to seed itself.

The runner enters a `RunInfo` around every run it starts. Code inside the run, a simulated model above all, reads
it with `current_run()` to derive per-run randomness that depends only on *what* is being run, never on scheduling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ('RunCounters', 'RunInfo', 'current_counters', 'current_run', 'run_scope')


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
    model: str = ''
    """Label of the session model the run uses (the `--agentarch-model` spec); not part of `derive_seed`."""
    dataset: str | None = None
    """Name of the dataset the case comes from; None for a Python test's repetitions."""

    def derive_seed(self, *parts: str) -> int:
        """A 64-bit seed stable across processes for this run and the extra `parts` (no use of `hash()`)."""
        material = '\x1f'.join((str(self.session_seed), self.case, self.architecture, str(self.index), *parts))
        return int.from_bytes(hashlib.blake2b(material.encode(), digest_size=8).digest(), 'big')


@dataclass(kw_only=True)
class RunCounters:
    """What the model-request layer did for one run besides answering; the runner copies it into the run's record."""

    attempts: int = 0
    """Model request attempts sent, including the ones retried."""
    retries: int = 0
    """Attempts that failed on infrastructure (HTTP 429/5xx, connection, provider timeout) and were tried again."""
    waited: float = 0.0
    """Seconds spent waiting on the session's limits (requests in flight, RPM, TPM) and on retry back-off."""
    reasons: dict[str, str] = field(default_factory=dict[str, str])
    """Why the model made each tool call, by tool call id, when the model says (the simulated model does); the
    runner copies each into its call's record."""
    faults: dict[str, int] = field(default_factory=dict[str, int])
    """Faults injected into the run's model requests, by kind (`requests.faults`)."""
    requests_seen: dict[str, int] = field(default_factory=dict[str, int])
    """How often each distinct request content was sent in the run (`requests.faults` draws per occurrence)."""
    replayed: list[float | None] | None = None
    """In a replay, the recorded duration of each exchange the run was answered with, in seconds (None: the recording
    stored none); None when no request of the run was replayed."""


_CURRENT: ContextVar[RunInfo | None] = ContextVar('pytest_agentarch_current_run', default=None)


_COUNTERS: ContextVar[RunCounters | None] = ContextVar('pytest_agentarch_run_counters', default=None)


def current_counters() -> RunCounters | None:
    """The counters of the run executing in this context, or None outside any run."""
    return _COUNTERS.get()


def current_run() -> RunInfo | None:
    """The run executing in this context, or None outside any run."""
    return _CURRENT.get()


@contextmanager
def run_scope(info: RunInfo, counters: RunCounters | None = None) -> Iterator[RunInfo]:
    """Make `info` (and `counters`) the current run for the code inside the block (task-local, safe under
    asyncio.gather)."""
    token = _CURRENT.set(info)
    counters_token = _COUNTERS.set(counters)
    try:
        yield info
    finally:
        _COUNTERS.reset(counters_token)
        _CURRENT.reset(token)
