"""Capture at the model-request layer: a run's call tree from the requests and responses of the model it was given.

The runner hands every architecture its model; wrapped in `CapturingModel`, that model sees every request an agent
using it makes, the tool calls each response asks for, and (in the agent's next request) what each call returned or
that it asked the model to retry. From those it builds the same nodes capture's tracer builds from pydantic-ai's
instrumentation spans (`capture._Node`), so `RunCapture.result()` and `RunCapture.span_tree()` turn them into the same
call tree, canonical trajectories, requests and usage, while pydantic-ai runs without the instrumentation capability.

What each span of the span path becomes here:

| span path | request layer |
| --- | --- |
| agent run span | the first request carrying a new `ModelRequest.run_id` |
| model request span | one `request` / `request_stream` call (usage, model, cost from the response) |
| tool span (start attributes) | each function-tool call of a response (`ModelRequestParameters.function_tools`) |
| tool span result or retry status | the `ToolReturnPart` / `RetryPromptPart` answering it in the agent's next request |
| nesting under a tool | the asyncio task pydantic-ai runs the tool call in (named for the tool; task structure) |

Concurrency and order come from the same task structure (`capture.task_structure`) and event counter as on the span
path. Orchestration code's `call_tool` is recorded by capture's own tracer, whose parent lookup asks `parent_of`.

The layer sees only agents that use the model they were given. `probe` answers, once per architecture and process,
whether an architecture does: its first run goes through the span path with the layer counting requests beside it,
and the architecture's later runs use the layer only if it saw every model request the spans saw.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_core import to_json

from .._compat import return_retry
from ..core.records import CONTEXT_CHARS, RESULT_CHARS, RequestContext, clip
from . import capture
from .capture import _EVENTS, _FRAME, _ROOT_FRAME, RunCapture, _Frame, _Node

__all__ = ('VERDICTS', 'CapturingModel', 'Path', 'Verdicts', 'capture_requests', 'decide', 'path_for', 'probe', 'wrap')

Path = Literal['requests', 'spans']
"""Which capture built a run's record: the model-request layer, or pydantic-ai's instrumentation spans."""

_MAX_RESULTS = 8
"""Tool results kept per request context (as on the span path)."""


@dataclass(kw_only=True)
class _Agent:
    """One agent run seen through its requests."""

    node: _Node
    batch: dict[str, _Node] = field(default_factory=dict[str, _Node])
    """Tool calls of the latest response not yet answered, by tool call id."""
    batch_event: int = 0
    """Event counter when the latest response arrived: the tasks running its tool calls were created after it."""
    batch_has_output: bool = False
    """The latest response also called an output tool (then, by default, its function tools do not run)."""


class _Layer:
    """The request layer's state for one run: its agent runs by run id."""

    __slots__ = ('agents', 'run')

    def __init__(self, run: RunCapture) -> None:
        self.run = run
        self.agents: dict[str, _Agent] = {}

    # ---------------------------------------------------------------------------------------------- requests

    def begin(self, messages: list[ModelMessage], model_name: str) -> tuple[_Agent, _Node]:
        request = messages[-1] if messages and isinstance(messages[-1], ModelRequest) else None
        run_id = request.run_id if request is not None and request.run_id else None
        agent = self.agents.get(run_id) if run_id is not None else None
        if agent is None:
            parent = self.parent_of(None)
            node = _Node('invoke_agent', 'agent', {'gen_ai.operation.name': 'invoke_agent'}, parent)
            (parent.children if parent is not None else self.run.roots).append(node)
            self.run.agents += 1
            agent = _Agent(node=node)
            self.agents[run_id if run_id is not None else f'anonymous-{node.order}'] = agent
        elif request is not None:
            self._settle(agent, request)
        attributes = {'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model_name}
        chat = _Node(f'chat {model_name}', 'chat', attributes, agent.node)
        agent.node.children.append(chat)
        self.run.requests += 1
        chat.context = _request_context(messages, agent.node.context)
        if chat.context is not None:
            agent.node.context = chat.context
        return agent, chat

    def end(self, agent: _Agent, chat: _Node, response: ModelResponse, params: ModelRequestParameters) -> None:
        now = time.time_ns()
        chat.end_ns = now
        agent.node.end_ns = now
        attrs = chat.attributes
        if response.model_name:
            attrs['gen_ai.response.model'] = response.model_name
        attrs['gen_ai.usage.input_tokens'] = response.usage.input_tokens
        attrs['gen_ai.usage.output_tokens'] = response.usage.output_tokens
        cost = _price(response)
        if cost is not None:
            attrs['operation.cost'] = cost
        tools = {t.name for t in params.function_tools}
        outputs = {t.name for t in params.output_tools}
        agent.batch = {}
        agent.batch_event = next(_EVENTS)
        agent.batch_has_output = False
        for part in response.parts:
            if not isinstance(part, ToolCallPart):
                continue
            if part.tool_name in outputs:
                agent.batch_has_output = True
            if part.tool_name not in tools:
                continue
            node = _Node(
                f'execute_tool {part.tool_name}',
                'tool',
                {
                    'gen_ai.operation.name': 'execute_tool',
                    'gen_ai.tool.name': part.tool_name,
                    'gen_ai.tool.call.id': part.tool_call_id,
                    'gen_ai.tool.call.arguments': part.args_as_json_str(),
                    'logfire.msg': f'running tool: {part.tool_name}',
                },
                agent.node,
            )
            # The task the call runs in is not known yet: `_tool_of` finds it when something nests under the call.
            node.frame = None
            agent.node.children.append(node)
            self.run.tools += 1
            agent.batch[part.tool_call_id] = node

    def fail(self, chat: _Node) -> None:
        chat.end_ns = time.time_ns()
        chat.failed = True

    def _settle(self, agent: _Agent, request: ModelRequest) -> None:
        """Close the latest response's tool calls with what the agent's next request says about them."""
        now = time.time_ns()
        rejected: list[_Node] = []
        for part in request.parts:
            if not isinstance(part, ToolReturnPart | RetryPromptPart) or part.tool_call_id not in agent.batch:
                continue
            node = agent.batch.pop(part.tool_call_id)
            node.end_ns = now
            if isinstance(part, RetryPromptPart):
                node.failed = True
                node.result = clip(part.model_response(), RESULT_CHARS)
                continue
            node.failed = part.outcome in ('retried', 'failed')
            node.result = clip(part.model_response_str(wrap_if_error=False), RESULT_CHARS)
            if (retry := return_retry(part)) is not None and retry.cause == 'validation_error':
                rejected.append(node)
        # A call the next request does not answer did not run (its response's output ended the agent's turn).
        for node in agent.batch.values():
            self._drop(agent, node)
        agent.batch = {}
        if rejected:
            # pydantic-ai validates a response's calls before it runs any: the span path sees the rejected ones first.
            calls = [n for n in agent.node.children if n.kind == 'tool' and n.batch == rejected[0].batch]
            orders = sorted(n.order for n in calls)
            ranked = [*rejected, *(n for n in calls if n not in rejected)]
            for node, order in zip(ranked, orders, strict=True):
                node.order = node.span_id = order

    def _drop(self, agent: _Agent, node: _Node) -> None:
        agent.node.children.remove(node)
        self.run.tools -= 1

    def finish(self) -> None:
        """Settle what no further request answered: calls of a response that also gave the output did not run
        (pydantic-ai's default end strategy); others ran (the run ended inside them) and keep no result."""
        now = time.time_ns()
        for agent in self.agents.values():
            for node in list(agent.batch.values()):
                if agent.batch_has_output:
                    self._drop(agent, node)
                else:
                    node.end_ns = max(node.end_ns, now)
            agent.batch = {}

    # ---------------------------------------------------------------------------------------------- nesting

    def parent_of(self, span_parent: _Node | None) -> _Node | None:
        """The innermost call open where this code runs: a tool call whose task runs it, or `span_parent` (the
        current `call_tool` span), whichever started later."""
        root = _ROOT_FRAME.get()
        frame = _FRAME.get()
        found: _Node | None = None
        while frame is not None and frame is not root:
            found = self._tool_of(frame)
            if found is not None:
                break
            frame = frame.parent
        if found is None or (span_parent is not None and span_parent.order > found.order):
            return span_parent
        return found

    def _tool_of(self, frame: _Frame) -> _Node | None:
        """The tool call `frame`'s task runs, if pydantic-ai started that task for one (cached on the frame)."""
        if frame.call is not None:
            return frame.call if isinstance(frame.call, _Node) else None
        frame.call = False
        task = frame.task
        creator = frame.parent
        if task is None or creator is None:
            return None
        name = _name(task)
        best: tuple[int, _Agent] | None = None
        for agent in self.agents.values():
            if not any(n.attributes['gen_ai.tool.name'] == name for n in agent.batch.values()):
                continue
            # pydantic-ai runs a response's tool calls in tasks its agent run creates: the agent's nearest frame
            # among the task's ancestors tells concurrent agents with tools of one name apart.
            distance = _distance(agent.node.frame, frame)
            if distance is not None and (best is None or distance < best[0]):
                best = (distance, agent)
        if best is None:
            return None
        agent = best[1]
        # Tool tasks are created in the order of the response's calls: the k-th task named for a tool runs the k-th
        # call of that name.
        siblings = [
            f for f in creator.children if f.lane > agent.batch_event and f.task is not None and _name(f.task) == name
        ]
        calls = [n for n in agent.batch.values() if n.attributes['gen_ai.tool.name'] == name]
        if frame not in siblings:
            return None
        k = siblings.index(frame)
        if k >= len(calls):
            return None
        node = calls[k]
        node.frame = frame
        frame.call = node
        return node


def _name(task: Any) -> str | None:
    get_name = getattr(task, 'get_name', None)
    return get_name() if callable(get_name) else None


def _distance(ancestor: _Frame | None, frame: _Frame) -> int | None:
    """How many levels above `frame` a frame sharing `ancestor`'s parent sits, or None if none does."""
    if ancestor is None:
        return None
    target = ancestor.parent
    steps = 0
    current: _Frame | None = frame
    while current is not None:
        if current is target:
            return steps
        current = current.parent
        steps += 1
    return None


_UNPRICED: set[tuple[str | None, str | None, str | None]] = set()
"""(model, provider, provider URL) genai-prices has no price for: looking them up again costs as much every request."""


def _price(response: ModelResponse) -> float | None:
    key = (response.model_name, response.provider_name, response.provider_url)
    if key in _UNPRICED:
        return None
    try:
        return float(response.cost().total_price)
    except LookupError:
        _UNPRICED.add(key)
        return None
    except (ValueError, AssertionError):
        return None


def _shown(content: Any) -> str:
    return content if isinstance(content, str) else to_json(content, fallback=repr).decode()


def _request_context(messages: list[ModelMessage], previous: RequestContext | None) -> RequestContext | None:
    """What the request newly shows the model, as the span path reads it from `gen_ai.input.messages`: the tail of
    its instructions, of the latest prompt text and the tool results since the model's last response."""
    start = 0
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], ModelResponse):
            start = i + 1
            break
    prompt = ''
    results: list[str] = []
    for message in messages[start:]:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart | SystemPromptPart):
                if isinstance(part.content, str):
                    prompt = part.content
            elif isinstance(part, ToolReturnPart) and len(results) < _MAX_RESULTS:
                results.append(clip(f'{part.tool_name}: {_shown(part.content)}', RESULT_CHARS))
            elif isinstance(part, RetryPromptPart):
                if part.tool_name is None:
                    prompt = part.model_response()
                elif len(results) < _MAX_RESULTS:
                    results.append(clip(f'{part.tool_name}: {part.model_response()}', RESULT_CHARS))
    last = messages[-1] if messages else None
    instructions = last.instructions if isinstance(last, ModelRequest) and last.instructions else ''
    if not prompt and previous is not None:
        # A request after tool calls shows no prompt of its own: the agent's prompt is still what it answers.
        prompt = previous.prompt
    return RequestContext(
        instructions=clip(instructions, CONTEXT_CHARS, tail=True),
        prompt=clip(prompt, CONTEXT_CHARS, tail=True),
        tool_results=results,
    )


