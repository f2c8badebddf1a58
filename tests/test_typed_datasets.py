"""Real pydantic-evals datasets, unchanged: typed inputs and outputs, custom evaluators of every result shape, span
evaluators and LLM judges, judged the same by the plugin and by `Dataset[...].from_file(...).evaluate`.

Every expected figure below is worked out from the dataset and the scripted models by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

# Types and evaluators of a team's own package, imported by its conftest (`from __future__ import annotations` on
# purpose: the architecture's annotations are strings that must be resolved).
TEAMKIT = '''
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict  # pydantic needs it for TypedDict before Python 3.12

from pydantic import BaseModel
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext


class Location(BaseModel):
    city: str
    lat: float


class Inputs(TypedDict):
    question: str
    now: datetime
    location: Location


class Forecast(BaseModel):
    kind: Literal['forecast'] = 'forecast'
    city: str
    day: str


class Alert(BaseModel):
    kind: Literal['alert'] = 'alert'
    city: str
    level: int


@dataclass
class TypedValues(Evaluator[Inputs, Forecast | Alert, None]):
    """A dict of named results: two assertions, a score and a label."""

    def evaluate(self, ctx: EvaluatorContext[Inputs, Forecast | Alert, None]) -> dict[str, bool | float | str]:
        return {
            'typed_inputs': isinstance(ctx.inputs['now'], datetime) and isinstance(ctx.inputs['location'], Location),
            'typed_expected': isinstance(ctx.expected_output, Forecast | Alert),
            'hour': float(ctx.inputs['now'].hour),
            'weekday': ctx.inputs['now'].strftime('%A'),
        }


@dataclass
class Explained(Evaluator[Inputs, Forecast | Alert, None]):
    """An `EvaluationReason`."""

    def evaluate(self, ctx: EvaluatorContext[Inputs, Forecast | Alert, None]) -> EvaluationReason:
        return EvaluationReason(value=ctx.output.city == ctx.inputs['location'].city, reason='the city asked about')


def judge_model(fail_on: str = 'alert', usage: RequestUsage | None = None) -> FunctionModel:
    """A judge that passes an output unless it mentions `fail_on`, 7 tokens in and 3 out per request."""

    async def grade(messages: list, info: AgentInfo) -> ModelResponse:
        prompt = str(messages[-1].parts[-1].content)
        verdict = fail_on not in prompt
        args = {'reason': 'mentions ' + fail_on if not verdict else 'fine', 'pass': verdict, 'score': float(verdict)}
        return ModelResponse(
            parts=[ToolCallPart(info.output_tools[0].name, args)],
            usage=usage or RequestUsage(input_tokens=7, output_tokens=3),
        )

    return FunctionModel(grade, model_name='judge')
'''

CONFTEST = """
    from __future__ import annotations

    import archkit
    import teamkit
    from pydantic_ai.models import Model
    from pydantic_evals.evaluators import llm_as_a_judge
    from pytest_agentarch import architecture
    from teamkit import Alert, Explained, Forecast, Inputs, TypedValues


    def pytest_configure(config):
        # The team's judge, set the way pydantic-evals documents; put back for the next in-process session.
        previous = llm_as_a_judge._default_model
        llm_as_a_judge.set_default_judge_model(teamkit.judge_model())
        config.add_cleanup(lambda: llm_as_a_judge.set_default_judge_model(previous))


    @architecture('forecaster')
    async def forecaster(inputs: Inputs, model: Model) -> Forecast | Alert:
        await archkit.run(lambda i: [['alpha']], inputs['question'])
        city = inputs['location'].city
        if 'storm' in inputs['question']:
            return Alert(city=city, level=3)
        return Forecast(city=city, day=inputs['now'].strftime('%Y-%m-%d'))
