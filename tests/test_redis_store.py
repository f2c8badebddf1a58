"""The Redis store (`--agentarch-store redis://...`) against a real redis-server on 127.0.0.1: two processes stand
for two hosts (each its own connection, nothing shared but the server), and whole sessions share one limit and one
budget. Counts are worked out by hand; waits are checked against what the limits allow, never against a stopwatch."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import Received, Reply, ScriptedOpenAIServer
from redis_server import RedisServer, start_redis
from test_limits import max_overlap, read_log
from test_real_model_session import ARCHITECTURE, CASES, MODEL, by_prompt

from pytest_agentarch.requests.store import StoreError, check_url

redis = pytest.importorskip('redis', reason='the Redis client is an optional dependency: pip install .[redis]')

from pytest_agentarch.requests.redis_store import Admission, RedisStore, per_minute  # noqa: E402 (needs redis, checked above)

pytest_plugins = ['openai_server', 'redis_server']

# Run as `python -c WORKER '<job json>'`: one host of a session. Workers meet at a barrier, then log
# '<event> <time.monotonic()> <who>' lines to one file.
WORKER = r"""
import asyncio, json, os, sys, time
from pathlib import Path

from pytest_agentarch.requests.redis_store import RedisStore

job = json.loads(sys.argv[1])
store = RedisStore.connect(job['url'])
log = os.open(job['log'], os.O_WRONLY | os.O_APPEND | os.O_CREAT) if 'log' in job else None


def barrier():
    sync = Path(job['sync'])
    (sync / f"ready-{job['name']}").touch()
    while len(list(sync.glob('ready-*'))) < job['parties']:
        time.sleep(0.002)


def event(kind, who, at=None):
    os.write(log, f'{kind} {time.monotonic() if at is None else at!r} {who}\n'.encode())


async def hold(limiter, who, until):
    while time.monotonic() < until:
        await limiter.acquire('test')
        try:
            event('enter', who)
            await asyncio.sleep(0.02)
            event('leave', who)
        finally:
            limiter.release()
        await asyncio.sleep(0.005)


async def request(rate, who):
    for _ in range(job['requests']):
        admission = await rate.admit()
        event('sent', who, time.time())
        rate.finish(admission, 0)


async def main():
    mode = job['mode']
    if mode == 'hold':
        limiter = store.concurrency(job['max_running'])
        barrier()
        until = time.monotonic() + job['for']
        await asyncio.gather(*(hold(limiter, f"{job['name']}.{i}", until) for i in range(3)))
    elif mode == 'hold-forever':
        limiter = store.concurrency(job['max_running'])
        for _ in range(job['max_running']):
            await limiter.acquire('test')
        print('held', flush=True)
        await asyncio.sleep(600)
    elif mode == 'requests':
        rate = store.rate(rpm=job['rpm'], tpm=None)
        barrier()
        await asyncio.gather(*(request(rate, f"{job['name']}.{i}") for i in range(2)))
    elif mode == 'spend':
        ledger = store.ledger(max_tokens=job['max_tokens'], max_usd=None)
        barrier()
        for _ in range(job['responses']):
            ledger.settle(ledger.reserve(), job['tokens'], 0.001)


asyncio.run(main())
"""


@pytest.fixture
def db(redis_server: RedisServer) -> Iterator[Callable[..., str]]:
    """A URL on an emptied database of the module's server (the test's own keys only)."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield lambda **query: redis_server.url(0, **query)
    client.close()


