"""Evaluators pydantic-evals lacks (unordered concurrent steps of a tool-call trajectory), and what the evaluators of
a case read of a run: the tool steps they expect, and which spans."""

from __future__ import annotations

import functools
import types
import typing
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext, HasMatchingSpan
from pydantic_evals.otel import SpanTreeRecordingError

from ..core.trajectory import flat_steps, render_steps
from .capture import from_span_tree

__all__ = ('SPANS_ATTRIBUTE', 'SpanUse', 'TrajectorySteps', 'expected_steps_of', 'span_use')


SpanUse = Literal['none', 'agent', 'all']
"""What an evaluator reads of a run's spans (`ctx.span_tree`): `none`; `agent`, only the agent, model-request and tool
spans pydantic-ai makes (capture synthesizes those, no OpenTelemetry needed); or `all`, any span, a user's own too
(the run then records real spans)."""

SPANS_ATTRIBUTE = 'agentarch_spans'
"""The class attribute with which an evaluator declares its `SpanUse`, e.g. `agentarch_spans: ClassVar = 'none'`."""

_AGENT_SPAN_READERS = ('ToolCorrectness', 'TrajectoryMatch', 'ArgumentCorrectness', 'MaxToolCalls', 'MaxModelRequests')
"""pydantic-evals evaluators that read only agent, model-request and tool spans."""

_ORDER: tuple[SpanUse, ...] = get_args(SpanUse)


def span_use(evaluators: Iterable[Evaluator[Any, Any, Any]]) -> SpanUse:
    """What the evaluators of a case need as `ctx.span_tree`: the most any of them reads (see `SpanUse`).

    Decided from each evaluator's class, once per class: its declared `agentarch_spans`; else for pydantic-evals'
    own, `all` for `HasMatchingSpan` (it queries any span), `agent` for its agent evaluators, `none` for the rest;
    else `all` if a method of the class reads an attribute named `span_tree` (from the names its compiled code
    uses, so a helper function it calls is not seen: declare `agentarch_spans` then), `none` if not.
    """
    return max((_class_span_use(type(e)) for e in evaluators), key=_ORDER.index, default='none')


@functools.cache
def _class_span_use(cls: type[Any]) -> SpanUse:
    declared = getattr(cls, SPANS_ATTRIBUTE, None)
    if declared is not None:
        if declared not in _ORDER:
            raise ValueError(
                f'{cls.__qualname__}.{SPANS_ATTRIBUTE} = {declared!r}: expected one of {", ".join(map(repr, _ORDER))}'
            )
        return typing.cast(SpanUse, declared)
    if issubclass(cls, HasMatchingSpan):
        return 'all'
    if cls.__module__.startswith('pydantic_evals.'):
        return 'agent' if cls.__name__ in _AGENT_SPAN_READERS else 'none'
    return 'all' if 'span_tree' in _names_read(cls) else 'none'


def _names_read(cls: type[Any]) -> set[str]:
    """The global and attribute names the functions defined on `cls` and its own bases use (nested code included)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or klass.__module__.startswith(('pydantic_evals.', 'abc', 'builtins')):
            continue
        for value in vars(klass).values():
            for code in _codes(value):
                names.update(code.co_names)
    return names


def _codes(value: Any) -> Iterator[types.CodeType]:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        for accessor in (value.fget, value.fset, value.fdel):
            yield from _codes(accessor)
        return
    code = getattr(value, '__code__', None)
    if isinstance(code, types.CodeType):
        stack = [code]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))


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

    agentarch_spans: ClassVar[SpanUse] = 'agent'

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