"""

WEATHER = """
name: weather
cases:
  - name: oslo
    inputs:
      question: weather in Oslo?
      now: '2023-10-28T09:30:00Z'
      location: {city: Oslo, lat: 59.9}
    expected_output: {kind: forecast, city: Oslo, day: '2023-10-28'}
  - name: bergen_storm
    inputs:
      question: storm in Bergen?
      now: '2024-02-05T17:05:00+01:00'
      location: {city: Bergen, lat: 60.4}
    expected_output: {kind: alert, city: Bergen, level: 3}
evaluators:
  - EqualsExpected
  - TypedValues
  - Explained
  - HasMatchingSpan:
      query: {has_attributes: {gen_ai.tool.name: alpha}}
      evaluation_name: called_alpha
  - LLMJudge:
      rubric: The answer is a calm forecast.
"""

# Loads the same file with pydantic-evals alone and evaluates the same function, with real spans (an OTel SDK
# provider and pydantic-ai's instrumentation, as a team would set up for `Dataset.evaluate`).
SIDE = """
import json, sys
from typing import Any
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic_ai import Agent
from pydantic_evals import Dataset
from pydantic_evals.evaluators import llm_as_a_judge

sys.path.insert(0, '.')
trace.set_tracer_provider(TracerProvider())
Agent.instrument_all()
import conftest, teamkit
from teamkit import Alert, Explained, Forecast, Inputs, TypedValues

llm_as_a_judge.set_default_judge_model(teamkit.judge_model())
custom = [TypedValues, Explained]
dataset = Dataset[Inputs, Forecast | Alert, None].from_file('weather.yaml', custom_evaluator_types=custom)
seen = {c.name: [type(c.inputs['now']).__name__, type(c.expected_output).__name__] for c in dataset.cases}

async def task(inputs: Inputs) -> Forecast | Alert:
    return await conftest.forecaster.func(inputs, None)

report = dataset.evaluate_sync(task, progress=False)
out = {'seen': seen, 'failures': [f.name for f in report.failures]}
for case in report.cases:
    out[case.name] = {
        'failed': sorted(n for n, a in case.assertions.items() if not a.value),
        'passed': sorted(n for n, a in case.assertions.items() if a.value),
        'scores': {n: s.value for n, s in case.scores.items()},
        'labels': {n: lab.value for n, lab in case.labels.items()},
    }
