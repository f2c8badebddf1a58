"""Whole processes: a pytest session of the plugin against the same agent runs made bare, side by side.

The same trivial agent (one tool, pydantic-ai's `TestModel`: one tool call, then an answer) runs N times in a fresh
Python process each way, rounds interleaved:
  (a) bare: a script runs the N runs under `asyncio.gather`, at most `--concurrency` at once (a semaphore), with
      the model built the way the session builds it;
  (b) the plugin: `pytest --arch bench --runs N --agentarch-model test` on a one-case dataset, in a project written
      to a temporary directory (`-n 0`, `-p no:randomly`, `--assert=plain`, the same concurrency).
Each process's wall time and CPU time (user + system, from the children's resource usage) are measured from its
start to its exit, so interpreter start-up, imports, collection and reports are all counted; the median round of
each is shown, and b/a.

Usage: python benchmarks/session.py [--runs 3000] [--rounds 3] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

AGENT = """
from pydantic_ai import Agent


async def lookup(key: str) -> str:
    return key.upper()


def make_agent() -> Agent[None, str]:
    return Agent(tools=[lookup], instructions='Look the key up, then answer.')
"""

BARE = """
import asyncio, sys
from agent_def import make_agent
from pytest_agentarch.requests.specs import resolve_model


async def main(n: int, concurrency: int) -> None:
    agent, model = make_agent(), resolve_model('test')
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            return (await agent.run('key a', model=model)).output

    outputs = await asyncio.gather(*(one() for _ in range(n)))
    assert len(outputs) == n


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""

CONFTEST = """
from agent_def import make_agent
from pytest_agentarch import architecture

_AGENT = make_agent()


@architecture('bench', description='one agent, one tool')
async def bench(inputs: str, model) -> str:
    return (await _AGENT.run(inputs, model=model)).output
"""

DATASET = """
name: bench
cases:
  - name: lookup
    inputs: key a
"""

PYPROJECT = """
[tool.pytest.ini_options]
agentarch_datasets = ["bench.yaml"]
"""


def write_project(root: Path) -> None:
    for name, text in (
        ('agent_def.py', AGENT),
        ('bare.py', BARE),
        ('conftest.py', CONFTEST),
        ('bench.yaml', DATASET),
        ('pyproject.toml', PYPROJECT),
    ):
        (root / name).write_text(textwrap.dedent(text).lstrip())


def measured(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one child process, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(cwd)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f'{" ".join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}')
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=3000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--concurrency', type=int, default=20)
    args = parser.parse_args()
    n, k = str(args.runs), str(args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root)
        commands = {
            'a': [sys.executable, 'bare.py', n, k],
            'b': [
                *(sys.executable, '-m', 'pytest', '--arch', 'bench', '--runs', n, '--agentarch-model', 'test'),
                *('--agentarch-concurrency', k, '-n', '0', '-p', 'no:randomly', '--assert=plain', '-q'),
            ],
        }
        times: dict[str, list[tuple[float, float]]] = {key: [] for key in commands}
        for _ in range(args.rounds):
            for key, command in commands.items():
                times[key].append(measured(command, root))
    wall = {key: statistics.median(w for w, _ in v) for key, v in times.items()}
    cpu = {key: statistics.median(c for _, c in v) for key, v in times.items()}
    print(
        f'whole processes: {args.runs} runs of a trivial agent, concurrency {args.concurrency}, median of {args.rounds}'
    )
    for key, label in (('a', 'bare pydantic-ai, asyncio.gather'), ('b', 'pytest session, the plugin')):
        print(f'  ({key}) {label:<34} {wall[key]:6.2f} s wall  {cpu[key]:6.2f} s CPU')
    print(f'  b/a = {wall["b"] / wall["a"]:.2f} wall, {cpu["b"] / cpu["a"]:.2f} CPU (target <= 1.2)')


if __name__ == '__main__':
    main()
