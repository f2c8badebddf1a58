"""What capture and statistics cost, measured side by side in one process.

The same trivial agent (one tool call, then an answer; FunctionModel; no latency) runs N times:
  (a) bare pydantic-ai under asyncio.gather, instrumentation off;
  (b) through the plugin's run path without pytest around it (`runner.run_case`): a capture scope per run,
      canonical trajectories, one EqualsExpected evaluator, records, wire format and statistics (what one pytest
      item does, without pytest's own start-up);
  (c) through pydantic-evals `Dataset.evaluate(repeat=N)`: same concurrency and evaluator, with the
      instrumentation its span-based evaluators need (OpenTelemetry SDK spans with content).
Rounds are interleaved and the median round is reported, because this machine is shared and noisy. Wall time and
the process's CPU time are both shown: the runs are CPU-bound, so when other work competes for the cores, the CPU
time ratios are the steadier figure.

Each variant also runs under the collector threshold the plugin sets while items run (`memory.tune_gc`), marked
`'`: a pytest item always runs so, and the threshold makes pydantic-ai's own work cheaper too. The ratios are given
with the same setting on both sides (what capture and statistics cost), and for a pytest item against a bare
pydantic-ai app and `Dataset.evaluate` at the interpreter's own setting (what a user's run costs under the plugin).

Then: with a model that sleeps 50 ms per request, N=20 runs of one case against one run (concurrency), and the
Python heap held by the records of 1000 runs (what the controller keeps) against 1000 kept agent results.

Usage: python benchmarks/overhead.py [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from typing import Any

from opentelemetry import trace
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import EqualsExpected

from pytest_agentarch.core.stats import case_stats
from pytest_agentarch.run import capture, memory
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case


def make_agent(latency: float = 0.0) -> Agent[None, str]:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if latency:
            await asyncio.sleep(latency)
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})])
        return ModelResponse(parts=[TextPart('done')])

    agent = Agent(FunctionModel(respond))

    @agent.tool_plain
    async def lookup(key: str) -> str:
        return key.upper()

    return agent


_ARCHITECTURES: dict[int, Architecture] = {}


def as_architecture(agent: Agent[None, str]) -> Architecture:
    """The agent as an architecture using the model it is given (the agent's own, passed by the runner); one per
    agent, as a session registers an architecture once (its first run decides how its runs are captured)."""
    if id(agent) not in _ARCHITECTURES:

        async def run(inputs: Any, model: Any) -> str:
            return (await agent.run(inputs, model=model)).output

        _ARCHITECTURES[id(agent)] = Architecture(name='bench', description='trivial agent', func=run)
    return _ARCHITECTURES[id(agent)]


async def bare(agent: Agent[None, str], n: int) -> list[Any]:
    return list(await asyncio.gather(*(agent.run('q') for _ in range(n))))


async def plugin(agent: Agent[None, str], n: int, concurrency: int) -> None:
    arch = as_architecture(agent)
    records = await run_case(
        arch,
        agent.model,
        CaseSpec(name='c', inputs='q', expected_output='done', evaluators=[EqualsExpected()]),
        RunSettings(runs=n, concurrency=concurrency),
    )  # type: ignore[arg-type]
    wire = [r.to_wire() for r in records]
    case_stats(records, architecture='bench', case='c')
    assert len(wire) == n and all(r.passed for r in records), records[0]


async def evals(agent: Agent[None, str], n: int, concurrency: int) -> None:
    async def task(inputs: str) -> str:
        return (await agent.run(inputs)).output

    case = Case(name='c', inputs='q', expected_output='done', evaluators=(EqualsExpected(),))
    dataset = Dataset[str, str, Any](name='bench', cases=[case])
    report = await dataset.evaluate(task, repeat=n, max_concurrency=concurrency, progress=False)
    assert not report.failures and all(all(a.value for a in c.assertions.values()) for c in report.cases)


def clocked(coro_factory: Any) -> tuple[float, float]:
    """Wall and CPU seconds of one event loop running the coroutine."""
    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(coro_factory())
    return time.perf_counter() - t0, time.process_time() - c0


def timed(coro_factory: Any) -> float:
    return clocked(coro_factory)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    n, concurrency = args.runs, args.runs
    agent = make_agent()

    # The SDK provider capture installs when an evaluator needs real spans: (c) records into it, (b) builds no spans.
    capture.ensure_sdk_provider()
    evals_settings = InstrumentationSettings(tracer_provider=trace.get_tracer_provider(), include_content=True)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ('a', 'b', 'c', "a'", "b'", "c'")}
    for _ in range(args.rounds):
        for tuned in ('', "'"):
            if tuned:
                memory.tune_gc()
            Agent.instrument_all(False)
            times['a' + tuned].append(clocked(lambda: bare(agent, n)))
            times['b' + tuned].append(clocked(lambda: plugin(agent, n, concurrency)))
            capture.uninstall()
            Agent.instrument_all(evals_settings)
            times['c' + tuned].append(clocked(lambda: evals(agent, n, concurrency)))
            memory.untune_gc()
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f'overhead: N={n} runs per round, {args.rounds} interleaved rounds, median round shown')
    labels = {'a': 'bare pydantic-ai', 'b': 'pytest-agentarch runner', 'c': 'pydantic-evals repeat=N'}
    for key in times:
        print(
            f'  ({key:<2}) {labels[key[0]]:<24} {n / wall[key]:8.0f} runs/s  ({wall[key] * 1000:.0f} ms wall, '
            f'{cpu[key] * 1000:.0f} ms CPU)'
        )
    comparisons = (
        ("interpreter's collector threshold on both sides", 'b', 'a', 'c'),
        ("the plugin's run-time collector threshold on both sides", "b'", "a'", "c'"),
        ('a pytest item against bare pydantic-ai and pydantic-evals as users run them', "b'", 'a', 'c'),
    )
    for title, b, a, c in comparisons:
        print(f'  {title}:')
        for name, med in (('wall', wall), ('CPU', cpu)):
            print(
                f'    {name:<4}  {b}/{a} = {med[b] / med[a]:.2f} (target <= 1.2)   '
                f'{b}/{c} = {med[b] / med[c]:.2f} (target <= 0.8)'
            )

    Agent.instrument_all(False)
    slow = make_agent(latency=0.05)
    one = statistics.median(timed(lambda: plugin(slow, 1, 20)) for _ in range(3))
    twenty = statistics.median(timed(lambda: plugin(slow, 20, 20)) for _ in range(3))
    print(
        f'concurrency: 50 ms model, 1 run {one * 1000:.0f} ms, 20 runs {twenty * 1000:.0f} ms, '
        f'ratio {twenty / one:.2f} (target <= 1.5)'
    )

    big = 1000
    gc.collect()
    tracemalloc.start()
    kept_records = asyncio.run(
        run_case(
            as_architecture(agent),
            agent.model,
            CaseSpec(name='c', inputs='q'),  # type: ignore[arg-type]
            RunSettings(runs=big, concurrency=20),
        )
    )
    gc.collect()
    records_now, records_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wire_bytes = sum(len(str(r.to_wire())) for r in kept_records)
    del kept_records
    gc.collect()
    Agent.instrument_all(False)
    tracemalloc.start()
    kept_results = asyncio.run(bare(agent, big))
    gc.collect()
    results_now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept_results
    print(
        f'memory at {big} runs: records kept {records_now / 2**20:.1f} MiB (peak while running '
        f'{records_peak / 2**20:.1f} MiB, ~{wire_bytes / big:.0f} B per record on the wire); '
        f'{big} kept agent results with message histories {results_now / 2**20:.1f} MiB'
    )


if __name__ == '__main__':
    main()
