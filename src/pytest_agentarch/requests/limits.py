"""Limits shared by every process of one pytest session: model requests in flight, requests and tokens per minute, and
a token/USD budget.

Under pytest-xdist a session is several processes (the controller and its workers), and a provider's limits apply to
the session as a whole, not to each process. The controller creates one `SessionStore` (a directory), passes its path
to every worker, and each process rebuilds the same limits over it with `SessionLimits.open`.

POSIX only: processes coordinate through small files in that directory protected by `fcntl.flock`, which also means
one machine (or one file system with working `flock`). A process that dies, even by SIGKILL, never leaves a limit
stuck: flock locks are released by the kernel when their holder's descriptors close, and no state says "held" in a
file. Times come from `time.monotonic`, a clock shared by every process of one machine (CLOCK_MONOTONIC on Linux).

Each limit is a small class with one job, written as a change of state made atomically over a shared store; the
file-backed store is one implementation, and a networked one (a Redis key with a script, say) could replace it for
sessions spread over several machines without changing the rules.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic_ai.concurrency import AbstractConcurrencyLimiter

if TYPE_CHECKING:
    from .store import Budget, HoldingRate, RequestRate

__all__ = ('BudgetLedger', 'FileConcurrencyLimiter', 'RateLimiter', 'SessionLimits', 'SessionStore', 'Spent')

_T = TypeVar('_T')

_clock: Callable[[], float] = time.monotonic
"""Seconds on a clock every process of the machine shares (module-level so tests can drive it)."""

_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
"""How waits are spent (module-level so tests can drive it); must not block the event loop."""

_FIRST_POLL = 0.001
"""Seconds before a waiting `FileConcurrencyLimiter.acquire` looks for a free slot again; doubled on every miss..."""
_MAX_POLL = 0.05
"""...up to this."""

_NANOS_PER_USD = 1_000_000_000
"""USD amounts are summed as integer nano-dollars: sums are exact and do not depend on the order of the charges."""

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


@dataclass(frozen=True, kw_only=True)
class SessionStore:
    """A directory shared by every process of one session.

    The controller `create`s it and `remove`s it at session end; workers `attach` to the path they were given.
    """

    path: Path
    """The directory."""

    @classmethod
    def create(cls) -> Self:
        """A fresh, empty temporary directory for a new session."""
        return cls(path=Path(tempfile.mkdtemp(prefix='agentarch-')))

    @classmethod
    def attach(cls, path: str | Path) -> Self:
        """The existing session directory at `path`.

        Raises:
            FileNotFoundError: if there is no directory at `path` (the session already ended, or a wrong path).
        """
        directory = Path(path)
        if not directory.is_dir():
            raise FileNotFoundError(
                f'agentarch session directory {str(directory)!r} does not exist: the session that created it has '
                'ended or the path is wrong'
            )
        return cls(path=directory)

    def remove(self) -> None:
        """Delete the directory and everything in it (nothing happens if it is already gone)."""
        shutil.rmtree(self.path, ignore_errors=True)


class FileConcurrencyLimiter(AbstractConcurrencyLimiter):
    """At most `max_running` acquisitions held at once across every process using the same directory.

    A slot is a file `slot-<i>.lock` of the directory held with an exclusive `flock`. Holding takes an open descriptor
    of its own, so slots exclude each other between processes and between tasks of one process alike, and a slot is
    freed when its holder releases it or dies. Waiters poll, so they are not served first come, first served.
    Every process must use the same `max_running` for the directory.

    Use it wherever pydantic-ai takes a concurrency limiter, e.g. `ConcurrencyLimitedModel(model, limiter=...)`.
    """

    def __init__(self, directory: Path, max_running: int) -> None:
        """Use `directory` (created if missing; its parent must exist) for at most `max_running` slots.

        Raises:
            ValueError: if `max_running` is below 1, or another process uses the directory with another value.
        """
        if max_running < 1:
            raise ValueError(f'max_running must be >= 1, got {max_running}')
        self.directory = Path(directory)
        """Where the slot files are."""
        self.max_running = max_running
        """Slots across every process."""
        self.directory.mkdir(exist_ok=True)
        _agree(self.directory / 'settings.json', {'max_running': max_running})
        self._held: list[tuple[asyncio.Task[Any] | None, int]] = []
        self._guard = threading.Lock()

    async def acquire(self, source: str) -> None:
        """Wait until a slot is free and take it; polls with a short back-off, never blocking the event loop.

        Args:
            source: Who asks (e.g. 'model:gpt-4o'); unused, the slots are the same for everyone.
        """
        delay = _FIRST_POLL
        while (fd := self._try_take()) is None:
            await _sleep(delay)
            delay = min(delay * 2, _MAX_POLL)
        with self._guard:
            self._held.append((_current_task(), fd))

    def release(self) -> None:
        """Free a slot this limiter holds: the calling task's latest one, else (a streamed response is closed on the
        task that consumes it, not always the one that acquired) the oldest one held.

        Raises:
            RuntimeError: if this limiter holds no slot (a release without a matching acquire).
        """
        task = _current_task()
        with self._guard:
            mine = [i for i, (owner, _) in enumerate(self._held) if owner is task]
            if mine:
                _, fd = self._held.pop(mine[-1])
            elif self._held:
                _, fd = self._held.pop(0)
            else:
                raise RuntimeError('FileConcurrencyLimiter.release() without a matching acquire(): no slot is held')
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _try_take(self) -> int | None:
        """The descriptor of a slot file this call just locked, or None if every slot is taken."""
        if len(self._held) >= self.max_running:
            return None
        for i in range(self.max_running):
            fd = os.open(self.directory / f'slot-{i}.lock', _OPEN_FLAGS, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd
        return None


class RateLimiter:
    """Requests per minute and tokens per minute for the whole session (either may be None = unlimited).

    Both are leaky buckets with no burst (GCRA), their state one small JSON file under `flock`:

    - RPM spaces requests by `60 / rpm` seconds: the k-th request of the session (counted across processes) is never
      sent before `first + (k - 1) * 60 / rpm`, so no 60-second window holds more than `rpm` (+1) requests.
    - TPM is charged after each response, when the tokens are known: charging T tokens pushes the time the next
      request may start by `T * 60 / tpm`. Requests already in flight are not held back.

    A request waits for whichever limit frees it last. Every process must use the same `rpm` and `tpm`.
    """

    def __init__(self, directory: Path, *, rpm: float | None = None, tpm: float | None = None) -> None:
        """Keep the shared state in `directory` (created if missing; its parent must exist).

        Raises:
            ValueError: if a limit is not a positive number, or another process uses the directory with other limits.
        """
        for name, value in (('rpm', rpm), ('tpm', tpm)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be a positive number or None, got {value!r}')
        self.rpm = rpm
        """Requests per minute; None = unlimited."""
        self.tpm = tpm
        """Tokens (input + output) per minute; None = unlimited."""
        self._state = _JsonState(Path(directory), 'rate')
        _agree(self._state.directory / 'settings.json', {'rpm': _number(rpm), 'tpm': _number(tpm)})

    async def before_request(self) -> float:
        """Wait until a request may be sent (the slot is reserved at once, the wait happens outside any lock).

        Returns:
            The seconds the limits held this request back (0.0 if it could go at once).
        """
        if self.rpm is None and self.tpm is None:
            return 0.0
        interval = None if self.rpm is None else 60 / self.rpm

        def reserve(state: dict[str, Any]) -> tuple[float, float]:
            now = _clock()
            start = max(now, state.get('next_request', now), state.get('tokens_paid', now))
            if interval is not None:
                state['next_request'] = start + interval
            return start, start - now

        start, wait = self._state.update(reserve)
        while (remaining := start - _clock()) > 0:
            await _sleep(remaining)
        return wait

    def after_response(self, tokens: int) -> None:
        """Charge the tokens (input + output) a response used to the tokens-per-minute limit."""
        if tokens < 0:
            raise ValueError(f'tokens must be >= 0, got {tokens}')
        if self.tpm is None or tokens == 0:
            return
        debt = tokens * 60 / self.tpm

        def charge(state: dict[str, Any]) -> None:
            now = _clock()
            state['tokens_paid'] = max(now, state.get('tokens_paid', now)) + debt

        self._state.update(charge)


@dataclass(frozen=True, kw_only=True)
class Spent:
    """What a session spent so far, over every process."""

    tokens: int
    """Input + output tokens."""
    usd: float
    """US dollars, over the responses that had a price."""
    requests: int
    """Model responses charged."""


class BudgetLedger:
    """What the session spent, and whether a budget stops it.

    Charges from every process add up in one small JSON file under `flock`. A budget is reached once the total
    reaches it; from then on the session stays exhausted, and every process reports the first reason recorded.
    Every process must use the same budgets.
    """

    def __init__(self, directory: Path, *, max_tokens: int | None = None, max_usd: float | None = None) -> None:
        """Keep the shared ledger in `directory` (created if missing; its parent must exist).

        Raises:
            ValueError: if a budget is not positive, or another process uses the directory with other budgets.
        """
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f'max_tokens must be >= 1 or None, got {max_tokens}')
        if max_usd is not None and not (math.isfinite(max_usd) and max_usd > 0):
            raise ValueError(f'max_usd must be a positive number or None, got {max_usd!r}')
        self.max_tokens = max_tokens
        """Token budget (input + output); None = none."""
        self.max_usd = max_usd
        """USD budget; None = none."""
        self._state = _JsonState(Path(directory), 'budget')
        _agree(self._state.directory / 'settings.json', {'max_tokens': max_tokens, 'max_usd': _number(max_usd)})

    def charge(self, tokens: int, usd: float | None) -> None:
        """Add one successful model response: its tokens (input + output) and its price (None if it has none)."""
        if tokens < 0:
            raise ValueError(f'tokens must be >= 0, got {tokens}')
        if usd is not None and not (math.isfinite(usd) and usd >= 0):
            raise ValueError(f'usd must be a non-negative number or None, got {usd!r}')

        def add(state: dict[str, Any]) -> None:
            state['tokens'] = state.get('tokens', 0) + tokens
            state['requests'] = state.get('requests', 0) + 1
            if usd is not None:
                state['usd_nanos'] = state.get('usd_nanos', 0) + round(usd * _NANOS_PER_USD)
            self._check(state)

        self._state.update(add)

    def spent(self) -> Spent:
        """The session's totals so far."""
        state = self._state.read()
        return Spent(
            tokens=state.get('tokens', 0),
            usd=state.get('usd_nanos', 0) / _NANOS_PER_USD,
            requests=state.get('requests', 0),
        )

    def exhausted(self) -> str | None:
        """None while the budgets allow more requests; once one is reached, a line saying which and what was spent,
        e.g. 'token budget of 50,000 reached: 50,812 tokens and $0.0412 spent' (always the same line afterwards)."""
        return self._state.update(self._check)

    def _check(self, state: dict[str, Any]) -> str | None:
        """The recorded reason, or the one the totals in `state` now give (recorded into `state`), or None."""
        reason: str | None = state.get('exhausted')
        if reason is not None:
            return reason
        tokens: int = state.get('tokens', 0)
        nanos: int = state.get('usd_nanos', 0)
        spent = f'{tokens:,} tokens and ${nanos / _NANOS_PER_USD:,.4f} spent'
        if self.max_tokens is not None and tokens >= self.max_tokens:
            reason = f'token budget of {self.max_tokens:,} reached: {spent}'
        elif self.max_usd is not None and nanos >= round(self.max_usd * _NANOS_PER_USD):
            reason = f'USD budget of ${_money(self.max_usd)} reached: {spent}'
        if reason is not None:
            state['exhausted'] = reason
        return reason


