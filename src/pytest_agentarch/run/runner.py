"""Run one case N times, concurrently, each run inside its own capture scope, and judge it.

One run is four steps, each a function: `execute` (the architecture's call inside the run's scopes), `captured_record`
(what the capture and the request layer's counters say: requests, tokens, cost), `canonicalize` (the trajectory's
canonical forms) and `judge` (the case's evaluators); `run_once` chains them.

Each run is captured (`capture.capture_run`), with its task structure recorded, inside a scope that collects what
the code reports with `increment_eval_metric` / `set_eval_attribute`. Evaluators run through pydantic-evals' public
`run_evaluators`, on a context like the one `Dataset.evaluate` builds: the span tree is synthesized from the capture,
or collected from real spans when an evaluator needs more than agent, model-request and tool spans.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.models import Model
from pydantic_core import to_jsonable_python
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import EvaluationResult, Evaluator, EvaluatorContext
from pydantic_evals.online import run_evaluators
from pydantic_evals.otel import SpanTree, SpanTreeRecordingError

from .. import _compat
from ..core.records import Assertion, ModelRequestRecord, RunRecord, ToolCallRecord, recorded_latency
from ..core.trajectory import (
    Call,
    flat_call_steps,
    flat_steps,
    normalize_args,
    render,
    render_tools,
    shape,
    shape_with_args,
)
from . import capture, capture_requests, sides, tracing
from .context import RunCounters, RunInfo, run_scope
from .errors import classify
from .evaluators import SpanUse, expected_steps_of, span_use
from .outputs import check_output
from .registry import Architecture
from .tracebacks import folded_traceback

__all__ = (
    'CaptureError',
    'CaseSpec',
    'EvaluatorInfrastructureError',
    'Execution',
    'RunSettings',
    'Verdicts',
    'canonicalize',
    'captured_record',
    'execute',
    'judge',
    'run_case',
    'run_once',
)


@dataclass(kw_only=True)
class RunSettings:
    """How runs are executed and recorded; one per session."""

    runs: int = 1
    concurrency: int = 20
    """Runs of one case in flight at once."""
    timeout: float | None = None
    """Seconds per run; a run past it fails with `TimeoutError`."""
    seed: int = 0
    arg_mask: Sequence[re.Pattern[str]] = ()
    """Argument keys masked in level-2 trajectories (fullmatch on the dotted key path)."""
    output_fields: Sequence[str] = ()
    """Output fields compared for output agreement; empty compares the whole output."""
    model: str = ''
    """Label of the model the runs use (the model spec), for the run's identity (`RunInfo.model`)."""
    dataset: str | None = None
    """Dataset of the cases run with these settings, for the run's identity (`RunInfo.dataset`)."""
    stop: Callable[[], str | None] | None = None
    """Asked before each run starts: a reason (a budget reached) means the run is not started."""
    judge: Model | None = None
    """The session's judge model (`--agentarch-judge-model`), entered around a case's runs like the run's model."""


@dataclass(kw_only=True)
class CaseSpec:
    """One case to run: inputs, expectations and evaluators."""

    name: str
    inputs: Any
    expected_output: Any = None
    metadata: Any = None
    evaluators: Sequence[Evaluator[Any, Any, Any]] = field(default_factory=tuple)
    expected_steps: list[list[str]] | None = None
    """Expected unordered steps of tool names, used to focus the flattened steps on the tools it names."""
    spans: SpanUse = field(init=False)
    """What the evaluators read of a run's spans, decided once from their classes (`evaluators.span_use`)."""

    def __post_init__(self) -> None:
        self.spans = span_use(self.evaluators)

    @classmethod
    def from_dataset(cls, case: Case[Any, Any, Any], dataset: Dataset[Any, Any, Any]) -> CaseSpec:
        """A pydantic-evals case, judged by its own evaluators and then the dataset's."""
        evaluators = [*case.evaluators, *dataset.evaluators]
        return cls(
            name=str(case.name),
            inputs=case.inputs,
            expected_output=case.expected_output,
            metadata=case.metadata,
            evaluators=evaluators,
            expected_steps=expected_steps_of(evaluators),
        )


def _output_key(output: Any, fields: Sequence[str]) -> str:
    from pydantic_core import to_json

    data = to_jsonable_python(output, fallback=repr)
    if fields and isinstance(data, dict):
        data = {f: data.get(f) for f in fields}
    return to_json(data, fallback=repr).decode() if not isinstance(data, str) else data


