"""Where runs of one case diverge: the tree of their step sequences, the first step at which they differ, how many
runs took each branch there, and what the model had just been shown on each branch. Pure: no pytest here.

A run's *path* is its flattened trajectory (`RunRecord.flow`: agent runs transparent, calls made concurrently one
unordered step), each step labelled by its tool names (with normalized arguments at level `strict`; a failed or
retried call carries `!`), followed by `error: <ExceptionType>` when the run raised. The tree merges the paths of a
case's counted runs (infrastructure failures are left out, as in every rate); the divergence is its first branching
node. Paths are ordered at every level: at level `tools`, where a variant is a multiset of names, the tree still
shows the order in which runs called them.

The model's context on a branch is read from the branch's example run: the last model request that started before
the branch's first call (the request whose response chose that step), or the run's last request when the run
ended or raised there (the response that chose to stop).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from pydantic_core import to_json

from .records import RequestContext, RunRecord, clip
from .stats import Level, Variant, variant_key

__all__ = (
    'ARGS_CHARS',
    'OUTPUT_CHARS',
    'Branch',
    'Divergence',
    'ExampleCall',
    'ExampleRun',
    'ModelContext',
    'TreeNode',
    'divergence',
    'examples',
    'path',
    'step_labels',
    'tree',
)

ARGS_CHARS = 300
"""Characters kept of a call's arguments in an example run."""
OUTPUT_CHARS = 1000
"""Characters kept of a run's output (as JSON) in an example run."""


class ModelContext(BaseModel):
    """What one model request newly showed the model, truncated (see `records.RequestContext`)."""

    request: int = Field(description='1-based position of the request among the requests of the run, in start order')
    instructions: str = Field(description='the tail of the instructions')
    prompt: str = Field(description='the tail of the latest user prompt the agent answers')
    tool_results: list[str] = Field(description='`name: result` of each tool result since the last response')


class TreeNode(BaseModel):
    """One step of the paths of a case's runs; its children are the steps that followed it."""

    step: str = Field(
        description='the step: `a` or `{a, b}` (concurrent calls), or `error: Type` for a run that raised'
    )
    count: int = Field(description='runs whose path passes through this node')
    example_run: int = Field(description='the lowest run index among them')
    ends: int = Field(default=0, description='runs whose path ends at this node')
    variants: list[int] = Field(
        default_factory=list[int], description='indexes into the variants of the case, of the runs that end here'
    )
    children: list[TreeNode] = Field(default_factory=list['TreeNode'])


class Branch(BaseModel):
    """One way runs went at the divergence step."""

    step: str | None = Field(description='the step taken there; null for runs that ended before it')
    count: int = Field(description='runs that took this branch')
    example_run: int = Field(description='the lowest run index among them')
    context: ModelContext | None = Field(
        description='what the model had just been shown in the example run when it chose this branch; null when '
        'the run made no model request or its instrumentation kept no content'
    )
    why: list[str] = Field(
        default_factory=list[str],
        description='`tool: reason` for each call of the step in the example run whose model said why it made it '
        '(the simulated model does: the rule and the words that triggered it)',
    )


class Divergence(BaseModel):
    """The first step at which a case's runs differ."""

    step: int = Field(description='1-based index of the first step at which paths differ')
    after: list[str] = Field(description='the steps every run took before it')
    branches: list[Branch] = Field(description='most common first')


class ExampleCall(BaseModel):
    """One tool call of an example run."""

    name: str
    step: int | None = Field(description='1-based step of the path of the run the call belongs to')
    args: str = Field(description='normalized JSON arguments, truncated')
    result: str | None = Field(description='the result as JSON, truncated; null when no content was kept')
    failed: bool = False


class ExampleRun(BaseModel):
    """One run of a variant, as it happened: calls, output, failures."""

    variant: int = Field(description='index into the variants of the case')
    index: int = Field(description='the run index')
    passed: bool
    error: str | None = Field(description='`Type: message` if the run raised')
    failed_assertions: list[str] = Field(description='`name: reason` of each false assertion or evaluator error')
    output: str | None = Field(description='the output as JSON, truncated; null when the run raised')
    calls: list[ExampleCall]


def _label(record: RunRecord, position: int, level: Level) -> str:
    call = record.tool_calls[position]
    label = call.name + ('!' if call.failed else '')
    return label + call.args if level == 'strict' else label


def step_labels(record: RunRecord, level: Level) -> list[str]:
    """The run's flattened steps, each rendered as `a` or `{a, b}` (sorted labels; arguments at level `strict`)."""
    steps: list[str] = []
    for positions in record.flow:
        labels = sorted(_label(record, p, level) for p in positions)
        steps.append(labels[0] if len(labels) == 1 else '{' + ', '.join(labels) + '}')
    return steps


def path(record: RunRecord, level: Level) -> list[str]:
    """`step_labels`, then `error: <ExceptionType>` if the run raised."""
    steps = step_labels(record, level)
    return [*steps, f'error: {record.error_type}'] if record.errored else steps


