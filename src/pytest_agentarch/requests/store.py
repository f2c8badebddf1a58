"""Where a session's limits and budgets live: `--agentarch-store file` (locked files in a directory, one machine; the
default) or `--agentarch-store redis://HOST:PORT/DB` (a Redis server every machine of the session reaches).

The URL is checked when the option is read, so a store that cannot work stops the session before any run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable
from urllib.parse import urlsplit

from .errors import StoreError
from .limits import SessionLimits, SessionStore, Spent

if TYPE_CHECKING:
    from .redis_store import Admission, RedisStore

Store = Union[SessionStore, 'RedisStore']
"""A session's store: a directory (`SessionStore`) or a Redis server (`redis_store.RedisStore`)."""

__all__ = (
    'Budget',
    'HoldingRate',
    'RequestRate',
    'ReservingBudget',
    'Store',
    'StoreError',
    'check_url',
    'is_redis',
    'open_limits',
    'open_store',
    'store_handle',
)


def check_url(text: str) -> str:
    """`file`, or a `redis://` (or `rediss://`) URL with a host and, after `?`, `session=NAME` (the budget's name,
    the same for every shard of a split session) and `lease=SECONDS`; raises StoreError saying what was expected."""
    if text == 'file':
        return text
    parts = urlsplit(text)
    if parts.scheme not in ('redis', 'rediss') or not parts.hostname:
        raise StoreError(f"expected 'file' or a Redis URL like redis://HOST:6379/0, got {text!r}")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when it is asked for it)
    except ValueError as exc:
        raise StoreError(f'{text!r}: {exc}') from None
    unknown = sorted({k.partition('=')[0] for k in parts.query.split('&') if k} - {'session', 'lease'})
    if unknown:
        names = ', '.join(unknown)
        raise StoreError(f'{text!r}: unknown setting(s) {names}; a Redis store takes ?session=NAME&lease=SECONDS')
    database = parts.path.strip('/')
    if database and not database.isdigit():
        raise StoreError(f'{text!r}: the database after the port must be a number (redis://HOST:PORT/0)')
    return text


def is_redis(url: str) -> bool:
    """Whether `url` names a Redis store (else the file store)."""
    return url != 'file'


@runtime_checkable
class RequestRate(Protocol):
    """Requests and tokens per minute (`limits.RateLimiter` on files, `redis_store.RedisRateLimiter` on Redis)."""

    async def before_request(self) -> float:
        """Wait until a request may be sent; the seconds waited."""
        ...

    def after_response(self, tokens: int) -> None:
        """Charge a response's tokens."""
        ...


@runtime_checkable
class HoldingRate(Protocol):
    """Requests and tokens per minute that count a request from its admission until its answer is in
    (`redis_store.RedisRateLimiter`): what delays a request after its admission cannot put more in a provider's
    window than the limit."""

    async def admit(self) -> Admission:
        """Wait until a request may be sent and count it."""
        ...

    def finish(self, admission: Admission, tokens: int | None) -> None:
        """The request's answer is in (its tokens), or it failed (None)."""
        ...


@runtime_checkable
class Budget(Protocol):
    """The session's spend and budget (`limits.BudgetLedger` on files, `redis_store.RedisBudgetLedger` on Redis)."""

    def charge(self, tokens: int, usd: float | None) -> None:
        """Add one response's tokens and price."""
        ...

    def spent(self) -> Spent:
        """The totals so far."""
        ...

    def exhausted(self) -> str | None:
        """None while runs may start; else why not, one line."""
        ...


@runtime_checkable
class ReservingBudget(Budget, Protocol):
    """A budget that sets a request's likely spend aside before it is sent (reserve, then settle or release)."""

    def reserve(self) -> str | None:
        """Set aside one request's likely spend; the reservation."""
        ...

    def settle(self, reservation: str | None, tokens: int, usd: float | None) -> None:
        """Replace the reservation by what the response spent."""
        ...

    def release(self, reservation: str | None) -> None:
        """Give the reservation back (the request failed)."""
        ...


def open_store(url: str, handle: str | None = None) -> SessionStore | RedisStore:
    """The session's store for `--agentarch-store url`: in the controller (`handle` None) a new one, in an xdist
    worker the controller's (`handle` is what `store_handle` gave it). Raises StoreError when Redis cannot be
    reached."""
    if not is_redis(url):
        return SessionStore.attach(handle) if handle else SessionStore.create()
    try:
        from .redis_store import RedisStore
    except ImportError as exc:
        raise StoreError(
            f'--agentarch-store {url} needs the Redis client libraries ({exc.name} is missing): '
            "pip install 'pytest-agentarch[redis]'"
        ) from None
    return RedisStore.connect(url, session=handle)


def store_handle(store: SessionStore | RedisStore) -> str:
    """What an xdist worker needs to open the controller's store: the directory, or the session's name on Redis."""
    return str(store.path) if isinstance(store, SessionStore) else store.session


def open_limits(
    store: Store,
    *,
    max_requests: int | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    max_tokens: int | None = None,
    max_usd: float | None = None,
) -> SessionLimits:
    """The session's limits over `store` (`SessionLimits.open` for a directory), built only for the limits given."""
    if isinstance(store, SessionStore):
        return SessionLimits.open(
            store, max_requests=max_requests, rpm=rpm, tpm=tpm, max_tokens=max_tokens, max_usd=max_usd
        )
    budget = max_tokens is not None or max_usd is not None
    return SessionLimits(
        limiter=store.concurrency(max_requests) if max_requests is not None else None,
        rate_limiter=store.rate(rpm=rpm, tpm=tpm) if rpm is not None or tpm is not None else None,
        ledger=store.ledger(max_tokens=max_tokens, max_usd=max_usd) if budget else None,
    )