print(json.dumps(out))
"""


def _cases(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c['case']: c for a in report['architectures'] for c in a['cases']}


def test_typed_dataset_runs_unchanged_and_matches_pydantic_evals(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(CONFTEST, weather=WEATHER)
    pytester.makepyfile(teamkit=TEAMKIT)
    result = pytester.runpytest('--runs', '2', '--min-pass-rate', '0', '--agentarch-json', 'r.json')
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / 'r.json').read_text())
    cases = _cases(report)

    # Typed inputs reached the architecture (`strftime` on a datetime) and the evaluators; the expected output is a
    # typed union member, so EqualsExpected holds. 2023-10-28 was a Saturday, 2024-02-05 a Monday.
    oslo, storm = cases['oslo'], cases['bergen_storm']
    assert oslo['scores'] == {'hour': _score(9.0, 2)}
    assert storm['scores'] == {'hour': _score(17.0, 2)}
    assert oslo['labels'] == {'weekday': {'Saturday': 2}}
    assert storm['labels'] == {'weekday': {'Monday': 2}}
    # The judge passes a forecast and fails an alert (it finds 'alert' in the output it is shown).
    assert oslo['pass_rate']['successes'] == 2
    assert storm['pass_rate']['successes'] == 0
    assert {f['failed_assertions'][0] for f in storm['failures']} == {'LLMJudge: mentions alert'}

    # Each run: two model requests of 100 tokens in and 10 out, one tool (alpha); the judge's one request per run
    # (7 in, 3 out) is counted apart and never in the run's usage or trajectory.
    for case in (oslo, storm):
        assert [(r['requests'], r['input_tokens'], r['output_tokens']) for r in case['run_results']] == [
            (2, 200, 20)
        ] * 2
        assert case['variants'][0]['steps'] == [['alpha']] and case['determinism']['value'] == 1.0
        assert case['total']['judge_requests'] == 2
        assert (case['total']['judge_input_tokens'], case['total']['judge_output_tokens']) == (14, 6)
    total = report['total']
    assert (total['requests'], total['input_tokens'], total['output_tokens']) == (8, 800, 80)
    assert (total['judge_requests'], total['judge_input_tokens'], total['judge_output_tokens']) == (4, 28, 12)
    result.stdout.fnmatch_lines(
        [
            'session spend: 4 runs, 8 requests, 800 tokens in, 80 tokens out, -; evaluation (judge default): '
            '4 requests, 28 tokens in, 12 tokens out, -'
        ]
    )

    # pydantic-evals alone, on the same file and function: the same typed values and the same verdicts.
    pytester.makepyfile(side=SIDE)
    side = pytester.runpython(pytester.path / 'side.py')
    alone = json.loads(side.outlines[-1])
    assert alone['seen'] == {'oslo': ['datetime', 'Forecast'], 'bergen_storm': ['datetime', 'Alert']}
    assert alone['failures'] == []
    assert alone['oslo'] == {
        'failed': [],
        'passed': ['EqualsExpected', 'Explained', 'LLMJudge', 'called_alpha', 'typed_expected', 'typed_inputs'],
        'scores': {'hour': 9.0},
        'labels': {'weekday': 'Saturday'},
    }
    assert alone['bergen_storm']['failed'] == ['LLMJudge']
    assert alone['bergen_storm']['scores'] == {'hour': 17.0}
    assert alone['bergen_storm']['labels'] == {'weekday': 'Monday'}


def _score(value: float, n: int) -> dict[str, Any]:
    return {'mean': value, 'std': 0.0, 'n': n, 'low': value, 'high': value, 'interval': 't'}


SHAPES_CONFTEST = """
    from dataclasses import dataclass

    import archkit
    from pydantic_evals.evaluators import EvaluationReason, Evaluator
    from pytest_agentarch import architecture


    @dataclass
    class Flags(Evaluator):
        def evaluate(self, ctx):
            return {'a': True, 'b': False}


    @dataclass
    class Mixed(Evaluator):
        def evaluate(self, ctx):
            return {'n': 0.5, 'lab': 'x', 'ok': EvaluationReason(value=True, reason='r')}


    @dataclass
    class Empty(Evaluator):
        def evaluate(self, ctx):
            return {}


    @dataclass
    class Boom(Evaluator):
        def evaluate(self, ctx):
            raise ValueError('boom')


    @dataclass
    class Holds(Evaluator):
        def evaluate(self, ctx):
            return True


    @dataclass
    class Num(Evaluator):
        def evaluate(self, ctx):
            return 2


    @dataclass
    class Label(Evaluator):
        def evaluate(self, ctx):
            return 'y'


    @dataclass
    class Because(Evaluator):
        def evaluate(self, ctx):
            return EvaluationReason(value=False, reason='nope')


    @architecture('one')
    async def one(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)
"""

SHAPES = """
name: shapes
cases:
  - {name: dict_ok, inputs: go, evaluators: [Mixed, Empty]}
  - {name: dict_false, inputs: go, evaluators: [Flags]}
  - {name: raises, inputs: go, evaluators: [Boom, Holds]}
  - {name: scalars, inputs: go, evaluators: [Holds, Num, Label]}
  - {name: reason_false, inputs: go, evaluators: [Because]}
  - {name: empty_only, inputs: go, evaluators: [Empty]}
