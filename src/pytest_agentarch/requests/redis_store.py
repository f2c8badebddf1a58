"""The session's limits and budget on a Redis server (`--agentarch-store redis://HOST:PORT/DB`), shared by every
process of every machine that points at it: the same rules as the file store (`limits`), across hosts.

| limit | on Redis |
| --- | --- |
| requests per minute | counted from admission to a minute after the answer: no 60 s of arrivals exceed the RPM |
| tokens per minute | the same window, hit with the response's tokens as its cost (weighted hits) |
| requests in flight | leased slots: a sorted set of holders and the time their lease ends, renewed while held |
| token / USD budget | a reserve-and-settle ledger, one Lua script per change, so every change is atomic |

Which keys are shared: the rate windows and the slots belong to the Redis database (a provider's limit is the
provider's, whoever sends), keyed by the limit itself, so sessions with the same limit share it. The budget belongs
to a session: its keys carry the session's name (`?session=NAME` in the URL; the same for every shard of one split
session, e.g. the CI run's id), or a fresh random one that the controller hands its xdist workers.

A dead holder loses its slots within the lease (`?lease=SECONDS`, default 30): a live one renews them from a thread
every third of it. A reservation of the budget expires the same way. Redis that cannot be reached is an
infrastructure failure (`StoreUnavailable`, a `ConnectionError`) of the requests it holds back, and it stops the
session from starting runs, as a reached budget does; the runs already finished are kept.

Times: the slots, reservations and the requests window use the Redis server's clock; `limits` windows (the pacing of
requests, tokens per minute) use each host's clock, so hosts must keep their clocks in step (NTP), as they must for
anything time-based.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic_ai.concurrency import AbstractConcurrencyLimiter

from .errors import StoreError
from .limits import Spent

__all__ = (
    'DEFAULT_LEASE',
    'HOLD_GUARD',
    'Admission',
    'RedisBudgetLedger',
    'RedisConcurrencyLimiter',
    'RedisRateLimiter',
    'RedisStore',
    'StoreUnavailable',
    'per_minute',
)

DEFAULT_LEASE = 30.0
"""Seconds a holder keeps a slot (or a budget reservation) without renewing it."""

_PREFIX = 'agentarch'
_NANOS_PER_USD = 1_000_000_000
_POLL = 0.01
"""Seconds between looks for a free slot, at first..."""
_MAX_POLL = 0.2
"""...doubling up to this."""

_sleep: Callable[[float], Any] = asyncio.sleep


class StoreUnavailable(ConnectionError):
    """The Redis store could not be reached: an infrastructure failure of the request it held back."""


def _unavailable(url: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f'the limits store {url} cannot be reached: {type(exc).__name__}: {exc}')


@dataclass(kw_only=True)
class RedisStore:
    """A connection to the Redis store of a session, and the session's name on it."""

    url: str
    """The URL as given (`redis://HOST:PORT/DB[?session=NAME&lease=SECONDS]`)."""
    session: str
    """The session's name: the budget's keys carry it."""
    lease: float = DEFAULT_LEASE
    """Seconds a dead holder keeps its slots and reservations."""
    client: redis.Redis = field(repr=False)
    server: str = ''
    """The URL without its query, for `limits`' storage and for messages."""

    @classmethod
    def connect(cls, url: str, *, session: str | None = None) -> Self:
        """Connect and check the server answers; raises StoreError naming the URL when it does not.

        `session` is the name the controller chose for workers to use; the URL's `?session=` wins over it, and with
        neither a fresh one is made (then only this session's processes share the budget)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        lease = DEFAULT_LEASE
        if 'lease' in query:
            try:
                lease = float(query['lease'][0])
            except ValueError:
                lease = 0.0
            if not lease > 0:
                raise StoreError(f'{url}: lease must be a positive number of seconds, got {query["lease"][0]!r}')
        named = query.get('session', [None])[0] or session or secrets.token_hex(8)
        server = urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))
        client = redis.Redis.from_url(server, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise StoreError(
                f'--agentarch-store {server}: the Redis server cannot be reached ({type(exc).__name__}: {exc}); start '
                'it, or check the host, port and database'
            ) from None
        return cls(url=url, session=named, lease=lease, client=client, server=server)

    def key(self, *parts: str) -> str:
        """A key of this store (`agentarch:...`)."""
        return ':'.join((_PREFIX, *parts))

    def concurrency(self, max_running: int) -> RedisConcurrencyLimiter:
        """At most `max_running` requests in flight across every process using this database."""
        return RedisConcurrencyLimiter(self, max_running)

    def rate(self, *, rpm: float | None, tpm: float | None, period: int = 60) -> RedisRateLimiter:
        """Requests and tokens per minute (per `period` seconds) across every process using this database."""
        return RedisRateLimiter(self, rpm=rpm, tpm=tpm, period=period)

    def ledger(self, *, max_tokens: int | None, max_usd: float | None) -> RedisBudgetLedger:
        """The session's budget (its keys carry the session's name)."""
        return RedisBudgetLedger(self, max_tokens=max_tokens, max_usd=max_usd)

    def remove(self) -> None:
        """Close the connection. The keys stay: other sessions share the rates and slots, other shards the budget
        (whose keys expire a week after their last change)."""
        self.client.close()


# ------------------------------------------------------------------------------------------------ slots

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""
"""Take a slot if one is free, after dropping the slots whose lease ended: KEYS = [slots], ARGV = [max, lease ms,
holder]."""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kept = 0
for i = 2, #ARGV do
  kept = kept + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i])
end
return kept
"""
"""Extend the leases of the holders given that still hold a slot: KEYS = [slots], ARGV = [lease ms, holder...]."""


