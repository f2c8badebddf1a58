"""Capture: turn the pydantic-ai activity inside one run into a call tree and usage figures.

pydantic-ai has one public hook that reaches every agent without its author's cooperation: the `Instrumentation`
capability that `Agent.instrument_all()` injects into every run. It wraps agent runs, model requests and tool
executions, and reports them through the OpenTelemetry tracer API. Capture gives it a tracer of its own
(`CaptureTracerProvider`): each span it is asked for becomes a node of the current run's tree, with the asyncio
task structure it started in, and only model-request and tool spans say they are recording (so pydantic-ai fills in
usage, cost, model name, the request's input and tool results, of which capture keeps truncated tails, and skips
serializing agent runs' whole message histories). Real OpenTelemetry spans are
built only in runs that need them (`RunCapture(spans=True)`): a user's own tracer provider exporting them, or an
evaluator that queries the span tree for something capture does not synthesize. The tracer then starts a real
span for every node and records the node beside it.

Concurrency is read from task structure, never from timestamps: `task_structure()` puts a task factory on the
running loop that tells each new task which task created it and whether siblings it created earlier were still
pending (then they ran concurrently: one group). A node records the task frame it started in, and
`trajectory.Call.path` is the chain of those frames between a call and its parent call.

Orchestration code that calls a tool itself goes through `call_tool`, which records the call the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import inspect
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import INVALID_SPAN_CONTEXT, Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue
from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_core import from_json, to_json

from .. import _compat
from ..core.records import CONTEXT_CHARS, RESULT_CHARS, ModelRequestRecord, RequestContext, clip
from ..core.trajectory import Call

__all__ = (
    'Capture',
    'CaptureTracerProvider',
    'RunCapture',
    'call_tool',
    'capture_run',
    'from_span_tree',
    'install',
    'task_structure',
    'uninstall',
)

_TRACER_NAME = 'pytest_agentarch'
_EPOCH = datetime(1970, 1, 1).astimezone()
_ONE_MICRO = datetime(1970, 1, 1, 0, 0, 0, 1) - datetime(1970, 1, 1)

# Structure attributes written on real spans (and on synthesized ones), so `from_span_tree` rebuilds the same steps
# from a span tree as capture builds directly.
ATTR_ORDER = 'pytest_agentarch.order'
ATTR_PATH = 'pytest_agentarch.path'
ATTR_BATCH = 'pytest_agentarch.batch'

_EVENTS = itertools.count(1)
"""One counter for node starts and task creations: orders sequential siblings and concurrent groups alike."""


# ------------------------------------------------------------------------------------------------ task structure


class _Frame:
    """The asyncio task a node started in, as seen from the task that created it."""

    __slots__ = ('call', 'children', 'group', 'lane', 'open_group', 'open_tasks', 'parent', 'task')

    def __init__(self, parent: _Frame | None, group: int, lane: int) -> None:
        self.parent = parent
        self.task: asyncio.Future[Any] | None = None
        """The task (None for a run's own frame)."""
        self.children: list[_Frame] = []
        """Frames of the tasks this task created, in creation order."""
        self.call: Any = None
        """The request layer's answer to which tool call this task runs (`capture_requests`); None: not asked yet."""
        self.group = group
        """Event number of the first task of the concurrent group this task belongs to."""
        self.lane = lane
        """Event number of this task's creation."""
        self.open_group = 0
        """The group tasks created by this task join while one of `open_tasks` is pending."""
        self.open_tasks: list[asyncio.Future[Any]] = []


_FRAME: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar('pytest_agentarch_frame', default=None)


def _child_frame(creator: _Frame) -> _Frame:
    lane = next(_EVENTS)
    # A task created while a sibling created earlier by the same task is still pending runs concurrently with it,
    # whatever either does once scheduled: no task runs before its creator yields, so this reads code structure.
    if not any(not t.done() for t in creator.open_tasks):
        creator.open_group = lane
        creator.open_tasks = []
    return _Frame(creator, creator.open_group, lane)


class _TaskFactory:
    """A loop task factory that gives every task created inside a run a `_Frame` in its own context."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.users = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        creator = _FRAME.get()
        if creator is None:
            return self._create(loop, coro, kwargs)
        given: contextvars.Context | None = kwargs.pop('context', None)
        # A copy, so an explicit context shared with other tasks keeps its own frame.
        ctx = given.copy() if given is not None else contextvars.copy_context()
        frame = _child_frame(creator)
        ctx.run(_FRAME.set, frame)
        task = self._create(loop, coro, {**kwargs, 'context': ctx})
        creator.open_tasks.append(task)
        frame.task = task
        creator.children.append(frame)
        return task

    def _create(self, loop: asyncio.AbstractEventLoop, coro: Any, kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        if self.previous is not None:
            return self.previous(loop, coro, **kwargs)  # type: ignore[no-any-return]
        return asyncio.Task(coro, loop=loop, **kwargs)


@contextmanager
def task_structure() -> Iterator[None]:
    """Record which tasks are created concurrently on the running loop while the block runs (nests; re-entrant).

    Chains to a task factory the loop already had, and puts it back when the last user leaves.
    """
    loop = asyncio.get_running_loop()
    current = loop.get_task_factory()
    factory = current if isinstance(current, _TaskFactory) else _TaskFactory(current)
    if factory is not current:
        loop.set_task_factory(factory)
    factory.users += 1
    try:
        yield
    finally:
        factory.users -= 1
        if factory.users == 0 and loop.get_task_factory() is factory:
            loop.set_task_factory(factory.previous)


# ------------------------------------------------------------------------------------------------ run capture


Kind = Literal['agent', 'tool', 'chat', 'other']


class _Node:
    """One span of a run, recorded without OpenTelemetry's SDK."""

    __slots__ = (
        'anchor',
        'attributes',
        'batch',
        'children',
        'context',
        'end_ns',
        'failed',
        'frame',
        'kind',
        'name',
        'order',
        'parent',
        'requests',
        'result',
        'span_id',
        'start_ns',
        'top',
    )

    def __init__(self, name: str, kind: Kind, attributes: dict[str, Any], parent: _Node | None) -> None:
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.parent = parent
        # The nearest enclosing agent run or tool call: what the node's structure is relative to.
        self.anchor: _Node | None = parent if parent is None or parent.kind in ('agent', 'tool') else parent.anchor
        self.children: list[_Node] = []
        self.order = next(_EVENTS)
        self.span_id = self.order
        self.frame = _FRAME.get()
        self.top = self.anchor.frame if self.anchor is not None else _ROOT_FRAME.get()
        self.start_ns = time.time_ns()
        self.end_ns = self.start_ns
        self.failed = False
        self.requests = 0
        self.batch: int | None = None
        self.result: str | None = None
        """A tool's result as JSON, truncated (`RESULT_CHARS`)."""
        self.context: RequestContext | None = None
        """A model request's new input, truncated (`request_context`)."""
        if kind == 'tool' and self.anchor is not None and self.anchor.kind == 'agent':
            # Tools of one model response all start after it and before the agent's next request.
            self.batch = self.anchor.requests
        elif kind == 'chat' and self.anchor is not None:
            self.anchor.requests += 1

    def path(self) -> tuple[tuple[int, int], ...]:
        """The `(group, lane)` frames between the anchor's task and this node's task (see `Call.path`)."""
        top = self.top
        pairs: list[tuple[int, int]] = []
        frame = self.frame
        while frame is not None and frame is not top:
            pairs.append((frame.group, frame.lane))
            frame = frame.parent
        # A frame that is no descendant of the anchor's (a span carried into an unrelated task): treat as direct.
        return tuple(reversed(pairs)) if frame is top else ()

    def structure_attributes(self) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {ATTR_ORDER: self.order, ATTR_PATH: json.dumps(self.path())}
        if self.batch is not None:
            attrs[ATTR_BATCH] = self.batch
        return attrs


_ROOT_FRAME: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar('pytest_agentarch_root', default=None)


@dataclass(kw_only=True)
class RunCapture:
    """What one run is recording; `capture_run` makes it current for the code inside the run."""

    spans: bool = False
    """Also build real OpenTelemetry spans (exported by the global tracer provider, seen by pydantic-evals)."""
    roots: list[_Node] = field(default_factory=list[_Node])
    """Top-level nodes, in start order."""
    agents: int = 0
    tools: int = 0
    requests: int = 0
    layer: Any = None
    """The model-request layer recording the run (`capture_requests`), or None when spans record it."""

    @property
    def observed(self) -> int:
        """How many agent runs, model requests and tool calls happened (zero: nothing was captured)."""
        return self.agents + self.tools + self.requests

    def result(self) -> Capture:
        """The call tree and model requests of the run."""
        capture = Capture(agents=self.agents, tools=self.tools, spans=self.observed)
        chats: list[_Node] = []

        def build(nodes: Iterable[_Node], out: list[Call]) -> None:
            for node in nodes:
                if node.kind == 'chat':
                    chats.append(node)
                    build(node.children, out)
                elif node.kind == 'tool' and 'pydantic_ai.tool.deferral.name' not in node.attributes:
                    call = Call(
                        kind='tool',
                        name=str(node.attributes.get('gen_ai.tool.name', node.name)),
                        start=node.start_ns // 1000,
                        end=node.end_ns // 1000,
                        args=_decode(node.attributes.get('gen_ai.tool.call.arguments')),
                        batch=node.batch,
                        order=node.order,
                        path=node.path(),
                        failed=node.failed,
                        result=node.result,
                        call_id=_text(node.attributes.get('gen_ai.tool.call.id')),
                    )
                    out.append(call)
                    build(node.children, call.children)
                elif node.kind == 'agent':
                    call = Call(
                        kind='agent',
                        name=str(node.attributes.get('gen_ai.agent.name') or ''),
                        start=node.start_ns // 1000,
                        end=node.end_ns // 1000,
                        order=node.order,
                        path=node.path(),
                    )
                    out.append(call)
                    build(node.children, call.children)
                else:
                    build(node.children, out)

        build(self.roots, capture.calls)
        capture.requests = [
            replace(_request_record(n.attributes, (n.end_ns - n.start_ns) / 1e9), order=n.order, context=n.context)
            for n in chats
        ]
        return capture

    def span_tree(self) -> Any:
        """The run as a pydantic-evals `SpanTree` with the names and attributes pydantic-ai gives its spans.

        Enough for evaluators that read agent, model-request and tool spans (`ToolCorrectness`, `TrajectoryMatch`,
        `ArgumentCorrectness`, `MaxToolCalls`, `MaxModelRequests`, `TrajectorySteps`) without real spans.
        """
        from pydantic_evals.otel import SpanNode, SpanTree

        spans: list[SpanNode] = []

        def add(nodes: Iterable[_Node]) -> None:
            for n in nodes:
                attributes: dict[str, Any] = {**n.attributes, **n.structure_attributes()}
                spans.append(
                    SpanNode(
                        name=n.name,
                        trace_id=1,
                        span_id=n.span_id,
                        parent_span_id=n.parent.span_id if n.parent is not None else None,
                        start_timestamp=_datetime(n.start_ns),
                        end_timestamp=_datetime(n.end_ns),
                        attributes=attributes,
                        status='error' if n.failed else 'unset',
                    )
                )
                add(n.children)

        add(self.roots)
        tree = SpanTree()
        tree.add_spans(spans)
        return tree


_CURRENT: contextvars.ContextVar[RunCapture | None] = contextvars.ContextVar('pytest_agentarch_capture', default=None)


@contextmanager
def capture_run(run: RunCapture) -> Iterator[RunCapture]:
    """Record into `run` everything agents and `call_tool` do inside the block (task-local: concurrent runs in one
    event loop never mix; tasks started inside inherit it). Enter it in the task that runs the code."""
    frame = _Frame(_FRAME.get(), 0, next(_EVENTS))
    tokens = (_CURRENT.set(run), _FRAME.set(frame), _ROOT_FRAME.set(frame))
    try:
        yield run
    finally:
        _ROOT_FRAME.reset(tokens[2])
        _FRAME.reset(tokens[1])
        _CURRENT.reset(tokens[0])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _request_record(attrs: Mapping[str, Any], duration: float) -> ModelRequestRecord:
    cost = attrs.get('operation.cost')
    return ModelRequestRecord(
        model=str(attrs.get('gen_ai.response.model') or attrs.get('gen_ai.request.model')),
        input_tokens=int(attrs.get('gen_ai.usage.input_tokens', 0) or 0),
        output_tokens=int(attrs.get('gen_ai.usage.output_tokens', 0) or 0),
        cost=float(cost) if isinstance(cost, int | float) else None,
        duration=duration,
    )


_MAX_RESULTS = 8
"""Tool results kept per request context (the first ones of the new input)."""


def request_context(messages: str, instructions: Any = None) -> RequestContext | None:
    """What a model request newly showed the model, truncated: the tail of its instructions, of the latest user prompt
    and the tool results since the model's last response, from pydantic-ai's `gen_ai.input.messages` JSON.

    Only the messages after the last assistant message are parsed when they can be found, so the cost stays that of
    the new input however long the history grows. None when the JSON is not what pydantic-ai writes.
    """
    # Inside JSON strings every quote is escaped, so this text can only match a message object itself.
    start = messages.rfind('{"role":"assistant"')
    try:
        tail: Any = from_json('[' + messages[start:] if start > 0 else messages)
        text: Any = from_json(instructions) if isinstance(instructions, str) else []
    except ValueError:
        return None
    if not isinstance(tail, list):
        return None
    prompt = ''
    results: list[str] = []
    for message in tail[1:] if start > 0 else tail:
        if not isinstance(message, dict) or message.get('role') == 'assistant':
            continue
        for part in message.get('parts') or ():
            if not isinstance(part, dict):
                continue
            if part.get('type') == 'text' and isinstance(part.get('content'), str):
                prompt = part['content']
            elif part.get('type') == 'tool_call_response' and len(results) < _MAX_RESULTS:
                result = part.get('result')
                shown = result if isinstance(result, str) else to_json(result, fallback=repr).decode()
                results.append(clip(f'{part.get("name")}: {shown}', RESULT_CHARS))
    joined = (
        ' '.join(p['content'] for p in text if isinstance(p, dict) and isinstance(p.get('content'), str))
        if isinstance(text, list)
        else ''
    )
    return RequestContext(
        instructions=clip(joined, CONTEXT_CHARS, tail=True),
        prompt=clip(prompt, CONTEXT_CHARS, tail=True),
        tool_results=results,
    )


def _kind(name: str, attributes: Mapping[str, Any]) -> Kind:
    operation = attributes.get('gen_ai.operation.name')
    if operation == 'chat':
        return 'chat'
    if operation == 'invoke_agent' or name.startswith('invoke_agent'):
        return 'agent'
    if isinstance(attributes.get('gen_ai.tool.name'), str):
        msg = attributes.get('logfire.msg')
        if not (isinstance(msg, str) and msg.startswith('running output function')):
            return 'tool'
    return 'other'


# ------------------------------------------------------------------------------------------------ tracer


_CONTENT_ATTRIBUTES = frozenset(
    {
        'gen_ai.input.messages',
        'gen_ai.output.messages',
        'gen_ai.system_instructions',
        'model_request_parameters',
        'pydantic_ai.all_messages',
        'final_result',
        'gen_ai.tool.call.result',
    }
)
"""Message content pydantic-ai puts on recording spans: no synthesized-span reader needs it, so nodes drop it."""


class _CaptureSpan(Span):
    """A span that records into a run's node, and forwards to a real span when the run builds real ones."""

    def __init__(self, node: _Node, real: Span | None) -> None:
        self._node = node
        self._real = real
        self._ended = False

    def end(self, end_time: int | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._node.end_ns = time.time_ns()
        if self._real is not None:
            self._real.end(end_time)

    def get_span_context(self) -> SpanContext:
        return self._real.get_span_context() if self._real is not None else INVALID_SPAN_CONTEXT

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        node = self._node
        kept = node.attributes
        for key, value in attributes.items():
            if key not in _CONTENT_ATTRIBUTES:
                kept[key] = value
        messages = attributes.get('gen_ai.input.messages')
        if node.kind == 'chat' and isinstance(messages, str):
            context = request_context(messages, attributes.get('gen_ai.system_instructions'))
            anchor = node.anchor
            if context is not None and anchor is not None:
                # A request after tool calls shows no prompt of its own: the agent's prompt is still what it answers.
                if not context.prompt and anchor.context is not None:
                    context = replace(context, prompt=anchor.context.prompt)
                anchor.context = context
            node.context = context
        if self._real is not None:
            self._real.set_attributes(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if key not in _CONTENT_ATTRIBUTES:
            self._node.attributes[key] = value
        elif key == 'gen_ai.tool.call.result' and self._node.kind == 'tool':
            self._node.result = clip(str(value), RESULT_CHARS)
        if self._real is not None:
            self._real.set_attribute(key, value)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        if self._real is not None:
            self._real.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if self._real is not None:
            self._real.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self._node.name = name
        if self._real is not None:
            self._real.update_name(name)

    def is_recording(self) -> bool:
        # Recording is what makes pydantic-ai compute a span's attributes. Model requests carry what capture needs
        # after the start (usage, cost, response model, the input a truncated context is kept of) and tools their
        # result (kept truncated); agent runs' whole message histories are skipped.
        return self._node.kind in ('chat', 'tool') or (self._real is not None and self._real.is_recording())

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        code = status.status_code if isinstance(status, Status) else status
        if code is StatusCode.ERROR:
            self._node.failed = True
        if self._real is not None:
            self._real.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        if self._real is not None:
            self._real.record_exception(exception, attributes, timestamp, escaped)


class _CaptureTracer(trace.Tracer):
    """Records spans started inside a captured run; outside any run, it is its delegate (or does nothing)."""

    def __init__(self, delegate: trace.Tracer | None, instrumenting_module_name: str, version: str | None) -> None:
        self._delegate = delegate
        self._module = instrumenting_module_name
        self._version = version
        self._global: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def _real_tracer(self) -> trace.Tracer:
        if self._delegate is not None:
            return self._delegate
        # The global provider is looked up at span time: a user may configure logfire after the session starts.
        provider = trace.get_tracer_provider()
        if self._global is None or self._global[0] is not provider:
            self._global = (provider, provider.get_tracer(self._module, self._version))
        return self._global[1]

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        run = _CURRENT.get()
        if run is None:
            if self._delegate is None:
                return trace.NonRecordingSpan(INVALID_SPAN_CONTEXT)
            return self._delegate.start_span(
                name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
            )
        if run.layer is not None and self._module != _TRACER_NAME:
            # The request layer records this run; instrumentation installed for another run must not add to it.
            return trace.NonRecordingSpan(INVALID_SPAN_CONTEXT)
        attrs = dict(attributes or {})
        parent_span = trace.get_current_span(context)
        parent = parent_span._node if isinstance(parent_span, _CaptureSpan) else None
        if run.layer is not None:
            # No agent or tool span is open where the request layer records: it knows which tool call runs here.
            parent = run.layer.parent_of(parent)
        node = _Node(name, _kind(name, attrs), attrs, parent)
        (parent.children if parent is not None else run.roots).append(node)
        if node.kind == 'agent':
            run.agents += 1
        elif node.kind == 'tool':
            run.tools += 1
        elif node.kind == 'chat':
            run.requests += 1
        real = None
        if run.spans:
            attrs.update(node.structure_attributes())
            real = self._real_tracer().start_span(
                name, context, kind, attrs, links, start_time, record_exception, set_status_on_exception
            )
        return _CaptureSpan(node, real)

    # OpenTelemetry's own return type is a private context manager class; a plain one does the same job.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class CaptureTracerProvider(trace.TracerProvider):
    """The tracer provider capture hands pydantic-ai's instrumentation (see the module docstring).

    `delegate` is the tracer that real spans go to; None means the global tracer provider's, looked up at span time.
    """

    def __init__(self, delegate: trace.Tracer | None = None) -> None:
        self._delegate = delegate

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return _CaptureTracer(self._delegate, instrumenting_module_name, instrumenting_library_version)


# ------------------------------------------------------------------------------------------------ installation


@dataclass(kw_only=True)
class _Installed:
    previous: InstrumentationSettings | bool
    ours: InstrumentationSettings


_INSTALLED: _Installed | None = None


def _instrument_default() -> InstrumentationSettings | bool:
    return _compat.instrument_default()


def install() -> None:
    """Make every agent run report to capture (idempotent; `uninstall` puts back what was there).

    Builds on whatever `Agent.instrument_all()` holds instead of replacing it: with a user's own settings (logfire's
    `instrument_pydantic_ai()`, say), capture's are a copy of them whose tracer records and then forwards to theirs,
    so their spans, content policy and metrics are unchanged. With none, capture's settings record content (tool
    arguments) and no metrics, and real spans go to the global tracer provider only in runs that build them.
    """
    global _INSTALLED
    current = _instrument_default()
    if _INSTALLED is not None and current is _INSTALLED.ours:
        return
    if isinstance(current, InstrumentationSettings) and isinstance(current.tracer, _CaptureTracer):
        # Capture's own settings, put back by someone who saved them: wrapping them again would record twice.
        if _INSTALLED is None:
            _INSTALLED = _Installed(previous=False, ours=current)
        return
    if isinstance(current, InstrumentationSettings):
        ours = copy.copy(current)
        ours.tracer = _CaptureTracer(current.tracer, 'pydantic-ai', None)
    elif current:
        ours = InstrumentationSettings(tracer_provider=CaptureTracerProvider())
    else:
        # Content for tool arguments; no request parameters (serialized per request, read by nobody here).
        ours = InstrumentationSettings(
            tracer_provider=CaptureTracerProvider(),
            meter_provider=NoOpMeterProvider(),
            include_content=True,
            include_model_request_parameters=False,
        )
    _INSTALLED = _Installed(previous=current, ours=ours)
    Agent.instrument_all(ours)


def uninstall() -> None:
    """Put back the instrumentation settings that were there before `install` (if nobody changed them since)."""
    global _INSTALLED
    if _INSTALLED is not None and _instrument_default() is _INSTALLED.ours:
        Agent.instrument_all(_INSTALLED.previous)
    _INSTALLED = None


_OWN_PROVIDER: Any = None


def exporting() -> bool:
    """A tracer provider someone else configured (logfire, an OTel SDK set-up) is in place: runs build real spans."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider) and provider is not _OWN_PROVIDER


def ensure_sdk_provider() -> None:
    """Install an OpenTelemetry SDK tracer provider if none is configured (pydantic-evals collects spans there)."""
    global _OWN_PROVIDER
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        from opentelemetry.sdk.trace import TracerProvider

        _OWN_PROVIDER = TracerProvider()
        trace.set_tracer_provider(_OWN_PROVIDER)


# ------------------------------------------------------------------------------------------------ call_tool


async def call_tool(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call a tool function from orchestration code so the call is recorded like an agent's tool call.

    Works with sync and async functions (a sync one runs in a worker thread, as pydantic-ai runs sync tools).
    Calls awaited together under `asyncio.gather` (or started as tasks while the others are pending) count as one
    concurrent step of the trajectory; calls awaited one after another are sequential steps.
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
    with _TRACER.start_as_current_span(f'execute_tool {name}', attributes=attributes) as span:
        if inspect.iscoroutinefunction(func):
            result = await func(*args, **kwargs)
        else:
            result = await asyncio.to_thread(functools.partial(func, *args, **kwargs))
            if inspect.isawaitable(result):
                result = await result
        if span.is_recording():
            span.set_attribute('gen_ai.tool.call.result', to_json(result, fallback=repr).decode())
        return result


_TRACER = _CaptureTracer(None, _TRACER_NAME, None)


# ------------------------------------------------------------------------------------------------ span trees


@dataclass(kw_only=True)
class Capture:
    """What one run did: its call tree and model requests."""

    calls: list[Call] = field(default_factory=list[Call])
    """Top-level agent runs and tool calls of the run, with their nested calls."""
    requests: list[ModelRequestRecord] = field(default_factory=list[ModelRequestRecord])
    """Model requests in start order."""
    agents: int = 0
    """Agent runs."""
    tools: int = 0
    """Tool calls."""
    spans: int = 0
    """Agent runs, model requests and tool calls seen (zero means nothing was captured); other spans don't count."""


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _ONE_MICRO


def _decode(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _path_attr(raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, str):
        return ()
    try:
        return tuple((int(g), int(lane)) for g, lane in json.loads(raw))
    except (ValueError, TypeError):
        return ()


def from_span_tree(roots: Iterable[Any]) -> Capture:
    """Build a run's call tree and request list from pydantic-evals `SpanNode` roots.

    Spans capture built (real or synthesized) carry their structure as attributes; spans from elsewhere have none,
    and then siblings are sequential in start order, except tools asked for by one model response.
    """
    capture = Capture()
    requests: list[tuple[int, ModelRequestRecord]] = []

    def walk(nodes: Iterable[Any], parent_agent: Any | None, out: list[Call]) -> None:
        for node in nodes:
            attrs = node.attributes
            kind = _kind(node.name, attrs)
            if kind == 'chat' and 'gen_ai.request.model' in attrs:
                capture.spans += 1
                requests.append((_micros(node.start_timestamp), _request_record(attrs, node.duration.total_seconds())))
                walk(node.children, parent_agent, out)
            elif kind == 'tool' and 'pydantic_ai.tool.deferral.name' not in attrs:
                capture.spans += 1
                capture.tools += 1
                start = _micros(node.start_timestamp)
                batch = attrs.get(ATTR_BATCH)
                if batch is None and ATTR_ORDER not in attrs and parent_agent is not None:
                    batch = sum(
                        1
                        for c in parent_agent.children
                        if _kind(c.name, c.attributes) == 'chat' and _micros(c.start_timestamp) < start
                    )
                order = attrs.get(ATTR_ORDER)
                call = Call(
                    kind='tool',
                    name=str(attrs['gen_ai.tool.name']),
                    start=start,
                    end=_micros(node.end_timestamp),
                    args=_decode(attrs.get('gen_ai.tool.call.arguments')),
                    batch=int(batch) if isinstance(batch, int) else None,
                    order=int(order) if isinstance(order, int) else None,
                    path=_path_attr(attrs.get(ATTR_PATH)),
                    failed=node.status == 'error',
                )
                out.append(call)
                walk(node.children, None, call.children)
            elif kind == 'agent':
                capture.spans += 1
                capture.agents += 1
                order = attrs.get(ATTR_ORDER)
                call = Call(
                    kind='agent',
                    name=str(attrs.get('gen_ai.agent.name') or attrs.get('agent_name') or ''),
                    start=_micros(node.start_timestamp),
                    end=_micros(node.end_timestamp),
                    order=int(order) if isinstance(order, int) else None,
                    path=_path_attr(attrs.get(ATTR_PATH)),
                )
                out.append(call)
                walk(node.children, node, call.children)
            else:
                walk(node.children, parent_agent, out)

    walk(roots, None, capture.calls)
    capture.requests = [r for _, r in sorted(requests, key=lambda pair: pair[0])]
    return capture
