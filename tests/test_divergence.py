"""Where runs diverge: the tree of step sequences, the first branching step, its branch counts and the model's
context on each branch; from hand-built records, then end to end from real agents."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch.core.divergence import divergence, examples, path, tree
from pytest_agentarch.core.records import ModelRequestRecord, RequestContext, RunRecord, ToolCallRecord
from pytest_agentarch.core.stats import case_stats
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case


def call(name: str, order: int, args: str = '{}', result: str | None = None) -> ToolCallRecord:
    return ToolCallRecord(name=name, args=args, order=order, result=result)


def request(order: int, prompt: str = '', results: tuple[str, ...] = ()) -> ModelRequestRecord:
    context = RequestContext(instructions='Be brief.', prompt=prompt, tool_results=list(results))
    return ModelRequestRecord(
        model='m', input_tokens=1, output_tokens=1, cost=None, duration=0.0, order=order, context=context
    )


def batched(index: int) -> RunRecord:
    """a, then {b, c} asked for by one response, then d: requests at events 1, 5, 10, 20."""
    return RunRecord(
        index=index,
        duration=0.1,
        trajectory='agent(a > {b, c} > d)',
        tool_calls=[call('a', 3, result='"A"'), call('b', 7), call('c', 8), call('d', 12)],
        flow=[[0], [1, 2], [3]],
        model_requests=[
            request(1, prompt='go'),
            request(5, prompt='go', results=('a: A',)),
            request(10, prompt='go', results=('b: B', 'c: C')),
            request(20, prompt='go', results=('d: D',)),
        ],
    )


def sequential(index: int) -> RunRecord:
    """a, then b, then c, then d, one call per response: requests at events 1, 5, 9, 12, 15."""
    return RunRecord(
        index=index,
        duration=0.1,
        trajectory='agent(a > b > c > d)',
        tool_calls=[call('a', 3), call('b', 7), call('c', 10), call('d', 13)],
        flow=[[0], [1], [2], [3]],
        model_requests=[
            request(1, prompt='go'),
            request(5, prompt='go', results=('a: A2',)),
            request(9, results=('b: B',)),
            request(12),
            request(15),
        ],
    )


def raised(index: int) -> RunRecord:
    """a, then the run raised before any other call: requests at events 1 and 5."""
    return RunRecord(
        index=index,
        duration=0.1,
        error_type='UsageLimitExceeded',
        error_message='request_limit of 2',
        error_kind='behaviour',
        trajectory='agent(a)',
        tool_calls=[call('a', 3)],
        flow=[[0]],
        model_requests=[request(1, prompt='go'), request(5, prompt='go', results=('a: A3',))],
    )


def infrastructure(index: int) -> RunRecord:
    return RunRecord(index=index, duration=0.1, error_type='ModelHTTPError', error_kind='infrastructure', flow=[])


def test_first_branching_step_counts_runs_per_branch_and_shows_what_the_model_saw() -> None:
    # Runs 0, 2, 4 batch b and c; run 1 calls them one by one; run 3 raised after a; run 5 failed on infrastructure
    # and counts nowhere. Every counted run took `a` first, so they part at step 2: 3 runs `{b, c}`, 1 `b`,
    # 1 the error.
    records = [batched(0), sequential(1), batched(2), raised(3), batched(4), infrastructure(5)]
    found = divergence(records, 'steps')
    assert found is not None
    assert (found.step, found.after) == (2, ['a'])
    assert [(b.step, b.count, b.example_run) for b in found.branches] == [
        ('{b, c}', 3, 0),
        ('b', 1, 1),
        ('error: UsageLimitExceeded', 1, 3),
    ]
    batch, one, error = (b.context for b in found.branches)
    # Run 0's step 2 starts at event 7 (b); the last request before it started at event 5: the 2nd request,
    # which had just shown the model a's result.
    assert batch is not None and (batch.request, batch.tool_results, batch.prompt) == (2, ['a: A'], 'go')
    # Run 1's step 2 starts at event 7 too; its 2nd request (event 5) showed a's result A2.
    assert one is not None and (one.request, one.tool_results) == (2, ['a: A2'])
    # A run that raised there: its last request, the 2nd.
    assert error is not None and (error.request, error.tool_results) == (2, ['a: A3'])


def test_tree_merges_paths_and_counts_each_node() -> None:
    records = [batched(0), sequential(1), batched(2), raised(3), batched(4), infrastructure(5)]
    stats = case_stats(records, architecture='x', case='c')
    roots = tree(records, 'steps', stats.variants)

    def shape(nodes: list[Any]) -> list[Any]:
        return [(n.step, n.count, n.ends, n.variants, shape(n.children)) for n in nodes]

    # Variants, most common first: 0 batched (3 runs), 1 sequential (1, first at run 1), 2 the error (run 3).
    assert [v.trajectory for v in stats.variants] == [
        'agent(a > {b, c} > d)',
        'agent(a > b > c > d)',
        'error: UsageLimitExceeded',
    ]
    assert shape(roots) == [
        (
            'a',
            5,
            0,
            [],
            [
                ('{b, c}', 3, 0, [], [('d', 3, 3, [0], [])]),
                ('b', 1, 0, [], [('c', 1, 0, [], [('d', 1, 1, [1], [])])]),
                ('error: UsageLimitExceeded', 1, 1, [2], []),
            ],
        )
    ]


def test_runs_that_agree_have_no_divergence_and_a_run_that_stops_early_is_a_branch() -> None:
    assert divergence([batched(0), batched(1), infrastructure(2)], 'steps') is None
    short = RunRecord(
        index=7,
        duration=0.1,
        trajectory='agent(a)',
        tool_calls=[call('a', 3)],
        flow=[[0]],
        model_requests=[request(1, prompt='go'), request(5, prompt='go', results=('a: A7',))],
    )
    found = divergence([batched(0), short], 'steps')
    assert found is not None and found.step == 2
    assert [(b.step, b.count) for b in found.branches] == [('{b, c}', 1), (None, 1)]
    # The short run answered after seeing a's result: its last request is the one that chose to stop.
    assert found.branches[1].context is not None and found.branches[1].context.tool_results == ['a: A7']


def test_strict_level_parts_runs_on_arguments() -> None:
    def run(index: int, key: str) -> RunRecord:
        return RunRecord(index=index, duration=0.1, tool_calls=[call('a', 1, args=f'{{"k":"{key}"}}')], flow=[[0]])

    runs = [run(0, 'x'), run(1, 'y'), run(2, 'x')]
    assert divergence(runs, 'steps') is None
    found = divergence(runs, 'strict')
    assert found is not None and found.step == 1
    assert [(b.step, b.count) for b in found.branches] == [('a{"k":"x"}', 2), ('a{"k":"y"}', 1)]
    assert path(run(3, 'z'), 'strict') == ['a{"k":"z"}']


def test_one_example_run_per_variant_with_calls_output_and_failures() -> None:
    records = [batched(0), sequential(1), raised(2)]
    records[0].output = {'verdict': 'ok'}
    stats = case_stats(records, architecture='x', case='c')
    found = examples(records, stats.variants)
    assert [(e.variant, e.index, e.passed) for e in found] == [(0, 0, True), (1, 1, True), (2, 2, False)]
    assert found[0].output == '{"verdict":"ok"}'
    assert [(c.name, c.step, c.result) for c in found[0].calls] == [
        ('a', 1, '"A"'),
        ('b', 2, None),
        ('c', 2, None),
        ('d', 3, None),
    ]
    assert found[2].error == 'UsageLimitExceeded: request_limit of 2' and found[2].output is None


# ------------------------------------------------------------------------------------------------ end to end


def probe(key: str) -> str:
    """A tool whose result decides what the model does next."""
    return 'high' if key in ('1', '3') else 'low'


def follow_up(key: str) -> str:
    return f'checked {key}'


async def decide(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Probe first; on a `high` result call `follow_up`, on `low` answer at once."""
    returns = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        prompt = next(
            p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if hasattr(p, 'content')
        )
        return ModelResponse(parts=[ToolCallPart('probe', {'key': str(prompt)[-1]})])
    if returns[-1].tool_name == 'probe' and returns[-1].content == 'high':
        return ModelResponse(parts=[ToolCallPart('follow_up', {'key': 'x'})])
    return ModelResponse(parts=[TextPart('done')])