def _counted(records: Sequence[RunRecord]) -> list[RunRecord]:
    return sorted((r for r in records if not r.infrastructure), key=lambda r: r.index)


def tree(records: Sequence[RunRecord], level: Level, variants: Sequence[Variant] = ()) -> list[TreeNode]:
    """The prefix tree of the counted runs' paths (roots: the first steps), children most common first.

    `variants` (the case's, at `level`) names which variants end at each node."""
    position = {v.trajectory: i for i, v in enumerate(variants)}
    roots: list[TreeNode] = []
    for r in _counted(records):
        level_nodes = roots
        node: TreeNode | None = None
        for step in path(r, level):
            node = next((n for n in level_nodes if n.step == step), None)
            if node is None:
                node = TreeNode(step=step, count=0, example_run=r.index)
                level_nodes.append(node)
            node.count += 1
            level_nodes = node.children
        if node is not None:
            node.ends += 1
            v = position.get(variant_key(r, level))
            if v is not None and v not in node.variants:
                node.variants.append(v)

    def order(nodes: list[TreeNode]) -> list[TreeNode]:
        for n in nodes:
            n.children = order(n.children)
            n.variants.sort()
        return sorted(nodes, key=lambda n: (-n.count, n.example_run))

    return order(roots)


def _context(record: RunRecord, before: int | None) -> ModelContext | None:
    """The context of the last request that started before event `before` (None: the run's last request)."""
    ranked = sorted(enumerate(record.model_requests), key=lambda pair: pair[1].order)
    chosen = [(i, m) for i, m in ranked if before is None or m.order < before]
    if not chosen:
        return None
    # Requests are ranked by start, so the chosen ones are a prefix of the ranking.
    position = len(chosen)
    context: RequestContext | None = chosen[-1][1].context
    if context is None:
        return None
    return ModelContext(
        request=position,
        instructions=context.instructions,
        prompt=context.prompt,
        tool_results=list(context.tool_results),
    )


def divergence(records: Sequence[RunRecord], level: Level) -> Divergence | None:
    """The first step at which the counted runs' paths differ, its branches and their contexts; None when every
    counted run took the same path."""
    runs = _counted(records)
    paths = {r.index: path(r, level) for r in runs}
    if len({tuple(p) for p in paths.values()}) < 2:
        return None
    depth = 0
    while len({p[depth] if depth < len(p) else None for p in paths.values()}) == 1:
        depth += 1
    groups: dict[str | None, list[RunRecord]] = {}
    for r in runs:
        p = paths[r.index]
        groups.setdefault(p[depth] if depth < len(p) else None, []).append(r)
    branches: list[Branch] = []
    for step, members in groups.items():
        example = members[0]
        before = None
        why: list[str] = []
        if step is not None and depth < len(example.flow):
            before = min(example.tool_calls[i].order for i in example.flow[depth])
            calls = [example.tool_calls[i] for i in example.flow[depth]]
            why = [f'{c.name}: {c.why}' for c in calls if c.why]
        branches.append(
            Branch(step=step, count=len(members), example_run=example.index, context=_context(example, before), why=why)
        )
    branches.sort(key=lambda b: (-b.count, b.example_run))
    first = paths[runs[0].index]
    return Divergence(step=depth + 1, after=first[:depth], branches=branches)


def examples(records: Sequence[RunRecord], variants: Sequence[Variant]) -> list[ExampleRun]:
    """One run per variant (the variant's `example_run`): its calls with arguments and results, output and
    failures, truncated."""
    by_index = {r.index: r for r in records}
    out: list[ExampleRun] = []
    for i, v in enumerate(variants):
        r = by_index.get(v.example_run)
        if r is None:
            continue
        step_of = {p: s + 1 for s, positions in enumerate(r.flow) for p in positions}
        out.append(
            ExampleRun(
                variant=i,
                index=r.index,
                passed=r.passed,
                error=f'{r.error_type}: {r.error_message}' if r.errored else None,
                failed_assertions=[f'{a.name}: {a.reason or "false"}' for a in r.failed_assertions]
                + r.evaluator_errors,
                output=None if r.errored else clip(_json(r.output), OUTPUT_CHARS),
                calls=[
                    ExampleCall(
                        name=c.name,
                        step=step_of.get(p),
                        args=clip(c.args, ARGS_CHARS),
                        result=c.result,
                        failed=c.failed,
                    )
                    for p, c in enumerate(r.tool_calls)
                ],
            )
        )
    return out


def _json(value: object) -> str:
    return value if isinstance(value, str) else to_json(value, fallback=repr).decode()


def shared_context(branches: Sequence[Branch]) -> ModelContext | None:
    """The context every branch's example run saw when it chose, when it is one and the same (instructions, prompt
    and tool results; the request's position too): then the branches differ by sampling alone, not by what the model
    was shown. None when there is one branch, a context is missing, or two differ."""
    contexts = [b.context for b in branches]
    if len(contexts) < 2 or any(c is None for c in contexts):
        return None
    first = contexts[0]
    return first if all(c == first for c in contexts[1:]) else None
