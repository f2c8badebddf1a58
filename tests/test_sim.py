"""The simulated model `sim`: a tool-calling stand-in for an LLM that works with agents it has never seen."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model

from pytest_agentarch.backends._sim.planning import slips
from pytest_agentarch.backends.sim import SimulatedModel
from pytest_agentarch.requests.settings import SessionSettingsModel
from pytest_agentarch.run.context import RunInfo, run_scope


def trajectory(messages: list[Any]) -> list[list[tuple[str, str]]]:
    """Tool calls per model response, with canonical arguments."""
    steps: list[list[tuple[str, str]]] = []
    for message in messages:
        if isinstance(message, ModelResponse):
            steps.append(
                [
                    (p.tool_name, json.dumps(p.args_as_dict(), sort_keys=True))
                    for p in message.parts
                    if isinstance(p, ToolCallPart)
                ]
            )
    return steps


def run(agent: Agent[Any, Any], prompt: str, model: Model, index: int | None = None) -> Any:
    if index is None:
        return asyncio.run(agent.run(prompt, model=model))
    with run_scope(RunInfo(session_seed=7, case='case', architecture='arch', index=index)):
        return asyncio.run(agent.run(prompt, model=model))


# --- agents the model has never seen -------------------------------------------------------------------------------


class Weather(BaseModel):
    city: str
    temperature_c: float
    conditions: Literal['sunny', 'cloudy', 'rain', 'snow']


def weather_agent(known: tuple[str, ...] = ('Paris', 'Berlin', 'Oslo')) -> Agent[None, Weather]:
    agent = Agent(output_type=Weather, instructions='You are a weather assistant. Use get_weather to answer.')

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city.

        Args:
            city: Name of the city.
        """
        if city not in known:
            raise ModelRetry(f'Unknown city {city!r}. Known cities: {", ".join(repr(k) for k in known)}.')
        return {'city': city, 'temperature_c': 11.5, 'conditions': 'cloudy'}

    return agent


class Health(BaseModel):
    healthy: bool
    problem: str
    confidence: float = Field(ge=0, le=1)


def many_tool_agent() -> Agent[None, Health]:
    agent = Agent(output_type=Health, instructions='You help operators keep a web shop running.')

    def checker(area: str, healthy: bool, confidence: float) -> Any:
        def check(service: str) -> dict[str, Any]:
            return {
                'area': area,
                'healthy': healthy,
                'problem': f'{area} looks {"fine" if healthy else "bad"}',
                'confidence': confidence,
            }

        check.__name__ = f'check_{area}'
        check.__doc__ = f'Check the {area} of a service.'
        return check

    for area, healthy, confidence in [
        ('cpu', True, 0.6),
        ('memory', False, 0.7),
        ('disk', True, 0.6),
        ('network', True, 0.5),
        ('logs', False, 0.72),
    ]:
        agent.tool_plain(checker(area, healthy, confidence))
    return agent


VAGUE = 'Please check the service "shop-web" and tell me if something is wrong.'


# --- from_spec -----------------------------------------------------------------------------------------------------


def _options(model: SimulatedModel) -> tuple[float, float, int, float, float, float]:
    return (model.temperature, model.latency, model.seed, model.parallel, model.jitter, model.slip)


def test_from_spec_reads_options() -> None:
    model = SimulatedModel.from_spec('sim:temperature=0,latency=0.05,seed=3,parallel=1,jitter=0.02,slip=0.1')
    assert _options(model) == (0.0, 0.05, 3, 1.0, 0.02, 0.1)
    default = SimulatedModel.from_spec('sim')
    assert _options(default) == (0.7, 0.0, 0, 0.5, 0.0, 0.0)
    assert (default.model_name, default.system) == ('sim', 'sim')


