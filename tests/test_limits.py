"""Session-wide limits: the numbers each limit must respect, checked across real OS processes sharing one directory."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.concurrency import ConcurrencyLimitedModel
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch.requests import limits
from pytest_agentarch.requests.limits import (
    BudgetLedger,
    FileConcurrencyLimiter,
    RateLimiter,
    SessionLimits,
    SessionStore,
    Spent,
)

# Run as `python -c WORKER '<job json>'`: one OS process of a session. Workers of one test meet at a barrier first, so
# their requests really compete; each logs events as '<event> <time.monotonic()> <who>' lines appended to one file.
WORKER = r"""
import asyncio, json, os, sys, time
from pathlib import Path

from pytest_agentarch.requests.limits import BudgetLedger, FileConcurrencyLimiter, RateLimiter

job = json.loads(sys.argv[1])
directory = Path(job['directory'])


def barrier():
    sync = Path(job['sync'])
    (sync / f"ready-{job['name']}").touch()
    while len(list(sync.glob('ready-*'))) < job['parties']:
        time.sleep(0.002)


log = os.open(job['log'], os.O_WRONLY | os.O_APPEND | os.O_CREAT) if 'log' in job else None


def event(kind, who):
    os.write(log, f'{kind} {time.monotonic()!r} {who}\n'.encode())


async def hold(limiter, who, until):
    while time.monotonic() < until:
        await limiter.acquire('test')
        try:
            event('enter', who)
            await asyncio.sleep(job['seconds'])
            event('leave', who)
        finally:
            limiter.release()
        await asyncio.sleep(0.01)


async def request(rate, who):
    for _ in range(job['requests']):
        event('call', who)
        await rate.before_request()
        event('sent', who)


async def main():
    mode = job['mode']
    if mode == 'hold':
        limiter = FileConcurrencyLimiter(directory, job['max_running'])
        barrier()
        until = time.monotonic() + job['for']
        await asyncio.gather(*(hold(limiter, f"{job['name']}.{i}", until) for i in range(job['tasks'])))
    elif mode == 'hold-forever':
        limiter = FileConcurrencyLimiter(directory, job['max_running'])
        await limiter.acquire('test')
        print('held', flush=True)
        await asyncio.sleep(600)
    elif mode == 'requests':
        rate = RateLimiter(directory, rpm=job['rpm'])
        barrier()
        await asyncio.gather(*(request(rate, f"{job['name']}.{i}") for i in range(job['tasks'])))
    elif mode == 'charge':
        ledger = BudgetLedger(directory, max_tokens=job['max_tokens'])
        barrier()
        for tokens, usd in job['charges']:
            ledger.charge(tokens, usd)


asyncio.run(main())
if log is not None:
    os.close(log)
