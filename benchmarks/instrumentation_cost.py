"""What pydantic-ai's instrumentation costs one agent run, layer by layer, measured side by side in one process.

The same agent (one tool call, then a structured output; FunctionModel; no latency) runs N times concurrently:
  bare        instrumentation off;
  noop        instrumented, with a no-op tracer provider (pydantic-ai's instrumentation capability alone);
  sdk         instrumented, with an OpenTelemetry SDK tracer provider (spans are created and ended);
  sdk+scope   the same, each run inside pydantic-evals' task-run scope, which collects the run's spans: what the
              plugin does for every run.
Rounds are interleaved and the median round is reported, because this machine is shared and noisy.

Usage: python benchmarks/instrumentation_cost.py [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_evals import _task_run  # pyright: ignore[reportPrivateUsage]


class Verdict(BaseModel):
    score: int
    label: str


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})])
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {'score': 1, 'label': 'ok'})])


agent = Agent(FunctionModel(respond), output_type=Verdict)


@agent.tool_plain
async def lookup(key: str) -> str:
    return key.upper()


async def runs(n: int, *, scoped: bool) -> None:
    async def one() -> None:
        if scoped:
            with _task_run.run_task():
                await agent.run('hello')
        else:
            await agent.run('hello')

    await asyncio.gather(*(one() for _ in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()

    sdk = TracerProvider()
    trace.set_tracer_provider(sdk)
    variants: dict[str, tuple[InstrumentationSettings | bool, bool]] = {
        'bare': (False, False),
        'noop': (InstrumentationSettings(tracer_provider=NoOpTracerProvider(), include_content=True), False),
        'sdk': (InstrumentationSettings(tracer_provider=sdk, include_content=True), False),
        'sdk+scope': (InstrumentationSettings(tracer_provider=sdk, include_content=True), True),
    }

    def timed(name: str) -> Callable[[], float]:
        instrument, scoped = variants[name]

        def run() -> float:
            Agent.instrument_all(instrument)
            t0 = time.perf_counter()
            asyncio.run(runs(args.runs, scoped=scoped))
            return time.perf_counter() - t0

        return run

    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for name in variants:
        timed(name)()  # warm-up
    for _ in range(args.rounds):
        for name in variants:
            rounds[name].append(timed(name)())
    base = statistics.median(rounds['bare'])
    print(f'{args.runs} concurrent agent runs (one tool call, structured output), median of {args.rounds} rounds:')
    for name, times in rounds.items():
        t = statistics.median(times)
        print(f'  {name:10s} {t / args.runs * 1000:5.2f} ms/run  {t / base:.2f}x bare')


if __name__ == '__main__':
    main()