@dataclass(kw_only=True)
class SessionLimits:
    """Every limit of one session, rebuilt by any of its processes from the session directory alone; `SessionLimits()`
    is a session without any limit (and without a directory)."""

    path: Path | None = None
    """The session directory; None without limits."""
    limiter: AbstractConcurrencyLimiter | None = None
    """Model requests in flight across the session; None = unlimited."""
    rate_limiter: RequestRate | HoldingRate | None = None
    """Requests and tokens per minute across the session; None = unlimited."""
    ledger: Budget | None = None
    """Token and USD spending and budgets across the session; None = no budget (on Redis: `store.open_limits`)."""

    @classmethod
    def open(
        cls,
        path: str | Path | SessionStore,
        *,
        max_requests: int | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        max_tokens: int | None = None,
        max_usd: float | None = None,
    ) -> Self:
        """The limits over an existing session directory (`SessionStore.create` made it), built only for the limits
        given. Every process of the session must pass the same values.

        Args:
            path: The session directory (or its store).
            max_requests: Model requests in flight at once.
            rpm: Model requests per minute.
            tpm: Tokens (input + output) per minute.
            max_tokens: Token budget.
            max_usd: USD budget.
        """
        store = path if isinstance(path, SessionStore) else SessionStore.attach(path)
        root = store.path
        return cls(
            path=root,
            limiter=None if max_requests is None else FileConcurrencyLimiter(root / 'concurrency', max_requests),
            rate_limiter=None if rpm is None and tpm is None else RateLimiter(root / 'rate', rpm=rpm, tpm=tpm),
            ledger=(
                None
                if max_tokens is None and max_usd is None
                else BudgetLedger(root / 'budget', max_tokens=max_tokens, max_usd=max_usd)
            ),
        )