def _flatten_calls(
    calls: Sequence[Call],
    mask: Sequence[re.Pattern[str]],
    index: dict[int, int] | None = None,
    reasons: Mapping[str, str] | None = None,
) -> list[ToolCallRecord]:
    """Tool calls in start order; `index` receives each call's position in the list (by `id`)."""
    out: list[ToolCallRecord] = []
    positions = {} if index is None else index

    def walk(level: Sequence[Call]) -> None:
        for c in sorted(level, key=lambda c: c.order if c.order is not None else c.start):
            if c.kind == 'tool':
                positions[id(c)] = len(out)
                out.append(
                    ToolCallRecord(
                        name=c.name,
                        args=normalize_args(c.args, mask=mask),
                        failed=c.failed,
                        result=c.result,
                        order=c.order if c.order is not None else c.start,
                        why=reasons.get(c.call_id) if reasons and c.call_id else None,
                    )
                )
            walk(c.children)

    walk(calls)
    return out


def _metrics_of(requests: Sequence[ModelRequestRecord]) -> dict[str, int | float]:
    """The metrics pydantic-evals derives from a run's model-request spans, from the captured requests."""
    metrics: dict[str, int | float] = {'requests': len(requests)} if requests else {}
    for name in ('input_tokens', 'output_tokens'):
        total = sum(getattr(r, name) for r in requests)
        if total:
            metrics[name] = total
    cost = sum(r.cost for r in requests if r.cost is not None)
    if cost:
        metrics['cost'] = cost
    return metrics


class EvaluatorInfrastructureError(Exception):
    """An evaluator failed because the model it calls (a judge) could not be reached: not the run's fault."""


def _guarded(evaluator: Evaluator[Any, Any, Any]) -> Evaluator[Any, Any, Any]:
    """A shallow copy of `evaluator` whose infrastructure failures (`errors.classify`) raise
    `EvaluatorInfrastructureError`, so that they can be told from evaluator bugs in pydantic-evals' failures, which
    keep only the exception's type name and text. The user's evaluator object is left as it was."""
    original = evaluator.evaluate_async

    async def evaluate_async(ctx: EvaluatorContext[Any, Any, Any]) -> Any:
        try:
            return await original(ctx)
        except Exception as exc:
            if classify(exc) == 'infrastructure':
                raise EvaluatorInfrastructureError(f'{type(exc).__name__}: {exc}') from exc
            raise

    clone = copy.copy(evaluator)
    try:
        # An instance attribute shadows the method that `run_evaluator` looks up on the evaluator.
        object.__setattr__(clone, 'evaluate_async', evaluate_async)
    except (AttributeError, TypeError):  # an evaluator with __slots__: its failures all count as evaluator errors
        return evaluator
    return clone


@dataclass(kw_only=True)
class Verdicts:
    """What a run's evaluators said."""

    assertions: list[Assertion]
    errors: list[str]
    """Outcome evaluators that raised (a bug, a bad value): they fail the run."""
    infrastructure: list[str]
    """Evaluators whose model could not be reached: the run is not judged on them (see `RunRecord.unjudged`)."""
    path_errors: list[str] = field(default_factory=list[str])
    """Path evaluators that raised: the run does not conform."""


async def _judge(evaluators: Sequence[Evaluator[Any, Any, Any]], ctx: EvaluatorContext[Any, Any, Any]) -> Verdicts:
    # Judged in two groups so that each result is known to come from an outcome or a path evaluator (pydantic-evals'
    # results name the evaluator, not the object).
    outcome, path = sides.split_by_side(evaluators)
    verdicts = Verdicts(assertions=[], errors=[], infrastructure=[])
    groups: tuple[tuple[sides.Side, list[Evaluator[Any, Any, Any]]], ...] = (('outcome', outcome), ('path', path))
    for side, group in groups:
        if not group:
            continue
        results, failures = await run_evaluators([_guarded(e) for e in group], ctx)
        verdicts.assertions += [_assertion(r, side) for r in results]
        for f in failures:
            if f.error_type == EvaluatorInfrastructureError.__name__:
                message = f.error_message.removeprefix(f'{EvaluatorInfrastructureError.__name__}: ')
                verdicts.infrastructure.append(f'{f.name} could not reach its model: {message}')
            else:
                (verdicts.errors if side == 'outcome' else verdicts.path_errors).append(
                    f'{f.name} raised {f.error_message}'
                )
    return verdicts


