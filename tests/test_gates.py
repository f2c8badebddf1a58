"""Gates: which items fail, with what message and exit status, for each way of setting a threshold."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import XDIST
from pytest_agentarch.gates import Thresholds, check, parse_overrides
from pytest_agentarch.records import Assertion, RunRecord
from pytest_agentarch.stats import case_stats

# Ten runs each. `steady` always calls alpha then beta and answers 'ok'. `wobbly` asks for beta and alpha in one
# response in runs 0, 4 and 8 (determinism 7/10) and answers 'bad' in runs 8 and 9 (pass rate 8/10, Wilson 95%
# interval 0.4902-0.9433). The case expects the steps alpha > beta and the answer 'ok'.
ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('steady')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']], inputs)

    @architecture('wobbly')
    async def wobbly(inputs, model):
        return await archkit.run(
            lambda i: [['alpha'], ['beta']] if i % 4 else [['beta', 'alpha']],
            inputs,
            answer=lambda i: 'ok' if i < 8 else 'bad',
        )
"""

CASES = """
    name: demo
    cases:
      - name: first
        inputs: hello
        expected_output: ok
        evaluators:
          - EqualsExpected
"""

STEPS = """
    name: demo
    cases:
      - name: first
        inputs: hello
        expected_output: ok
        evaluators:
          - TrajectorySteps:
              steps: [[alpha], [beta]]
"""


def stats_of(passes: list[bool], trajectories: list[str]):  # type: ignore[no-untyped-def]
    records = [
        RunRecord(index=i, duration=0.0, trajectory=t, trajectory_args=t, assertions=[Assertion(name='ok', value=p)])
        for i, (p, t) in enumerate(zip(passes, trajectories, strict=True))
    ]
    return case_stats(records, architecture='arch', case='case')


def test_by_default_one_failing_run_fails_the_item() -> None:
    stats = stats_of([True] * 9 + [False], ['a'] * 10)
    [miss] = check(stats, Thresholds())
    assert str(miss) == 'arch case: pass_rate 0.900 n=10 < threshold 1'
    assert check(stats_of([True] * 10, ['a', 'b'] * 5), Thresholds()) == []


def test_thresholds_compare_point_estimate_or_wilson_lower_bound() -> None:
    stats = stats_of([True] * 8 + [False] * 2, ['a'] * 7 + ['b'] * 3)
    assert check(stats, Thresholds(min_pass_rate=0.8, min_determinism=0.7)) == []
    [miss] = check(stats, Thresholds(min_pass_rate=0.8, min_determinism=0.71))
    assert (miss.metric, miss.value, miss.threshold) == ('determinism', 0.7, 0.71)
    [low] = check(stats, Thresholds(min_pass_rate=0.5, lower_bound=True))
    assert str(low) == 'arch case: pass_rate 0.490 (Wilson 95% lower bound) n=10 < threshold 0.5'
    assert check(stats, Thresholds(min_pass_rate=0.49, lower_bound=True)) == []


def test_determinism_of_a_case_whose_runs_all_errored_misses_any_threshold() -> None:
    records = [RunRecord(index=i, duration=0.0, error_type='TimeoutError') for i in range(3)]
    stats = case_stats(records, architecture='arch', case='case')
    misses = check(stats, Thresholds(min_pass_rate=0.0, min_determinism=0.1))
    assert [(m.metric, m.value) for m in misses] == [('determinism', None)]
    assert str(misses[0]) == 'arch case: determinism n/a n=0 < threshold 0.1'


def test_per_architecture_overrides_start_from_the_session_thresholds() -> None:
    base = Thresholds(min_determinism=0.9, min_pass_rate=0.5)
    overrides = parse_overrides(['single: min_determinism=0.6', 'multi: min_pass_rate=0.8, min_determinism=1'], base)
    assert overrides['single'] == Thresholds(min_determinism=0.6, min_pass_rate=0.5)
    assert overrides['multi'] == Thresholds(min_determinism=1.0, min_pass_rate=0.8)


@pytest.mark.parametrize(
    ('line', 'message'),
    [
        ('min_determinism=0.6', 'must look like'),
        ('single: determinism=0.6', "'determinism=0.6' is not one of min_determinism, min_pass_rate"),
        ('single: min_pass_rate=1.2', 'single min_pass_rate must be between 0 and 1'),
        ('single: min_pass_rate=high', 'single min_pass_rate must be a number between 0 and 1'),
    ],
)
def test_malformed_override_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_overrides([line], Thresholds())