# ------------------------------------------------------------------------------------------------ the model


class _Probe:
    """Requests the layer saw in a probe run (the span path records the run)."""

    __slots__ = ('requests',)

    def __init__(self) -> None:
        self.requests = 0


_PROBE: contextvars.ContextVar[_Probe | None] = contextvars.ContextVar('pytest_agentarch_probe', default=None)


def _layer() -> _Layer | None:
    run = capture._CURRENT.get()  # pyright: ignore[reportPrivateUsage]
    layer = run.layer if run is not None else None
    return layer if isinstance(layer, _Layer) else None


class CapturingModel(WrapperModel):
    """The model an architecture is given: records each request into the current run's request-layer capture
    (`capture_requests`), and passes everything else through unchanged."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        layer = _layer()
        if layer is None:
            if (probe := _PROBE.get()) is not None:
                probe.requests += 1
            return await self.wrapped.request(messages, model_settings, model_request_parameters)
        agent, chat = layer.begin(messages, self.model_name)
        try:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        except BaseException:
            layer.fail(chat)
            raise
        layer.end(agent, chat, response, model_request_parameters)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        layer = _layer()
        if layer is None:
            if (probe := _PROBE.get()) is not None:
                probe.requests += 1
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
            return
        agent, chat = layer.begin(messages, self.model_name)
        try:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
        except BaseException:
            layer.fail(chat)
            raise
        layer.end(agent, chat, stream.get(), model_request_parameters)


_WRAPPED: dict[int, CapturingModel] = {}


def wrap(model: Model) -> Model:
    """`model` as the request layer sees it (one wrapper per model, kept for the process)."""
    if isinstance(model, CapturingModel):
        return model
    found = _WRAPPED.get(id(model))
    if found is None or found.wrapped is not model:
        found = _WRAPPED[id(model)] = CapturingModel(model)
    return found


@contextmanager
def capture_requests(run: RunCapture) -> Iterator[RunCapture]:
    """Record into `run`, at the model-request layer, what agents using a `CapturingModel` do inside the block (and
    what `call_tool` does); enter it where `capture.capture_run` would be entered."""
    layer = _Layer(run)
    run.layer = layer
    with capture.capture_run(run):
        try:
            yield run
        finally:
            layer.finish()


# ------------------------------------------------------------------------------------------------ the probe


@dataclass(kw_only=True)
class Verdicts:
    """Which capture each architecture's runs take in this process, decided by its first run (`probe`)."""

    paths: dict[Any, Path] = field(default_factory=dict[Any, Path])
    """By architecture function (names may be reused, by tests above all; the code is what decides)."""

    def path(self, architecture: Any) -> Path | None:
        """The decided path, or None before the architecture's first run."""
        return self.paths.get(architecture)


@contextmanager
def probe() -> Iterator[_Probe]:
    """Count, beside the span path, the requests the layer sees inside the block."""
    counter = _Probe()
    token = _PROBE.set(counter)
    try:
        yield counter
    finally:
        _PROBE.reset(token)


VERDICTS = Verdicts()
"""This process's verdicts (an architecture's code is the same in every run of a session)."""


def path_for(architecture: Any, *, spans: bool) -> Path | None:
    """The capture for a run of `architecture`: `spans` where real spans are needed (a tracer provider exporting
    them, an evaluator querying them), else the architecture's verdict, or None when its first run is still to
    decide it (`probe`)."""
    if spans:
        return 'spans'
    return VERDICTS.path(architecture)


def decide(architecture: Any, *, seen: int, spans: RunCapture) -> Path:
    """Record the verdict of a probe run: the layer saw every model request the spans saw (`seen`), so the
    architecture's agents use the model they are given, or it did not, and its runs keep the span path."""
    path: Path = 'requests' if seen == spans.requests else 'spans'
    VERDICTS.paths[architecture] = path
    return path