def _assertion(r: EvaluationResult[Any], side: sides.Side) -> Assertion:
    value = r.value if isinstance(r.value, bool | int | float | str) else str(r.value)
    return Assertion(name=r.name, value=value, reason=r.reason, side=side)


@contextmanager
def _real_spans(enabled: bool) -> Iterator[SpanTree | SpanTreeRecordingError | None]:
    if not enabled:
        yield None
        return
    with _compat.span_tree_scope() as tree:
        yield tree


@dataclass(kw_only=True)
class Execution:
    """What executing one run left behind, before anything is made of it."""

    output: Any = None
    """What the architecture returned (None when it raised)."""
    error: BaseException | None = None
    """What it raised, or the run's timeout."""
    duration: float
    """Seconds from start to end of the architecture's call."""
    counters: RunCounters
    """Model-request attempts, retries and time waited, charged to the run by the request layer."""
    run: capture.RunCapture
    """The run's capture scope (what it observed, and the spans it can synthesize)."""
    captured: capture.Capture
    """What it captured: the tree of agent runs and tool calls, and the model requests."""
    reported: _compat.Reported
    """What the run reported with `increment_eval_metric` / `set_eval_attribute`."""
    real_tree: SpanTree | SpanTreeRecordingError | None
    """The run's real spans, when the run recorded them (`RunCapture.spans`)."""
    path: capture_requests.Path
    """Which capture recorded the run."""


async def run_once(arch: Architecture, model: Model, case: CaseSpec, index: int, settings: RunSettings) -> RunRecord:
    """One run: execute the architecture inside a capture scope, turn the capture into a record, canonicalize its
    trajectory, then judge it."""
    info = RunInfo(
        session_seed=settings.seed,
        case=case.name,
        architecture=arch.name,
        index=index,
        model=settings.model,
        dataset=settings.dataset,
    )
    execution = await execute(arch, model, case, info, settings)
    record = captured_record(execution, index)
    record.path_checked = any(sides.side_of(e) == 'path' for e in case.evaluators)
    canonicalize(record, execution.captured.calls, case, settings, execution.counters.reasons)
    error = execution.error
    if error is None and execution.run.observed == 0:
        error = CaptureError(
            'nothing was captured: no agent run, model request or tool call happened inside the run. '
            'Pass the `model` argument to your agents, and call tools from orchestration code through '
            'pytest_agentarch.call_tool'
        )
    if error is not None:
        record.error_type = type(error).__name__
        record.error_message = str(error)[:2000]
        record.error_traceback = folded_traceback(error)
        record.error_kind = classify(error)
        return record
    record.output = to_jsonable_python(execution.output, fallback=repr)
    record.output_key = _output_key(execution.output, settings.output_fields)
    if case.evaluators:
        await judge(record, execution, case, info)
    return record


async def execute(arch: Architecture, model: Model, case: CaseSpec, info: RunInfo, settings: RunSettings) -> Execution:
    """Run the architecture once on the case's inputs, inside the run's scopes: its identity and counters, its
    capture, what it reports, and its real spans where they are needed. Never raises what the run raised."""
    evaluator_spans = case.spans == 'all'
    if evaluator_spans:
        capture.ensure_sdk_provider()
    run = capture.RunCapture(spans=evaluator_spans or capture.exporting())
    # The model-request layer records the run unless real spans are needed or the architecture's agents were seen
    # not to use the model they are given; None: this run decides it (see `capture_requests`).
    path = capture_requests.path_for(arch.func, spans=run.spans)
    if path == 'requests':
        capture.uninstall()
    else:
        capture.install()
    given = model if path == 'spans' else capture_requests.wrap(model)
    output: Any = None
    error: BaseException | None = None
    # Only an expiry of this scope is the run's timeout; a TimeoutError the architecture raised is its own.
    deadline = asyncio.timeout(settings.timeout)
    t0 = time.perf_counter()
    counters = RunCounters()
    # Where spans are exported, the run's spans hang under a root naming the run; opened before pydantic-evals'
    # span-tree scope, so the tree evaluators query holds the run's own spans only.
    root = tracing.run_span(info) if capture.exporting() else nullcontext()
    with (
        run_scope(info, counters),
        root,
        _compat.reported() as reported,
        _real_spans(run.spans) as real_tree,
        capture.task_structure(),
        capture_requests.capture_requests(run) if path == 'requests' else capture.capture_run(run),
        capture_requests.probe() if path is None else nullcontext() as probe,
    ):
        try:
            # Entered here too (run_case already holds it; entering nests) so that a run started on its own event
            # loop, like the memory probe's, also closes the client it opened: see run_case.
            async with given, deadline:
                output = await arch.func(case.inputs, given)
        except TimeoutError as exc:
            error = TimeoutError(f'run exceeded --agentarch-timeout={settings.timeout}s') if deadline.expired() else exc
            if error is not exc:  # the expired scope's traceback shows what the run was waiting on
                error.__cause__ = exc
        except Exception as exc:
            error = exc
        else:
            error = check_output(arch, output)
    if probe is not None:
        capture_requests.decide(arch.func, seen=probe.requests, spans=run)
    return Execution(
        output=output,
        error=error,
        duration=time.perf_counter() - t0,
        counters=counters,
        run=run,
        captured=run.result(),
        reported=reported,
        real_tree=real_tree,
        path='requests' if path == 'requests' else 'spans',
    )


