"""Canonical trajectories: what "the same tool-call trajectory" means.

Pure functions over a small call tree (no pytest, no OpenTelemetry). A run's tree holds agent runs and tool calls;
a tool may contain nested agent runs (delegation) or nested tool calls. Concurrency is structural, never read from
timestamps: tool calls asked for by one model response (`Call.batch`) form one *unordered step*, and so does work
started in sibling asyncio tasks that were pending together (`Call.path`, recorded by capture from the task
structure: `asyncio.gather`, `TaskGroup`, `create_task`). Everything else is sequential, in `Call.order`. Inside a
step, members are sorted by their own canonical form, so `gather(a(), b())` has one form whichever finished first.

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
    'flat_call_steps',
    'flat_steps',
    'normalize_args',
    'render',
    'render_steps',
    'render_tools',
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
    """Start time in microseconds (any clock shared by the run); informative only, never used to group calls."""
    end: int
    """End time in microseconds."""
    args: Any = None
    """Decoded tool arguments (tools only)."""
    batch: int | None = None
    """For a tool called by an agent: which model response of that agent asked for it (one step per response)."""
    order: int | None = None
    """Position among the run's events (a counter shared by the run); sequential siblings follow it. None: `start`."""
    path: tuple[tuple[int, int], ...] = ()
    """Where the call ran relative to its parent call: one `(group, lane)` pair per asyncio task between them.

    Empty when the call ran in its parent's own task (awaited in sequence). Otherwise the first pair names the
    concurrent group of tasks its parent's task started (tasks created while their siblings were still pending
    share a group; `group` is the event counter when the group's first task was created, so groups sort with
    sequential siblings) and the lane (task) inside it; further pairs descend through tasks started by that task.
    """
    failed: bool = False
    """The call raised or asked the model to retry."""
    children: list[Call] = field(default_factory=list['Call'])
    """Calls made inside this one."""
    result: str | None = None
    """A tool's result as JSON, truncated; informative only, never part of a canonical form."""
    call_id: str | None = None
    """The tool call's id, as the model's response gave it (tools only)."""


@dataclass
class _Lane:
    """Calls that ran in one task of a concurrent group, in sequence (they may hold deeper groups)."""

    calls: list[Call]
    depth: int


Member = Call | _Lane


def _key(c: Call) -> int:
    return c.order if c.order is not None else c.start


def _steps(calls: Sequence[Call], depth: int = 0) -> list[list[Member]]:
    """Group siblings into steps by structure: a model response's tool calls, or one group of concurrent tasks.

    A lane whose calls form a single step is merged into the enclosing step: `gather(gather(a, b), c)` is the step
    `{a, b, c}`, like `gather(a, b, c)`.
    """
    entries: dict[tuple[str, int], list[Call]] = {}
    for c in calls:
        if depth == 0 and c.batch is not None:
            key = ('batch', c.batch)
        elif len(c.path) > depth:
            key = ('group', c.path[depth][0])
        else:
            key = ('call', id(c))
        entries.setdefault(key, []).append(c)

    def position(item: tuple[tuple[str, int], list[Call]]) -> int:
        (kind, value), members = item
        # A group of tasks sits where its first task was created; a response's tool calls where the first started.
        return value if kind == 'group' else min(_key(c) for c in members)

    steps: list[list[Member]] = []
    for (kind, _), members in sorted(entries.items(), key=position):
        if kind != 'group':
            steps.append([*sorted(members, key=_key)])
            continue
        lanes: dict[int, list[Call]] = {}
        for c in members:
            lanes.setdefault(c.path[depth][1], []).append(c)
        step: list[Member] = []
        for lane_calls in lanes.values():
            inner = _steps(lane_calls, depth + 1)
            if len(inner) == 1:
                step.extend(inner[0])
            else:
                step.append(_Lane(calls=lane_calls, depth=depth + 1))
        steps.append(step)
    return steps


def _form(calls: Sequence[Call], item: Any, depth: int = 0) -> Form:
    def one(m: Member) -> Any:
        return ('lane', '', _form(m.calls, item, m.depth)) if isinstance(m, _Lane) else item(m)

    return tuple(tuple(sorted((one(m) for m in step), key=repr)) for step in _steps(calls, depth))


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
    return [sorted(c.name for c in step) for step in flat_call_steps(calls, keep=keep)]


def flat_call_steps(calls: Sequence[Call], *, keep: Iterable[str] | None = None) -> list[list[Call]]:
    """The tool calls of `flat_steps`, step by step (within a step in no particular order)."""
    kept = None if keep is None else set(keep)

    def member(m: Member) -> list[list[Call]]:
        if isinstance(m, _Lane):
            return seq(m.calls, m.depth)
        inner = seq(m.children, 0)
        if m.kind == 'tool' and (kept is None or m.name in kept):
            return [[m], *inner]
        return inner

    def seq(calls: Sequence[Call], depth: int) -> list[list[Call]]:
        out: list[list[Call]] = []
        for step in _steps(calls, depth):
            merged: list[list[Call]] = []
            for m in step:
                for i, found in enumerate(member(m)):
                    if i == len(merged):
                        merged.append([])
                    merged[i].extend(found)
            out.extend(m for m in merged if m)
        return out

    return seq(calls, 0)


def render_tools(calls: Sequence[Call]) -> str:
    """Level `tools`: the multiset of tool names called anywhere in the tree, one line, independent of order.

    Names are sorted; a failed or retried call carries `!`; a name called more than once shows its count, e.g.
    `analyze_logs x2, get_entity_metadata, lookup!`.
    """
    counts: dict[str, int] = {}
    stack = list(calls)
    while stack:
        c = stack.pop()
        if c.kind == 'tool':
            label = _label(c)
            counts[label] = counts.get(label, 0) + 1
        stack.extend(c.children)
    return ', '.join(k if n == 1 else f'{k} x{n}' for k, n in sorted(counts.items())) or '(no tool calls)'


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
        if kind == 'lane':
            return f'[{seq(inner)}]'
        label = name if kind == 'tool' else 'agent'
        if len(rest) == 2 and rest[0]:
            label += rest[0]
        if inner:
            return f'{label}({seq(inner)})'
        return label if kind == 'tool' else 'agent()'

    def seq(f: Form) -> str:
        return ' > '.join(items(step) for step in f)

    return seq(form) or '(no tool calls)'
