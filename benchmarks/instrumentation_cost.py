"""What pydantic-ai's instrumentation costs one agent run, layer by layer, measured side by side in one process.

The same agent (one tool call, then a structured output; FunctionModel; no latency) runs N times concurrently:
  bare        instrumentation off;
  noop        instrumented, with a no-op tracer provider (pydantic-ai's instrumentation capability alone);
  capture     instrumented with capture's tracer provider, each run inside a capture scope: what the plugin does
              for every run that needs no real spans;
  hooks       instrumentation off; the agent carries a capability (`wrap_run`, `wrap_model_request`,
              `wrap_tool_execute`) that records what capture records: the nesting of runs, requests and tools,
              start and end times, tool names, arguments and truncated results, each request's usage, model, cost
              and newest input; each run inside the same task structure as `capture`, into a scope of its own;
  hooks-sub   instrumented with the no-op tracer provider, but the agent carries the same hooks as a subclass of
              pydantic-ai's `Instrumentation` capability: pydantic-ai then injects no instrumentation of its own
              into that agent (asserted: an SDK provider receives no span from it), so the hooks are all it pays;
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
import contextvars
import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.capabilities import AbstractCapability, Instrumentation
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler, WrapRunHandler, WrapToolExecuteHandler
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import RunContext, ToolDefinition
from pydantic_core import to_json

from pytest_agentarch import _compat
from pytest_agentarch.run import capture


class Verdict(BaseModel):
    score: int
    label: str


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})])
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {'score': 1, 'label': 'ok'})])


class Node:
    """One agent run, model request or tool execution, as the hooks see it."""

    __slots__ = ('attributes', 'children', 'end_ns', 'failed', 'kind', 'name', 'start_ns')

    def __init__(self, kind: str, name: str, attributes: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.attributes = attributes
        self.children: list[Node] = []
        self.start_ns = time.time_ns()
        self.end_ns = self.start_ns
        self.failed = False


_PARENT: contextvars.ContextVar[Node | None] = contextvars.ContextVar('bench_parent', default=None)


def _open(kind: str, name: str, attributes: dict[str, Any]) -> tuple[Node, contextvars.Token[Node | None]]:
    node = Node(kind, name, attributes)
    parent = _PARENT.get()
    if parent is not None:
        parent.children.append(node)
    return node, _PARENT.set(node)


def _close(node: Node, token: contextvars.Token[Node | None]) -> None:
    node.end_ns = time.time_ns()
    _PARENT.reset(token)


def _newest_input(messages: list[ModelMessage]) -> dict[str, Any]:
    """The latest prompt and the tool results since the model's last response, truncated (as capture keeps)."""
    prompt = ''
    results: list[str] = []
    for message in reversed(messages):
        if isinstance(message, ModelResponse):
            break
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    prompt = part.content[-200:]
                elif isinstance(part, ToolReturnPart):
                    results.append(f'{part.tool_name}: {part.model_response_str()}'[:200])
    return {'prompt': prompt, 'tool_results': results}


class HookCapture(AbstractCapability[Any]):
    """Records runs, model requests and tool executions into the current scope's tree."""

    async def wrap_run(self, ctx: RunContext[Any], *, handler: WrapRunHandler) -> AgentRunResult[Any]:
        name = (ctx.agent.name if ctx.agent else None) or 'agent'
        node, token = _open('agent', name, {})
        try:
            return await handler()
        except BaseException:
            node.failed = True
            raise
        finally:
            _close(node, token)

    async def wrap_model_request(
        self, ctx: RunContext[Any], *, request_context: ModelRequestContext, handler: WrapModelRequestHandler
    ) -> ModelResponse:
        node, token = _open('chat', 'chat', _newest_input(request_context.messages))
        try:
            response = await handler(request_context)
        except BaseException:
            node.failed = True
            raise
        finally:
            _close(node, token)
        # pydantic-ai has priced the response already (`usage.cost`, None when genai-prices does not know the model).
        usage = response.usage
        node.attributes.update(
            model=response.model_name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=None if usage.cost is None else float(usage.cost),
        )
        return response

    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: dict[str, Any],
        handler: WrapToolExecuteHandler,
    ) -> Any:
        node, token = _open('tool', call.tool_name, {'arguments': call.args_as_json_str()})
        try:
            result = await handler(args)
        except BaseException:
            node.failed = True
            raise
        finally:
            _close(node, token)
        node.attributes['result'] = (result if isinstance(result, str) else to_json(result, fallback=repr).decode())[
            :200
        ]
        return result


def make_agent(capabilities: list[AbstractCapability[Any]] | None = None) -> Agent[None, Verdict]:
    built = Agent(FunctionModel(respond), output_type=Verdict, capabilities=capabilities)

    @built.tool_plain
    async def lookup(key: str) -> str:
        return key.upper()

    return built


agent = make_agent()
hooked = make_agent([HookCapture()])


class InstrumentationHooks(Instrumentation):
    """`HookCapture` as an `Instrumentation` subclass: agents that carry it get no injected instrumentation."""

    async def for_run(self, ctx: RunContext[Any]) -> Instrumentation:
        return self

    wrap_run = HookCapture.wrap_run  # type: ignore[assignment]
    wrap_model_request = HookCapture.wrap_model_request  # type: ignore[assignment]
    wrap_tool_execute = HookCapture.wrap_tool_execute  # type: ignore[assignment]

    async def wrap_output_process(self, ctx: RunContext[Any], *, output_context: Any, output: Any, handler: Any) -> Any:
        return await handler(output)

    async def on_tool_validate_error(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: Any, error: Any
    ) -> Any:
        raise error


hooked_sub = make_agent([InstrumentationHooks(settings=InstrumentationSettings(tracer_provider=NoOpTracerProvider()))])


async def runs(n: int, *, scope: str) -> None:
    async def one() -> None:
        if scope in ('hooks', 'hooks-sub'):
            root = Node('run', 'run', {})
            with capture.task_structure():
                token = _PARENT.set(root)
                try:
                    await (hooked if scope == 'hooks' else hooked_sub).run('hello')
                finally:
                    _PARENT.reset(token)
            assert [c.kind for c in root.children[0].children] == ['chat', 'tool', 'chat'], root.children
        elif scope == 'spans':
            with _compat.reported(), _compat.span_tree_scope():
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

    checked = TracerProvider()
    exported = InMemorySpanExporter()
    checked.add_span_processor(SimpleSpanProcessor(exported))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=checked))
    asyncio.run(runs(2, scope='hooks-sub'))
    assert not exported.get_finished_spans(), 'pydantic-ai injected its instrumentation beside the subclass'
    asyncio.run(runs(2, scope=''))
    assert exported.get_finished_spans(), 'the SDK provider received no span at all'

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
        'hooks': (False, 'hooks'),
        'hooks-sub': (InstrumentationSettings(tracer_provider=NoOpTracerProvider(), include_content=True), 'hooks-sub'),
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
