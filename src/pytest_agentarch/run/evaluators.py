"""Evaluators pydantic-evals lacks (unordered concurrent steps of a tool-call trajectory, `TrajectorySteps`; what a
trajectory requires rather than one path, `TrajectoryRequirements`; both judge the path, `run.sides`), and what the
evaluators of a case read of a run: the tool steps they expect, and which spans."""

from __future__ import annotations

import functools
import itertools
import re
import types
import typing
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext, HasMatchingSpan
from pydantic_evals.otel import SpanTreeRecordingError

from ..core.trajectory import flat_call_steps, flat_steps, render_steps
from .capture import from_span_tree

__all__ = ('SPANS_ATTRIBUTE', 'SpanUse', 'TrajectoryRequirements', 'TrajectorySteps', 'expected_steps_of', 'span_use')


SpanUse = Literal['none', 'agent', 'all']
"""What an evaluator reads of a run's spans (`ctx.span_tree`): `none`; `agent`, only the agent, model-request and tool
spans pydantic-ai makes (capture synthesizes those, no OpenTelemetry needed); or `all`, any span, a user's own too
(the run then records real spans)."""

SPANS_ATTRIBUTE = 'agentarch_spans'
"""The class attribute with which an evaluator declares its `SpanUse`, e.g. `agentarch_spans = 'none'`, left
unannotated (pydantic-evals reads an evaluator's annotated attributes, ClassVars too, as its parameters)."""

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

    # Unannotated, as in TrajectoryRequirements: pydantic-evals reads annotated attributes as parameters.
    agentarch_spans = 'agent'
    # Unannotated: pydantic-evals reads an evaluator's annotated attributes as its parameters.
    agentarch_side = 'path'

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


_COUNT = re.compile(r'\s*(?:(?P<exact>\d+)|>=\s*(?P<min>\d+)|<=\s*(?P<max>\d+)|(?P<lo>\d+)\s*\.\.\s*(?P<hi>\d+))\s*')


def _count_range(tool: str, spec: int | str) -> tuple[int, int | None]:
    """`(least, most)` calls a `required` entry allows; `most` None is no upper bound."""
    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise ValueError(
            f'TrajectoryRequirements.required[{tool!r}]: expected a count like 2, ">=1", "<=2" or "1..3", got {spec!r}'
        )
    if isinstance(spec, int):
        if spec < 1:
            raise ValueError(
                f'TrajectoryRequirements.required[{tool!r}] = {spec}: a required tool is called at least once; '
                'list a tool that must not be called under `forbidden`'
            )
        return spec, spec
    m = _COUNT.fullmatch(spec)
    if m is None:
        raise ValueError(
            f'TrajectoryRequirements.required[{tool!r}]: expected a count like 2, ">=1", "<=2" or "1..3", got {spec!r}'
        )
    if m['exact'] is not None:
        return _count_range(tool, int(m['exact']))
    if m['min'] is not None:
        return max(1, int(m['min'])), None
    if m['max'] is not None:
        return 1, int(m['max'])
    lo, hi = int(m['lo']), int(m['hi'])
    if not 1 <= lo <= hi:
        raise ValueError(f'TrajectoryRequirements.required[{tool!r}] = {spec!r}: expected 1 <= low <= high')
    return lo, hi


def _times(n: int) -> str:
    return 'once' if n == 1 else f'{n} times'