class RedisConcurrencyLimiter(AbstractConcurrencyLimiter):
    """At most `max_running` acquisitions held at once across every process and host on the store, as leased slots.

    A slot is a member of a sorted set scored with the time its lease ends; taking one drops the ended leases first,
    so a holder that died (SIGKILL, a lost host) frees its slots within the lease. A thread renews this process's
    slots every third of the lease while it holds any."""

    def __init__(self, store: RedisStore, max_running: int) -> None:
        if max_running < 1:
            raise ValueError(f'max_running must be >= 1, got {max_running}')
        self.store = store
        self.max_running = max_running
        self.key = store.key('slots', str(max_running))
        """The sorted set: the limit is part of the key, so sessions with the same limit share it."""
        self._acquire = store.client.register_script(_ACQUIRE)
        self._renew = store.client.register_script(_RENEW)
        self._held: list[tuple[asyncio.Task[Any] | None, str]] = []
        self._guard = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._wake = threading.Event()

    async def acquire(self, source: str) -> None:
        """Wait for a free slot and take it (polls with back-off, never blocking the event loop for long)."""
        holder = secrets.token_hex(8)
        lease_ms = round(self.store.lease * 1000)
        delay = _POLL
        while True:
            try:
                taken = self._acquire(keys=[self.key], args=[self.max_running, lease_ms, holder])
            except redis.RedisError as exc:
                raise _unavailable(self.store.server, exc) from None
            if taken:
                break
            await _sleep(delay)
            delay = min(delay * 2, _MAX_POLL)
        with self._guard:
            self._held.append((_current_task(), holder))
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_while_held, name='agentarch-slot-lease', daemon=True
                )
                self._renewer.start()

    def release(self) -> None:
        """Free the calling task's latest slot, else the oldest this limiter holds."""
        task = _current_task()
        with self._guard:
            mine = [i for i, (owner, _) in enumerate(self._held) if owner is task]
            if mine:
                _, holder = self._held.pop(mine[-1])
            elif self._held:
                _, holder = self._held.pop(0)
            else:
                raise RuntimeError('RedisConcurrencyLimiter.release() without a matching acquire(): no slot is held')
        # The lease ends by itself if the store is gone: a release must not fail the request it follows.
        with contextlib.suppress(redis.RedisError):
            self.store.client.zrem(self.key, holder)

    def held(self) -> int:
        """Slots held now across every process (leases that ended are not counted)."""
        now_ms = _server_ms(self.store.client)
        return int(self.store.client.zcount(self.key, now_ms, '+inf'))

    def _renew_while_held(self) -> None:
        interval = self.store.lease / 3
        while True:
            with self._guard:
                holders = [h for _, h in self._held]
            if not holders:
                return
            # The next acquire says the store is gone; a lost lease only lets another holder in.
            with contextlib.suppress(redis.RedisError):
                self._renew(keys=[self.key], args=[round(self.store.lease * 1000), *holders])
            self._wake.wait(interval)


