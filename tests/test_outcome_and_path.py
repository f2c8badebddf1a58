"""Outcome and path judged apart: which evaluator judges which side, `TrajectoryRequirements`, the two rates, their
gates, and both in every report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic_evals.evaluators import (
    Contains,
    EqualsExpected,
    EvaluatorContext,
    HasMatchingSpan,
    LLMJudge,
    MaxToolCalls,
    ToolCorrectness,
    TrajectoryMatch,
)
from pydantic_evals.evaluators.evaluator import Evaluator

from pytest_agentarch import TrajectoryRequirements, TrajectorySteps
from pytest_agentarch.core.gates import Thresholds, check
from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.core.stats import aggregate, case_stats
from pytest_agentarch.reports.report import Report
from pytest_agentarch.run.sides import side_of


@dataclass
class Polite(Evaluator[object, object, object]):
    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> bool:
        return True


@dataclass
class StepBudget(Evaluator[object, object, object]):
    agentarch_side = 'path'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> bool:
        return True


@dataclass
class Confused(Evaluator[object, object, object]):
    agentarch_side = 'both'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> bool:
        return True


def test_the_side_of_an_evaluator_is_read_off_its_type() -> None:
    path = [
        TrajectorySteps(steps=[['a']]),
        TrajectoryRequirements(required=['a']),
        TrajectoryMatch(expected_trajectory=['a']),
        ToolCorrectness(expected_tools=['a']),
        MaxToolCalls(max_calls=3),
        HasMatchingSpan(query={'name_equals': 'x'}),
        StepBudget(),
    ]
    outcome = [EqualsExpected(), Contains(value='x'), LLMJudge(rubric='r'), Polite()]
    assert [side_of(e) for e in path] == ['path'] * 7
    assert [side_of(e) for e in outcome] == ['outcome'] * 4
    with pytest.raises(ValueError, match=r'Confused.agentarch_side must be "outcome" or "path", got \'both\''):
        side_of(Confused())


@pytest.mark.parametrize(
    ('requirements', 'steps', 'reason'),
    [
        (dict(required=['a', 'b'], order=[['a', 'b']], concurrent=[['b', 'c']]), [['a'], ['b', 'c']], None),
        # Concurrency is judged only where a case asks: the same calls in three steps still conform.
        (dict(required=['a', 'b'], order=[['a', 'b']]), [['a'], ['b'], ['c']], None),
        (dict(required={'a': 2}), [['a'], ['b']], 'a called once, expected 2 times'),
        (dict(required={'a': '<=2'}), [['a', 'a'], ['a']], 'a called 3 times, expected 1 to 2 times'),
        (dict(required={'a': '1..3'}), [['b']], 'a called never, expected 1 to 3 times'),
        (dict(required={'a': '>=2'}), [['a'], ['a'], ['a']], None),
        # A forbidden tool fails the path even when its call failed.
        (dict(forbidden=['d']), [['a'], ['d!']], 'forbidden tools called: d'),
        (dict(order=[['a', 'b']]), [['a', 'b']], 'order a < b: first a came in the same step as first b'),
        (dict(order=[['a', 'b', 'c']]), [['b'], ['a'], ['c']], 'order a < b: first a came after first b'),
        (dict(order=[['a', 'z']]), [['a']], 'order a < z: z never called'),
        (dict(concurrent=[['a', 'b']]), [['a'], ['b']], '{a, b} never called in one step'),
        # A call that failed and was retried is left out: it neither counts nor deviates ...
        (dict(required={'a': 1}, order=[['a', 'b']]), [['a!', 'b!'], ['a'], ['b']], None),
        # ... unless the case says retries deviate.
        (dict(required={'a': 1}, allow_retries=False), [['a!'], ['a']], 'retried calls: a x1'),
    ],
)
def test_requirements_are_judged_on_what_was_required(
    requirements: dict[str, Any], steps: list[list[str]], reason: str | None
) -> None:
    verdict = TrajectoryRequirements(**requirements).judge(steps)
    assert verdict.value is (reason is None)
    if reason is None:
        assert verdict.reason is None
    else:
        assert verdict.reason is not None and verdict.reason.startswith(reason)


@pytest.mark.parametrize(
    ('requirements', 'message'),
    [
        (dict(required={'a': 0}), 'a required tool is called at least once'),
        (dict(required={'a': 'some'}), 'expected a count like 2'),
        (dict(required={'a': '3..1'}), 'expected 1 <= low <= high'),
        (dict(required=['a'], forbidden=['a']), 'a both required and forbidden'),
        (dict(order=[['a']]), 'each entry is a list of at least 2 tool names'),
    ],
)
def test_bad_requirements_say_what_is_wrong(requirements: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        TrajectoryRequirements(**requirements)


def _record(index: int, *, outcome: bool, path: bool, error: bool = False) -> RunRecord:
    return RunRecord(
        index=index,
        duration=0.1,
        trajectory='a',
        path_checked=True,
        error_type='ValueError' if error else None,
        assertions=[]
        if error
        else [
            Assertion(name='EqualsExpected', value=outcome),
            Assertion(name='TrajectoryRequirements', value=path, side='path'),
        ],
    )


def test_pass_rate_and_path_conformance_are_counted_apart() -> None:
    # 10 runs: outcome right in 0-6 (7), path allowed in 0-2 and 7 (4); run 9 raised (neither).
    records = [_record(i, outcome=i < 7, path=i < 3 or i == 7, error=i == 9) for i in range(10)]
    stats = case_stats(records, architecture='x', case='c')
    assert (stats.pass_rate.successes, stats.pass_rate.n) == (7, 10)
    path = stats.path_conformance
    assert path is not None and (path.successes, path.n) == (4, 10)
    # Wilson 95% of 4/10 worked out by hand: centre 0.42776, half-width 0.25958.
    assert path.low == pytest.approx(0.16818, abs=1e-4) and path.high == pytest.approx(0.68734, abs=1e-4)
    # Runs that failed either side are listed, each assertion with its side.
    assert [f.index for f in stats.failures] == [3, 4, 5, 6, 7, 8, 9]
    assert stats.failures[0].failed_assertions == ['path TrajectoryRequirements: false']
    # A case without path evaluators has no path conformance, and the pooled figure leaves it out.
    plain = case_stats([RunRecord(index=0, duration=0.1, trajectory='a')], architecture='x', case='d')
    assert plain.path_conformance is None
    pooled = aggregate([stats, plain]).path_conformance
    assert pooled is not None and (pooled.successes, pooled.n) == (4, 10)


def test_path_conformance_is_gated_apart_from_the_pass_rate() -> None:
    records = [_record(i, outcome=True, path=i < 6) for i in range(10)]
    stats = case_stats(records, architecture='x', case='c')
    # Every run must conform by default, as every run must pass.
    assert [(m.metric, m.value) for m in check(stats, Thresholds())] == [('path_conformance', 0.6)]
    assert check(stats, Thresholds(min_path_conformance=0.6)) == []
    assert [m.metric for m in check(stats, Thresholds(min_path_conformance=0.7))] == ['path_conformance']
    # On the Wilson lower bound: 6/10 has a lower bound of 0.3127, between 0.3 and 0.4.
    assert [m.metric for m in check(stats, Thresholds(min_path_conformance=0.4, lower_bound=True))] == [
        'path_conformance'
    ]
    assert check(stats, Thresholds(min_path_conformance=0.3, lower_bound=True)) == []


ORDERED = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('ordered')
    async def ordered(inputs, model):
        # Runs 0 and 2 call alpha then beta; 1 and 3 beta then alpha. Run 3 answers wrongly.
        plan = lambda i: [['alpha'], ['beta']] if i % 2 == 0 else [['beta'], ['alpha']]
        return await archkit.run(plan, inputs, answer=lambda i: 'no' if i == 3 else 'ok')
"""

