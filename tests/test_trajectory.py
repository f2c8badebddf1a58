"""Canonical trajectories: which runs count as "the same trajectory" for determinism."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agentarch.trajectory import Call, flat_steps, normalize_args, render, shape, shape_with_args

STEP = 1_000_000


@dataclass
class Node:
    """A call in a tree spec: `steps` of children, each step a list of concurrent members."""

    kind: str
    name: str
    steps: list[list[Node]]


def layout(steps: list[list[Node]], jitter: st.DataObject | None) -> list[Call]:
    """Calls for `steps`: members of a step overlap (all start before any ends), steps follow each other.

    Without `jitter`, a fixed layout; with it, start and end times are drawn anywhere that keeps the same overlaps,
    and the members of each step are shuffled.
    """
    calls: list[Call] = []
    for i, step in enumerate(steps):
        members = list(step) if jitter is None else jitter.draw(st.permutations(step))
        for member in members:
            lead, tail = (0, 0) if jitter is None else jitter.draw(st.tuples(*[st.integers(0, STEP * 4 // 10)] * 2))
            base = i * STEP
            calls.append(
                Call(
                    kind=member.kind,  # type: ignore[arg-type]
                    name=member.name,
                    start=base + lead,
                    end=base + STEP // 2 + tail,
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
def test_shuffling_concurrent_members_and_moving_times_within_overlaps_keeps_the_form(
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
    name: str, start: int, end: int, *, batch: int | None = None, args: object = None, children: tuple[Call, ...] = ()
) -> Call:
    return Call(kind='tool', name=name, start=start, end=end, batch=batch, args=args, children=list(children))


def agent(start: int, end: int, *children: Call, name: str = 'worker') -> Call:
    return Call(kind='agent', name=name, start=start, end=end, children=list(children))


def test_concurrent_step_has_one_form_whichever_finished_first() -> None:
    x_first = [agent(0, 10, tool('x', 1, 3)), agent(0, 20, tool('y', 1, 15))]
    y_first = [agent(0, 20, tool('x', 1, 15)), agent(0, 10, tool('y', 1, 3))]
    assert shape(x_first) == shape(y_first)
    assert render(shape(x_first)) == '{agent(x), agent(y)}'


def test_tools_from_one_model_response_form_one_step_even_when_run_one_after_another() -> None:
    same_response = [tool('a', 0, 1, batch=1), tool('b', 2, 3, batch=1), tool('c', 4, 5, batch=2)]
    assert render(shape(same_response)) == '{a, b} > c'
    separate = [tool('a', 0, 1, batch=1), tool('b', 2, 3, batch=2), tool('c', 4, 5, batch=3)]
    assert render(shape(separate)) == 'a > b > c'


def test_agent_names_do_not_enter_the_form() -> None:
    assert shape([agent(0, 9, tool('a', 1, 2), name='one')]) == shape([agent(0, 9, tool('a', 1, 2), name='two')])


def test_flat_steps_aligns_concurrent_sequences_position_by_position() -> None:
    gathered = [agent(0, 100, tool('x', 1, 10), tool('y', 20, 30)), agent(0, 50, tool('z', 2, 8))]
    assert flat_steps(gathered) == [['x', 'z'], ['y']]


def test_flat_steps_sees_through_delegation_and_keeps_only_named_tools() -> None:
    delegation = [
        agent(
            0,
            100,
            tool('plan', 1, 5),
            tool('delegate', 10, 60, children=(agent(11, 59, tool('x', 12, 20), tool('y', 30, 40)),)),
            tool('report', 70, 80),
        )
    ]
    assert flat_steps(delegation) == [['plan'], ['delegate'], ['x'], ['y'], ['report']]
    assert flat_steps(delegation, keep={'x', 'y', 'report'}) == [['x'], ['y'], ['report']]
    assert render(shape(delegation)) == 'agent(plan > delegate(agent(x > y)) > report)'


def test_level_two_normalizes_arguments() -> None:
    mask = [re.compile(r'request_id'), re.compile(r'window\.start')]
    args = {'b': 1.23456789, 'request_id': 'r-17', 'window': {'start': 5, 'end': 9}, 'a': [0.1 + 0.2, float('nan')]}
    assert normalize_args(args, mask=mask, digits=3) == (
        '{"a":[0.3,"nan"],"b":1.23,"request_id":"*","window":{"end":9,"start":"*"}}'
    )
    # Key order, float noise beyond the kept digits and masked values do not split level 2; a real change does.
    one = [tool('a', 0, 1, args={'x': 0.30000000000000004, 'request_id': 'r-1', 'y': 'p'})]
    two = [tool('a', 0, 1, args={'y': 'p', 'request_id': 'r-2', 'x': 0.3})]
    three = [tool('a', 0, 1, args={'y': 'q', 'request_id': 'r-2', 'x': 0.3})]
    masked = [re.compile('request_id')]
    assert shape_with_args(one, mask=masked) == shape_with_args(two, mask=masked)
    assert shape_with_args(one) != shape_with_args(two)
    assert shape_with_args(two, mask=masked) != shape_with_args(three, mask=masked)
    assert shape(two) == shape(three)


def test_nothing_called_renders_as_such() -> None:
    assert render(shape([])) == '(no tool calls)'
