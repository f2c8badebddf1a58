"""The simulated model `sim`: a tool-calling stand-in for an LLM that works with agents it has never seen."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart

from pytest_agentarch.context import RunInfo, run_scope
from pytest_agentarch.sim import SimulatedModel


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


def run(agent: Agent[Any, Any], prompt: str, model: SimulatedModel, index: int | None = None) -> Any:
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


def test_from_spec_reads_options() -> None:
    model = SimulatedModel.from_spec('sim:temperature=0,latency=0.05,seed=3,parallel=1')
    assert (model.temperature, model.latency, model.seed, model.parallel) == (0.0, 0.05, 3, 1.0)
    default = SimulatedModel.from_spec('sim')
    assert (default.temperature, default.latency, default.seed, default.parallel) == (0.7, 0.0, 0, 0.5)
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


def test_merging_rule_prefers_flagged_then_most_confident() -> None:
    result = run(many_tool_agent(), VAGUE, SimulatedModel(temperature=0, parallel=1))
    called = {name for step in trajectory(result.all_messages()) for name, _ in step}
    assert {'check_memory', 'check_logs'} <= called
    assert result.output.healthy is False and result.output.problem == 'logs looks bad'


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
from pytest_agentarch.sim import SimulatedModel
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

    async def main() -> None:
        await asyncio.gather(*(agent.run('Weather in Oslo?', model=model) for _ in range(20)))

    started = time.perf_counter()
    asyncio.run(main())
    assert time.perf_counter() - started < 0.08 * 2 * 4


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