# ------------------------------------------------------------------------------------------------ rates


def per_minute(amount: int, period: int = 60) -> RateLimitItem:
    """`amount` per `period` seconds (a minute by default) as the shortest moving window that allows exactly as much:
    `amount * w / period` per `w` seconds, `w = period / gcd(amount, period)` (600/min is 10 per second, 100/min is
    5 per 3 seconds). A period holds `period / w` such windows, so no period ever holds more than `amount` admissions,
    while a session cannot send a minute's requests in one burst at its start (a provider's per-second limits would
    refuse it)."""
    window = period // math.gcd(amount, period)
    return RateLimitItemPerSecond(amount * window // period, window)


HOLD_GUARD = 0.1
"""Seconds a finished request stays counted beyond the period: the provider's clock and Redis' may run at slightly
different rates (0.1 s over a minute is 1,700 ppm; real clocks differ by tens)."""

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return -1
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(first[2]) - now
"""
"""Count a request in the window if it has room, after dropping the requests whose count ended: KEYS = [window],
ARGV = [limit, ms counted while in flight (period + lease), request]. Returns -1 when counted, else the ms until the
earliest count ends."""

_FINISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
"""
"""A request's answer (or failure) is in: count it one period (+ guard) from now: KEYS = [window],
ARGV = [ms, request]."""


@dataclass(frozen=True, kw_only=True)
class Admission:
    """A request let through by `RedisRateLimiter.admit`, counted in the requests window until `finish`."""

    hold: str | None
    """The request's member of the window; None without a requests-per-minute limit."""
    waited: float
    """Seconds the limits held the request back."""


class RedisRateLimiter:
    """Requests per minute and tokens per minute on the store (either may be None).

    RPM, as the provider counts it (requests arriving in any 60 seconds): a request is counted in a window on the
    server (a sorted set, Redis' clock) from the moment it is admitted until one period after its answer or failure
    is in, and it is admitted only while the window holds fewer than `rpm`. Whatever delays a request between its
    admission and its arrival (a busy event loop, a wait for a slot in flight, the network), no period of arrivals
    holds more than `rpm`: of the requests that arrive within one period, the one admitted last found every other
    still counted (each was admitted before it and arrived, so was answered, less than a period before it arrived),
    so it was admitted only if they were fewer than `rpm` (docs/scaling.md has the argument). The price is the
    latency: a request is counted for `period + latency`, so a session sustains `rpm * period / (period + latency)`.
    A request in flight stays counted while its process renews it (every third of the lease): one killed in flight
    frees its place a lease and a period after its last renewal. Admissions are also paced by `limits`' moving window
    (`per_minute`), so a session does not send a minute's requests at once.

    TPM: a request waits while the window's tokens are used up; its response's tokens are hit with their count as
    the cost. A cost that does not fit yet is owed and paid (waited for) before this process's next request, so
    tokens are never dropped from the window."""

    def __init__(self, store: RedisStore, *, rpm: float | None, tpm: float | None, period: int = 60) -> None:
        """`period` is the length of the provider's window in seconds: 60 for per-minute limits (tests shorten it;
        `rpm` and `tpm` are then counted per `period`)."""
        for name, value in (('rpm', rpm), ('tpm', tpm)):
            if value is not None and (value < 1 or value != int(value)):
                raise StoreError(
                    f'--agentarch-{name} {value}: a Redis store counts whole requests and tokens per minute; give a '
                    'whole number >= 1'
                )
        if period < 1:
            raise ValueError(f'period must be >= 1 second, got {period}')
        self.store = store
        self.rpm = rpm
        self.tpm = tpm
        self.period = period
        self.key = store.key('requests', f'{int(rpm or 0)}per{period}s')
        """The window of requests counted now: the limit is part of the key, so sessions with the same limit share
        it."""
        storage = RedisStorage(store.server, key_prefix=store.key('limits'), wrap_exceptions=True)
        self._limiter = MovingWindowRateLimiter(storage)
        self._requests: RateLimitItem | None = None if rpm is None else per_minute(int(rpm), period)
        self._tokens: RateLimitItem | None = None if tpm is None else RateLimitItemPerSecond(int(tpm), period)
        self._admit = store.client.register_script(_ADMIT)
        self._finish = store.client.register_script(_FINISH)
        self._renew = store.client.register_script(_RENEW)
        self._owed = 0
        self._owed_lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._guard = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._wake = threading.Event()

    async def admit(self) -> Admission:
        """Wait until a request may be sent under both limits and count it in the requests window; `finish` it once
        its answer (or failure) is in."""
        t0 = time.monotonic()
        hold = None
        try:
            if self._tokens is not None:
                with self._owed_lock:
                    owed, self._owed = self._owed, 0
                if owed:
                    await self._hit(self._tokens, 'tokens', owed)
                while self._limiter.get_window_stats(self._tokens, 'tokens').remaining <= 0:
                    await _sleep(self._wait(self._tokens, 'tokens'))
            if self._requests is not None:
                hold = await self._count()
                await self._hit(self._requests, 'requests', 1)
        except (redis.RedisError, StorageError) as exc:
            if hold is not None:
                self.finish(Admission(hold=hold, waited=0.0), None)
            raise _unavailable(self.store.server, exc) from None
        return Admission(hold=hold, waited=time.monotonic() - t0)

    def finish(self, admission: Admission, tokens: int | None) -> None:
        """The request's answer is in (`tokens`: input + output, hit against the TPM; what does not fit now is owed),
        or it failed (`tokens` None): it stays counted in the requests window for one more period."""
        if tokens is not None and tokens < 0:
            raise ValueError(f'tokens must be >= 0, got {tokens}')
        if admission.hold is not None:
            with self._guard:
                self._in_flight.discard(admission.hold)
            # Redis gone: the request's count ends with its lease instead, later, which only admits less.
            with contextlib.suppress(redis.RedisError):
                self._finish(keys=[self.key], args=[round((self.period + HOLD_GUARD) * 1000), admission.hold])
        if self._tokens is None or not tokens:
            return
        cost = min(tokens, self._tokens.amount)
        try:
            fitted = self._limiter.hit(self._tokens, 'tokens', cost=cost)
        except (redis.RedisError, StorageError):
            fitted = False  # owed: the next request finds the store gone, or pays it
        if not fitted:
            with self._owed_lock:
                self._owed += cost

    def counted(self) -> int:
        """Requests counted in the window now, across every process (in flight, or answered within the period)."""
        return int(self.store.client.zcount(self.key, _server_ms(self.store.client), '+inf'))

    async def _count(self) -> str:
        hold = secrets.token_hex(8)
        in_flight_ms = round((self.period + self.store.lease) * 1000)
        while True:
            wait_ms = self._admit(keys=[self.key], args=[int(self.rpm or 0), in_flight_ms, hold])
            if wait_ms < 0:
                break
            await _sleep(min(max(wait_ms / 1000, 0.005), 1.0))
        with self._guard:
            self._in_flight.add(hold)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_while_in_flight, name='agentarch-rate-lease', daemon=True
                )
                self._renewer.start()
        return hold

    def _renew_while_in_flight(self) -> None:
        interval = self.store.lease / 3
        while True:
            with self._guard:
                holds = sorted(self._in_flight)
            if not holds:
                return
            # A request finished between the copy and the renewal is counted a lease longer: it only admits less.
            with contextlib.suppress(redis.RedisError):
                self._renew(keys=[self.key], args=[round((self.period + self.store.lease) * 1000), *holds])
            self._wake.wait(interval)

    async def _hit(self, item: RateLimitItem, name: str, cost: int) -> None:
        while not self._limiter.hit(item, name, cost=cost):
            await _sleep(self._wait(item, name))

    def _wait(self, item: RateLimitItem, name: str) -> float:
        reset = self._limiter.get_window_stats(item, name).reset_time
        return min(max(reset - time.time(), 0.005), 1.0)