@pytest.mark.parametrize('xdist', XDIST)
def test_a_failing_run_fails_the_item_and_the_message_shows_expected_and_actual_tools(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(ARCHS, cases=STEPS)
    result = pytester.runpytest('--runs', '10', *xdist)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            'gate missed: wobbly first: pass_rate 0.700 n=10 < threshold 1',
            'runs=10 errors=0 pass rate 70% [40%-89%] n=10 determinism 70% [40%-89%] n=10',
            'run 0:',
            '  assertion failed: TrajectorySteps: expected alpha > beta; got {alpha, beta}',
            '  expected tools: alpha > beta',
            '  actual tools:   * > *',
            'run 4:',
            'trajectory variants:',
            '     7x  agent(alpha > beta)',
            '     3x  agent({alpha, beta})',
        ]
    )
    result.stdout.fnmatch_lines(['gate misses (1):', '  wobbly  first  pass_rate 0.700  n=10  < 1'])
    result.stdout.no_fnmatch_line('*gate missed: steady*')


@pytest.mark.parametrize('xdist', XDIST)
def test_items_pass_when_thresholds_are_met(project: Callable[..., pytest.Pytester], xdist: list[str]) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest('--runs', '10', '--min-determinism', '0.7', '--min-pass-rate', '0.8', *xdist)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.no_fnmatch_line('*gate miss*')
    # Columns: cases, runs, errors, determinism [95% CI], trajectories per case, pass rate [95% CI], pass^10.
    result.stdout.fnmatch_lines(
        [
            'steady * 1 * 10 * 0 * 100.0% ?72%-100%? * 1.0 * 100.0% ?72%-100%? * 1.00 *',
            'wobbly * 1 * 10 * 0 * 70.0% ?40%-89%? * 2.0 * 80.0% ?49%-94%? * 0.00 *',
        ]
    )


@pytest.mark.parametrize('xdist', XDIST)
def test_missed_thresholds_are_listed_one_line_per_miss(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest('--runs', '10', '--min-determinism', '0.75', '--min-pass-rate', '0.9', *xdist)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            'gate misses (2):',
            '  wobbly  first  pass_rate 0.800  n=10  < 0.9',
            '  wobbly  first  determinism 0.700  n=10  < 0.75',
            '*short test summary info*',
            'FAILED cases.yaml::first[[]wobbly[]] - gate missed: wobbly first: pass_rate 0.800*',
        ]
    )


@pytest.mark.parametrize('xdist', XDIST)
def test_lower_bound_gate_judges_the_wilson_interval(project: Callable[..., pytest.Pytester], xdist: list[str]) -> None:
    pytester = project(ARCHS, cases=CASES)
    point = pytester.runpytest('--runs', '10', '--min-pass-rate', '0.5', '--min-determinism', '0', *xdist)
    point.assert_outcomes(passed=2)
    lower = pytester.runpytest('--runs', '10', '--min-pass-rate', '0.5', '--gate-lower-bound', *xdist)
    lower.assert_outcomes(passed=1, failed=1)
    lower.stdout.fnmatch_lines(
        [
            'gate missed: wobbly first: pass_rate 0.490 (Wilson 95% lower bound) n=10 < threshold 0.5',
            '  wobbly  first  pass_rate wilson-low 0.490  n=10  < 0.5',
        ]
    )


@pytest.mark.parametrize('xdist', XDIST)
def test_ini_thresholds_and_per_architecture_overrides(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(
        ARCHS,
        cases=CASES,
        ini="""
            agentarch_runs = 10
            agentarch_min_determinism = 0.75
            agentarch_min_pass_rate = 0.8
        """,
    )
    result = pytester.runpytest(*xdist)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['gate misses (1):', '  wobbly  first  determinism 0.700  n=10  < 0.75'])

    # The override for `wobbly` relaxes determinism and keeps the ini pass rate; `steady` must now be perfect.
    pytester.makeini(
        pytester.path.joinpath('tox.ini').read_text()
        + '\nagentarch_arch_thresholds =\n'
        + '    wobbly: min_determinism=0.7\n'
        + '    steady: min_pass_rate=1 min_determinism=1\n'
    )
    result = pytester.runpytest(*xdist)
    result.assert_outcomes(passed=2)
    # The command line still beats the ini for the session thresholds, and overrides build on it.
    result = pytester.runpytest('--min-pass-rate', '0.9', *xdist)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['  wobbly  first  pass_rate 0.800  n=10  < 0.9'])
