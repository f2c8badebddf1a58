"""Gates: which items fail, with what message and exit status, for each way of setting a threshold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import XDIST
from pytest_agentarch.core.gates import (
    Thresholds,
    check,
    infeasible,
    parse_overrides,
    parse_score_threshold,
    runs_needed,
)
from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.core.stats import CaseStats, Level, case_stats, wilson

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


def stats_of(passes: list[bool], trajectories: list[str], *, level: Level = 'steps', **kw: Any) -> CaseStats:
    records = [
        RunRecord(
            index=i,
            duration=0.0,
            trajectory_tools='tools',
            trajectory=t,
            trajectory_args=f'{t}({i % 2})',
            assertions=[Assertion(name='ok', value=p)],
        )
        for i, (p, t) in enumerate(zip(passes, trajectories, strict=True))
    ]
    return case_stats(records, architecture='arch', case='case', level=level, **kw)


def scored(values: list[float], *, label: str | None = None) -> CaseStats:
    records = [
        RunRecord(
            index=i,
            duration=0.0,
            assertions=[Assertion(name='accuracy', value=v)]
            + ([Assertion(name='verdict', value=label)] if label else []),
        )
        for i, v in enumerate(values)
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
    assert (miss.metric, miss.value, miss.threshold) == ('determinism:steps', 0.7, 0.71)
    [low] = check(stats, Thresholds(min_pass_rate=0.5, lower_bound=True))
    assert str(low) == 'arch case: pass_rate 0.490 (Wilson 95% lower bound) n=10 < threshold 0.5'
    assert check(stats, Thresholds(min_pass_rate=0.49, lower_bound=True)) == []


def test_determinism_is_judged_at_the_gate_level_whatever_the_headline_level() -> None:
    # Ten runs: one tools form (10/10), steps a x7 / b x3 (7/10), strict splits each steps form by run parity
    # (a(0) at runs 0,2,4,6 and a(1) at 1,3,5: 4/10).
    stats = stats_of([True] * 10, ['a'] * 7 + ['b'] * 3, level='tools')
    assert stats.determinism.value == 1.0
    gate = 0.6
    assert check(stats, Thresholds(min_determinism=gate, level='tools')) == []
    assert check(stats, Thresholds(min_determinism=gate, level='steps')) == []
    [strict] = check(stats, Thresholds(min_determinism=gate, level='strict'))
    assert (strict.metric, strict.value, strict.n) == ('determinism:strict', 0.4, 10)
    assert str(strict) == 'arch case: determinism:strict 0.400 n=10 < threshold 0.6'


def test_runs_that_raised_are_a_deterministic_failure_not_a_missing_figure() -> None:
    records = [RunRecord(index=i, duration=0.0, error_type='TimeoutError', error_kind='behaviour') for i in range(3)]
    stats = case_stats(records, architecture='arch', case='case')
    assert check(stats, Thresholds(min_pass_rate=0.0, min_determinism=1.0)) == []  # the same error every time
    [miss] = check(stats, Thresholds(min_pass_rate=0.5))
    assert (miss.metric, miss.value, miss.n) == ('pass_rate', 0.0, 3)


def test_a_case_whose_runs_all_failed_on_infrastructure_misses_and_says_why() -> None:
    records = [
        RunRecord(index=i, duration=0.0, error_type='ModelRateLimitError', error_kind='infrastructure')
        for i in range(3)
    ]
    stats = case_stats(records, architecture='arch', case='case')
    misses = check(stats, Thresholds(min_pass_rate=0.0, min_determinism=0.1))
    assert [(m.metric, m.value, m.n) for m in misses] == [('pass_rate', None, 0), ('determinism:steps', None, 0)]
    assert str(misses[1]) == (
        'arch case: determinism:steps n/a n=0 < threshold 0.1 (all 3 runs failed on infrastructure)'
    )


def test_mean_scores_are_gated_by_name() -> None:
    stats = scored([0.6, 0.8, 0.7, 0.9, 0.5], label='anomaly')  # mean 0.7, t interval 0.5037-0.8963
    assert check(stats, Thresholds(min_scores={'accuracy': 0.7})) == []
    [miss] = check(stats, Thresholds(min_scores={'accuracy': 0.75}))
    assert (miss.metric, miss.value, miss.n, miss.judged_on) == ('score:accuracy', pytest.approx(0.7), 5, 'value')
    assert str(miss) == 'arch case: score:accuracy 0.700 n=5 < threshold 0.75'
    [low] = check(stats, Thresholds(min_scores={'accuracy': 0.6}, lower_bound=True))
    assert (low.value, low.judged_on) == (pytest.approx(0.503676, abs=1e-6), 't-low')
    assert str(low) == 'arch case: score:accuracy 0.504 (t 95% lower bound) n=5 < threshold 0.6'
    assert check(stats, Thresholds(min_scores={'accuracy': 0.5}, lower_bound=True)) == []


def test_a_missing_score_is_a_miss_that_names_what_there_is() -> None:
    stats = scored([0.5, 0.7], label='anomaly')
    misses = check(stats, Thresholds(min_scores={'recall': 0.5, 'verdict': 0.5}))
    assert [(m.metric, m.value, m.n) for m in misses] == [('score:recall', None, 0), ('score:verdict', None, 0)]
    assert str(misses[0]) == (
        "arch case: score:recall n/a n=0 < threshold 0.5 (no run produced a score named 'recall'; "
        'scores here: accuracy)'
    )
    assert misses[1].detail == "'verdict' is a label (a string result), not a score"
    [one] = check(scored([0.9]), Thresholds(min_scores={'accuracy': 0.5}, lower_bound=True))
    assert (one.value, one.detail) == (None, 'one run has no interval: the lower bound needs at least 2 runs')


@pytest.mark.parametrize(
    ('threshold', 'runs'),
    [
        # n / (n + 1.959964^2) >= threshold  <=>  n >= threshold * 3.841459 / (1 - threshold)
        (0.5, 4),  # 3.84 -> 4
        (0.8, 16),  # 15.37 -> 16
        (0.9, 35),  # 34.57 -> 35
        (0.95, 73),  # 72.99 -> 73
        (0.99, 381),  # 380.30 -> 381
    ],
)
def test_runs_needed_for_a_lower_bound(threshold: float, runs: int) -> None:
    assert runs_needed(threshold) == runs
    # And it is the smallest: one run fewer does not reach the threshold, the Wilson lower bound of n/n.
    assert wilson(runs, runs)[0] >= threshold > wilson(runs - 1, runs - 1)[0]


def test_a_lower_bound_gate_of_one_is_never_reachable() -> None:
    assert runs_needed(1.0) is None
    message = infeasible(Thresholds(min_pass_rate=1.0, lower_bound=True), 1000)
    assert message is not None and 'no number of runs reaches 1' in message


def test_infeasible_names_the_runs_a_gate_needs() -> None:
    gate = Thresholds(min_pass_rate=0.9, min_determinism=0.95, lower_bound=True)
    # Determinism's lower bound rests on the runs after the first (held-out agreement): 19/(19 + z^2) = 0.832 at
    # 20 runs, and 0.95 needs 73 held-out runs, 74 runs.
    assert infeasible(gate, 74) is None
    assert infeasible(gate, 73) is not None
    assert infeasible(gate, 20, architecture='single') == (
        'architecture single: min_pass_rate=0.9 on the Wilson 95% lower bound cannot be met with 20 run(s): '
        'even 20 successes out of 20 have a lower bound of 0.839; it needs at least 35 runs (--runs 35); '
        'min_determinism=0.95 on the Wilson 95% lower bound cannot be met with 20 run(s): '
        'even 20 runs of one trajectory (19 held-out agreements of 19) have a lower bound of 0.832; it needs at '
        'least 74 runs (--runs 74)'
    )
    # On the point estimate, any threshold can be met by any number of runs.
    assert infeasible(Thresholds(min_pass_rate=0.99, min_determinism=0.99), 20) is None
    message = infeasible(Thresholds(min_pass_rate=0.9, lower_bound=True), 34)
    assert message is not None and message.endswith('it needs at least 35 runs (--runs 35)')


def test_infeasible_calls_determinism_over_one_run_meaningless() -> None:
    message = infeasible(Thresholds(min_determinism=0.5), 1)
    assert message == (
        'min_determinism=0.5 with 1 run(s) is meaningless: one run always agrees with itself (100%); '
        'determinism needs at least 2 runs (--runs 2 or more; --runs is 1 unless given)'
    )
    assert infeasible(Thresholds(min_determinism=0.5), 2) is None
    assert infeasible(Thresholds(min_pass_rate=0.5), 1) is None
    scores = infeasible(Thresholds(min_scores={'accuracy': 0.5}, lower_bound=True), 1)
    assert scores is not None and scores.startswith('min_score.accuracy on the t 95% lower bound cannot be met')
    assert infeasible(Thresholds(min_scores={'accuracy': 0.5}), 1) is None


def test_per_architecture_overrides_start_from_the_session_thresholds() -> None:
    base = Thresholds(min_determinism=0.9, min_pass_rate=0.5, min_scores={'accuracy': 0.6})
    overrides = parse_overrides(
        [
            'single: min_determinism=0.6',
            'multi: min_pass_rate=0.8, min_determinism=1',
            'multi: level=tools min_score.accuracy=0.75 min_score.recall=-1.5',
        ],
        base,
    )
    assert overrides['single'] == Thresholds(min_determinism=0.6, min_pass_rate=0.5, min_scores={'accuracy': 0.6})
    assert overrides['multi'] == Thresholds(
        min_determinism=1.0, min_pass_rate=0.8, level='tools', min_scores={'accuracy': 0.75, 'recall': -1.5}
    )
    assert base.min_scores == {'accuracy': 0.6}  # overrides copy, never mutate, the session's scores
    with pytest.raises(TypeError):
        base.min_scores['accuracy'] = 0.1  # type: ignore[index]


def test_a_score_threshold_is_a_name_and_a_number() -> None:
    assert parse_score_threshold('accuracy=0.8') == ('accuracy', 0.8)
    assert parse_score_threshold(' steps = 12') == ('steps', 12.0)  # scores are not shares: any number
    with pytest.raises(ValueError, match=r"expected NAME=X .*got '0\.8'"):
        parse_score_threshold('0.8')
    with pytest.raises(ValueError, match=r"min score of accuracy must be a number .*got 'high'"):
        parse_score_threshold('accuracy=high')


@pytest.mark.parametrize(
    ('line', 'message'),
    [
        ('min_determinism=0.6', 'must look like'),
        (
            'single: determinism=0.6',
            "'determinism=0.6' is not one of min_determinism, min_pass_rate, min_path_conformance, level, "
            'min_score.<name>',
        ),
        ('single: min_score.=0.6', "'min_score.=0.6' is not one of"),
        ('single: min_pass_rate=1.2', 'single min_pass_rate must be between 0 and 1'),
        ('single: min_pass_rate=high', 'single min_pass_rate must be a number between 0 and 1'),
        ('single: level=args', "determinism level must be one of tools, steps, strict, got 'args'"),
        ('single: min_score.accuracy=nan', "single min_score.accuracy must be a number .*got 'nan'"),
    ],
)
def test_malformed_override_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_overrides([line], Thresholds())


def test_a_failing_run_fails_the_item_and_the_message_shows_expected_and_actual_tools(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=STEPS)
    result = pytester.runpytest('--runs', '10')
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            # The steps are the path: the outcome passes, the path conforms in 7 runs of 10.
            'gate missed: wobbly first: path_conformance 0.700 n=10 < threshold 1',
            # Runs 0, 4 and 8 took {alpha, beta}: the mode before each run is X, X (tie, first seen), Y, Y, Y, Y, Y, Y,
            # Y for runs 1..9, so 5 of 9 held-out runs agree: the lower bound is Wilson's of 5/9, 0.267.
            'runs=10 errors=0 pass rate 100% [[]72%-100%[]] n=10 path conformance 70% [[]40%-89%[]] n=10 '
            'determinism* 70% [[]27%-89%[]] n=10',
            # Runs that failed alike are one block (`runs 0, 4, 8 (3 runs):` when the concurrent calls started in
            # the same order in all three).
            'run* 0[,:]*',
            '  assertion failed: path TrajectorySteps: expected alpha > beta; got {alpha, beta}',
            '  expected tools: alpha > beta',
            '  actual tools:   * > *',
            'trajectory variants*',
            '     7x  agent(alpha > beta)',
            '     3x  agent({alpha, beta})',
        ]
    )
    result.stdout.fnmatch_lines(['gate misses (1):', '  wobbly  first  path_conformance 0.700  n=10  < 1'])
    result.stdout.no_fnmatch_line('*gate missed: steady*')


def test_items_pass_when_thresholds_are_met(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest('--runs', '10', '--min-determinism', '0.7', '--min-pass-rate', '0.8')
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.no_fnmatch_line('*gate miss*')
    # Columns: cases, runs, errors, determinism [95% CI], trajectories per case, pass rate [95% CI], pass^10.
    result.stdout.fnmatch_lines(
        [
            # Determinism's lower bound on the held-out runs: 9 of 9, 9/(9 + z^2) = 0.701; wobbly 5 of 9, 0.267.
            'steady * 1 * 10 * 0 * 100.0% ?70%-100%? * 1.0 * 100.0% ?72%-100%? * 1.00 *',
            'wobbly * 1 * 10 * 0 * 70.0% ?27%-89%? * 2.0 * 80.0% ?49%-94%? * 0.00 *',
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
            '  wobbly  first  determinism:steps 0.700  n=10  < 0.75',
            '*short test summary info*',
            'FAILED cases.yaml::first[[]wobbly[]] - gate missed: wobbly first: pass_rate 0.800*',
        ]
    )


def test_lower_bound_gate_judges_the_wilson_interval(project: Callable[..., pytest.Pytester]) -> None:
    # One process: the worker judges its item exactly as a lone process does; the miss lines gathered from workers
    # run under xdist in test_missed_thresholds_are_listed_one_line_per_miss.
    pytester = project(ARCHS, cases=CASES)
    point = pytester.runpytest('--runs', '10', '--min-pass-rate', '0.5', '--min-determinism', '0')
    point.assert_outcomes(passed=2)
    lower = pytester.runpytest('--runs', '10', '--min-pass-rate', '0.5', '--gate-lower-bound')
    lower.assert_outcomes(passed=1, failed=1)
    lower.stdout.fnmatch_lines(
        [
            'gate missed: wobbly first: pass_rate 0.490 (Wilson 95% lower bound) n=10 < threshold 0.5',
            '  wobbly  first  pass_rate wilson-low 0.490  n=10  < 0.5',
        ]
    )


def test_ini_thresholds_and_per_architecture_overrides(project: Callable[..., pytest.Pytester]) -> None:
    # One process: every xdist worker reads the same ini file as the controller; what workers send back is covered
    # under xdist by test_missed_thresholds_are_listed_one_line_per_miss.
    pytester = project(
        ARCHS,
        cases=CASES,
        ini="""
            agentarch_runs = 10
            agentarch_min_determinism = 0.75
            agentarch_min_pass_rate = 0.8
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['gate misses (1):', '  wobbly  first  determinism:steps 0.700  n=10  < 0.75'])

    # The override for `wobbly` relaxes determinism and keeps the ini pass rate; `steady` must now be perfect.
    pytester.makeini(
        pytester.path.joinpath('tox.ini').read_text()
        + '\nagentarch_arch_thresholds =\n'
        + '    wobbly: min_determinism=0.7\n'
        + '    steady: min_pass_rate=1 min_determinism=1\n'
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    # The command line still beats the ini for the session thresholds, and overrides build on it.
    result = pytester.runpytest('--min-pass-rate', '0.9')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['  wobbly  first  pass_rate 0.800  n=10  < 0.9'])