def captured_record(execution: Execution, index: int) -> RunRecord:
    """The run's record as far as its capture and counters say: model requests, tokens, cost, attempts, waits and
    what the run reported (pydantic-evals' span-derived metrics are in the record's own fields)."""
    counters = execution.counters
    requests = execution.captured.requests
    costs = [r.cost for r in requests]
    return RunRecord(
        index=index,
        duration=execution.duration,
        recorded_latency=recorded_latency(counters.replayed),
        attempts=counters.attempts,
        retries=counters.retries,
        waited=counters.waited,
        faults=dict(counters.faults),
        model_requests=requests,
        requests=len(requests),
        input_tokens=sum(r.input_tokens for r in requests),
        output_tokens=sum(r.output_tokens for r in requests),
        cost=sum(c for c in costs if c is not None) if None not in costs else None,
        metrics={k: float(v) for k, v in execution.reported.metrics.items()},
        capture=execution.path,
    )


def canonicalize(
    record: RunRecord,
    calls: Sequence[Call],
    case: CaseSpec,
    settings: RunSettings,
    reasons: Mapping[str, str] | None = None,
) -> None:
    """The run's trajectory in every canonical form the statistics compare: tool names, steps, steps with
    normalized arguments, the flattened steps the case expects, and the tool calls in start order (each with the
    model's reason for it, from `reasons` by call id, when the model gave one)."""
    record.trajectory_tools = render_tools(calls)
    record.trajectory = render(shape(calls))
    record.trajectory_args = render(shape_with_args(calls, mask=settings.arg_mask))
    keep = {n for step in case.expected_steps for n in step} if case.expected_steps else None
    record.steps = flat_steps(calls, keep=keep)
    positions: dict[int, int] = {}
    record.tool_calls = _flatten_calls(calls, settings.arg_mask, positions, reasons)
    record.flow = [sorted(positions[id(c)] for c in step) for step in flat_call_steps(calls)]


async def judge(record: RunRecord, execution: Execution, case: CaseSpec, info: RunInfo) -> None:
    """The case's evaluators on the run's output, on the context `Dataset.evaluate` would build; their verdicts and
    the spend of their own model requests go into `record`."""
    span_tree: SpanTree | SpanTreeRecordingError
    if execution.real_tree is not None:
        span_tree = execution.real_tree
    elif case.spans == 'agent':
        span_tree = execution.run.span_tree()
    else:
        # No evaluator of the case reads spans: synthesizing a tree would be wasted work.
        span_tree = SpanTreeRecordingError('no evaluator of this case reads spans, so none were kept')
    # As in `Dataset.evaluate`: what the run reported, plus what pydantic-evals derives from its spans.
    derived = (
        _compat.derived_metrics(span_tree)
        if isinstance(span_tree, SpanTree)
        else _metrics_of(execution.captured.requests)
    )
    metrics: dict[str, int | float] = dict(execution.reported.metrics)
    for k, v in derived.items():
        metrics[k] = metrics.get(k, 0) + v
    ctx = _compat.evaluator_context(
        name=case.name,
        inputs=case.inputs,
        metadata=case.metadata,
        expected_output=case.expected_output,
        output=execution.output,
        duration=execution.duration,
        span_tree=span_tree,
        attributes=execution.reported.attributes,
        metrics=metrics,
    )
    # Evaluators run after the run's capture scope has closed, in a capture scope of their own: a judge's model
    # requests never reach the run's trajectory, requests, tokens or cost, and are counted apart as its
    # evaluation spend. The run's identity is current again (without its counters) so that a judge's requests
    # are recorded and replayed under the run they judged.
    judging = capture.RunCapture(spans=capture.exporting())
    with (
        run_scope(info),
        capture_requests.capture_requests(judging) if execution.path == 'requests' else capture.capture_run(judging),
    ):
        verdicts = await _judge(case.evaluators, ctx)
    record.assertions = verdicts.assertions
    record.evaluator_errors = verdicts.errors
    record.path_errors = verdicts.path_errors
    record.evaluator_infra_errors = verdicts.infrastructure
    judge_requests = judging.result().requests
    if judge_requests:
        judge_costs = [r.cost for r in judge_requests]
        record.judge_requests = len(judge_requests)
        record.judge_input_tokens = sum(r.input_tokens for r in judge_requests)
        record.judge_output_tokens = sum(r.output_tokens for r in judge_requests)
        record.judge_cost = sum(c for c in judge_costs if c is not None) if None not in judge_costs else None


