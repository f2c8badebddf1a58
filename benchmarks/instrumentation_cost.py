"""What pydantic-ai's instrumentation costs one agent run, layer by layer, measured side by side in one process.

The same agent (one tool call, then a structured output; FunctionModel; no latency) runs N times concurrently:
  bare        instrumentation off;
  noop        instrumented, with a no-op tracer provider (pydantic-ai's instrumentation capability alone);
  capture     instrumented with capture's tracer provider, each run inside a capture scope: what the plugin does
              for every run that needs no real spans;
  sdk         instrumented, with an OpenTelemetry SDK tracer provider (spans are created and ended);
  sdk+scope   the same, each run inside a scope that collects the run's spans into a pydantic-evals span tree:
              what the plugin did for every run before capture had its own tracer.
Rounds are interleaved and the median round is reported (CPU time of the process: the runs are CPU-bound, and
this machine is shared and noisy).

Usage: python benchmarks/instrumentation_cost.py [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings

from pytest_agentarch import _evals, capture


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


async def runs(n: int, *, scope: str) -> None:
    async def one() -> None:
        if scope == 'spans':
            with _evals.reported(), _evals.span_tree_scope():
                await agent.run('hello')
        elif scope == 'capture':
            with capture.task_structure(), capture.capture_run(capture.RunCapture()) as run:
                await agent.run('hello')
            run.result()
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
    variants: dict[str, tuple[InstrumentationSettings | bool, str]] = {
        'bare': (False, ''),
        'noop': (InstrumentationSettings(tracer_provider=NoOpTracerProvider(), include_content=True), ''),
        'capture': (
            InstrumentationSettings(
                tracer_provider=capture.CaptureTracerProvider(),
                meter_provider=NoOpMeterProvider(),
                include_content=True,
            ),
            'capture',
        ),
        'sdk': (InstrumentationSettings(tracer_provider=sdk, include_content=True), ''),
        'sdk+scope': (InstrumentationSettings(tracer_provider=sdk, include_content=True), 'spans'),
    }

    def timed(name: str) -> Callable[[], float]:
        instrument, scope = variants[name]

        def run() -> float:
            Agent.instrument_all(instrument)
            t0 = time.process_time()
            asyncio.run(runs(args.runs, scope=scope))
            return time.process_time() - t0

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
