"""Every private name of pydantic-ai, pydantic-evals and pytest this package uses, in one place.

No other module reaches into a library's private names: each use below says what it needs and why the public API
does not give it, and `tests/test_compat.py` exercises exactly that behaviour and fails with a clear message when an
upgrade changes it. An upgrade that breaks one is then fixed here, once.

pydantic-evals has no public way to give a run the task-run scope that `increment_eval_metric` and
`set_eval_attribute` write into (only `Dataset.evaluate` opens one), to collect the real spans of a run into a
`SpanTree`, to compute the metrics it derives from spans, to build an `EvaluatorContext` with a span tree (its field
is `_span_tree`), or to read the default judge model (it can only be set, with `set_default_judge_model`; the session
puts the previous one back when it ends). pydantic-ai does not say publicly what `Agent.instrument_all()` set
(`Agent._instrument_default`) or which settings a model ignores (it warns about them from
`Model._unsupported_settings`), nor export the `JsonSchema` type its schema transformers take. pytest does not show
which fixture definitions a test sees (`Metafunc._arg2fixturedefs`), nor export the types of `Item.repr_failure`'s
signature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr, TracebackStyle
from pydantic_ai import Agent, models
from pydantic_ai._json_schema import JsonSchema  # pyright: ignore[reportPrivateUsage]
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_evals import _task_run  # pyright: ignore[reportPrivateUsage]
from pydantic_evals.evaluators import EvaluatorContext, llm_as_a_judge
from pydantic_evals.otel import SpanTree, SpanTreeRecordingError
from pydantic_evals.otel._context_subtree import context_subtree  # pyright: ignore[reportPrivateUsage]

__all__ = (
    'JsonSchema',
    'Reported',
    'TerminalRepr',
    'TracebackStyle',
    'derived_metrics',
    'evaluator_context',
    'fixture_functions',
    'instrument_default',
    'reported',
    'set_judge_model',
    'span_tree_scope',
    'unsupported_settings',
)


@dataclass(kw_only=True)
class Reported:
    """What code inside a run reported through `increment_eval_metric` / `set_eval_attribute`."""

    metrics: dict[str, int | float] = field(default_factory=dict[str, int | float])
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])


@contextmanager
def reported() -> Iterator[Reported]:
    """Collect what the code inside the block reports with `increment_eval_metric` and `set_eval_attribute`.

    Only what the code reports: unlike pydantic-evals' own task-run scope, nothing derived from spans is mixed in,
    so a user's metric named `requests` or `cost` is kept as the user reported it.
    """
    task_run = _task_run.TaskRun()
    token = _task_run.CURRENT_TASK_RUN.set(task_run)
    out = Reported(metrics=task_run.metrics, attributes=task_run.attributes)
    try:
        yield out
    finally:
        _task_run.CURRENT_TASK_RUN.reset(token)


@contextmanager
def span_tree_scope() -> Iterator[SpanTree | SpanTreeRecordingError]:
    """The real spans ended inside the block, as a `SpanTree` filled when the block exits (or the reason there is
    none: no SDK tracer provider)."""
    with context_subtree() as tree:
        yield tree


def derived_metrics(tree: SpanTree) -> dict[str, int | float]:
    """The metrics pydantic-evals derives from a run's spans (`requests`, `input_tokens`, `output_tokens`, `cost`...)
    and adds to `ctx.metrics` in `Dataset.evaluate`."""
    task_run = _task_run.TaskRun()
    _task_run.extract_span_tree_metrics(task_run, tree)
    return dict(task_run.metrics)


def set_judge_model(model: models.Model) -> Callable[[], None]:
    """Make `model` the default judge (`set_default_judge_model`); returns what puts the previous one back."""
    previous = llm_as_a_judge._default_model  # pyright: ignore[reportPrivateUsage]
    llm_as_a_judge.set_default_judge_model(model)

    def restore() -> None:
        llm_as_a_judge.set_default_judge_model(previous)

    return restore


def evaluator_context(
    *,
    name: str,
    inputs: Any,
    metadata: Any,
    expected_output: Any,
    output: Any,
    duration: float,
    span_tree: SpanTree | SpanTreeRecordingError,
    attributes: dict[str, Any],
    metrics: dict[str, int | float],
) -> EvaluatorContext[Any, Any, Any]:
    """The context `Dataset.evaluate` gives evaluators, with `span_tree` as what `ctx.span_tree` returns (the
    dataclass field behind that property is `_span_tree`)."""
    return EvaluatorContext[Any, Any, Any](
        name=name,
        inputs=inputs,
        metadata=metadata,
        expected_output=expected_output,
        output=output,
        duration=duration,
        _span_tree=span_tree,
        attributes=attributes,
        metrics=metrics,
    )


def unsupported_settings(model: models.Model) -> frozenset[str]:
    """The model settings `model` ignores and warns about on every request (`Model.prepare_request` warns with
    this set: the class's `unsupported_settings` plus what its profile adds)."""
    return frozenset(model._unsupported_settings())  # pyright: ignore[reportPrivateUsage]


def fixture_functions(metafunc: pytest.Metafunc, name: str) -> Sequence[Callable[..., Any]]:
    """The functions of the fixture definitions named `name` the test of `metafunc` sees, nearest last (empty when
    pytest no longer keeps them where this looks)."""
    defs = getattr(metafunc, '_arg2fixturedefs', {}).get(name) or ()
    return [d.func for d in defs]


def instrument_default() -> InstrumentationSettings | bool:
    """What `Agent.instrument_all()` last set for every agent without its own `instrument=` (False: nothing)."""
    return Agent._instrument_default  # pyright: ignore[reportPrivateUsage]