# ------------------------------------------------------------------------------------------------ budget

_EXPIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local held = redis.call('HMGET', KEYS[3], id .. ':t', id .. ':u')
  redis.call('HINCRBY', KEYS[1], 'reserved_tokens', 0 - tonumber(held[1] or 0))
  redis.call('HINCRBY', KEYS[1], 'reserved_nanos', 0 - tonumber(held[2] or 0))
  redis.call('HDEL', KEYS[3], id .. ':t', id .. ':u')
  redis.call('ZREM', KEYS[2], id)
end
"""
"""Drop reservations whose lease ended (a holder that died): KEYS = [ledger, leases, reservations]."""

_FREE = """
local held = redis.call('HMGET', KEYS[3], ARGV[1] .. ':t', ARGV[1] .. ':u')
if held[1] then
  redis.call('HINCRBY', KEYS[1], 'reserved_tokens', 0 - tonumber(held[1]))
  redis.call('HINCRBY', KEYS[1], 'reserved_nanos', 0 - tonumber(held[2]))
  redis.call('HDEL', KEYS[3], ARGV[1] .. ':t', ARGV[1] .. ':u')
  redis.call('ZREM', KEYS[2], ARGV[1])
end
"""

_STATE = """
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], 604800) end
return redis.call('HMGET', KEYS[1], 'tokens', 'usd_nanos', 'requests', 'reserved_tokens', 'reserved_nanos',
  'exhausted')