@pytest.mark.parametrize(
    ('spec', 'message'),
    [
        ('sim:temprature=0', 'unknown or malformed option'),
        ('sim:temperature', 'unknown or malformed option'),
        ('sim:temperature=hot', 'not a valid float'),
        ('sim:temperature=3', 'out of range [0, 2]'),
        ('sim:parallel=-0.1', 'out of range [0, 1]'),
        ('sim:seed=1.5', 'not a valid int'),
        ('sim:jitter=-0.01', 'out of range [0, 60]'),
        ('sim:jitter=soon', 'not a valid float'),
        ('sim:slip=1.5', 'out of range [0, 1]'),
        ('gpt:temperature=0', 'not a simulated model spec'),
    ],
)
def test_from_spec_rejects_bad_specs_and_lists_options(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        SimulatedModel.from_spec(spec)
    if not spec.startswith('gpt'):
        assert 'options: temperature (float in [0, 2]' in str(info.value) and 'parallel (float in [0, 1]' in str(
            info.value
        )
        assert 'jitter (float in [0, 60]' in str(info.value) and 'slip (float in [0, 1]' in str(info.value)


def test_constructor_validates_jitter() -> None:
    with pytest.raises(ValueError, match=re.escape('jitter=61 is out of range [0, 60]')):
        SimulatedModel(jitter=61)
    with pytest.raises(ValueError, match='jitter must be a float'):
        SimulatedModel(jitter=True)


# --- generality ----------------------------------------------------------------------------------------------------


def test_unseen_agent_gets_argument_from_prompt_and_valid_output() -> None:
    result = run(weather_agent(), 'What is the weather like in Berlin today?', SimulatedModel(temperature=0))
    steps = trajectory(result.all_messages())
    assert steps[0] == [('get_weather', json.dumps({'city': 'Berlin'}))]
    assert steps[-1][0][0] == 'final_result'
    assert result.output == Weather(city='Berlin', temperature_c=11.5, conditions='cloudy')


def test_model_retry_is_fixed_when_the_message_allows_it() -> None:
    result = run(weather_agent(), 'What is the weather in "Pariss"?', SimulatedModel(temperature=0))
    calls = [c for step in trajectory(result.all_messages()) for c in step if c[0] == 'get_weather']
    assert [json.loads(args)['city'] for _, args in calls] == ['Pariss', 'Paris']
    assert result.output.city == 'Paris'


def test_model_does_not_swap_the_subject_on_retry() -> None:
    result = run(weather_agent(), 'What is the weather in "Lyon"?', SimulatedModel(temperature=0))
    calls = [c for step in trajectory(result.all_messages()) for c in step if c[0] == 'get_weather']
    assert [json.loads(args)['city'] for _, args in calls] == ['Lyon']
    assert result.output.city == 'Lyon'


def test_model_gives_up_on_a_tool_that_keeps_failing_and_still_answers() -> None:
    agent = Agent(output_type=Weather, instructions='Use get_weather.')

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        raise ModelRetry('The weather service is down, try again later.')

    result = run(agent, 'Weather in Oslo?', SimulatedModel(temperature=0.7))
    calls = [c for step in trajectory(result.all_messages()) for c in step if c[0] == 'get_weather']
    assert 1 <= len(calls) <= 2
    assert isinstance(result.output, Weather)


class Forecast(BaseModel):
    city: str
    temperature_c: float


class NotFound(BaseModel):
    missing_city: str
    reason: str


@pytest.mark.parametrize(
    ('payload', 'expected'),
    [
        ({'city': 'Oslo', 'temperature_c': -3.0}, Forecast),
        ({'missing_city': 'Atlantis', 'reason': 'no such city'}, NotFound),
    ],
)
def test_union_output_picks_the_type_the_conversation_fits(payload: dict[str, Any], expected: type) -> None:
    agent = Agent(output_type=[Forecast, NotFound], instructions='Call lookup, then answer.')

    @agent.tool_plain
    def lookup(city: str) -> dict[str, Any]:
        """Look a city's forecast up."""
        return payload

    result = run(agent, 'Forecast for Oslo please', SimulatedModel(temperature=0))
    assert isinstance(result.output, expected)


def test_text_output_summarises_tool_results() -> None:
    agent = Agent(instructions='Use get_weather.')

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return {'city': city, 'conditions': 'snow'}

    result = run(agent, 'Weather in Oslo?', SimulatedModel(temperature=0))
    assert 'snow' in result.output and 'get_weather' in result.output


def test_agent_without_tools_answers_at_once() -> None:
    result = run(
        Agent(output_type=Forecast), 'Forecast for Oslo: {"city": "Oslo", "temperature_c": 4}', SimulatedModel()
    )
    assert result.output == Forecast(city='Oslo', temperature_c=4)
    assert len(trajectory(result.all_messages())) == 1


def test_the_ranking_rule_the_instructions_state_picks_the_finding() -> None:
    """'healthy false and the highest confidence wins': of the five checks, memory (false, 0.7) and logs (false,
    0.72) are unhealthy, and logs is the more confident."""
    agent = many_tool_agent()
    rule = ' Of all checks, the one with healthy false and the highest confidence wins.'
    with agent.override(instructions='You help operators keep a web shop running.' + rule):
        result = run(agent, VAGUE, SimulatedModel(temperature=0, parallel=1))
    called = {name for step in trajectory(result.all_messages()) for name, _ in step}
    assert {'check_memory', 'check_logs'} <= called
    assert result.output.healthy is False and result.output.problem == 'logs looks bad'


def test_with_no_rule_stated_the_latest_finding_wins() -> None:
    """No built-in idea of which boolean value is bad: the last check returned is copied."""
    result = run(many_tool_agent(), VAGUE, SimulatedModel(temperature=0, parallel=1))
    last = [
        p.content
        for m in result.all_messages()
        for p in m.parts
        if getattr(p, 'part_kind', '') == 'tool-return' and p.tool_name.startswith('check_')
    ]
    assert len(last) >= 2, 'fewer than two checks: nothing to choose between'
    assert (result.output.healthy, result.output.problem) == (last[-1]['healthy'], last[-1]['problem'])


# --- determinism and variability -----------------------------------------------------------------------------------


def test_temperature_zero_is_deterministic_across_runs() -> None:
    agent = many_tool_agent()
    seen = {
        json.dumps(trajectory(run(agent, VAGUE, SimulatedModel(temperature=0), i).all_messages())) for i in range(10)
    }
    assert len(seen) == 1


def test_vague_prompt_with_many_tools_varies_at_temperature() -> None:
    agent = many_tool_agent()
    model = SimulatedModel(temperature=0.7)
    seen = {json.dumps(trajectory(run(agent, VAGUE, model, i).all_messages())) for i in range(30)}
    assert len(seen) >= 3


def test_temperature_and_seed_in_model_settings_take_the_models_place() -> None:
    # The session's --agentarch-model-settings reach sim as request settings, as they would reach a provider.
    agent = many_tool_agent()
    model = SimulatedModel(temperature=0.7)
    greedy = SessionSettingsModel(model, {'temperature': 0.0})
    seen = {json.dumps(trajectory(run(agent, VAGUE, greedy, i).all_messages())) for i in range(30)}
    assert len(seen) == 1
    # Another seed in the settings is another session: at least one of 8 runs takes another trajectory.
    reseeded = SessionSettingsModel(model, {'seed': 12345})
    first = [trajectory(run(agent, VAGUE, model, i).all_messages()) for i in range(8)]
    other = [trajectory(run(agent, VAGUE, reseeded, i).all_messages()) for i in range(8)]
    assert first != other


def test_one_tool_agent_with_clear_instruction_is_stable_at_temperature() -> None:
    agent = weather_agent()
    model = SimulatedModel(temperature=0.7)
    outcomes = set()
    for i in range(50):
        result = run(agent, 'What is the weather in Oslo?', model, i)
        outcomes.add((json.dumps(trajectory(result.all_messages())), result.output.model_dump_json()))
    assert len(outcomes) == 1


def test_same_run_identity_reproduces_the_same_session() -> None:
    agent = many_tool_agent()
    model = SimulatedModel(temperature=1.0)
    first = [trajectory(run(agent, VAGUE, model, i).all_messages()) for i in range(8)]
    again = [trajectory(run(agent, VAGUE, model, i).all_messages()) for i in range(8)]
    assert first == again


def test_seed_applies_outside_a_run() -> None:
    agent = many_tool_agent()
    by_seed = {
        seed: {json.dumps(trajectory(run(agent, VAGUE, SimulatedModel(temperature=1.0, seed=seed)).all_messages()))}
        for seed in range(12)
    }
    assert all(
        by_seed[s]
        == {json.dumps(trajectory(run(agent, VAGUE, SimulatedModel(temperature=1.0, seed=s)).all_messages()))}
        for s in (0, 5)
    )
    assert len(set().union(*by_seed.values())) >= 2


_CROSS_PROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from test_sim import many_tool_agent, run, trajectory, VAGUE
from pytest_agentarch.backends._sim.planning import slips
from pytest_agentarch.backends.sim import SimulatedModel
agent = many_tool_agent()
print(json.dumps([trajectory(run(agent, VAGUE, SimulatedModel(temperature=1.0), i).all_messages()) for i in range(6)]))
"""


def test_sessions_reproduce_across_processes() -> None:
    import pathlib

    script = _CROSS_PROCESS.format(tests=str(pathlib.Path(__file__).parent))
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True, timeout=60)
    agent = many_tool_agent()
    here = [trajectory(run(agent, VAGUE, SimulatedModel(temperature=1.0), i).all_messages()) for i in range(6)]
    assert json.loads(child.stdout) == json.loads(json.dumps(here))


def test_parallel_calls_happen_sometimes_and_follow_the_option() -> None:
    agent = many_tool_agent()

    def widths(parallel: float) -> list[int]:
        model = SimulatedModel(temperature=0.7, parallel=parallel)
        steps = [s for i in range(15) for s in trajectory(run(agent, VAGUE, model, i).all_messages())]
        return [len(s) for s in steps if s[0][0] != 'final_result']

    assert all(w == 1 for w in widths(0.0))
    default = widths(0.5)
    assert any(w == 1 for w in default) and any(w >= 2 for w in default)
    assert sum(widths(1.0)) / len(widths(1.0)) > sum(default) / len(default)


@pytest.mark.parametrize(
    ('slip', 'temperature', 'expected'),
    [
        # The chance is 1 / (1 + ((1 - slip) / slip) ** (0.7 / temperature)), worked out by hand:
        (0.2, 0.7, 0.2),  # the reference temperature: exactly slip
        (0.2, 1.2, 0.3082),  # 1 / (1 + 4 ** (7 / 12))
        (0.2, 0.35, 1 / 17),  # 1 / (1 + 4 ** 2)
        (0.5, 0.1, 0.5),  # even odds at every temperature above 0
    ],
)
def test_slips_follow_temperature_like_every_yes_no_choice(slip: float, temperature: float, expected: float) -> None:
    rng = random.Random(11)
    draws = 40_000
    share = sum(slips(rng, slip, temperature) for _ in range(draws)) / draws
    assert share == pytest.approx(expected, abs=0.01)


def test_slips_draw_nothing_when_off_and_are_greedy_at_temperature_zero() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert not any(slips(rng, 0.0, 1.2) for _ in range(100))
    assert rng.getstate() == state  # slip=0 leaves every other choice of the request as it was
    assert not slips(rng, 0.49, 0.0) and slips(rng, 0.5, 0.0) and slips(rng, 1.0, 0.0)
    assert rng.getstate() == state
    assert all(slips(rng, 1.0, 0.7) for _ in range(100))


def test_slip_makes_an_agent_answer_without_the_tool_it_was_told_to_call() -> None:
    agent = weather_agent()
    prompt = 'What is the weather like in Berlin today?'

    def used_the_tool(model: SimulatedModel) -> list[bool]:
        runs = [run(agent, prompt, model, i).all_messages() for i in range(60)]
        return [any(name == 'get_weather' for step in trajectory(m) for name, _ in step) for m in runs]

    assert all(used_the_tool(SimulatedModel(temperature=0.7)))
    assert all(used_the_tool(SimulatedModel(temperature=0, slip=0.3)))  # greedy: a minority choice never wins
    # Binomial(60, 0.5): 30 +- 3.9, so 15..45 holds with probability 1 - 1e-4.
    assert 15 <= used_the_tool(SimulatedModel(temperature=0.7, slip=0.5)).count(False) <= 45
    # An answer given without the tool still validates, built from what the prompt holds and fallbacks.
    result = run(agent, prompt, SimulatedModel(slip=1.0), 0)
    assert isinstance(result.output, Weather) and result.output.city == 'Berlin'
    assert [name for step in trajectory(result.all_messages()) for name, _ in step] == ['final_result']


# --- usage and latency ---------------------------------------------------------------------------------------------


def test_usage_grows_with_content() -> None:
    model = SimulatedModel(temperature=0)
    short = run(weather_agent(), 'Weather in Oslo?', model).usage
    long = run(
        weather_agent(), 'Weather in Oslo? ' + 'I am planning a long walk along the fjord tomorrow. ' * 20, model
    ).usage
    assert 0 < short.input_tokens < long.input_tokens
    assert short.output_tokens > 0 and short.requests == 2


def test_latency_does_not_block_the_event_loop() -> None:
    agent = weather_agent()
    model = SimulatedModel(temperature=0, latency=0.05)

    waiting = 0
    most = 0

    async def sleep(seconds: float) -> None:
        # Count the requests waiting out their latency at once: a blocking wait would let only one in at a time.
        nonlocal waiting, most
        waiting += 1
        most = max(most, waiting)
        await real_sleep(seconds)
        waiting -= 1

    async def main() -> None:
        await asyncio.gather(*(agent.run('Weather in Oslo?', model=model) for _ in range(20)))

    real_sleep = asyncio.sleep
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio, 'sleep', sleep)
        asyncio.run(main())
    assert most == 20


def test_response_parts_are_only_calls_or_text() -> None:
    result = run(weather_agent(), 'Weather in Oslo?', SimulatedModel())
    for message in result.all_messages():
        if isinstance(message, ModelResponse):
            assert all(isinstance(p, (ToolCallPart, TextPart)) for p in message.parts)
            assert message.model_name == 'sim'


def test_times_go_to_the_window_their_words_name_and_entities_are_split() -> None:
    agent = Agent(output_type=Forecast, instructions='Call analyze_cpu_metrics, then answer.')
    seen: list[dict[str, Any]] = []

    @agent.tool_plain
    def analyze_cpu_metrics(
        entity_type: Literal['k8s:pod', 'k8s:node'],
        name: str,
        start: str,
        end: str,
        baseline_start: str | None = None,
        baseline_end: str | None = None,
    ) -> dict[str, Any]:
        """Analyze CPU metrics of an entity over a window, against a baseline window."""
        seen.append(dict(entity_type=entity_type, name=name, start=start, end=end, b0=baseline_start, b1=baseline_end))
        return {'city': name, 'temperature_c': 1.0}

    prompt = (
        'Look at k8s:pod/checkout-7f9c4d-x2k1. Baseline window 2026-03-14T09:00:00Z to 2026-03-14T10:00:00Z; '
        'incident window 2026-03-14T10:00:00Z to 2026-03-14T11:00:00Z.'
    )
    run(agent, prompt, SimulatedModel(temperature=0))
    assert seen == [
        {
            'entity_type': 'k8s:pod',
            'name': 'checkout-7f9c4d-x2k1',
            'start': '2026-03-14T10:00:00Z',
            'end': '2026-03-14T11:00:00Z',
            'b0': '2026-03-14T09:00:00Z',
            'b1': '2026-03-14T10:00:00Z',
        }
    ]


# --- windows, retries, evidence and follow-ups (agents unlike the K8s suite) -----------------------------------------

BASELINE = ('2026-03-14T09:00:00Z', '2026-03-14T10:00:00Z')
INCIDENT = ('2026-03-14T10:00:00Z', '2026-03-14T10:30:00Z')
TWO_WINDOWS = (
    f'Sensor: "boiler-7c5s". Baseline window {BASELINE[0]} to {BASELINE[1]}. '
    f'Incident window {INCIDENT[0]} to {INCIDENT[1]}.'
)


def window_agent(instructions: str, seen: list[dict[str, Any]], check: Any = None) -> Agent[None, Forecast]:
    """A sensor agent whose `start` (not `end`) description carries 'e.g.' and an example time."""
    agent = Agent(output_type=Forecast, instructions=instructions)

    @agent.tool_plain(docstring_format='google')
    def measure(
        sensor: str, start: str, end: str, baseline_start: str | None = None, baseline_end: str | None = None
    ) -> dict[str, Any]:
        """Measure a sensor's temperature over a window, optionally against a baseline window.

        Args:
            sensor: The sensor id, e.g. 'boiler-1'.
            start: Window start, ISO 8601 UTC, e.g. '2026-01-01T00:00:00Z'.
            end: Window end (after start), ISO 8601 UTC.
            baseline_start: Start of a normal period to compare against (give both or neither).
            baseline_end: End of the baseline period.
        """
        if check is not None:
            check(start, end)
        seen.append(dict(sensor=sensor, start=start, end=end, b0=baseline_start, b1=baseline_end))
        return {'city': sensor, 'temperature_c': 80.0}

    return agent


def test_each_window_goes_to_its_parameters_despite_example_times_in_descriptions() -> None:
    seen: list[dict[str, Any]] = []
    run(window_agent('Call measure once, then answer.', seen), TWO_WINDOWS, SimulatedModel(temperature=0))
    assert seen == [dict(sensor='boiler-7c5s', start=INCIDENT[0], end=INCIDENT[1], b0=BASELINE[0], b1=BASELINE[1])]


def test_a_retry_that_names_the_order_or_the_values_fixes_the_times() -> None:
    def ordered(start: str, end: str) -> None:
        if end <= start:
            raise ModelRetry(f'end ({end}) must be after start ({start}).')

    seen: list[dict[str, Any]] = []
    reversed_window = f'Sensor "boiler-7", window {INCIDENT[1]} to {INCIDENT[0]}.'
    run(window_agent('Call measure, then answer.', seen, ordered), reversed_window, SimulatedModel(temperature=0))
    assert [(s['start'], s['end']) for s in seen] == [INCIDENT]

    def covered(start: str, end: str) -> None:
        if start < '2026-03-14T10:10:00Z':
            raise ModelRetry("no data before 10:10: use start='2026-03-14T10:10:00Z', end='2026-03-14T10:30:00Z'.")

    seen.clear()
    run(window_agent('Call measure, then answer.', seen, covered), TWO_WINDOWS, SimulatedModel(temperature=0))
    assert [(s['start'], s['end']) for s in seen] == [('2026-03-14T10:10:00Z', '2026-03-14T10:30:00Z')]


def test_a_tool_is_called_once_per_window_when_the_instructions_ask_for_it() -> None:
    seen: list[dict[str, Any]] = []
    instructions = (
        'Call measure twice, all at once: for the baseline window on its own, and for the incident window with '
        'baseline_start and baseline_end set to the baseline window. Then answer.'
    )
    result = run(window_agent(instructions, seen), TWO_WINDOWS, SimulatedModel(temperature=0))
    assert sorted((s['start'], s['end'], s['b0'], s['b1']) for s in seen) == [
        (*BASELINE, None, None),
        (*INCIDENT, *BASELINE),
    ]
    assert [len(step) for step in trajectory(result.all_messages())] == [2, 1]


class Alarm(BaseModel):
    subject: str
    alarm_raised: bool
    severity: Literal['none', 'low', 'high']
    category: Literal['none', 'overheating', 'sensor_missing']
    confidence: float = Field(ge=0, le=1)


class AllClear(BaseModel):
    """Nothing is wrong: the boiler is fine and healthy."""

    subject: str
    category: Literal['none', 'sensor_missing']
    confidence: float = Field(ge=0, le=1)


RULE = 'Among all findings, the one with alarm_raised true and the highest confidence wins; copy its category.'


def inspection_agent(
    results: dict[str, Any], output_type: Any = Alarm, instructions: str = f'Call read_gauges and read_log. {RULE}'
) -> Agent[None, Any]:
    agent = Agent(output_type=output_type, instructions=instructions)

    @agent.tool_plain
    def read_gauges(boiler: str) -> Any:
        """Read a boiler's gauges and assess them."""
        outcome = results['gauges']
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @agent.tool_plain
    def read_log(boiler: str) -> Any:
        """Read a boiler's log and assess it."""
        outcome = results['log']
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return agent


HOT = {'alarm_raised': True, 'severity': 'high', 'category': 'overheating', 'confidence': 0.7}
CALM = {'alarm_raised': False, 'severity': 'none', 'category': 'none', 'confidence': 0.9}


@pytest.mark.parametrize('prompt', ['Inspect boiler "b-3".', 'Boiler "b-3" is fine and healthy, just confirm it.'])
def test_union_output_picks_the_type_that_can_carry_the_winning_evidence(prompt: str) -> None:
    agent = inspection_agent({'gauges': {'assessment': HOT}, 'log': {'assessment': CALM}}, [Alarm, AllClear])
    result = run(agent, prompt, SimulatedModel(temperature=0))
    assert isinstance(result.output, Alarm)
    assert (result.output.alarm_raised, result.output.category) == (True, 'overheating')


def test_union_output_without_an_alarm_may_use_the_smaller_type() -> None:
    agent = inspection_agent({'gauges': {'assessment': CALM}, 'log': {'assessment': CALM}}, [Alarm, AllClear])
    result = run(agent, 'Boiler "b-3" is fine and healthy, just confirm it.', SimulatedModel(temperature=0))
    assert result.output.category == 'none' and getattr(result.output, 'alarm_raised', False) is False


def test_failed_tools_are_no_evidence_of_an_alarm() -> None:
    failing = ModelRetry('unknown boiler "b-3"; known boilers: "a-1" {"alarm_raised": true, "severity": "high"}')
    agent = inspection_agent({'gauges': failing, 'log': failing})
    result = run(agent, 'Inspect boiler "b-3".', SimulatedModel(temperature=0))
    assert result.output.alarm_raised is False
    assert (result.output.severity, result.output.category) == ('none', 'none')
    assert result.output.confidence <= 0.2


def test_a_missing_subject_ends_the_calls_when_the_instructions_say_so() -> None:
    missing = {
        'exists': False,
        'assessment': {'alarm_raised': False, 'severity': 'none', 'category': 'sensor_missing', 'confidence': 1.0},
    }
    instructions = f'First call read_gauges; if the boiler does not exist, answer at once. Then call read_log. {RULE}'
    agent = inspection_agent({'gauges': missing, 'log': ModelRetry('unknown boiler')}, Alarm, instructions)
    result = run(agent, 'Inspect boiler "b-3".', SimulatedModel(temperature=0))
    calls = [name for step in trajectory(result.all_messages()) for name, _ in step]
    assert calls == ['read_gauges', 'final_result']
    assert (result.output.alarm_raised, result.output.category, result.output.confidence) == (
        False,
        'sensor_missing',
        1.0,
    )


def host_agent(instructions: str, seen: list[tuple[str, str]]) -> Agent[None, Forecast]:
    agent = Agent(output_type=Forecast, instructions=instructions)

    @agent.tool_plain(docstring_format='google')
    def describe(entity_kind: str, name: str) -> dict[str, Any]:
        """Describe a service entity.

        Args:
            entity_kind: 'svc:app' or 'svc:host'.
            name: The entity's name.
        """
        seen.append((entity_kind, name))
        if entity_kind == 'svc:app':
            return {'entity': f'svc:app/{name}', 'host_name': 'h-7', 'replicas': 3}
        return {'entity': f'svc:host/{name}', 'load': 0.4}

    return agent


def test_a_follow_up_subject_from_a_result_is_called_when_the_text_asks_about_it() -> None:
    seen: list[tuple[str, str]] = []
    instructions = 'Call describe for the app, then describe the host it runs on (its name is in the result).'
    run(host_agent(instructions, seen), 'Check svc:app/web-1.', SimulatedModel(temperature=0))
    assert seen == [('svc:app', 'web-1'), ('svc:host', 'h-7')]

    seen.clear()
    agent = host_agent('Call describe for the app, then answer.', seen)
    run(agent, 'Check svc:app/web-1.', SimulatedModel(temperature=0))
    assert seen == [('svc:app', 'web-1')]


def test_a_text_answer_without_tool_results_restates_the_prompt_in_its_own_case() -> None:
    agent = Agent(instructions='Summarise the weather.')
    result = run(agent, "{'city': 'Oslo', 'sky': 'clear'}", SimulatedModel(temperature=0))
    assert 'Oslo' in result.output and "'sky': 'clear'" in result.output


# --- reproducibility whatever the scheduling ------------------------------------------------------------------------


class _RecordingUniform:
    """Stands in for the jitter generator: returns fixed fractions of the range and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.asked.append((low, high))
        return low + (high - low) * (0.25 if len(self.asked) % 2 else 1.0)


def test_jitter_draws_from_its_own_generator_and_changes_no_choice() -> None:
    agent = many_tool_agent()
    plain = SimulatedModel(temperature=1.0)
    jittery = SimulatedModel(temperature=1.0, jitter=0.004)
    recorder = _RecordingUniform()
    jittery._jitter_rng = recorder  # pyright: ignore[reportAttributeAccessIssue]
    requests = 0
    for index in range(6):
        expected = run(agent, VAGUE, plain, index)
        got = run(agent, VAGUE, jittery, index)
        assert trajectory(got.all_messages()) == trajectory(expected.all_messages())
        assert got.output == expected.output
        requests += got.usage.requests
    # One draw per request, each over [0, jitter]; the model's choices never consumed it.
    assert recorder.asked == [(0.0, 0.004)] * requests


def test_jitter_generator_is_not_seeded_by_the_session() -> None:
    # Two models built alike draw different delays: the point is to shake the scheduling differently every time.
    # (Equal 64-bit draws from two OS-seeded generators would mean a broken generator, not bad luck.)
    a, b = SimulatedModel(jitter=1.0), SimulatedModel(jitter=1.0)
    assert [a._jitter_rng.uniform(0.0, 1.0) for _ in range(4)] != [b._jitter_rng.uniform(0.0, 1.0) for _ in range(4)]


_RELEVANCE = """
import json
from pydantic_ai.tools import ToolDefinition
from pytest_agentarch.backends._sim.planning import _relevance, profile
from pytest_agentarch.backends._sim.text import stem_set

schema = {'type': 'object', 'properties': {'entity': {'type': 'string', 'description': 'entity reference'}}}
common = 'Ask the specialist to analyse an entity over the incident window against the baseline, with evidence'
tools = [
    ToolDefinition(name='ask_metrics_specialist', description=common + ' from cpu throttling and memory usage.',
                   parameters_json_schema=schema),
    ToolDefinition(name='ask_logs_specialist', description=common + ' from events and error messages.',
                   parameters_json_schema=schema),
    ToolDefinition(name='ask_restart_specialist', description=common + ' from restarts.',
                   parameters_json_schema=schema),
    ToolDefinition(name='ask_latency_specialist', description=common + ' from latency.',
                   parameters_json_schema=schema),
]
text = ('Ask the specialists to analyse k8s:pod/ledger over the incident window against the baseline, with evidence '
        'from cpu throttling, memory usage, restarts, latency, events and error messages.')
print(json.dumps([s.hex() for s in _relevance(tuple(profile(t) for t in tools), stem_set(text))]))
"""


def test_tool_relevance_is_bit_identical_whatever_the_hash_salt() -> None:
    # Scores sum a dozen IDF terms over sets of stems; summed in set iteration order they came out one unit in the
    # last place apart from one PYTHONHASHSEED to another (with these tools: seed 6 against seeds 1-5, 7 and 8),
    # enough to reorder tools whose scores tie, since ties are broken by position in the text. Seeds 1 and 6, one on
    # each side of that split, are the pair that told the sums apart.
    outputs = {
        subprocess.run(
            [sys.executable, '-c', _RELEVANCE],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, 'PYTHONHASHSEED': str(seed)},
        ).stdout
        for seed in (1, 6)
    }
    assert len(outputs) == 1
    restart, latency = json.loads(outputs.pop())[2:]
    # The restart and latency specialists mirror each other (one stem each, in the text and in their own definition
    # only): the same terms, so exactly the same score.
    assert restart == latency


def test_objects_read_from_a_prompt_are_fresh_for_every_request() -> None:
    from pydantic_ai.messages import ModelRequest, UserPromptPart
    from pydantic_ai.models import ModelRequestParameters

    from pytest_agentarch.backends._sim.reading import read

    messages = [ModelRequest(parts=[UserPromptPart('Findings:\n{"severity": "high", "evidence": ["restarts"]}')])]
    first = read(messages, ModelRequestParameters())
    assert first.objects == [{'severity': 'high', 'evidence': ['restarts']}]
    # Whatever a run does with what it was given (here: changes it), the next request with the same text, in this
    # run or any later one in the process, reads the prompt as written.
    first.objects[0]['evidence'].append('changed')
    first.objects[0]['severity'] = 'low'
    second = read(messages, ModelRequestParameters())
    assert second.objects == [{'severity': 'high', 'evidence': ['restarts']}]
