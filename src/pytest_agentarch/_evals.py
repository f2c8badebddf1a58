"""The private pieces of pydantic-evals the runner relies on, in one place.

pydantic-evals has no public way to give a run the task-run scope that `increment_eval_metric` and
`set_eval_attribute` write into (only `Dataset.evaluate` opens one), to collect the real spans of a run into a
`SpanTree`, to compute the metrics it derives from spans, or to read the default judge model (it can only be
set, with `set_default_judge_model`; the session puts the previous one back when it ends). Each use below names
what it needs;
`tests/test_evals_adapter.py` exercises exactly that behaviour and fails with a clear message when an upgrade
changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import models
from pydantic_evals import _task_run  # pyright: ignore[reportPrivateUsage]
from pydantic_evals.evaluators import llm_as_a_judge
from pydantic_evals.otel import SpanTree, SpanTreeRecordingError
from pydantic_evals.otel._context_subtree import context_subtree  # pyright: ignore[reportPrivateUsage]

__all__ = ('Reported', 'derived_metrics', 'reported', 'set_judge_model', 'span_tree_scope')


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
