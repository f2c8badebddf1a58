"""Canonical trajectories: which runs count as "the same trajectory" for determinism."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agentarch.core.trajectory import (
    Call,
    flat_steps,
    normalize_args,
    render,
    render_tools,
    shape,
    shape_with_args,
)

STEP = 1_000_000


@dataclass
class Node:
    """A call in a tree spec: `steps` of children, each step a list of concurrent members."""

    kind: str
    name: str
    steps: list[list[Node]]


def layout(steps: list[list[Node]], jitter: st.DataObject | None) -> list[Call]:
    """Calls for `steps`, with the structure capture records: a one-member step is a call awaited in its parent's
    task; the members of a larger step ran in sibling tasks of one concurrent group.

    Without `jitter`, a fixed layout whose times follow the steps; with it, start and end times are drawn anywhere
    at all (overlapping across steps, or not overlapping within one), members of each step are shuffled, and so is
    the list: only the structure is kept.
    """
    events = iter(range(1, 10**9))
    calls: list[Call] = []
    for i, step in enumerate(steps):
        group = next(events)
        members = list(step) if jitter is None else jitter.draw(st.permutations(step))
        for member in members:
            lane = next(events)
            if jitter is None:
                start, end = i * STEP, i * STEP + STEP // 2
            else:
                start, end = sorted(jitter.draw(st.tuples(*[st.integers(0, STEP * len(steps))] * 2)))
            calls.append(
                Call(
                    kind=member.kind,  # type: ignore[arg-type]
                    name=member.name,
                    start=start,
                    end=end,
                    order=group if len(step) == 1 else next(events),
                    path=() if len(step) == 1 else ((group, lane),),
                    args={'q': member.name},
                    children=layout(member.steps, jitter),
                )
            )
    if jitter is not None:
        calls = jitter.draw(st.permutations(calls))
    return calls


names = st.sampled_from(['alpha', 'beta', 'gamma', 'delta'])
trees = st.recursive(
    st.builds(Node, kind=st.just('tool'), name=names, steps=st.just([])),
    lambda inner: st.builds(
        Node,
        kind=st.sampled_from(['tool', 'agent']),
        name=names,
        steps=st.lists(st.lists(inner, min_size=1, max_size=3), min_size=1, max_size=3),
    ),
    max_leaves=8,
)
forests = st.lists(st.lists(trees, min_size=1, max_size=3), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(forests, st.data())
def test_shuffling_concurrent_members_and_moving_times_anywhere_keeps_the_form(
    steps: list[list[Node]], data: st.DataObject
) -> None:
    fixed = layout(steps, None)
    moved = layout(steps, data)
    assert shape(moved) == shape(fixed)
    assert shape_with_args(moved) == shape_with_args(fixed)
    assert flat_steps(moved) == flat_steps(fixed)


@settings(max_examples=60, deadline=None)
@given(forests, st.integers(0, 4), names, st.data())
def test_inserting_a_sequential_tool_changes_the_form(
    steps: list[list[Node]], position: int, name: str, data: st.DataObject
) -> None:
    position = min(position, len(steps))
    inserted = [*steps[:position], [Node('tool', name, [])], *steps[position:]]
    assert shape(layout(inserted, data)) != shape(layout(steps, None))


@settings(max_examples=50, deadline=None)
@given(forests, st.data())
def test_swapping_two_different_sequential_steps_changes_the_form(steps: list[list[Node]], data: st.DataObject) -> None:
    fixed = shape(layout(steps, None))
    position = data.draw(st.integers(0, len(steps) - 1))
    if position + 1 >= len(steps) or fixed[position] == fixed[position + 1]:
        return
    swapped = [*steps[:position], steps[position + 1], steps[position], *steps[position + 2 :]]
    assert shape(layout(swapped, data)) != fixed


def tool(
    name: str,
    order: int,
    *,
    batch: int | None = None,
    path: tuple[tuple[int, int], ...] = (),
    args: object = None,
    failed: bool = False,
    children: tuple[Call, ...] = (),
    start: int = 0,
    end: int = 0,
) -> Call:
    return Call(
        kind='tool',
        name=name,
        start=start,
        end=end,
        order=order,
        batch=batch,
        path=path,
        args=args,
        failed=failed,
        children=list(children),
    )


def agent(order: int, *children: Call, path: tuple[tuple[int, int], ...] = (), name: str = 'worker') -> Call:
    return Call(kind='agent', name=name, start=0, end=0, order=order, path=path, children=list(children))


def test_concurrent_step_has_one_form_whichever_finished_first() -> None:
    # gather(agent_x, agent_y): group 1, lanes 2 and 3. Which one started or ended first does not matter.
    x_first = [agent(4, tool('x', 5), path=((1, 2),)), agent(6, tool('y', 7), path=((1, 3),))]
    y_first = [agent(4, tool('y', 5), path=((1, 2),)), agent(6, tool('x', 7), path=((1, 3),))]
    assert shape(x_first) == shape(y_first)
    assert render(shape(x_first)) == '{agent(x), agent(y)}'


def test_sequential_calls_stay_sequential_even_when_their_times_overlap() -> None:
    # Two awaits in one task (empty paths), timestamps that a clock with coarse resolution would show overlapping.
    overlapping = [tool('a', 1, start=0, end=10), tool('b', 2, start=5, end=15)]
    assert render(shape(overlapping)) == 'a > b'
    assert flat_steps(overlapping) == [['a'], ['b']]


def test_tasks_of_two_groups_are_two_steps_in_group_order() -> None:
    # create_task(a); await it; create_task(b); await it: two groups (1 and 3), whatever the times say.
    calls = [tool('b', 4, path=((3, 3),), start=0, end=9), tool('a', 2, path=((1, 1),), start=0, end=9)]
    assert render(shape(calls)) == 'a > b'


def test_a_group_sits_where_its_first_task_was_created() -> None:
    # t = create_task(a()) (event 1); await b() (event 2, direct); await t: a started later, but the group comes first.
    calls = [tool('b', 2), tool('a', 3, path=((1, 1),))]
    assert render(shape(calls)) == 'a > b'


def test_tools_from_one_model_response_form_one_step_even_when_run_one_after_another() -> None:
    same_response = [tool('a', 1, batch=1), tool('b', 2, batch=1), tool('c', 3, batch=2)]
    assert render(shape(same_response)) == '{a, b} > c'
    separate = [tool('a', 1, batch=1), tool('b', 2, batch=2), tool('c', 3, batch=3)]
    assert render(shape(separate)) == 'a > b > c'


def test_agent_names_do_not_enter_the_form() -> None:
    assert shape([agent(1, tool('a', 2), name='one')]) == shape([agent(1, tool('a', 2), name='two')])


def test_a_lane_that_holds_a_sequence_stays_one_member_of_the_step() -> None:
    # gather(seq(), c()) where seq awaits a then b in its task (lane 2), c in lane 3.
    calls = [tool('a', 4, path=((1, 2),)), tool('b', 5, path=((1, 2),)), tool('c', 6, path=((1, 3),))]
    assert render(shape(calls)) == '{[a > b], c}'
    assert flat_steps(calls) == [['a', 'c'], ['b']]


def test_a_nested_gather_is_one_step_with_the_outer_one() -> None:
    # gather(inner(), c()) where inner gathers a and b in tasks of its own: one step {a, b, c}, like gather(a, b, c).
    nested = [
        tool('a', 6, path=((1, 2), (4, 4))),
        tool('b', 7, path=((1, 2), (4, 5))),
        tool('c', 8, path=((1, 3),)),
    ]
    flat = [tool('a', 4, path=((1, 2),)), tool('b', 5, path=((1, 3),)), tool('c', 6, path=((1, 7),))]
    assert shape(nested) == shape(flat)
    assert render(shape(nested)) == '{a, b, c}'


def test_flat_steps_aligns_concurrent_sequences_position_by_position() -> None:
    gathered = [
        agent(3, tool('x', 5, batch=0), tool('y', 7, batch=1), path=((1, 1),)),
        agent(4, tool('z', 6, batch=0), path=((1, 2),)),
    ]
    assert flat_steps(gathered) == [['x', 'z'], ['y']]


def test_flat_steps_sees_through_delegation_and_keeps_only_named_tools() -> None:
    delegation = [
        agent(
            1,
            tool('plan', 2, batch=0),
            tool('delegate', 3, batch=1, children=(agent(4, tool('x', 5, batch=0), tool('y', 6, batch=1)),)),
            tool('report', 7, batch=2),
        )
    ]
    assert flat_steps(delegation) == [['plan'], ['delegate'], ['x'], ['y'], ['report']]
    assert flat_steps(delegation, keep={'x', 'y', 'report'}) == [['x'], ['y'], ['report']]
    assert render(shape(delegation)) == 'agent(plan > delegate(agent(x > y)) > report)'


def test_tools_level_is_the_multiset_of_names_with_failures_marked() -> None:
    calls = [
        agent(1, tool('b', 2, batch=0), tool('a', 3, batch=1, failed=True), tool('a', 4, batch=2)),
        tool('b', 5, children=(agent(6, tool('b', 7, batch=0)),)),
    ]
    assert render_tools(calls) == 'a, a!, b x3'
    # Order and batching do not matter at this level: the same calls one per step give the same key.
    reordered = [tool('b', 1), tool('a', 2), tool('b', 3), tool('a', 4, failed=True), tool('b', 5)]
    assert render_tools(reordered) == render_tools(calls)
    assert render_tools([]) == '(no tool calls)'


def test_level_two_normalizes_arguments() -> None:
    mask = [re.compile(r'request_id'), re.compile(r'window\.start')]
    args = {'b': 1.23456789, 'request_id': 'r-17', 'window': {'start': 5, 'end': 9}, 'a': [0.1 + 0.2, float('nan')]}
    assert normalize_args(args, mask=mask, digits=3) == (
        '{"a":[0.3,"nan"],"b":1.23,"request_id":"*","window":{"end":9,"start":"*"}}'
    )
    # Key order, float noise beyond the kept digits and masked values do not split level 2; a real change does.
    one = [tool('a', 1, args={'x': 0.30000000000000004, 'request_id': 'r-1', 'y': 'p'})]
    two = [tool('a', 1, args={'y': 'p', 'request_id': 'r-2', 'x': 0.3})]
    three = [tool('a', 1, args={'y': 'q', 'request_id': 'r-2', 'x': 0.3})]
    masked = [re.compile('request_id')]
    assert shape_with_args(one, mask=masked) == shape_with_args(two, mask=masked)
    assert shape_with_args(one) != shape_with_args(two)
    assert shape_with_args(two, mask=masked) != shape_with_args(three, mask=masked)
    assert shape(two) == shape(three)


def test_nothing_called_renders_as_such() -> None:
    assert render(shape([])) == '(no tool calls)'