def start(job: dict[str, Any], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, '-c', WORKER, json.dumps(job)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_hosts(tmp_path: Path, *jobs: dict[str, Any], timeout: float = 60) -> None:
    sync = tmp_path / 'sync'
    sync.mkdir(exist_ok=True)
    procs = [
        start({**job, 'name': str(i), 'sync': str(sync), 'parties': len(jobs)}, tmp_path) for i, job in enumerate(jobs)
    ]
    errors = []
    for proc in procs:
        with proc:
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(err)
    assert not errors, '\n'.join(errors)


def server_ms(client: Any) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


# ------------------------------------------------------------------------------------------------ in flight


def test_two_hosts_never_hold_more_slots_than_the_limit(tmp_path: Path, db: Callable[..., str]) -> None:
    log = tmp_path / 'events.log'
    job = {'mode': 'hold', 'url': db(), 'max_running': 2, 'for': 1.5, 'log': str(log)}
    run_hosts(tmp_path, job, job)
    events = read_log(log)
    most, mixed = max_overlap(events)
    assert most == 2
    assert mixed == {'0', '1'}, 'both hosts held slots at moments when the other did too'
    assert redis.Redis.from_url(db()).zcard('agentarch:slots:2') == 0, 'every slot was released'


def test_a_killed_holder_loses_its_slots_within_the_lease(tmp_path: Path, db: Callable[..., str]) -> None:
    url = db(lease=1)
    proc = start({'mode': 'hold-forever', 'url': url, 'max_running': 2}, tmp_path)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == 'held'
        client = redis.Redis.from_url(url.split('?')[0])
        time.sleep(0.5)  # let the holder renew its leases at least once
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = server_ms(client)
        leases = [score for _, score in client.zrange('agentarch:slots:2', 0, -1, withscores=True)]
        assert len(leases) == 2
        # Every lease the dead holder had ends within one lease (1 s) of its death, on the server's clock.
        assert all(killed < end <= killed + 1000 for end in leases), (killed, leases)
        store = RedisStore.connect(url)
        limiter = store.concurrency(2)
        assert limiter.held() == 2

        async def take_both() -> None:
            await limiter.acquire('test')
            await limiter.acquire('test')

        asyncio.run(asyncio.wait_for(take_both(), timeout=30))
        # Taken only once the dead holder's leases had ended, not before.
        assert server_ms(client) >= min(leases)
        limiter.release()
        limiter.release()
        assert limiter.held() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# ------------------------------------------------------------------------------------------------ rates


@pytest.mark.parametrize(
    ('rpm', 'amount', 'seconds'), [(600, 10, 1), (100, 5, 3), (20, 1, 3), (17, 17, 60), (90, 3, 2), (60, 1, 1)]
)
def test_a_per_minute_limit_is_the_shortest_window_that_allows_exactly_as_much(
    rpm: int, amount: int, seconds: int
) -> None:
    item = per_minute(rpm)
    assert (item.amount, item.get_expiry()) == (amount, seconds)
    assert 60 // seconds * amount == rpm


def test_two_hosts_together_send_no_more_than_the_rpm(tmp_path: Path, db: Callable[..., str]) -> None:
    # rpm=600 is 10 requests per moving second. Two hosts with two tasks each send 4 x 8 = 32 requests: any 11 of them
    # in a row span at least a second, whichever host sent them (a send is logged after its hit, by a few ms).
    log = tmp_path / 'events.log'
    run_hosts(tmp_path, *[{'mode': 'requests', 'url': db(), 'rpm': 600, 'requests': 8, 'log': str(log)}] * 2)
    sent = sorted(at for _, at, _ in read_log(log))
    assert len(sent) == 32
    assert {who.split('.')[0] for _, _, who in read_log(log)} == {'0', '1'}
    assert min(sent[k + 10] - sent[k] for k in range(len(sent) - 10)) >= 1 - 0.05


def test_tokens_are_weighted_hits_and_what_does_not_fit_is_owed(db: Callable[..., str]) -> None:
    one, other = RedisStore.connect(db()), RedisStore.connect(db())
    rate = one.rate(rpm=None, tpm=100)
    unheld = Admission(hold=None, waited=0.0)  # without an RPM no request is held in the requests window
    rate.finish(unheld, 60)
    rate.finish(unheld, 30)
    # 90 of 100 tokens used in the window, seen from the other host too.
    seen = other.rate(rpm=None, tpm=100)
    assert seen._limiter.get_window_stats(seen._tokens, 'tokens').remaining == 10  # type: ignore[arg-type]
    admitted = asyncio.run(asyncio.wait_for(seen.admit(), timeout=5))  # 10 left: a request may go
    assert admitted.hold is None
    rate.finish(unheld, 30)  # does not fit: owed by this host, paid before its next request
    assert rate._owed == 30
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(rate.admit(), timeout=0.5))


