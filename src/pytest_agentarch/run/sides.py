"""Which side of a run an evaluator judges: its outcome (what it answered) or its path (how it got there).

A run is judged twice, apart: its **pass rate** counts runs whose outcome evaluators all hold, its **path
conformance** counts runs whose path evaluators all hold. An agent that reaches the right verdict by a reasonable
investigation other than the one a case's author had in mind passes; whether it took an allowed path is a second
figure, with its own gate (`--min-path-conformance`).

The side is read off the evaluator's type, so a dataset file shows it: the evaluator's name is its side.

- path: this package's `TrajectorySteps` and `TrajectoryRequirements`, and pydantic-evals' `TrajectoryMatch`,
  `TrajectoryOrder`, `ToolCorrectness`, `ArgumentCorrectness`, `MaxToolCalls`, `MaxModelRequests` and
  `HasMatchingSpan` (each reads the tool calls or spans of the run, never its output);
- outcome: every other evaluator (`EqualsExpected`, `Contains`, `IsInstance`, `LLMJudge`, your own ...).

An evaluator class of your own says it judges the path with a class attribute `agentarch_side = 'path'` (or
`'outcome'`, which overrides the rule above for a subclass of a path evaluator). Leave it unannotated: pydantic-evals
reads an evaluator's annotated attributes, `ClassVar`s too, as its parameters when it writes a dataset's schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic_evals.evaluators import Evaluator

__all__ = ('PATH_EVALUATORS', 'Side', 'side_of', 'split_by_side')

Side = Literal['outcome', 'path']

PATH_EVALUATORS = frozenset(
    {
        'TrajectoryMatch',
        'TrajectoryOrder',
        'ToolCorrectness',
        'ArgumentCorrectness',
        'MaxToolCalls',
        'MaxModelRequests',
        'HasMatchingSpan',
    }
)
"""pydantic-evals' own evaluators (by class name) that judge the path."""


def side_of(evaluator: Evaluator[Any, Any, Any]) -> Side:
    """The side `evaluator` judges: its class's `agentarch_side` if it sets one, else `path` for the evaluators named
    in the module docstring and `outcome` for every other."""
    declared = getattr(type(evaluator), 'agentarch_side', None)
    if declared is not None:
        if declared not in ('outcome', 'path'):
            raise ValueError(f'{type(evaluator).__name__}.agentarch_side must be "outcome" or "path", got {declared!r}')
        side: Side = declared
        return side
    for cls in type(evaluator).__mro__:
        if cls.__module__.startswith('pydantic_evals.') and cls.__name__ in PATH_EVALUATORS:
            return 'path'
    return 'outcome'


def split_by_side(
    evaluators: Sequence[Evaluator[Any, Any, Any]],
) -> tuple[list[Evaluator[Any, Any, Any]], list[Evaluator[Any, Any, Any]]]:
    """`evaluators` as (outcome evaluators, path evaluators), each in the given order."""
    outcome = [e for e in evaluators if side_of(e) == 'outcome']
    path = [e for e in evaluators if side_of(e) == 'path']
    return outcome, path