# ------------------------------------------------------------------------------------------ options end to end

# `wobbly` batches alpha and beta into one response in runs 0, 4 and 8: the same tools (tools level 10/10), other
# steps (steps level 7/10). `Closeness` scores 1.0 for the answer 'ok' and 0.0 otherwise: steady 1.0, wobbly 0.8.
SCORED_ARCHS = (
    ARCHS
    + """
    from dataclasses import dataclass

    from pydantic_evals.evaluators import Evaluator, EvaluatorContext

    @dataclass
    class Closeness(Evaluator):
        def evaluate(self, ctx: EvaluatorContext) -> float:
            return 1.0 if ctx.output == 'ok' else 0.0
"""
)

SCORED = """
    name: demo
    cases:
      - name: first
        inputs: hello
        evaluators:
          - Closeness
"""


def test_the_determinism_level_decides_what_the_same_trajectory_means(project: Callable[..., pytest.Pytester]) -> None:
    # One process: the level is an option each worker parses like a lone process; the miss lines gathered from
    # workers run under xdist in test_missed_thresholds_are_listed_one_line_per_miss.
    pytester = project(ARCHS, cases=CASES)
    gate = ('--runs', '10', '--min-pass-rate', '0', '--min-determinism', '0.9')
    tools = pytester.runpytest(*gate, '--determinism-level', 'tools')
    tools.assert_outcomes(passed=2)
    # 10 of 10 at the tools level: the lower bound on 9 held-out runs of 9, 9/(9 + z^2) = 0.701.
    tools.stdout.fnmatch_lines(['*determinism(tools)*', 'wobbly * 100.0% ?70%-100%? n=10 *'])
    steps = pytester.runpytest(*gate)
    steps.assert_outcomes(passed=1, failed=1)
    steps.stdout.fnmatch_lines(['  wobbly  first  determinism:steps 0.700  n=10  < 0.9'])