"""


def start_worker(job: dict[str, Any], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, '-c', WORKER, json.dumps(job)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_workers(tmp_path: Path, *jobs: dict[str, Any]) -> None:
    """Run one OS process per job at once (they meet at a barrier) and wait for all of them to succeed."""
    sync = tmp_path / 'sync'
    sync.mkdir()
    procs = [
        start_worker({**job, 'name': str(i), 'sync': str(sync), 'parties': len(jobs)}, tmp_path)
        for i, job in enumerate(jobs)
    ]
    errors = []
    for proc in procs:
        with proc:
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(err)
    assert not errors, '\n'.join(errors)


def read_log(path: Path) -> list[tuple[str, float, str]]:
    events = []
    for line in path.read_text().splitlines():
        kind, at, who = line.split()
        events.append((kind, float(at), who))
    return events


def max_overlap(events: list[tuple[str, float, str]]) -> tuple[int, set[str]]:
    """The most holders at once (a leave at the same instant as an enter counts first), and the processes that held
    at some moment when holders of several processes overlapped."""
    ordered = sorted(events, key=lambda e: (e[1], e[0] == 'enter'))
    holding: set[str] = set()
    most = 0
    mixed: set[str] = set()
    for kind, _, who in ordered:
        if kind == 'enter':
            holding.add(who)
        else:
            holding.discard(who)
        most = max(most, len(holding))
        processes = {holder.split('.')[0] for holder in holding}
        if len(processes) > 1:
            mixed |= processes
    return most, mixed


# --- requests in flight ---------------------------------------------------------------------------------------------


def test_two_processes_never_hold_more_than_max_running_slots_together(tmp_path: Path) -> None:
    # 2 processes x 4 tasks keep wanting a slot for 1.5 s (holding it 0.05 s each time); max_running=3 must hold
    # for the 8 of them, not for each process.
    log = tmp_path / 'events.log'
    job = {
        'mode': 'hold',
        'directory': str(tmp_path / 'slots'),
        'max_running': 3,
        'log': str(log),
        'tasks': 4,
        'for': 1.5,
        'seconds': 0.05,
    }
    run_workers(tmp_path, job, job)
    events = read_log(log)
    assert {who.split('.')[0] for kind, _, who in events if kind == 'enter'} == {'0', '1'}
    most, mixed = max_overlap(events)
    assert most == 3, events
    assert mixed == {'0', '1'}, events  # the 3 slots were shared by both processes at some moment


def test_release_without_acquire_raises(tmp_path: Path) -> None:
    limiter = FileConcurrencyLimiter(tmp_path / 'slots', 2)
    with pytest.raises(RuntimeError, match='without a matching acquire'):
        limiter.release()

    async def twice() -> None:
        await limiter.acquire('test')
        limiter.release()
        limiter.release()

    with pytest.raises(RuntimeError, match='without a matching acquire'):
        asyncio.run(twice())


def test_a_slot_acquired_on_one_task_can_be_released_on_another(tmp_path: Path) -> None:
    # pydantic-ai closes a streamed response on the task that consumes it, not always the one that acquired.
    limiter = FileConcurrencyLimiter(tmp_path / 'slots', 1)

    async def main() -> None:
        await asyncio.create_task(limiter.acquire('test'))
        limiter.release()
        await asyncio.wait_for(limiter.acquire('test'), 30)  # the only slot is free again
        limiter.release()

    asyncio.run(main())


def test_one_task_can_hold_several_slots_and_release_them_all(tmp_path: Path) -> None:
    limiter = FileConcurrencyLimiter(tmp_path / 'slots', 2)
    other = FileConcurrencyLimiter(tmp_path / 'slots', 2)  # as another process would: its own descriptors

    async def main() -> None:
        await limiter.acquire('a')
        await limiter.acquire('b')
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.acquire('c'), 0.3)
        limiter.release()
        await asyncio.wait_for(other.acquire('c'), 30)
        limiter.release()
        other.release()

    asyncio.run(main())


def test_a_process_killed_while_holding_a_slot_does_not_keep_it(tmp_path: Path) -> None:
    directory = tmp_path / 'slots'
    job = {'mode': 'hold-forever', 'directory': str(directory), 'max_running': 1}
    with start_worker(job, tmp_path) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, 'the worker never took its slot'
            assert proc.stdout.readline().strip() == 'held'
            limiter = FileConcurrencyLimiter(directory, 1)

            async def blocked() -> None:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(limiter.acquire('test'), 0.3)

            asyncio.run(blocked())
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    async def freed() -> None:
        await asyncio.wait_for(limiter.acquire('test'), 30)
        limiter.release()

    asyncio.run(freed())


def test_limits_a_pydantic_ai_model_through_concurrency_limited_model(tmp_path: Path) -> None:
    session = SessionLimits.open(tmp_path, max_requests=2)
    assert session.limiter is not None
    running = 0
    most = 0

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        return ModelResponse(parts=[TextPart('ok')])

    model = ConcurrencyLimitedModel(FunctionModel(respond), limiter=session.limiter)

    async def main() -> list[str]:
        results = await asyncio.gather(*(Agent(model).run('go') for _ in range(6)))
        return [r.output for r in results]

    assert asyncio.run(main()) == ['ok'] * 6
    assert most == 2


# --- requests and tokens per minute --------------------------------------------------------------------------------


def test_two_processes_share_one_requests_per_minute_limit(tmp_path: Path) -> None:
    # rpm=300: one request every 60/300 = 0.2 s for the session. 12 requests from 2 processes (2 tasks x 3 each).
    log = tmp_path / 'events.log'
    job = {'mode': 'requests', 'directory': str(tmp_path / 'rate'), 'rpm': 300, 'log': str(log), 'tasks': 2}
    run_workers(tmp_path, {**job, 'requests': 3}, {**job, 'requests': 3})
    events = read_log(log)
    sent = sorted(at for kind, at, _ in events if kind == 'sent')
    assert len(sent) == 12
    # The first request can start no earlier than the earliest call; the k-th (0-based) no earlier than k * 0.2 s
    # after that. (Measured from the earliest call, not from sent[0]: the first process may log its own send late.)
    first_call = min(at for kind, at, _ in events if kind == 'call')
    for k, at in enumerate(sent):
        assert at >= first_call + k * 0.2 - 0.01, (k, at - first_call)


def test_charged_tokens_hold_back_the_next_request_for_everyone(tmp_path: Path) -> None:
    # tpm=3000: 100 tokens are 100 * 60 / 3000 = 2 s of debt. Charged through one instance, paid by another's request.
    charger = RateLimiter(tmp_path / 'rate', tpm=3000)
    requester = RateLimiter(tmp_path / 'rate', tpm=3000)
    before = limits._clock()
    charger.after_response(100)
    asyncio.run(requester.before_request())
    assert limits._clock() - before >= 1.9


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(limits, '_clock', fake)
    monkeypatch.setattr(limits, '_sleep', fake.sleep)
    return fake


def test_a_request_waits_for_whichever_limit_frees_it_last(tmp_path: Path, clock: FakeClock) -> None:
    # rpm=60: requests 1 s apart. tpm=6000: each token is 60 / 6000 = 0.01 s of debt.
    rate = RateLimiter(tmp_path / 'rate', rpm=60, tpm=6000)

    async def main() -> list[float]:
        waits = [await rate.before_request()]  # t=0: goes at once; the next request no earlier than t=1
        rate.after_response(50)  # t=0: token debt until t=0.5
        waits.append(await rate.before_request())  # waits for RPM to t=1 (the limits do not add up: not 1.5)
        rate.after_response(200)  # t=1: debt until 1 + 2.0 = 3
        waits.append(await rate.before_request())  # t=1: RPM would allow t=2, the tokens only t=3
        return waits

    assert asyncio.run(main()) == [0.0, 1.0, 2.0]
    assert clock.now == 1003.0


def test_idle_time_does_not_save_up_a_burst(tmp_path: Path, clock: FakeClock) -> None:
    rate = RateLimiter(tmp_path / 'rate', rpm=30)  # one request every 2 s

    async def main() -> list[float]:
        waits = [await rate.before_request()]
        clock.now += 3600  # an idle hour
        waits += [await rate.before_request() for _ in range(3)]
        return waits

    assert asyncio.run(main()) == [0.0, 0.0, 2.0, 2.0]


def test_no_rate_limits_never_wait(tmp_path: Path) -> None:
    rate = RateLimiter(tmp_path / 'rate')
    rate.after_response(1_000_000)
    assert asyncio.run(rate.before_request()) == 0.0


# --- budget ---------------------------------------------------------------------------------------------------------


def test_charges_from_two_processes_add_up_and_the_token_budget_stops_the_session(tmp_path: Path) -> None:
    directory = tmp_path / 'budget'
    job = {'mode': 'charge', 'directory': str(directory), 'max_tokens': 10_000}
    run_workers(
        tmp_path,
        {**job, 'charges': [[1000, 0.01], [1000, 0.01], [1000, 0.01]]},
        {**job, 'charges': [[2500, None], [2500, None], [700, 0.0025]]},
    )
    ledger = BudgetLedger(directory, max_tokens=10_000)
    # 3 * 1000 + 2 * 2500 + 700 = 8,700 tokens; 3 * $0.01 + $0.0025 = $0.0325 (the unpriced ones add nothing).
    assert ledger.spent() == Spent(tokens=8700, usd=0.0325, requests=6)
    assert ledger.exhausted() is None

    ledger.charge(1300, 0.0175)  # 8,700 + 1,300 = 10,000 tokens: the budget is reached; $0.0325 + $0.0175 = $0.05
    line = 'token budget of 10,000 reached: 10,000 tokens and $0.0500 spent'
    assert ledger.exhausted() == line

    ledger.charge(500, None)  # it stays exhausted, with the first reason, while the totals go on
    assert ledger.spent() == Spent(tokens=10_500, usd=0.05, requests=8)
    assert ledger.exhausted() == line
    assert BudgetLedger(directory, max_tokens=10_000).exhausted() == line


def test_usd_budget(tmp_path: Path) -> None:
    ledger = BudgetLedger(tmp_path / 'budget', max_usd=0.05)
    ledger.charge(100, 0.02)
    assert ledger.exhausted() is None
    ledger.charge(100, None)  # unpriced: usd unchanged
    assert ledger.spent() == Spent(tokens=200, usd=0.02, requests=2)
    assert ledger.exhausted() is None
    ledger.charge(100, 0.03)  # $0.02 + $0.03 = $0.05, exactly the budget
    assert ledger.exhausted() == 'USD budget of $0.05 reached: 300 tokens and $0.0500 spent'


def test_a_ledger_without_budgets_only_counts(tmp_path: Path) -> None:
    ledger = BudgetLedger(tmp_path / 'budget')
    ledger.charge(123_456, 12.5)
    assert ledger.spent() == Spent(tokens=123_456, usd=12.5, requests=1)
    assert ledger.exhausted() is None


# --- the session directory ------------------------------------------------------------------------------------------


def test_session_store_create_attach_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    store = SessionStore.create()
    assert store.path.parent == tmp_path
    assert store.path.name.startswith('agentarch-')
    assert list(store.path.iterdir()) == []
    assert SessionStore.attach(str(store.path)) == store
    store.remove()
    assert not store.path.exists()
    store.remove()  # already gone: nothing to do
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SessionStore.attach(store.path)


def test_session_limits_build_only_what_is_configured(tmp_path: Path) -> None:
    none = SessionLimits.open(tmp_path)
    assert (none.limiter, none.rate_limiter, none.ledger) == (None, None, None)

    every = SessionLimits.open(tmp_path, max_requests=4, rpm=100, tpm=50_000, max_tokens=1000, max_usd=1.5)
    assert every.limiter is not None and every.limiter.max_running == 4
    assert every.rate_limiter is not None and (every.rate_limiter.rpm, every.rate_limiter.tpm) == (100, 50_000)
    assert every.ledger is not None and (every.ledger.max_tokens, every.ledger.max_usd) == (1000, 1.5)

    # A worker rebuilding from the path alone shares the ledger with the process that charged it.
    every.ledger.charge(10, 0.5)
    worker = SessionLimits.open(str(tmp_path), max_requests=4, rpm=100, tpm=50_000, max_tokens=1000, max_usd=1.5)
    assert worker.ledger is not None and worker.ledger.spent() == Spent(tokens=10, usd=0.5, requests=1)


def test_every_process_must_use_the_same_limits(tmp_path: Path) -> None:
    SessionLimits.open(tmp_path, max_requests=4, rpm=100, max_usd=2)
    SessionLimits.open(tmp_path, max_requests=4, rpm=100.0, max_usd=2.0)  # the same numbers
    with pytest.raises(ValueError, match='every process of a session must use the same limits'):
        SessionLimits.open(tmp_path, max_requests=5)
    with pytest.raises(ValueError, match='every process of a session must use the same limits'):
        SessionLimits.open(tmp_path, rpm=120)


def test_session_limits_need_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SessionLimits.open(tmp_path / 'gone', max_requests=1)
    assert not (tmp_path / 'gone').exists()


@pytest.mark.parametrize(
    'make',
    [
        lambda d: FileConcurrencyLimiter(d, 0),
        lambda d: RateLimiter(d, rpm=0),
        lambda d: RateLimiter(d, tpm=-1),
        lambda d: BudgetLedger(d, max_tokens=0),
        lambda d: BudgetLedger(d, max_usd=float('nan')),
    ],
)
def test_limits_must_be_positive(tmp_path: Path, make: Any) -> None:
    with pytest.raises(ValueError, match='must be'):
        make(tmp_path / 'x')


def test_state_is_rewritten_without_leaving_temporary_files(tmp_path: Path) -> None:
    session = SessionLimits.open(tmp_path, max_requests=2, rpm=600, tpm=60_000, max_tokens=100)
    assert session.limiter is not None and session.rate_limiter is not None and session.ledger is not None

    async def main() -> None:
        await session.limiter.acquire('test')
        await session.rate_limiter.before_request()
        session.rate_limiter.after_response(10)
        session.limiter.release()

    asyncio.run(main())
    session.ledger.charge(10, None)
    assert session.ledger.spent() == Spent(tokens=10, usd=0.0, requests=1)
    assert [p.name for p in tmp_path.rglob('*.tmp')] == []
