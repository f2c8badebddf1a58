"""Canonical trajectories: what "the same tool-call trajectory" means.

Pure functions over a small call tree (no pytest, no OpenTelemetry). A run's tree holds agent runs and tool calls;
a tool may contain nested agent runs (delegation) or nested tool calls. Siblings that were in flight at the same
time form one *unordered step*: tool calls from one model response, or work started together under
`asyncio.gather`. Steps follow each other in time order. Inside a step, members are sorted by their own canonical
form, so `gather(a(), b())` has one form whichever finished first.

Two levels:
- level 1 (`shape`): tool names and structure;
- level 2 (`shape_with_args`): also normalized arguments (sorted keys, rounded numbers, masked keys).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = (
    'Call',
    'Form',
    'flat_steps',
    'normalize_args',
    'render',
    'render_steps',
    'shape',
    'shape_with_args',
)

Form = tuple[Any, ...]
"""A hashable canonical form: a tuple of steps, each step a sorted tuple of items."""


@dataclass(kw_only=True)
class Call:
    """One node of a run's call tree."""

    kind: Literal['tool', 'agent']
    """A tool execution or an agent run."""
    name: str
    """Tool name, or agent name (agent names do not enter the canonical form)."""
    start: int
    """Start time in microseconds (any clock shared by the run)."""
    end: int
    """End time in microseconds."""
    args: Any = None
    """Decoded tool arguments (tools only)."""
    batch: int | None = None
    """For a tool called by an agent: which model response of that agent asked for it."""
    failed: bool = False
    """The call raised or asked the model to retry."""
    children: list[Call] = field(default_factory=list['Call'])
    """Calls made inside this one."""


def _steps(calls: Sequence[Call]) -> list[list[Call]]:
    """Group siblings into steps: overlapping in time, or asked for by the same model response."""
    ordered = sorted(calls, key=lambda c: (c.start, c.end))
    steps: list[list[Call]] = []
    step_end = -math.inf
    step_batch: int | None = None
    for call in ordered:
        same_batch = call.batch is not None and call.batch == step_batch
        if steps and (call.start < step_end or same_batch):
            steps[-1].append(call)
            step_end = max(step_end, call.end)
        else:
            steps.append([call])
            step_end = call.end
            step_batch = call.batch
    return steps


def _form(calls: Sequence[Call], item: Any) -> Form:
    return tuple(tuple(sorted((item(c) for c in step), key=repr)) for step in _steps(calls))


def _label(c: Call) -> str:
    # Agent names never count (they may embed run ids); a failed or retried tool call is behaviour, so it shows.
    if c.kind != 'tool':
        return ''
    return c.name + '!' if c.failed else c.name


def shape(calls: Sequence[Call]) -> Form:
    """Level 1: tool names in canonical order; agent runs are anonymous containers."""

    def item(c: Call) -> Any:
        return (c.kind, _label(c), _form(c.children, item))

    return _form(calls, item)


def shape_with_args(calls: Sequence[Call], *, mask: Sequence[re.Pattern[str]] = (), digits: int = 6) -> Form:
    """Level 2: like `shape`, each tool also carrying its normalized arguments."""

    def item(c: Call) -> Any:
        args = normalize_args(c.args, mask=mask, digits=digits) if c.kind == 'tool' else ''
        return (c.kind, _label(c), args, _form(c.children, item))

    return _form(calls, item)


def normalize_args(args: Any, *, mask: Sequence[re.Pattern[str]] = (), digits: int = 6) -> str:
    """Arguments as canonical JSON: sorted keys, floats to `digits` significant digits, masked keys as `*`.

    A mask pattern is matched (`fullmatch`) against the dotted path of each key, e.g. `request_id` or
    `window.start`.
    """

    def norm(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key in sorted(value, key=str):
                sub = f'{path}.{key}' if path else str(key)
                out[str(key)] = '*' if any(p.fullmatch(sub) for p in mask) else norm(value[key], sub)
            return out
        if isinstance(value, list | tuple):
            return [norm(v, path) for v in value]
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return str(value)
            return float(f'{value:.{digits}g}')
        return value

    return json.dumps(norm(args, ''), sort_keys=True, separators=(',', ':'), default=str)


def flat_steps(calls: Sequence[Call], *, keep: Iterable[str] | None = None) -> list[list[str]]:
    """Tool names as a sequence of unordered steps, with nesting flattened.

    Agent runs and tools not in `keep` are transparent: their children take their place. Concurrent members of a
    step that each hold a sequence are aligned position by position (the i-th steps run side by side), so
    `gather(agent[x, y], agent[z])` gives `[[x, z], [y]]`. Each step's names are sorted.
    """
    kept = None if keep is None else set(keep)

    def member(c: Call) -> list[list[str]]:
        inner = seq(c.children)
        if c.kind == 'tool' and (kept is None or c.name in kept):
            return [[c.name], *inner]
        return inner

    def seq(calls: Sequence[Call]) -> list[list[str]]:
        out: list[list[str]] = []
        for step in _steps(calls):
            merged: list[list[str]] = []
            for c in step:
                for i, names in enumerate(member(c)):
                    if i == len(merged):
                        merged.append([])
                    merged[i].extend(names)
            out.extend(sorted(m) for m in merged if m)
        return out

    return seq(calls)


def render_steps(steps: Sequence[Sequence[str]]) -> str:
    """Flat steps on one line: `a > {b, c} > d` (names inside braces ran concurrently)."""
    return ' > '.join(s[0] if len(s) == 1 else '{' + ', '.join(s) + '}' for s in steps) or '(none)'


def render(form: Form) -> str:
    """A compact one-line rendering: steps joined by ` > `, a concurrent step as `{a, b}`, nesting in `( )`."""

    def items(step: tuple[Any, ...]) -> str:
        parts = [one(i) for i in step]
        return parts[0] if len(parts) == 1 else '{' + ', '.join(parts) + '}'

    def one(item: tuple[Any, ...]) -> str:
        kind, name, *rest = item
        inner = rest[-1]
        label = name if kind == 'tool' else 'agent'
        if len(rest) == 2 and rest[0]:
            label += rest[0]
        if inner:
            return f'{label}({seq(inner)})'
        return label if kind == 'tool' else 'agent()'

    def seq(f: Form) -> str:
        return ' > '.join(items(step) for step in f)

    return seq(form) or '(no tool calls)'
