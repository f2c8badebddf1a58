"""Evaluators pydantic-evals lacks: unordered concurrent steps of a tool-call trajectory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext
from pydantic_evals.otel import SpanTreeRecordingError

from ..core.trajectory import flat_steps, render_steps
from .capture import from_span_tree

__all__ = ('TrajectorySteps', 'expected_steps_of')


@dataclass(repr=False)
class TrajectorySteps(Evaluator[object, object, object]):
    """The run's tool calls, as ordered steps of unordered concurrent calls, match `steps`.

    `steps` is a list of steps, each a list of tool names that run concurrently (order inside a step is free;
    repeat a name to expect it twice). Agent runs are transparent: a sub-agent's calls take the place of the agent.

    - `mode='exact'` (default) wants exactly these steps and no other tool call: `[[get_weather]]` fails a run that
      called `get_weather` and then `get_forecast`.
    - `mode='in_order'` wants these steps as an ordered subsequence: other steps may come before, between and after.
    - `ignore_unlisted_tools=True` first drops every call of a tool not named in `steps` (its nested calls stay), so
      that one expectation fits architectures that add their own layers, e.g. a delegation tool around a sub-agent.
    """

    steps: list[list[str]]
    mode: Literal['exact', 'in_order'] = 'exact'
    ignore_unlisted_tools: bool = False
    evaluation_name: str | None = field(default=None)

    def get_default_evaluation_name(self) -> str:
        return self.evaluation_name or 'TrajectorySteps'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> EvaluationReason:
        try:
            tree = ctx.span_tree
        except SpanTreeRecordingError as exc:
            return EvaluationReason(value=False, reason=f'no spans were recorded: {exc}')
        keep = {n for step in self.steps for n in step} if self.ignore_unlisted_tools else None
        actual = flat_steps(from_span_tree(tree.roots).calls, keep=keep)
        return self.judge(actual)

    def judge(self, actual: list[list[str]]) -> EvaluationReason:
        """Compare flattened steps (as `trajectory.flat_steps` gives them) with the expectation."""
        expected = [sorted(s) for s in self.steps]
        ok = actual == expected if self.mode == 'exact' else _subsequence(expected, actual)
        reason = None if ok else f'expected {render_steps(expected)}; got {render_steps(actual)}'
        return EvaluationReason(value=ok, reason=reason)


def _subsequence(expected: list[list[str]], actual: list[list[str]]) -> bool:
    it = iter(actual)
    return all(any(Counter(step) == Counter(got) for got in it) for step in expected)


def expected_steps_of(evaluators: Iterable[Evaluator[Any, Any, Any]]) -> list[list[str]] | None:
    """The expected steps named by a `TrajectorySteps` among `evaluators`, if any."""
    for ev in evaluators:
        if isinstance(ev, TrajectorySteps):
            return [sorted(s) for s in ev.steps]
    return None