async def investigate(inputs: Any, model: Model) -> str:
    from pytest_agentarch import current_run

    agent = Agent(model, tools=[probe, follow_up], instructions='Probe, then follow up on anything <high>.')
    run = current_run()
    assert run is not None
    return (await agent.run(f'check run {run.index}')).output


def test_real_agent_runs_diverge_where_a_tool_result_differed_and_the_context_shows_it() -> None:
    arch = Architecture(name='investigate', description='', func=investigate)
    records = asyncio.run(run_case(arch, FunctionModel(decide), CaseSpec(name='c', inputs=None), RunSettings(runs=4)))
    found = divergence(records, 'steps')
    # Runs 1 and 3 probe `high` and follow up; runs 0 and 2 see `low` and answer: step 2 is follow_up or the end.
    assert found is not None and (found.step, found.after) == (2, ['probe'])
    # A tie in count: the branch whose first run came first leads.
    assert [(b.step, b.count, b.example_run) for b in found.branches] == [(None, 2, 0), ('follow_up', 2, 1)]
    stop, follow = (b.context for b in found.branches)
    # Both chose on their 2nd request, having been shown the probe's result and still answering their prompt.
    assert follow is not None and (follow.request, follow.tool_results, follow.prompt) == (
        2,
        ['probe: high'],
        'check run 1',
    )
    assert stop is not None and (stop.request, stop.tool_results, stop.prompt) == (2, ['probe: low'], 'check run 0')
    assert follow.instructions == 'Probe, then follow up on anything <high>.'
    (first,) = [e for e in examples(records, case_stats(records, architecture='i', case='c').variants) if e.index == 1]
    assert [(c.name, c.result) for c in first.calls] == [('probe', 'high'), ('follow_up', 'checked x')]
