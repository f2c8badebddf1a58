"""Capture: turn the pydantic-ai activity inside one run into a call tree and usage figures.

pydantic-ai's OpenTelemetry instrumentation is the single source: every agent run, model request and tool
execution becomes a span, with nesting and timing, across nested agents and concurrent runs in one event loop.
pydantic-evals' span-based evaluators (`HasMatchingSpan`, `ToolCorrectness`, `TrajectoryMatch`...) read the
same spans, so capturing them once serves both. Orchestration code that calls a tool itself goes through
`call_tool`, which records the call with the span shape pydantic-ai uses.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from opentelemetry import trace
from pydantic_core import to_json

from .records import ModelRequestRecord
from .trajectory import Call

__all__ = ('Capture', 'call_tool', 'ensure_instrumentation', 'from_span_tree')

T = TypeVar('T')

_TRACER_NAME = 'pytest_agentarch'
_EPOCH = datetime(1970, 1, 1).astimezone()


def ensure_instrumentation() -> None:
    """Make sure agent activity produces spans we can read.

    Installs an OpenTelemetry SDK tracer provider when none is configured (a user's logfire or OTel setup is kept
    as it is) and switches on pydantic-ai instrumentation with message content, which carries tool arguments.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(TracerProvider())
    Agent.instrument_all(InstrumentationSettings(include_content=True))


async def call_tool(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call a tool function from orchestration code so the call is recorded like an agent's tool call.

    Works with sync and async functions (a sync one runs in a worker thread, as pydantic-ai runs sync tools).
    Calls awaited together under `asyncio.gather` count as one concurrent step of the trajectory.
    """
    name = getattr(func, '__name__', None) or type(func).__name__
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
        arguments: Any = dict(bound.arguments)
    except (TypeError, ValueError):
        arguments = {'args': list(args), **kwargs}
    attributes = {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': name,
        'gen_ai.tool.call.id': f'agentarch_{uuid.uuid4().hex}',
        'gen_ai.tool.call.arguments': to_json(arguments, fallback=repr).decode(),
        'logfire.msg': f'running tool: {name}',
    }
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(f'execute_tool {name}', attributes=attributes) as span:
        # Yield once so that calls gathered together are all in flight before the first one finishes.
        await asyncio.sleep(0)
        if inspect.iscoroutinefunction(func):
            result = await func(*args, **kwargs)
        else:
            result = await asyncio.to_thread(functools.partial(func, *args, **kwargs))
            if inspect.isawaitable(result):
                result = await result
        span.set_attribute('gen_ai.tool.call.result', to_json(result, fallback=repr).decode())
        return result


@dataclass(kw_only=True)
class Capture:
    """What one run did, extracted from its spans."""

    calls: list[Call] = field(default_factory=list[Call])
    """Top-level agent runs and tool calls of the run, with their nested calls."""
    requests: list[ModelRequestRecord] = field(default_factory=list[ModelRequestRecord])
    """Model requests in start order."""
    spans: int = 0
    """How many spans the run produced (zero means nothing was captured)."""


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _ONE_MICRO


_ONE_MICRO = datetime(1970, 1, 1, 0, 0, 0, 1) - datetime(1970, 1, 1)


def _is_agent(node: Any) -> bool:
    return node.attributes.get('gen_ai.operation.name') == 'invoke_agent' or node.name.startswith('invoke_agent')


def _is_chat(node: Any) -> bool:
    return node.attributes.get('gen_ai.operation.name') == 'chat' and 'gen_ai.request.model' in node.attributes


def _is_tool(node: Any) -> bool:
    if not isinstance(node.attributes.get('gen_ai.tool.name'), str):
        return False
    if 'pydantic_ai.tool.deferral.name' in node.attributes:
        return False
    msg = node.attributes.get('logfire.msg')
    return not (isinstance(msg, str) and msg.startswith('running output function'))


def _decode(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def from_span_tree(roots: Iterable[Any]) -> Capture:
    """Build a run's call tree and request list from pydantic-evals `SpanNode` roots."""
    capture = Capture()
    requests: list[tuple[int, ModelRequestRecord]] = []

    def walk(nodes: Iterable[Any], parent_agent: Any | None, out: list[Call]) -> None:
        for node in nodes:
            capture.spans += 1
            if _is_chat(node):
                attrs = node.attributes
                cost = attrs.get('operation.cost')
                requests.append(
                    (
                        _micros(node.start_timestamp),
                        ModelRequestRecord(
                            model=str(attrs.get('gen_ai.response.model') or attrs.get('gen_ai.request.model')),
                            input_tokens=int(attrs.get('gen_ai.usage.input_tokens', 0) or 0),
                            output_tokens=int(attrs.get('gen_ai.usage.output_tokens', 0) or 0),
                            cost=float(cost) if isinstance(cost, int | float) else None,
                            duration=node.duration.total_seconds(),
                        ),
                    )
                )
                walk(node.children, parent_agent, out)
            elif _is_tool(node):
                start = _micros(node.start_timestamp)
                batch = None
                if parent_agent is not None:
                    batch = sum(1 for c in parent_agent.children if _is_chat(c) and _micros(c.start_timestamp) < start)
                call = Call(
                    kind='tool',
                    name=str(node.attributes['gen_ai.tool.name']),
                    start=start,
                    end=_micros(node.end_timestamp),
                    args=_decode(node.attributes.get('gen_ai.tool.call.arguments')),
                    batch=batch,
                    failed=node.status == 'error',
                )
                out.append(call)
                walk(node.children, None, call.children)
            elif _is_agent(node):
                call = Call(
                    kind='agent',
                    name=str(node.attributes.get('gen_ai.agent.name') or node.attributes.get('agent_name') or ''),
                    start=_micros(node.start_timestamp),
                    end=_micros(node.end_timestamp),
                )
                out.append(call)
                walk(node.children, node, call.children)
            else:
                walk(node.children, parent_agent, out)

    walk(roots, None, capture.calls)
    capture.requests = [r for _, r in sorted(requests, key=lambda pair: pair[0])]
    return capture