"""


def test_every_evaluator_result_shape(project: Callable[..., pytest.Pytester]) -> None:
    # One process: the shapes are told apart where the run is judged, the same code in a worker; the scores, labels
    # and failures they become cross from workers in test_typed_dataset_runs_unchanged_and_matches_pydantic_evals.
    pytester = project(SHAPES_CONFTEST, shapes=SHAPES)
    result = pytester.runpytest('--runs', '3', '--min-pass-rate', '0', '--agentarch-json', 'r.json')
    result.assert_outcomes(passed=6)
    cases = _cases(json.loads((pytester.path / 'r.json').read_text()))
    passed = {name: c['pass_rate']['successes'] for name, c in cases.items()}
    # A dict's named results are each an assertion/score/label; an empty dict judges nothing (the run passes); an
    # evaluator that raises fails the run with its message even though another assertion held.
    assert passed == {'dict_ok': 3, 'dict_false': 0, 'raises': 0, 'scalars': 3, 'reason_false': 0, 'empty_only': 3}
    assert cases['dict_ok']['scores'] == {'n': _score(0.5, 3)}
    assert cases['dict_ok']['labels'] == {'lab': {'x': 3}}
    assert cases['scalars']['scores'] == {'Num': _score(2.0, 3)}
    assert cases['scalars']['labels'] == {'Label': {'y': 3}}
    assert cases['empty_only']['scores'] == {} and cases['empty_only']['labels'] == {}
    assert [f['failed_assertions'] for f in cases['dict_false']['failures']] == [['b: false']] * 3
    assert [f['failed_assertions'] for f in cases['raises']['failures']] == [['Boom raised ValueError: boom']] * 3
    assert [f['failed_assertions'] for f in cases['reason_false']['failures']] == [['Because: nope']] * 3
    assert all(c['errors'] == 0 and c['unjudged'] == 0 for c in cases.values())


UNREACHABLE_CONFTEST = """
    import archkit
    from pydantic_ai.exceptions import ModelHTTPError
    from pydantic_ai.messages import ModelResponse, ToolCallPart
    from pydantic_ai.models.function import FunctionModel
    from pydantic_evals.evaluators import llm_as_a_judge
    from pytest_agentarch import architecture


    async def grade(messages, info):
        prompt = str(messages[-1].parts[-1].content)
        # Outputs are 'ok<run index>': even runs meet an overloaded judge, 'bad' outputs a judge that rejects the call.
        if 'bad' in prompt:
            raise ModelHTTPError(400, 'judge', {'error': 'invalid request'})
        if any(f'ok{i}' in prompt for i in (0, 2)):
            raise ModelHTTPError(503, 'judge', {'error': 'overloaded'})
        verdict = {'reason': 'fine', 'pass': True, 'score': 1.0}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, verdict)])


    def pytest_configure(config):
        previous = llm_as_a_judge._default_model
        llm_as_a_judge.set_default_judge_model(FunctionModel(grade, model_name='judge'))
        config.add_cleanup(lambda: llm_as_a_judge.set_default_judge_model(previous))


    @architecture('one')
    async def one(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs, answer=lambda i: f'{inputs}{i}')
"""

UNREACHABLE = """
name: judged
cases:
  - name: half_unreachable
    inputs: ok
    evaluators: [{Contains: ok}, {LLMJudge: {rubric: fine}}]
  - name: rejected
    inputs: bad
    evaluators: [{LLMJudge: {rubric: fine}}]
"""


def test_an_unreachable_judge_is_an_evaluator_infrastructure_error_not_a_failed_run(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(UNREACHABLE_CONFTEST, judged=UNREACHABLE)
    result = pytester.runpytest('--runs', '4', '--agentarch-json', 'r.json', '--agentarch-retries', '0')
    # half_unreachable: runs 0 and 2 have no verdict (judge 503), runs 1 and 3 pass: 2 of 2 judged, the item passes.
    # rejected: a 400 is the evaluator's error, not infrastructure: every run fails.
    result.assert_outcomes(passed=1, failed=1)
    report = json.loads((pytester.path / 'r.json').read_text())
    cases = _cases(report)
    half = cases['half_unreachable']
    assert (half['pass_rate']['successes'], half['pass_rate']['n'], half['unjudged']) == (2, 2, 2)
    assert half['determinism']['n'] == 4 and half['errors'] == 0 and half['infra'] == 0
    assert [r['unjudged'] for r in half['run_results']] == [True, False, True, False]
    assert [r['error_kind'] for r in half['run_results']] == [None] * 4
    assert half['evaluator_infra_errors'][0].startswith('LLMJudge could not reach its model: ModelHTTPError: ')
    assert '503' in half['evaluator_infra_errors'][0]
    rejected = cases['rejected']
    assert (rejected['pass_rate']['successes'], rejected['pass_rate']['n'], rejected['unjudged']) == (0, 4, 0)
    assert rejected['failures'][0]['failed_assertions'][0].startswith('LLMJudge raised ModelHTTPError: ')
    result.stdout.fnmatch_lines(
        [
            'evaluator infrastructure errors (2 runs could not be judged; left out of pass rate and pass^k, '
            'not failed):',
            '  judged.yaml::half_unreachable[[]one[]]: 2 run(s): LLMJudge could not reach its model: ModelHTTPError*',
        ]
    )


SIM_JUDGE = """
name: simjudged
cases:
  - name: says_ok
    inputs: go
    evaluators: [{LLMJudge: {rubric: says ok}}]
