"""Run one case N times, concurrently, each run inside its own capture scope, and judge it.

The per-run scope is pydantic-evals' own task-run scope: it collects the run's spans (for our call tree and for
span-based evaluators) and the metrics and attributes code reports with `increment_eval_metric` /
`set_eval_attribute`. Evaluators run through pydantic-evals' evaluator runner, so results mean what they mean
in `Dataset.evaluate`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.models import Model
from pydantic_core import to_jsonable_python
from pydantic_evals import Case, Dataset, _task_run  # pyright: ignore[reportPrivateUsage]
from pydantic_evals.evaluators import EvaluationResult, Evaluator, EvaluatorContext, EvaluatorFailure
from pydantic_evals.evaluators._run_evaluator import run_evaluator  # pyright: ignore[reportPrivateUsage]
from pydantic_evals.otel import SpanTree

from .capture import from_span_tree
from .context import RunInfo, run_scope
from .evaluators import expected_steps_of
from .records import Assertion, RunRecord, ToolCallRecord
from .registry import Architecture
from .trajectory import Call, flat_steps, normalize_args, render, shape, shape_with_args

__all__ = ('CaptureError', 'CaseSpec', 'RunSettings', 'run_case', 'run_once')


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


def _flatten_calls(calls: Sequence[Call], mask: Sequence[re.Pattern[str]]) -> list[ToolCallRecord]:
    out: list[ToolCallRecord] = []
    for c in sorted(calls, key=lambda c: (c.start, c.end)):
        if c.kind == 'tool':
            out.append(ToolCallRecord(name=c.name, args=normalize_args(c.args, mask=mask), failed=c.failed))
        out.extend(_flatten_calls(c.children, mask))
    return out


async def _judge(
    case: CaseSpec, evaluators: Sequence[Evaluator[Any, Any, Any]], ctx: EvaluatorContext[Any, Any, Any]
) -> tuple[list[Assertion], list[str]]:
    assertions: list[Assertion] = []
    errors: list[str] = []
    for evaluator in evaluators:
        result = await run_evaluator(evaluator, ctx)
        if isinstance(result, EvaluatorFailure):
            errors.append(f'{result.name} raised {result.error_message}')
            continue
        for r in result:
            assertions.append(_assertion(r))
    return assertions, errors


def _assertion(r: EvaluationResult[Any]) -> Assertion:
    value = r.value if isinstance(r.value, bool | int | float | str) else str(r.value)
    return Assertion(name=r.name, value=value, reason=r.reason)


async def run_once(arch: Architecture, model: Model, case: CaseSpec, index: int, settings: RunSettings) -> RunRecord:
    """One run: execute the architecture inside a capture scope, then judge and record it."""
    info = RunInfo(session_seed=settings.seed, case=case.name, architecture=arch.name, index=index)
    output: Any = None
    error: BaseException | None = None
    t0 = time.perf_counter()
    with run_scope(info), _task_run.run_task() as eval_context:
        try:
            async with asyncio.timeout(settings.timeout):
                output = await arch.func(case.inputs, model)
        except TimeoutError:
            error = TimeoutError(f'run exceeded --agentarch-timeout={settings.timeout}s')
        except Exception as exc:
            error = exc
    duration = time.perf_counter() - t0
    kwargs = eval_context()
    span_tree = kwargs['_span_tree']
    capture = from_span_tree(span_tree.roots if isinstance(span_tree, SpanTree) else ())
    record = RunRecord(index=index, duration=duration)
    if error is None and capture.spans == 0:
        error = CaptureError(
            'nothing was captured: no agent run, model request or tool call happened inside the run. '
            'Pass the `model` argument to your agents, and call tools from orchestration code through '
            'pytest_agentarch.call_tool'
        )
    costs = [r.cost for r in capture.requests]
    record.model_requests = capture.requests
    record.requests = len(capture.requests)
    record.input_tokens = sum(r.input_tokens for r in capture.requests)
    record.output_tokens = sum(r.output_tokens for r in capture.requests)
    record.cost = sum(c for c in costs if c is not None) if None not in costs else None
    record.trajectory = render(shape(capture.calls))
    record.trajectory_args = render(shape_with_args(capture.calls, mask=settings.arg_mask))
    keep = {n for step in case.expected_steps for n in step} if case.expected_steps else None
    record.steps = flat_steps(capture.calls, keep=keep)
    record.tool_calls = _flatten_calls(capture.calls, settings.arg_mask)
    # pydantic-evals adds metrics of its own from the spans (requests, tokens, cost): the record has those already.
    derived = _task_run.TaskRun()
    if isinstance(span_tree, SpanTree):
        _task_run.extract_span_tree_metrics(derived, span_tree)
    record.metrics = {k: float(v) for k, v in kwargs['metrics'].items() if k not in derived.metrics}
    if error is not None:
        record.error_type = type(error).__name__
        record.error_message = str(error)[:2000]
        return record
    record.output = to_jsonable_python(output, fallback=repr)
    record.output_key = _output_key(output, settings.output_fields)
    ctx = EvaluatorContext[Any, Any, Any](
        name=case.name,
        inputs=case.inputs,
        metadata=case.metadata,
        expected_output=case.expected_output,
        output=output,
        duration=duration,
        _span_tree=span_tree,
        attributes=kwargs['attributes'],
        metrics=kwargs['metrics'],
    )
    record.assertions, record.evaluator_errors = await _judge(case, case.evaluators, ctx)
    return record


class CaptureError(Exception):
    """Nothing observable happened inside a run: no agent run, model request or tool call."""


async def run_case(
    arch: Architecture, model: Model, case: CaseSpec, settings: RunSettings, *, finished: list[RunRecord] | None = None
) -> list[RunRecord]:
    """All `settings.runs` runs of `case`, at most `settings.concurrency` at once, ordered by index.

    Each record is also appended to `finished` as soon as its run is judged, so a caller interrupted halfway still
    holds the runs that completed.
    """
    semaphore = asyncio.Semaphore(max(1, settings.concurrency))
    sink = finished if finished is not None else []

    async def guarded(index: int) -> RunRecord:
        async with semaphore:
            record = await run_once(arch, model, case, index, settings)
        sink.append(record)
        return record

    return list(await asyncio.gather(*(guarded(i) for i in range(settings.runs))))