class CaptureError(Exception):
    """Nothing observable happened inside a run: no agent run, model request or tool call."""


class _Interrupted(Exception):
    """Carries a KeyboardInterrupt or SystemExit raised inside a run to `run_case`'s own task, which raises it."""


async def run_case(
    arch: Architecture,
    model: Model,
    case: CaseSpec,
    settings: RunSettings,
    *,
    finished: list[RunRecord] | None = None,
    on_finish: Callable[[RunRecord], None] | None = None,
    start: int = 0,
    count: int | None = None,
    indexes: Sequence[int] | None = None,
) -> list[RunRecord]:
    """The runs of `case`, at most `settings.concurrency` at once, ordered by index: all `settings.runs` of them,
    unless `settings.stop` gives a reason not to start one (the runs already in flight finish; the rest are left out).

    `start` and `count` run a batch instead: the indexes start..start+count-1 (a run's randomness depends on its index,
    so batches of a sequential item take the runs one call with every index would). Each record is also appended to
    `finished` as soon as its run is judged, so a caller interrupted halfway still holds the runs that completed, and
    passed to `on_finish` (progress counts runs as they end).
    `indexes` runs exactly those runs instead (a shard's share of the case, `core.shards`).
    """
    semaphore = asyncio.Semaphore(max(1, settings.concurrency))
    sink = finished if finished is not None else []
    interrupts: list[BaseException] = []

    async def guarded(index: int) -> RunRecord | None:
        async with semaphore:
            if interrupts or (settings.stop is not None and settings.stop() is not None):
                return None
            try:
                record = await run_once(arch, model, case, index, settings)
            except (KeyboardInterrupt, SystemExit) as exc:
                # Raised from a run's task, it would leave the event loop twice: at once, then from this coroutine's
                # task while asyncio.run cancels the others; the loop would close with callbacks still queued, among
                # them AnyIO's stopping of its worker threads (sync tools run there), whose idle threads would then
                # keep the interpreter from exiting. Raised once, from this coroutine's task, the callbacks run; and
                # no run starts after it.
                interrupts.append(exc)
                raise _Interrupted(exc) from None
        sink.append(record)
        if on_finish is not None:
            on_finish(record)
        return record

    # Each item runs its case in an event loop of its own (`asyncio.run`), and a provider's HTTP connections belong
    # to the loop that opened them. Unentered, pydantic-ai's provider replaces its client when a run starts on a new
    # loop and leaves the old one unclosed (its loop is gone), so its sockets leak into ResourceWarnings. Entered,
    # the provider opens its client on this loop, shares it among the case's runs, and closes it when they end.
    # Models without a provider (sim, FunctionModel) make this a no-op; a WrapperModel passes it to what it wraps.
    judge: AbstractAsyncContextManager[Any] = settings.judge if settings.judge is not None else nullcontext()
    async with model, judge:
        if indexes is None:
            indexes = range(start, start + (settings.runs if count is None else count))
        first: list[RunRecord | None] = []
        try:
            if indexes and capture_requests.path_for(arch.func, spans=_spans_needed(case)) is None:
                # The architecture's first run decides which capture its runs take: it runs before the others.
                first.append(await guarded(indexes[0]))
                indexes = indexes[1:]
            rest = await asyncio.gather(*(guarded(i) for i in indexes))
        except _Interrupted as interrupted:
            raise interrupted.args[0] from None
        return [r for r in [*first, *rest] if r is not None]


def _spans_needed(case: CaseSpec) -> bool:
    return case.spans == 'all' or capture.exporting()
