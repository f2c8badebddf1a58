"""`sim` looking further and reading times: subjects a result lists are followed only when the user states a symptom
that nothing found explains, and a time of day, a period or the user's own question fill the parameters that ask for
them. The agents are a warehouse's, which `sim` has never seen; every expected call and rate is worked out by hand."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart

from pytest_agentarch.backends._sim.text import mentions, periods
from pytest_agentarch.backends.sim import SimulatedModel

SHELVES: dict[str, dict[str, Any]] = {
    'shelf-7': {'name': 'shelf-7', 'damaged': False, 'boxes': ['box-1', 'box-2', 'box-3']},
    'shelf-9': {'name': 'shelf-9', 'damaged': True, 'boxes': ['box-4', 'box-5']},
}
BOXES: dict[str, dict[str, Any]] = {
    'box-1': {'name': 'box-1', 'damaged': False},
    'box-2': {'name': 'box-2', 'damaged': True},
    'box-3': {'name': 'box-3', 'damaged': False},
    'box-4': {'name': 'box-4', 'damaged': False},
    'box-5': {'name': 'box-5', 'damaged': False},
}


class Finding(BaseModel):
    """Whether something is damaged."""

    damaged: bool
    name: str


def warehouse(
    instructions: str = 'You check the warehouse for damage.', *, weigh: bool = False
) -> Agent[None, Finding]:
    agent: Agent[None, Finding] = Agent(output_type=Finding, instructions=instructions)

    @agent.tool_plain
    def inspect(kind: Literal['shelf', 'box'], name: str) -> dict[str, Any]:
        """Inspect a shelf or a box of the warehouse and say whether it is damaged.

        Args:
            kind: What to inspect.
            name: The shelf or box name.
        """
        return (SHELVES if kind == 'shelf' else BOXES)[name]

    if weigh:

        @agent.tool_plain
        def weigh_shelf(name: str) -> dict[str, Any]:
            """Weigh a shelf with everything on it.

            Args:
                name: The shelf name.
            """
            return {'name': name, 'kilograms': 120}

    return agent


def calls(messages: list[Any]) -> list[list[tuple[str, dict[str, Any]]]]:
    """The tool calls of each response (the answer's output call included)."""
    return [
        [(p.tool_name, p.args_as_dict()) for p in m.parts if isinstance(p, ToolCallPart)]
        for m in messages
        if isinstance(m, ModelResponse)
    ]


def run(agent: Agent[None, Finding], prompt: str, temperature: float, seed: int = 0) -> tuple[Finding, list[Any]]:
    result = asyncio.run(agent.run(prompt, model=SimulatedModel(temperature=temperature, seed=seed)))
    return result.output, calls(result.all_messages())


HEALTHY = 'Inspect the shelf shelf-7 and tell me whether anything is damaged.'
BROKEN = 'Goods from shelf shelf-7 keep arriving broken. Inspect the shelf and find out what is damaged.'
"""The same request after a symptom the user states: the shelf's own result does not explain it."""
FOLLOW_CHANCE = 1 / (1 + math.exp(0.12 / (0.2 * 0.7)))
"""The first choice to look further at temperature 0.7: margin -0.12 over 0.2 x 0.7, logistic: 0.298."""


def test_at_temperature_zero_a_healthy_result_is_the_answer_and_nothing_listed_is_followed() -> None:
    outputs = [run(warehouse(), prompt, 0.0) for prompt in (HEALTHY, BROKEN, BROKEN)]
    for output, steps in outputs:
        assert steps == [
            [('inspect', {'kind': 'shelf', 'name': 'shelf-7'})],
            [('final_result', {'damaged': False, 'name': 'shelf-7'})],
        ]
        assert output == Finding(damaged=False, name='shelf-7')


def test_above_zero_the_listed_subjects_are_sometimes_followed_and_the_answer_reads_what_they_showed() -> None:
    followed = 0
    for seed in range(300):
        output, steps = run(warehouse(), BROKEN, 0.7, seed)
        assert steps[0] == [('inspect', {'kind': 'shelf', 'name': 'shelf-7'})]
        looked = [args['name'] for step in steps[1:-1] for name, args in step]
        # A listed box, as a box (the type option that names the key's word), never the shelf again, at most two.
        assert all(step == [('inspect', {'kind': 'box', 'name': step[0][1]['name']})] for step in steps[1:-1]), steps
        assert set(looked) <= {'box-1', 'box-2', 'box-3'} and len(looked) == len(set(looked)) <= 2
        followed += bool(looked)
        # The answer takes the followed results into account: the damaged box is a finding, the latest one wins.
        assert output.damaged == ('box-2' in looked), (seed, steps)
    # The first choice alone: 300 x 0.298 = 89.4 expected, sd sqrt(300 x 0.298 x 0.702) = 7.9; 4 sd either side.
    assert abs(followed - 300 * FOLLOW_CHANCE) <= 4 * math.sqrt(300 * FOLLOW_CHANCE * (1 - FOLLOW_CHANCE))


def test_a_result_that_explains_the_task_is_never_followed() -> None:
    for seed in range(100):
        output, steps = run(warehouse(), BROKEN.replace('shelf-7', 'shelf-9'), 0.7, seed)
        assert steps[:-1] == [[('inspect', {'kind': 'shelf', 'name': 'shelf-9'})]]
        assert output.damaged is True


def test_a_healthy_first_result_does_not_make_sim_wander_when_no_symptom_is_stated() -> None:
    for seed in range(100):
        output, steps = run(warehouse(), HEALTHY, 0.7, seed)
        assert steps[:-1] == [[('inspect', {'kind': 'shelf', 'name': 'shelf-7'})]], (seed, steps)
        assert output == Finding(damaged=False, name='shelf-7')


def test_the_listed_subjects_wait_until_the_asked_steps_are_done() -> None:
    agent = warehouse(
        'You check the warehouse. First call inspect for the shelf, then call weigh_shelf for it. Then answer.',
        weigh=True,
    )
    followed = 0
    for seed in range(60):
        _, steps = run(agent, BROKEN, 0.7, seed)
        assert steps[:2] == [
            [('inspect', {'kind': 'shelf', 'name': 'shelf-7'})],
            [('weigh_shelf', {'name': 'shelf-7'})],
        ], (seed, steps)
        followed += len(steps) > 3
    # Once both steps are done, the listed boxes are open to the same choice as without a second step.
    assert followed > 0


def test_results_that_never_say_whether_something_is_wrong_are_no_reason_to_look_further() -> None:
    agent: Agent[None, str] = Agent(instructions='You list what is stored.')

    @agent.tool_plain
    def inspect(kind: Literal['shelf', 'box'], name: str) -> dict[str, Any]:
        """List a shelf or a box of the warehouse.

        Args:
            kind: What to list.
            name: The shelf or box name.
        """
        return {'name': name, 'boxes': ['box-1', 'box-2']}

    for seed in range(60):
        result = asyncio.run(agent.run(BROKEN, model=SimulatedModel(temperature=0.7, seed=seed)))
        assert calls(result.all_messages())[:-1] == [[('inspect', {'kind': 'shelf', 'name': 'shelf-7'})]]


def test_a_tool_the_instructions_say_to_call_once_is_not_used_to_follow() -> None:
    agent = warehouse('You check the warehouse for damage. Call inspect once for the shelf in the prompt.')
    for seed in range(60):
        _, steps = run(agent, BROKEN, 0.7, seed)
        assert steps[:-1] == [[('inspect', {'kind': 'shelf', 'name': 'shelf-7'})]]


# --- times and the user's question ---------------------------------------------------------------------------------


def test_a_time_of_day_is_read_on_its_own_never_inside_an_iso_time() -> None:
    found, _ = mentions('Deliveries have been late since about 9:30 pm, and at 08:05 too; see 2026-03-14T10:00:00Z.')
    assert [(m.kind, m.value) for m in found] == [
        ('clock', '21:30'),
        ('clock', '08:05'),
        ('time', '2026-03-14T10:00:00Z'),
    ]
    assert periods('over the last hour, the past 30 minutes and the previous two days') == (
        (60.0, 5),
        (30.0, 20),
        (2880.0, 44),
    )


def lookups() -> Agent[None, str]:
    agent: Agent[None, str] = Agent(instructions='You answer questions about deliveries with the tools.')

    @agent.tool_plain
    def deliveries_since(since: str) -> list[str]:
        """The deliveries that arrived since a time.

        Args:
            since: When to count from: a time of day 'HH:MM', e.g. '07:00'.
        """
        return [f'delivery after {since}']

    @agent.tool_plain
    def late_deliveries(minutes: int) -> list[str]:
        """The deliveries that came late recently.

        Args:
            minutes: How many minutes back to look.
        """
        return [f'late within {minutes}']

    @agent.tool_plain
    def search_notes(question: str) -> list[str]:
        """Search the depot's notes.

        Args:
            question: The question as the user asked it.
        """
        return [question]

    return agent


@pytest.mark.parametrize(
    ('prompt', 'expected'),
    [
        ('Which deliveries arrived since about 9:30 pm?', ('deliveries_since', {'since': '21:30'})),
        ('Show the deliveries that came late over the last hour.', ('late_deliveries', {'minutes': 60})),
        ('Search the notes: why was the truck from Lyon turned away?', None),
    ],
)
def test_times_periods_and_the_question_fill_the_parameters_that_ask_for_them(
    prompt: str, expected: tuple[str, dict[str, Any]] | None
) -> None:
    result = asyncio.run(lookups().run(prompt, model=SimulatedModel(temperature=0)))
    first = calls(result.all_messages())[0]
    wanted = expected or ('search_notes', {'question': prompt})
    assert first == [wanted], json.dumps(first)


# --- a question that names no subject: the look-up's find is what is investigated -----------------------------------


class SiteReport(BaseModel):
    """What was found at a site."""

    site: str
    damaged: bool


def depot() -> Agent[None, SiteReport]:
    agent: Agent[None, SiteReport] = Agent(
        output_type=SiteReport,
        instructions=(
            'You look into delivery problems. First call find_sites with the question (the site is the match it '
            'returns) and delivery_window with the time the trouble started. Then call inspect_site for the site '
            'over the window. Then answer.'
        ),
    )

    @agent.tool_plain
    def find_sites(question: str) -> dict[str, Any]:
        """Search the depot's sites for the ones a question is about.

        Args:
            question: The question as the user asked it.
        """
        return {'matches': [{'site': 'geo:site/lyon-2', 'matched_words': ['deliveries']}]}

    @agent.tool_plain
    def delivery_window(since: str) -> dict[str, str]:
        """The window to inspect, from when the trouble started.

        Args:
            since: A time of day 'HH:MM', e.g. '07:00'.
        """
        return {'window_start': f'2026-05-04T{since}:00Z', 'window_end': '2026-05-04T08:00:00Z'}

    @agent.tool_plain
    def inspect_site(site_type: str, name: str, start: str, end: str) -> dict[str, Any]:
        """Inspect a depot site over a window.

        Args:
            site_type: 'geo:site'.
            name: The site name.
            start: Window start, ISO 8601 UTC.
            end: Window end, ISO 8601 UTC.
        """
        return {'site': f'{site_type}/{name}', 'damaged': False, 'next_site': 'geo:site/paris-1'}

    return agent


def test_a_question_that_names_no_subject_is_investigated_where_the_look_up_points() -> None:
    prompt = 'Deliveries have been late since about 07:00, look into it.'
    result = asyncio.run(depot().run(prompt, model=SimulatedModel(temperature=0)))
    steps = calls(result.all_messages())
    assert sorted(steps[0], key=lambda c: c[0]) == [
        ('delivery_window', {'since': '07:00'}),
        ('find_sites', {'question': prompt}),
    ]
    # The reference the search returned gives the type and the name; the window's pair of times gives start and end.
    assert steps[1] == [
        (
            'inspect_site',
            {'site_type': 'geo:site', 'name': 'lyon-2', 'start': '2026-05-04T07:00:00Z', 'end': '2026-05-04T08:00:00Z'},
        )
    ]
    # The answer names the site the investigation started from, not the later one a result mentions.
    assert result.output == SiteReport(site='geo:site/lyon-2', damaged=False)


def test_a_symptom_passed_on_as_a_json_question_counts_and_data_in_the_prompt_does_not() -> None:
    agent = warehouse()
    passed = f'Shelf: shelf-7.\n{json.dumps({"question": BROKEN})}'
    data = f'{HEALTHY}\n{json.dumps({"evidence": "3 errors, 2 broken seals"})}'
    follows = {name: 0 for name in ('passed', 'data')}
    for seed in range(60):
        for name, prompt in (('passed', passed), ('data', data)):
            _, steps = run(agent, prompt, 0.7, seed)
            follows[name] += len(steps) > 2
    assert follows['data'] == 0 and follows['passed'] > 0


def test_a_time_of_day_stays_the_one_the_user_wrote_after_a_result_gives_windows() -> None:
    prompt = 'Deliveries have been late since about 07:00, look into it.'
    for seed in range(30):
        result = asyncio.run(depot().run(prompt, model=SimulatedModel(temperature=0.7, seed=seed)))
        windows = [args for step in calls(result.all_messages()) for name, args in step if name == 'delivery_window']
        assert windows == [{'since': '07:00'}], (seed, windows)
