"""The requests-per-minute limit as the provider counts it: requests arriving at the scripted OpenAI-compatible server
in any window of the limit's period, with two hosts (two connections to a real redis-server on 127.0.0.1, each its own
model stack) sending through the session's real request layers. The period is shortened to 3 seconds (30 requests
per 3 s) so that a test sees several windows; the rule does not depend on the period."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Callable, Iterator

import pytest
from openai_server import Received, Reply, ScriptedOpenAIServer, failure, text
from redis_server import RedisServer

from pytest_agentarch.requests.limits import SessionLimits

redis = pytest.importorskip('redis', reason='the Redis client is an optional dependency: pip install .[redis]')

from pydantic_ai.messages import ModelRequest  # noqa: E402
from pydantic_ai.models import ModelRequestParameters  # noqa: E402

from pytest_agentarch.requests.redis_store import HOLD_GUARD, Admission, RedisStore  # noqa: E402
from pytest_agentarch.requests.stack import build_model  # noqa: E402

pytest_plugins = ['openai_server', 'redis_server']

LIMIT = 30
PERIOD = 3


@pytest.fixture
def db(redis_server: RedisServer) -> Iterator[Callable[..., str]]:
    """A URL on an emptied database of the module's server."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield lambda **query: redis_server.url(0, **query)
    client.close()


def most_within(times: list[float], span: float) -> int:
    """The most of `times` (sorted) inside any half-open interval of `span` seconds."""
    return max((bisect.bisect_left(times, t + span) - i for i, t in enumerate(times)), default=0)


def test_most_within_counts_half_open_windows() -> None:
    assert most_within([0.0, 1.0, 2.0, 3.0], 3.0) == 3  # [0, 3) holds 0, 1, 2; 3 starts the next window
    assert most_within([0.0, 0.5, 2.9, 3.0, 3.1], 3.0) == 4  # [0.5, 3.5) holds 0.5, 2.9, 3.0, 3.1
    assert most_within([], 3.0) == 0


def test_a_period_of_arrivals_never_holds_more_than_the_limit_whatever_delays_requests_after_admission(
    openai_server: ScriptedOpenAIServer, db: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One request in flight across both hosts, and the first 4 requests take 1 s each: 40 tasks are admitted by the
    # rate long before a slot lets them send, and once the server turns fast the whole backlog arrives at once. A
    # limiter counting admissions only would let 30 be admitted in one period, and the next 30 while the first still
    # queue for the slot; the server would then see every queued request plus the new ones within 3 s (about 60).
    # Every 7th request fails with HTTP 500 after it arrived: it counted at the server, and its retry is a new request.
    def script(request: Received) -> Reply:
        if request.n < 4:
            return text('ok', delay=1.0)
        if request.n % 7 == 0:
            return failure(500)
        return text('ok')

    openai_server.script = script
    for name, value in openai_server.env().items():
        monkeypatch.setenv(name, value)
    url = db(lease=5)
    total = 100
    sent = itertools.count()

    async def host() -> None:
        store = RedisStore.connect(url)
        limits = SessionLimits(
            limiter=store.concurrency(1), rate_limiter=store.rate(rpm=LIMIT, tpm=None, period=PERIOD)
        )

        async with build_model('openai-chat:scripted', limits=limits, retries=3) as model:

            async def task() -> None:
                while next(sent) < total:
                    await model.request([ModelRequest.user_text_prompt('hi')], None, ModelRequestParameters())

            await asyncio.gather(*(task() for _ in range(20)))
        store.remove()

    async def hosts() -> None:
        await asyncio.gather(host(), host())

    asyncio.run(asyncio.wait_for(hosts(), timeout=120))
    arrivals = sorted(r.arrival for r in openai_server.requests)
    failed = sum(1 for r in openai_server.requests if r.n >= 4 and r.n % 7 == 0)
    assert len(arrivals) == total + failed, 'every request and every retry reached the server'
    assert failed >= 10
    assert most_within(arrivals, PERIOD) <= LIMIT
    # Nothing stays counted beyond a period (and the guard) after its answer: the window empties.
    store = RedisStore.connect(url)
    rate = store.rate(rpm=LIMIT, tpm=None, period=PERIOD)
    asyncio.run(asyncio.sleep(PERIOD + HOLD_GUARD + 0.2))
    assert rate.counted() == 0
    store.remove()


def test_a_request_stays_counted_while_in_flight_and_one_period_after_its_answer(db: Callable[..., str]) -> None:
    # 2 requests per 2 s (paced at 2 per second: the pacing does not hold these back).
    store = RedisStore.connect(db(lease=30))
    rate = store.rate(rpm=2, tpm=None, period=2)
    client = redis.Redis.from_url(store.server)

    def ends() -> list[float]:
        return [score for _, score in client.zrange(rate.key, 0, -1, withscores=True)]

    def now_ms() -> int:
        seconds, micros = client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def two() -> tuple[Admission, Admission]:
        return await rate.admit(), await rate.admit()

    first, second = asyncio.run(asyncio.wait_for(two(), timeout=5))
    before = now_ms()
    # In flight: counted for a period plus the lease from admission (a dead holder's request ends then).
    assert all(before < end <= before + (2 + 30) * 1000 for end in ends()), ends()
    assert rate.counted() == 2
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(rate.admit(), timeout=2.5))  # in flight beyond the period: a third waits
    rate.finish(first, 10)
    rate.finish(second, None)  # a failed request counts the same
    after = now_ms()
    assert all(after - 50 + 2000 <= end <= now_ms() + round((2 + HOLD_GUARD) * 1000) for end in ends()), ends()
    assert rate.counted() == 2, 'answered requests stay counted for the period'
    third = asyncio.run(asyncio.wait_for(rate.admit(), timeout=10))
    assert now_ms() >= after + 2000, 'a third is admitted only once the first answer is a period old'
    rate.finish(third, None)
    store.remove()
    client.close()
