"""A whole session killed with SIGKILL (its controller and xdist workers, one process group) while it holds every slot
in flight on the Redis store: its leases end within one lease of the kill on the server's clock, and a second
session sharing the limit gets every slot back and completes."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_server import Received, Reply, ScriptedOpenAIServer
from redis_server import RedisServer
from test_real_model_session import ARCHITECTURE, CASES, MODEL, by_prompt

redis = pytest.importorskip('redis', reason='the Redis client is an optional dependency: pip install .[redis]')

pytest_plugins = ['openai_server', 'redis_server']

LEASE = 2
SLOTS = 'agentarch:slots:2'
REPLY_DELAY = 0.3


def session_command(*args: str) -> list[str]:
    return [
        sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-p', 'no:randomly', '--agentarch-model', MODEL,
        '--agentarch-memory=off', '--runs=4', '--agentarch-concurrency=2', '--agentarch-max-requests=2', *args,
    ]  # fmt: skip


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting until {what}')
        time.sleep(0.05)


def most_in_flight(arrivals: list[float], answered_after: float) -> int:
    """The most requests in flight at once, each from its arrival until the server answered it."""
    events = sorted([(a, 1) for a in arrivals] + [(a + answered_after, -1) for a in arrivals])
    most = held = 0
    for _, change in events:
        held += change
        most = max(most, held)
    return most


def test_a_session_killed_with_sigkill_frees_its_slots_within_the_lease(
    project: Callable[..., pytest.Pytester],
    openai_server: ScriptedOpenAIServer,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    killed_session = {'on': True}

    def script(request: Received) -> Reply:
        # The first session's requests hang (it is killed holding them); the second's are answered after 0.3 s.
        return dataclasses.replace(by_prompt(request), delay=600 if killed_session['on'] else REPLY_DELAY)

    openai_server.script = script
    for name, value in openai_server.env().items():
        monkeypatch.setenv(name, value)
    tree = project(ARCHITECTURE, cases=CASES)
    url = redis_server.url(0, lease=LEASE)
    first = subprocess.Popen(
        session_command('--agentarch-store', url, '-n', '2', '--agentarch-json=first.json'),
        cwd=tree.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the controller and its xdist workers
    )
    try:
        wait_for(lambda: len(openai_server.requests) >= 2, 'the first session has two requests in flight')
        assert client.zcard(SLOTS) == 2
        time.sleep(LEASE / 3 + 0.2)  # past a renewal: the leases were renewed while held
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = server_ms(client)
        wait_for(lambda: not _group_alive(first.pid), 'every process of the killed session is gone', timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert len(openai_server.requests) == 2, 'two slots: the first session sent no third request'
    leases = [score for _, score in client.zrange(SLOTS, 0, -1, withscores=True)]
    assert len(leases) == 2, 'the dead session still holds both slots until their leases end'
    assert all(killed < end <= killed + LEASE * 1000 for end in leases), (killed, leases)
    assert not tree.path.joinpath('first.json').exists(), 'the first session never finished'

    killed_session['on'] = False
    openai_server.clear()
    second = subprocess.run(
        session_command('--agentarch-store', url, '-n', '0', '--agentarch-json=second.json'),
        cwd=tree.path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert second.returncode == 0, second.stdout[-3000:]
    report = json.loads(tree.path.joinpath('second.json').read_text())
    runs = [r for a in report['architectures'] for c in a['cases'] for r in c['run_results']]
    assert len(runs) == 8 and all(r['passed'] for r in runs), 'two cases x 4 runs, every one passed'
    arrivals = sorted(r.arrival for r in openai_server.requests)
    assert len(arrivals) == 4 * 3 + 4 * 2, '`first` makes 3 requests a run, `second` 2'
    # Both slots came back: the second session had two requests in flight at once (never more).
    assert most_in_flight(arrivals, REPLY_DELAY) == 2
    assert client.zcard(SLOTS) == 0, "the dead session's leases were dropped and the second session released its own"
    client.close()


def _group_alive(pgid: int) -> bool:
    """Whether a live process (not a zombie waiting for a parent to reap it) is in the process group."""
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rpartition(')')[2].split()
        except OSError:
            continue  # the process ended while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != 'Z':
            return True
    return False
