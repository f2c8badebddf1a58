"""Throughput at a binding requests-per-minute limit: two shard sessions sharing one Redis store.

A real `redis-server` and the scripted OpenAI-compatible server (tests/openai_server.py) run on 127.0.0.1. A project
of one architecture (an agent with two tools; every run is 3 model requests, answered at once) is split into two
shards, `--agentarch-shard 1/2` and `2/2`, started together as two pytest sessions (two "hosts"), both with
`--agentarch-store redis://...` and `--agentarch-rpm R`. There is more work than the limit lets through, so the limit
binds. From the server's own arrival times it reports:

- sustained rate: requests after the first, over the time from the first arrival to the last, per minute, as a share
  of R (the target is >= 90%);
- the worst server-side 60 s window: the most requests that arrived within any 60 seconds, next to R. It is never
  above R by design: the Redis limiter counts a request from its admission until a minute after its answer
  (`redis_store.RedisRateLimiter`, docs/scaling.md), whatever delays it between the two;
- the most within any one pacing window (R * w / 60 per w seconds, `redis_store.per_minute`): pacing spreads a
  minute's requests at admission, and arrivals may bunch beyond it (it smooths; the minute is the guarantee);
- that the two merged shards hold every run once (`agentarch merge`).

Usage: python benchmarks/throughput.py [--rpm 600] [--runs 40] [--cases 8]
(work: cases x runs x 3 requests; the defaults make 960 requests, about 96 s at 600 RPM)
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / 'tests'))

from openai_server import Received, Reply, ScriptedOpenAIServer, conversation, text, tool_calls  # noqa: E402
from redis_server import start_redis  # noqa: E402

ARCHITECTURE = """
from pydantic_ai import Agent

from pytest_agentarch import architecture


def alpha(q: str) -> str:
    return f'alpha:{q}'


def beta(q: str) -> str:
    return f'beta:{q}'


@architecture('tooling')
async def tooling(inputs, model):
    result = await Agent(model, tools=[alpha, beta]).run(str(inputs))
    return result.output
"""

PLAN = [tool_calls(('alpha', {'q': 'a'}), ('beta', {'q': 'b'})), tool_calls(('alpha', {'q': 'c'})), text('ok')]


def answer(request: Received) -> Reply:
    return conversation(PLAN)(request)


def most_within(times: list[float], span: float) -> int:
    """The most of `times` (sorted) inside any half-open interval of `span` seconds."""
    return max((bisect.bisect_left(times, t + span) - i for i, t in enumerate(times)), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rpm', type=int, default=600)
    parser.add_argument('--runs', type=int, default=40, help='runs per case')
    parser.add_argument('--cases', type=int, default=8)
    args = parser.parse_args()
    from pytest_agentarch.requests.redis_store import per_minute

    window = per_minute(args.rpm)
    with tempfile.TemporaryDirectory(prefix='agentarch-throughput-') as tmp:
        project = Path(tmp)
        (project / 'conftest.py').write_text(textwrap.dedent(ARCHITECTURE))
        cases = '\n'.join(
            f'  - name: case{i}\n    inputs: question {i}\n    expected_output: ok' for i in range(args.cases)
        )
        (project / 'cases.yaml').write_text(f'name: demo\ncases:\n{cases}\n')
        (project / 'pytest.ini').write_text('[pytest]\nagentarch_datasets = cases.yaml\n')
        redis = start_redis(project)
        server = ScriptedOpenAIServer(answer).start()
        try:
            env = {**os.environ, **server.env(), 'PYTHONPATH': str(project)}
            url = redis.url(0, session='throughput')
            common = [
                sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:randomly', '-n', '0',
                '--agentarch-model', 'openai-chat:scripted', '--agentarch-memory=off', '--runs', str(args.runs),
                '--agentarch-store', url, '--agentarch-rpm', str(args.rpm), '--agentarch-concurrency', '10',
            ]  # fmt: skip
            started = time.monotonic()
            sessions = [
                subprocess.Popen(
                    [*common, '--agentarch-shard', f'{i}/2', '--agentarch-json', f'shard{i}.json'],
                    cwd=project,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for i in (1, 2)
            ]
            outputs = [s.communicate(timeout=3600)[0] for s in sessions]
            wall = time.monotonic() - started
            for s, out in zip(sessions, outputs, strict=True):
                if s.returncode != 0:
                    print(out[-3000:])
                    raise SystemExit(f'a shard session failed (exit {s.returncode})')
            merged = subprocess.run(
                [sys.executable, '-m', 'pytest_agentarch', 'merge', 'shard1.json', 'shard2.json', '-o', 'merged.json'],
                cwd=project,
                capture_output=True,
                text=True,
                check=False,
            )
            report = json.loads((project / 'merged.json').read_text())
        finally:
            server.close()
            redis.stop()
        arrivals = sorted(r.arrival for r in server.requests)
        total = len(arrivals)
        span = arrivals[-1] - arrivals[0]
        sustained = (total - 1) / span * 60 if span > 0 else float('inf')
        runs = sum(len(c['run_results']) for a in report['architectures'] for c in a['cases'])
        every = f'{window.amount} per {window.get_expiry()} s'
        print(f'two shard sessions on one Redis store, --agentarch-rpm {args.rpm} ({every})')
        print(
            f'requests: {total} (expected {args.cases * args.runs * 3}); wall {wall:.1f} s, sessions started together'
        )
        print(f'sustained: {sustained:.1f} requests/min = {sustained / args.rpm:.1%} of the limit, over {span:.1f} s')
        worst = most_within(arrivals, 60.0)
        verdict = 'within' if worst <= args.rpm else f'OVER by {worst - args.rpm}'
        print(f'worst server-side 60 s window: {worst} requests; limit {args.rpm} ({verdict})')
        print(
            f'most within any {window.get_expiry()} s: {most_within(arrivals, float(window.get_expiry()))} '
            f'(pacing window {window.amount})'
        )
        print(f'merge: exit {merged.returncode}; {runs} runs in the merged report (expected {args.cases * args.runs})')


if __name__ == '__main__':
    main()