ORDER_CASE = """
name: demo
cases:
  - name: first
    inputs: hello
    expected_output: ok
    evaluators:
      - EqualsExpected
      - TrajectoryRequirements:
          required: [alpha, beta]
          order: [[alpha, beta]]
"""


def test_both_rates_reach_every_report_and_each_gate(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ORDERED, cases=ORDER_CASE)
    outputs = ['--agentarch-json', 'r.json', '--agentarch-md', 'r.md', '--agentarch-html', 'r.html']
    result = pytester.runpytest(
        '--runs',
        '4',
        '--min-pass-rate',
        '0.75',
        '--min-path-conformance',
        '0.5',
        '--junitxml',
        'j.xml',
        *outputs,
    )
    result.assert_outcomes(passed=1)
    # Pass rate 3/4 (run 3 answered 'no'), path conformance 2/4 (runs 1 and 3 called beta first).
    result.stdout.fnmatch_lines(
        ['*pass rate*path conformance*', 'ordered * 75.0% [[]30%-95%[]] n=4 * 50.0% [[]15%-85%[]] n=4*']
    )
    report = Report.model_validate_json(pytester.path.joinpath('r.json').read_text())
    case = report.architectures[0].cases[0]
    assert (case.pass_rate.successes, case.pass_rate.n) == (3, 4)
    assert case.path_conformance is not None and (case.path_conformance.successes, case.path_conformance.n) == (2, 4)
    summary = json.loads(pytester.path.joinpath('r.json').read_text())['architectures'][0]['summary']
    assert summary['path_conformance']['successes'] == 2
    assert '| path conformance |' in pytester.path.joinpath('r.md').read_text()
    assert '| 50.0% [15%-85%]' in pytester.path.joinpath('r.md').read_text()
    assert '<th>path conformance</th>' in pytester.path.joinpath('r.html').read_text()
    props = {p.get('name'): p.get('value') for p in ET.parse(pytester.path / 'j.xml').iter('property')}
    assert (props['agentarch.pass_rate'], props['agentarch.path_conformance']) == ('0.7500', '0.5000')

    failing = pytester.runpytest('--runs', '4', '--min-pass-rate', '0.75', '--min-path-conformance', '0.6')
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines(['*gate missed: ordered first: path_conformance 0.500 n=4 < threshold 0.6*'])


def test_the_path_gate_reads_the_ini_file_and_per_architecture_lines(project: Callable[..., pytest.Pytester]) -> None:
    ini = 'agentarch_min_pass_rate = 0.75\nagentarch_min_path_conformance = 0.6\n'
    pytester = project(ORDERED, ini=ini, cases=ORDER_CASE)
    pytester.runpytest('--runs', '4').assert_outcomes(failed=1)
    lines = ini + 'agentarch_arch_thresholds =\n    ordered: min_path_conformance=0.5\n'
    pytester = project(ORDERED, ini=lines, cases=ORDER_CASE)
    pytester.runpytest('--runs', '4').assert_outcomes(passed=1)
    bad = project(ORDERED, ini='agentarch_min_path_conformance = 1.5\n', cases=ORDER_CASE).runpytest('--runs', '4')
    bad.stderr.fnmatch_lines(['*agentarch_min_path_conformance*must be between 0 and 1*'])