"""


def test_judge_model_option_uses_sim_and_says_its_verdicts_are_simulated(
    project: Callable[..., pytest.Pytester],
) -> None:
    from pydantic_evals.evaluators import llm_as_a_judge

    before = llm_as_a_judge._default_model  # pyright: ignore[reportPrivateUsage]
    pytester = project(SHAPES_CONFTEST, simjudged=SIM_JUDGE)
    result = pytester.runpytest('--agentarch-judge-model', 'sim', '--agentarch-json', 'r.json')
    # sim's verdict is no judgement (it reads the judge prompt's own examples), so either outcome is fine; what
    # matters is that the run was judged by the session's judge and that its verdict decided the item.
    outcomes = result.parseoutcomes()
    assert outcomes.get('passed', 0) + outcomes.get('failed', 0) == 1, outcomes
    if outcomes.get('failed'):
        result.stdout.fnmatch_lines(['*assertion failed: LLMJudge: *'])
    result.stdout.fnmatch_lines(
        [
            '*; evaluation (judge sim): 1 requests*',
            'judge model sim is the simulated model: its verdicts are simulated*',
        ]
    )
    report = json.loads((pytester.path / 'r.json').read_text())
    assert report['judge_model'] == 'sim'
    assert report['total']['requests'] == 2 and report['total']['judge_requests'] == 1
    # The session's judge does not outlive it.
    assert llm_as_a_judge._default_model is before  # pyright: ignore[reportPrivateUsage]


def test_an_unknown_judge_model_is_a_usage_error(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(SHAPES_CONFTEST, simjudged=SIM_JUDGE)
    result = pytester.runpytest('--agentarch-judge-model', 'nosuchprovider:x')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --agentarch-judge-model 'nosuchprovider:x' is not a model*"])


BAD_INPUTS = """
name: weather
cases:
  - name: fine
    inputs: {question: q, now: '2023-10-28T09:30:00Z', location: {city: Oslo, lat: 59.9}}
  - name: no_date
    inputs: {question: q, now: 'next tuesday', location: {city: Oslo, lat: 59.9}}
"""

BAD_EXPECTED = """
name: weather
cases:
  - name: no_city
    inputs: {question: q, now: '2023-10-28T09:30:00Z', location: {city: Oslo, lat: 59.9}}
    expected_output: {kind: alert, level: 3}