def test_mean_scores_gate_items_from_the_command_line_and_the_ini_file(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(SCORED_ARCHS, cases=SCORED)
    result = pytester.runpytest('--runs', '10', '--min-score', 'Closeness=0.9')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['  wobbly  first  score:Closeness 0.800  n=10  < 0.9'])
    assert pytester.runpytest('--runs', '10', '--min-score', 'Closeness=0.8').ret == 0
    pytester.makeini(pytester.path.joinpath('tox.ini').read_text() + '\nagentarch_min_scores = Closeness=0.9\n')
    result = pytester.runpytest('--runs', '10')
    result.assert_outcomes(passed=1, failed=1)


@pytest.mark.parametrize(
    ('args', 'ini', 'message'),
    [
        (
            ['--runs', '20', '--min-determinism', '0.9', '--gate-lower-bound'],
            '',
            # Determinism's lower bound rests on the 19 runs after the first: 19/(19 + z^2) = 0.832; 0.9 needs 35
            # held-out runs, 36 runs.
            'ERROR: min_determinism=0.9 on the Wilson 95% lower bound cannot be met with 20 run(s)*'
            'lower bound of 0.832; it needs at least 36 runs (--runs 36)',
        ),
        (
            ['--runs', '1', '--min-determinism', '0.5'],
            '',
            'ERROR: min_determinism=0.5 with 1 run(s) is meaningless*needs at least 2 runs (--runs 2 or more*',
        ),
        (
            ['--runs', '10', '--gate-lower-bound'],
            'agentarch_arch_thresholds = wobbly: min_pass_rate=0.95',
            'ERROR: architecture wobbly: min_pass_rate=0.95 on the Wilson 95% lower bound*at least 73 runs (--runs 73)',
        ),
    ],
)
def test_gates_no_outcome_could_meet_are_usage_errors_before_any_run(
    project: Callable[..., pytest.Pytester], args: list[str], ini: str, message: str
) -> None:
    pytester = project(ARCHS, ini=ini, cases=CASES)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_runs_that_failed_alike_are_one_block_of_the_failure_message() -> None:
    from pytest_agentarch.core.stats import FailedRun
    from pytest_agentarch.reports.table import render_failure, run_ranges

    assert run_ranges([9, 0, 3, 5, 6, 7, 8]) == '0, 3, 5-9'
    assert run_ranges([4]) == '4' and run_ranges([1, 2]) == '1-2' and run_ranges([]) == ''
    alike = {0, 3, 5, 6, 7, 8, 9}
    failures = [
        FailedRun(index=i, error=None, failed_assertions=['ok: false'], tool_calls=['alpha'])
        if i in alike
        else FailedRun(index=i, error='ValueError: boom', failed_assertions=[], tool_calls=[])
        for i in (0, 1, 3, 5, 6, 7, 8, 9)
    ]
    stats = stats_of([i not in alike and i != 1 for i in range(10)], ['t'] * 10).model_copy(
        update={'failures': failures}
    )
    body = render_failure(stats, [], 'alpha').splitlines()
    start = body.index('runs 0, 3, 5-9 (7 runs):')
    assert body[start : start + 8] == [
        'runs 0, 3, 5-9 (7 runs):',
        '  assertion failed: ok: false',
        '  expected tools: alpha',
        '  actual tools:   alpha',
        'run 1:',
        '  error: ValueError: boom',
        '  expected tools: alpha',
        '  actual tools:   (none)',
    ]
    assert sum(line.startswith('run') for line in body) == 3  # runs=10 ..., and the two blocks