@dataclass(repr=False)
class TrajectoryRequirements(Evaluator[object, object, object]):
    """What a run's tool calls must satisfy, leaving every other choice free: the tools it needs, the ones it must
    not call, which must come before which, and which must run together.

    ```yaml
    - TrajectoryRequirements:
        required: {get_pod_metrics: '>=1', get_pod_events: 1}   # or a list: [get_pod_metrics, get_pod_events]
        forbidden: [restart_pod]
        order: [[get_entity_metadata, get_pod_metrics]]          # metadata's first call in an earlier step
        concurrent: [[get_pod_metrics, get_pod_events]]          # in one step (one model response, one gather)
    ```

    - `required`: a list of tools called at least once each, or a mapping from a tool to its count: `2` (exactly),
      `'>=1'`, `'<=2'` (at least once, at most twice) or `'1..3'`.
    - `forbidden`: tools that must not be called at all, not even in a call that failed.
    - `order`: chains `[a, b, ...]`: each tool is called, and each one's first call is in a strictly later step than
      the previous one's first call (steps as `TrajectorySteps` counts them; calls in one step are concurrent, so
      neither comes first).
    - `concurrent`: groups of tools that must all be called in one step. Concurrency is judged only where a case
      lists it: without `concurrent` (and `order`), calls of one step or of several pass alike.

    A call that failed and was retried (a `ModelRetry`, arguments that did not validate) is not a deviation when
    `allow_retries` is true (the default): it is left out before the requirements are judged, so only calls that
    succeeded count towards `required`, `order` and `concurrent`. With `allow_retries: false` any failed call makes
    the run non-conforming. (Determinism is a separate figure and does count a retried call, as `name!`, at every
    level: needing a retry is behaviour.) Agent runs are transparent: a sub-agent's calls count like the caller's.
    """

    required: list[str] | dict[str, int | str] = field(default_factory=list[str])
    forbidden: list[str] = field(default_factory=list[str])
    order: list[list[str]] = field(default_factory=list[list[str]])
    concurrent: list[list[str]] = field(default_factory=list[list[str]])
    allow_retries: bool = True
    evaluation_name: str | None = field(default=None)

    # Unannotated: pydantic-evals reads an evaluator's annotated attributes, ClassVars too, as its parameters when it
    # writes a dataset's schema.
    agentarch_side = 'path'
    agentarch_spans = 'agent'

    def __post_init__(self) -> None:
        # Checked when the dataset loads, so that a typo fails collection with its place named, not every run.
        items: Mapping[str, int | str] = (
            dict.fromkeys(self.required, '>=1') if isinstance(self.required, list) else self.required
        )
        self._counts = {tool: _count_range(tool, spec) for tool, spec in items.items()}
        clash = sorted(set(self._counts) & set(self.forbidden))
        if clash:
            raise ValueError(f'TrajectoryRequirements: {", ".join(clash)} both required and forbidden')
        for name, groups, least in (('order', self.order, 2), ('concurrent', self.concurrent, 2)):
            for group in groups:
                if not isinstance(group, list) or len(group) < least or not all(isinstance(t, str) for t in group):
                    raise ValueError(
                        f'TrajectoryRequirements.{name}: each entry is a list of at least {least} tool names, '
                        f'got {group!r}'
                    )

    def get_default_evaluation_name(self) -> str:
        return self.evaluation_name or 'TrajectoryRequirements'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> EvaluationReason:
        try:
            tree = ctx.span_tree
        except SpanTreeRecordingError as exc:
            return EvaluationReason(value=False, reason=f'no spans were recorded: {exc}')
        steps = flat_call_steps(from_span_tree(tree.roots).calls)
        return self.judge([[c.name + ('!' if c.failed else '') for c in step] for step in steps])

    def judge(self, steps: Sequence[Sequence[str]]) -> EvaluationReason:
        """Judge flattened steps of tool names, a failed call marked with a trailing `!` (`a!`)."""
        problems: list[str] = []
        failed = Counter(n[:-1] for step in steps for n in step if n.endswith('!'))
        if failed and not self.allow_retries:
            problems.append('retried calls: ' + ', '.join(f'{t} x{n}' for t, n in sorted(failed.items())))
        attempted = {n.removesuffix('!') for step in steps for n in step}
        done = [[n for n in step if not n.endswith('!')] for step in steps]
        done = [step for step in done if step]
        counts = Counter(n for step in done for n in step)
        for tool, (least, most) in self._counts.items():
            got = counts[tool]
            if got < least or (most is not None and got > most):
                want = (
                    _times(least)
                    if least == most
                    else f'at least {_times(least)}'
                    if most is None
                    else f'{least} to {most} times'
                )
                problems.append(f'{tool} called {_times(got) if got else "never"}, expected {want}')
        called = sorted(t for t in self.forbidden if t in attempted)
        if called:
            problems.append('forbidden tools called: ' + ', '.join(called))
        first: dict[str, int] = {}
        for i, step in enumerate(done):
            for n in step:
                first.setdefault(n, i)
        for chain in self.order:
            missing = [t for t in chain if t not in first]
            if missing:
                problems.append(f'order {" < ".join(chain)}: {", ".join(missing)} never called')
                continue
            for a, b in itertools.pairwise(chain):
                if not first[a] < first[b]:
                    relation = 'in the same step as' if first[a] == first[b] else 'after'
                    problems.append(f'order {a} < {b}: first {a} came {relation} first {b}')
        for group in self.concurrent:
            if not any(all(t in step for t in group) for step in done):
                problems.append('{' + ', '.join(group) + '} never called in one step')
        reason = None
        if problems:
            reason = '; '.join(problems) + f' (got {render_steps([sorted(s) for s in steps])})'
        return EvaluationReason(value=not problems, reason=reason)