"""


@pytest.mark.parametrize(
    ('dataset', 'lines'),
    [
        pytest.param(
            BAD_INPUTS,
            [
                '*weather.yaml: 1 value(s) do not match the types the architectures declare (Inputs inputs, *',
                "  case 'no_date': inputs.now: Input should be a valid datetime*[[]datetime_from_date_parsing[]] "
                "(input: 'next tuesday')",
            ],
            id='inputs',
        ),
        pytest.param(
            BAD_EXPECTED,
            [
                '*weather.yaml: 4 value(s) do not match the types the architectures declare (Inputs inputs, '
                'teamkit.Forecast | teamkit.Alert output, untyped metadata):',
                "  case 'no_city': expected_output.Forecast.kind: Input should be 'forecast' [[]literal_error[]]*",
                "  case 'no_city': expected_output.Alert.city: Field required [[]missing[]]*",
            ],
            id='expected-output',
        ),
    ],
)
def test_a_case_that_does_not_validate_is_a_collection_error_naming_case_and_field(
    project: Callable[..., pytest.Pytester], dataset: str, lines: list[str]
) -> None:
    pytester = project(CONFTEST, weather=dataset)
    pytester.makepyfile(teamkit=TEAMKIT)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(lines)
    result.stdout.no_fnmatch_line('*Traceback*')


def test_architectures_declaring_different_types_for_one_dataset_is_a_collection_error(
    project: Callable[..., pytest.Pytester],
) -> None:
    conftest = (
        CONFTEST
        + """
    @architecture('plain', inputs_type=dict[str, str])
    async def plain(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)
    """
    )
    pytester = project(conftest, weather=WEATHER)
    pytester.makepyfile(teamkit=TEAMKIT)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*weather.yaml: the architectures serving dataset 'weather' declare different inputs types: "
            "'forecaster' declares Inputs, 'plain' declares dict[[]str, str[]]. *"
        ]
    )


def test_explicit_types_win_and_any_leaves_values_as_the_file_gives_them(
    project: Callable[..., pytest.Pytester],
) -> None:
    conftest = """
        from typing import Any
        from datetime import datetime

        import archkit
        from pytest_agentarch import architecture

        @architecture('raw', inputs_type=Any, datasets=('raw',))
        async def raw(inputs: dict[str, datetime], model) -> Any:
            assert isinstance(inputs['now'], str), inputs
            return await archkit.run(lambda i: [['alpha']], inputs)

        @architecture('typed', inputs_type=dict[str, datetime], datasets=('other',))
        async def typed(inputs, model):
            assert isinstance(inputs['now'], datetime), inputs
            return await archkit.run(lambda i: [['alpha']], inputs)
    """
    case = "cases:\n  - name: c\n    inputs: {now: '2023-10-28T09:30:00Z'}\n"
    pytester = project(conftest, raw='name: raw\n' + case, other='name: other\n' + case)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


REPEATS = """
    import pytest
    from pydantic_evals.evaluators import EqualsExpected

    OSLO = {'question': 'weather in Oslo?', 'now': '2023-10-28T09:30:00Z', 'location': {'city': 'Oslo', 'lat': 59.9}}


    def test_inputs_and_expected_output_are_typed_like_a_case(arch):
        # forecaster calls inputs['now'].strftime and compares a Forecast: with the raw dicts every run would raise
        # or fail EqualsExpected.
        stats = arch.repeat(
            OSLO,
            runs=2,
            evaluators=[EqualsExpected()],
            expected_output={'kind': 'forecast', 'city': 'Oslo', 'day': '2023-10-28'},
        )
        assert (stats.runs, stats.errors, stats.pass_rate.successes) == (2, 0, 2)


    def test_inputs_that_do_not_validate_are_named_before_any_run(arch):
        with pytest.raises(ValueError) as info:
            arch.repeat({**OSLO, 'now': 'next tuesday'})
        message = str(info.value)
        assert message.startswith(
            'forecaster: the inputs given do not validate against the inputs type the architecture declares (Inputs):'
        ), message
        assert 'now\\n  Input should be a valid datetime' in message, message


    def test_an_expected_output_that_does_not_validate_is_named(arch):
        with pytest.raises(ValueError) as info:
            arch.repeat(OSLO, expected_output={'kind': 'alert', 'level': 3})
        message = str(info.value)
        assert message.startswith('forecaster: the output given does not validate against the output type'), message
        assert 'Alert.city\\n  Field required' in message, message
"""


def test_arch_repeat_validates_inputs_and_expected_output_like_a_dataset_case(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(CONFTEST)
    pytester.makepyfile(teamkit=TEAMKIT, test_repeats=REPEATS)
    result = pytester.runpytest('-p', 'no:randomly', '--runs=1')
    result.assert_outcomes(passed=3)