# ------------------------------------------------------------------------------------------------ budget


def test_two_hosts_spend_into_one_ledger_atomically(tmp_path: Path, db: Callable[..., str]) -> None:
    url = db(session='shared')
    # 2 hosts x 50 responses x 10 tokens: 1,000 tokens and $0.100 exactly, none lost to a race.
    job = {'mode': 'spend', 'url': url, 'max_tokens': 600, 'responses': 50, 'tokens': 10}
    run_hosts(tmp_path, job, job)
    ledger = RedisStore.connect(url).ledger(max_tokens=600, max_usd=None)
    spent = ledger.spent()
    assert (spent.tokens, spent.requests) == (1000, 100)
    assert spent.usd == pytest.approx(0.1, abs=1e-12)
    reason = ledger.exhausted()
    assert reason is not None and reason.startswith('token budget of 600 reached: ')
    client = redis.Redis.from_url(url.split('?')[0])
    assert client.hget('agentarch:budget:shared', 'reserved_tokens') == b'0'


def test_a_reservation_is_the_mean_response_so_far_and_counts_toward_the_budget(db: Callable[..., str]) -> None:
    ledger = RedisStore.connect(db(session='s')).ledger(max_tokens=500, max_usd=None)
    ledger.settle(ledger.reserve(), 100, None)
    ledger.settle(ledger.reserve(), 200, None)
    held = [ledger.reserve(), ledger.reserve()]
    # Mean so far (100 + 200) / 2 = 150 per reservation: 300 spent + 300 reserved >= 500.
    reason = ledger.exhausted()
    assert (
        reason == 'token budget of 500 reached: 300 tokens and $0.0000 spent, 300 tokens reserved by requests in flight'
    )
    ledger.release(held[0])
    ledger.settle(held[1], 10, None)
    assert ledger.spent().tokens == 310
    assert ledger.exhausted() == reason, 'once reached, the budget stays reached with its first reason'


def test_a_dead_hosts_reservation_expires_with_the_lease(db: Callable[..., str]) -> None:
    store = RedisStore.connect(db(session='s', lease=0.3))
    ledger = store.ledger(max_tokens=10_000, max_usd=None)
    ledger.settle(None, 400, None)
    ledger.reserve()  # never settled: its holder "died"
    client = store.client
    assert client.hget(ledger.keys[0], 'reserved_tokens') == b'400'
    (end,) = [score for _, score in client.zrange(ledger.keys[1], 0, -1, withscores=True)]
    while server_ms(client) <= end:
        time.sleep(0.05)
    assert ledger.exhausted() is None
    assert client.hget(ledger.keys[0], 'reserved_tokens') == b'0'


def test_every_host_of_a_session_must_pass_the_same_budget(db: Callable[..., str]) -> None:
    RedisStore.connect(db(session='s')).ledger(max_tokens=100, max_usd=None)
    with pytest.raises(StoreError, match=r"session 's' on redis://127.0.0.1:\d+/0 has the budgets tokens=100"):
        RedisStore.connect(db(session='s')).ledger(max_tokens=200, max_usd=None)


@pytest.mark.parametrize(
    ('url', 'message'),
    [
        ('redis:/nohost', "expected 'file' or a Redis URL like redis://HOST:6379/0"),
        ('http://127.0.0.1:6379/0', "expected 'file' or a Redis URL"),
        ('redis://127.0.0.1:6379/x', 'the database after the port must be a number'),
        ('redis://127.0.0.1:6379/0?sesion=a', 'unknown setting(s) sesion'),
        ('redis://127.0.0.1:99999/0', 'Port out of range'),
    ],
)
def test_bad_store_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message.replace('(', r'\(').replace(')', r'\)')):
        check_url(url)