"""

_RESERVE = (
    _EXPIRE
    + """
local s = redis.call('HMGET', KEYS[1], 'tokens', 'usd_nanos', 'requests')
local requests = tonumber(s[3] or 0)
local tokens, nanos = 0, 0
if requests > 0 then
  tokens = math.floor(tonumber(s[1] or 0) / requests)
  nanos = math.floor(tonumber(s[2] or 0) / requests)
end
redis.call('HSET', KEYS[3], ARGV[1] .. ':t', tokens, ARGV[1] .. ':u', nanos)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HINCRBY', KEYS[1], 'reserved_tokens', tokens)
redis.call('HINCRBY', KEYS[1], 'reserved_nanos', nanos)
"""
    + _STATE
)
"""Reserve the mean spend of a response so far for one request: KEYS = [ledger, leases, reservations],
ARGV = [reservation id, lease ms]."""

_SETTLE = (
    _EXPIRE
    + _FREE
    + """
redis.call('HINCRBY', KEYS[1], 'tokens', tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[1], 'usd_nanos', tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'requests', 1)
"""
    + _STATE
)
"""Replace a reservation (or none: ARGV[1] = '') by what the response spent: ARGV = [id, tokens, nano-dollars]."""

_RELEASE = _EXPIRE + _FREE + _STATE
"""Give a reservation back (the request failed): ARGV = [id]."""

_READ = _EXPIRE + _STATE


@dataclass(frozen=True, kw_only=True)
class _Totals:
    tokens: int
    nanos: int
    requests: int
    reserved_tokens: int
    reserved_nanos: int
    exhausted: str | None


class RedisBudgetLedger:
    """The session's spend and budget on the store, as a reserve-and-settle ledger.

    Before a request, `reserve` sets aside the mean tokens and USD of a response so far; after it, `settle` replaces
    the reservation by what the response spent (`release` gives it back if the request failed). Each change is one
    Lua script, atomic on the server. The budget counts as reached once spent plus reserved reaches it: from then on
    no run starts on any host, and what hosts spend beyond the budget is bounded by what their runs already in
    flight use. A reservation whose holder died expires with the lease."""

    def __init__(self, store: RedisStore, *, max_tokens: int | None, max_usd: float | None) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f'max_tokens must be >= 1 or None, got {max_tokens}')
        if max_usd is not None and not max_usd > 0:
            raise ValueError(f'max_usd must be a positive number or None, got {max_usd!r}')
        self.store = store
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        base = store.key('budget', store.session)
        self.keys = [base, f'{base}:leases', f'{base}:reservations']
        client = store.client
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._release = client.register_script(_RELEASE)
        self._read = client.register_script(_READ)
        self._lost: str | None = None
        """Why the store stopped answering, once it did (the session then starts no run)."""
        self._agree()

    def _agree(self) -> None:
        """Record the budgets if no process has, else check they are the ones recorded."""
        wanted = f'tokens={self.max_tokens} usd={self.max_usd}'
        try:
            self.store.client.hsetnx(self.keys[0], 'budgets', wanted)
            recorded = self.store.client.hget(self.keys[0], 'budgets')
        except redis.RedisError as exc:
            raise StoreError(str(_unavailable(self.store.server, exc))) from None
        if recorded is not None and _text(recorded) != wanted:
            raise StoreError(
                f'session {self.store.session!r} on {self.store.server} has the budgets {_text(recorded)}, not '
                f'{wanted}: every process and shard of a session must pass the same budgets'
            )

    def reserve(self) -> str | None:
        """Set aside a request's likely spend; returns the reservation (None when the store is gone: the request then
        fails in the layer that needs the store, or goes unreserved)."""
        reservation = secrets.token_hex(8)
        state = self._call(self._reserve, reservation, round(self.store.lease * 1000))
        return None if state is None else reservation

    def settle(self, reservation: str | None, tokens: int, usd: float | None) -> None:
        """Replace `reservation` by one response's tokens (input + output) and price (None if it has none)."""
        if tokens < 0:
            raise ValueError(f'tokens must be >= 0, got {tokens}')
        nanos = 0 if usd is None else round(usd * _NANOS_PER_USD)
        self._call(self._settle, reservation or '', tokens, nanos)

    def release(self, reservation: str | None) -> None:
        """Give back a reservation whose request failed."""
        if reservation is not None:
            self._call(self._release, reservation)

    def charge(self, tokens: int, usd: float | None) -> None:
        """Add one response that had no reservation."""
        self.settle(None, tokens, usd)

    def spent(self) -> Spent:
        """The session's totals so far."""
        totals = self._totals()
        if totals is None:
            return Spent(tokens=0, usd=0.0, requests=0)
        return Spent(tokens=totals.tokens, usd=totals.nanos / _NANOS_PER_USD, requests=totals.requests)

    def exhausted(self) -> str | None:
        """None while the budgets allow more runs; else the reason, always the same line once given. The store gone
        is a reason too: no run starts without the budget that guards it."""
        totals = self._totals()
        if totals is None:
            return self._lost
        if totals.exhausted is not None:
            return totals.exhausted
        committed = totals.tokens + totals.reserved_tokens
        committed_nanos = totals.nanos + totals.reserved_nanos
        spent = f'{totals.tokens:,} tokens and ${totals.nanos / _NANOS_PER_USD:,.4f} spent'
        if totals.reserved_tokens:
            spent += f', {totals.reserved_tokens:,} tokens reserved by requests in flight'
        reason = None
        if self.max_tokens is not None and committed >= self.max_tokens:
            reason = f'token budget of {self.max_tokens:,} reached: {spent}'
        elif self.max_usd is not None and committed_nanos >= round(self.max_usd * _NANOS_PER_USD):
            reason = f'USD budget of ${self.max_usd:,.2f} reached: {spent}'
        if reason is None:
            return None
        try:
            self.store.client.hsetnx(self.keys[0], 'exhausted', reason)
            first = self.store.client.hget(self.keys[0], 'exhausted')
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            return self._gone(exc)
        return _text(first) if first is not None else reason

    def _totals(self) -> _Totals | None:
        state = self._call(self._read)
        if state is None:
            return None
        tokens, nanos, requests, reserved_tokens, reserved_nanos, exhausted = state
        return _Totals(
            tokens=int(tokens or 0),
            nanos=int(nanos or 0),
            requests=int(requests or 0),
            reserved_tokens=int(reserved_tokens or 0),
            reserved_nanos=int(reserved_nanos or 0),
            exhausted=_text(exhausted) if exhausted is not None else None,
        )

    def _call(self, script: Any, *args: Any) -> list[Any] | None:
        try:
            result: list[Any] = script(keys=self.keys, args=list(args))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._gone(exc)
            return None
        return result

    def _gone(self, exc: Exception) -> str:
        if self._lost is None:
            self._lost = str(_unavailable(self.store.server, exc))
        return self._lost


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