class _JsonState:
    """One small JSON object (`<name>.json`) changed atomically: read, changed and rewritten while holding an
    exclusive `flock` on `<name>.lock`. The rewrite replaces the file whole, so a crash never leaves half of it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        directory.mkdir(exist_ok=True)
        self._lock = directory / f'{name}.lock'
        self._data = directory / f'{name}.json'

    def update(self, change: Callable[[dict[str, Any]], _T]) -> _T:
        """Apply `change` (which mutates the state it is given) atomically; return what it returns."""
        with self._locked():
            state = self._load()
            before = dict(state)
            result = change(state)
            if state != before:
                _write_whole(self._data, json.dumps(state))
            return result

    def read(self) -> dict[str, Any]:
        """The current state."""
        with self._locked():
            return self._load()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Held only for a read and a rewrite of a few bytes, so a blocking lock is brief even on an event loop.
        fd = os.open(self._lock, _OPEN_FLAGS, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        try:
            text = self._data.read_text()
        except FileNotFoundError:
            return {}
        state: dict[str, Any] = json.loads(text)
        return state


def _write_whole(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (write a private temporary file, then rename it over)."""
    temporary = path.with_name(f'.{path.name}.{os.getpid()}.{threading.get_ident()}.tmp')
    temporary.write_text(text)
    os.replace(temporary, path)


def _agree(path: Path, settings: dict[str, Any]) -> None:
    """Record `settings` in `path` if nobody has yet, else check they are the ones recorded.

    Raises:
        ValueError: if another process recorded other settings.
    """
    wanted = json.dumps(settings, sort_keys=True)
    if not path.exists():
        temporary = path.with_name(f'.{path.name}.{os.getpid()}.{threading.get_ident()}.tmp')
        temporary.write_text(wanted)
        try:
            os.link(temporary, path)  # atomic, and fails if someone else recorded theirs first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    recorded = path.read_text()
    if recorded != wanted:
        raise ValueError(
            f'the session limits in {str(path.parent)!r} are {recorded}, not {wanted}: '
            'every process of a session must use the same limits'
        )


def _number(value: float | None) -> float | None:
    """`value` as a float, so that 300 and 300.0 are recorded alike."""
    return None if value is None else float(value)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


def _money(usd: float) -> str:
    """A USD amount with cents, and more digits only when it has them ('2.00', '0.005')."""
    cents = f'{usd:,.2f}'
    return cents if abs(usd - round(usd, 2)) < 1e-12 else f'{usd:,.6f}'.rstrip('0')