def test_an_unreachable_server_is_a_usage_error_before_any_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '--arch', 'single', '-n', '0', '-p', 'no:cacheprovider',
         '--agentarch-store', 'redis://127.0.0.1:1/0', '--agentarch-rpm', '60'],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 4
    assert '--agentarch-store redis://127.0.0.1:1/0: the Redis server cannot be reached' in done.stderr


# ------------------------------------------------------------------------------------------------ sessions


@pytest.fixture
def shared_project(
    project: Callable[..., pytest.Pytester], openai_server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    openai_server.script = by_prompt
    for name, value in openai_server.env().items():
        monkeypatch.setenv(name, value)
    return project(ARCHITECTURE, cases=CASES)


def session_command(*args: str) -> list[str]:
    return [
        sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-p', 'no:randomly', '--agentarch-model', MODEL,
        '--agentarch-memory=off', *args,
    ]  # fmt: skip


def test_two_sessions_as_two_hosts_share_the_in_flight_limit_and_the_budget(
    shared_project: pytest.Pytester, openai_server: ScriptedOpenAIServer, db: Callable[..., str]
) -> None:
    # Each request is answered 0.1 s after it arrives; one in flight across both sessions means arrivals at least
    # 0.1 s apart. Budget 200 tokens; a run of `first` costs 45 and of `second` 30 (15 per response), one run at a time
    # per session: the sessions stop starting runs once 200 are spent or reserved, so together they spend at most
    # 200 + the two runs in flight (2 x 45) = 290 tokens.
    openai_server.script = lambda request: dataclasses.replace(by_prompt(request), delay=0.1)
    url = db(session='ci-run-1')
    common = ['--runs=6', '--agentarch-concurrency=1', '--agentarch-max-requests=1', '--agentarch-budget-tokens=200']
    procs = [
        subprocess.Popen(
            session_command('--agentarch-store', url, *common, f'--agentarch-json=host{i}.json'),
            cwd=shared_project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (1, 2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [1, 1], outputs
    arrivals = sorted(r.arrival for r in openai_server.requests)
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.1 - 0.02
    tokens = 15 * len(openai_server.requests)
    assert 200 <= tokens <= 290, tokens
    for i in (1, 2):
        report = json.loads(shared_project.path.joinpath(f'host{i}.json').read_text())
        assert report['stopped_by'].startswith('token budget of 200 reached'), report['stopped_by']
        assert report['not_run'] > 0
    ledger = RedisStore.connect(url).ledger(max_tokens=200, max_usd=None)
    assert ledger.spent().tokens == tokens, 'the ledger counted every response both hosts received'


def test_redis_going_away_mid_session_is_an_infrastructure_failure_and_keeps_the_finished_runs(
    shared_project: pytest.Pytester, openai_server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server = start_redis(tmp_path)
    try:

        def script(request: Received) -> Reply:
            # The 7th request (the first of run 3 of `first`, one run at a time): the store goes away while it is
            # answered. Runs 0 and 1 of `first` (3 requests each) are finished by then.
            if request.n == 6:
                server.stop()
            return by_prompt(request)

        openai_server.script = script
        done = subprocess.run(
            session_command(
                '--agentarch-store', server.url(), '--runs=4', '--agentarch-concurrency=1', '--agentarch-rpm=6000',
                '--agentarch-budget-tokens=100000', '--agentarch-json=r.json', '-n', '0', '-k', 'first',
            ),
            cwd=shared_project.path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 1, done.stdout[-3000:]
    line = f'agentarch: session stopped by the limits store {server.url()} cannot be reached: ConnectionError'
    assert line in done.stdout, done.stdout[-3000:]
    report = json.loads(shared_project.path.joinpath('r.json').read_text())
    (case,) = [c for a in report['architectures'] for c in a['cases']]
    passed = [r for r in case['run_results'] if r['passed']]
    assert [r['index'] for r in passed] == [0, 1], 'the runs finished before the store went away are all there'
    failed = [r for r in case['run_results'] if not r['passed']]
    assert all(r['error_kind'] == 'infrastructure' for r in failed)
    assert case['runs'] + case['not_run'] == 4
