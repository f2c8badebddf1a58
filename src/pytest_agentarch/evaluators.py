"""Evaluators pydantic-evals lacks: unordered concurrent steps of a tool-call trajectory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext
from pydantic_evals.otel import SpanTreeRecordingError

from .capture import from_span_tree
from .trajectory import flat_steps, render_steps

__all__ = ('TrajectorySteps',)


@dataclass(repr=False)
class TrajectorySteps(Evaluator[object, object, object]):
    """The run's tool calls, as ordered steps of unordered concurrent calls, match `steps`.

    `steps` is a list of steps, each a list of tool names that run concurrently (order inside a step is free;
    repeat a name to expect it twice). Tools not named anywhere in `steps` are ignored, and so are agent runs
    and delegation layers: nested calls take the place of their parent. `mode='exact'` wants exactly these
    steps; `mode='in_order'` wants them as an ordered subsequence (other steps may come between).
    """

    steps: list[list[str]]
    mode: Literal['exact', 'in_order'] = 'exact'
    evaluation_name: str | None = field(default=None)

    def get_default_evaluation_name(self) -> str:
        return self.evaluation_name or 'TrajectorySteps'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> EvaluationReason:
        try:
            tree = ctx.span_tree
        except SpanTreeRecordingError as exc:
            return EvaluationReason(value=False, reason=f'no spans were recorded: {exc}')
        keep = {n for step in self.steps for n in step}
        actual = flat_steps(from_span_tree(tree.roots).calls, keep=keep)
        expected = [sorted(s) for s in self.steps]
        ok = actual == expected if self.mode == 'exact' else _subsequence(expected, actual)
        reason = None if ok else f'expected {render_steps(expected)}; got {render_steps(actual)}'
        return EvaluationReason(value=ok, reason=reason)


def _subsequence(expected: list[list[str]], actual: list[list[str]]) -> bool:
    it = iter(actual)
    return all(any(Counter(step) == Counter(got) for got in it) for step in expected)


def expected_steps_of(evaluators: Any) -> list[list[str]] | None:
    """The expected steps named by a `TrajectorySteps` among `evaluators`, if any."""
    for ev in evaluators:
        if isinstance(ev, TrajectorySteps):
            return [sorted(s) for s in ev.steps]
    return None
