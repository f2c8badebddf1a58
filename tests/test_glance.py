"""Reports that read at a glance: sequential gates that cannot stop early are said before any run and in the
summary, which agrees with `-v`; `arch.repeat` has explicit keyword parameters and the header shows the runs done."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from conftest import ONE_CASE
from pytest_agentarch import BoundArchitecture

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs, answer=lambda i: 'ok')
"""


def test_a_gate_that_cannot_stop_early_is_said_before_any_run_and_in_the_summary(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '60', '--agentarch-sequential', '--min-determinism', '0.9', '-v', '-n', '0')
    result.assert_outcomes(passed=1)
    lines = result.stdout.lines
    said = (
        'agentarch: pass_rate >= 1 (session) can never be decided met before the last of --runs 60: every run must '
        'count, so the sequential test stops an item early only on a miss. Pass --min-pass-rate 0.9 *'
    )
    result.stdout.fnmatch_lines([said, '*collected 1 item'])  # the session header: before any run
    result.stdout.fnmatch_lines(
        [
            'sequential gates (*: 1 items, 0 decided (0 met, 0 missed), 1 undecided *',
            # The summary counts each gate's decisions, as -v lists them item by item.
            '  gates: determinism:steps 1 met; pass_rate 1 undecided',
            '*cases.yaml::first?a?: 60 of 60 runs: pass_rate undecided (e=1, 60/60); determinism:steps met at run 35*',
        ]
    )
    result.stdout.fnmatch_lines([said, '=* 1 passed in *'])  # and again at the end, after the summary
    # Before any run the path gate is said too (which items have path evaluators is not known yet); the summary
    # leaves it out, as no item here has one.
    path = 'agentarch: path_conformance >= 1 (session; items with path evaluators) can never be decided met*'
    result.stdout.fnmatch_lines([path, '*collected 1 item'])
    assert sum(1 for line in lines if 'can never be decided met' in line) == 3


def test_a_cap_below_the_fewest_runs_is_said_with_the_runs_to_pass(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    # -v of a session without the cap says `determinism:steps met at run 35` (test above): with --runs 30 it cannot be.
    args = ['--runs', '30', '--agentarch-sequential', '--min-determinism', '0.9', '--min-pass-rate', '0', '-n', '0']
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(
        [
            'agentarch: determinism:steps >= 0.9 (session) cannot be decided met before the last of --runs 30: it '
            'needs * runs that all count (decided after run 35 in batches of 5); pass --runs 40 or more'
        ]
    )
    assert 'pass_rate' not in result.stdout.str().split('collected')[0]  # a gate of 0 is no gate


def test_repeat_has_explicit_keyword_parameters_documented() -> None:
    for method in (BoundArchitecture.repeat, BoundArchitecture.arepeat):
        parameters = inspect.signature(method).parameters
        assert list(parameters) == ['self', 'inputs', 'runs', 'case', 'evaluators', 'expected_output']
        keyword = [p for p in parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert [p.name for p in keyword] == ['runs', 'case', 'evaluators', 'expected_output']
    doc = inspect.getdoc(BoundArchitecture.repeat) or ''
    for name in ('runs:', 'case:', 'evaluators:', 'expected_output:'):
        assert name in doc


def test_the_header_shows_the_runs_repeat_made(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS)
    pytester.makepyfile(
        test_repeat="""
        def test_repeat(arch):
            stats = arch.repeat('hello', runs=5)
            assert stats.errors == 0 and stats.determinism.n == 5
        """
    )
    result = pytester.runpytest('-n', '0', 'test_repeat.py')  # --runs is 1
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['model test, seed 0, 5 run(s) per case; *'])


def test_the_per_case_table_fits_120_columns() -> None:
    from pytest_agentarch.core.records import RunRecord
    from pytest_agentarch.reports.report import ItemResult, build_report
    from pytest_agentarch.reports.table import render_cases

    long_trajectory = ' > '.join(f'agent(tool_number_{i})' for i in range(12))
    items = [
        ItemResult(
            nodeid=f'n{i}',
            architecture='specialized-with-a-long-name',
            description='',
            case=f'cpu_saturation_checkout_with_a_very_long_case_name_{i}',
            dataset='k8s',
            records=[RunRecord(index=j, duration=0.1, trajectory=long_trajectory) for j in range(20)],
        )
        for i in range(3)
    ]
    lines = render_cases(build_report(items, model='sim', seed=0, runs=20, missing={}))
    assert len(lines) == 2 + 2 * 3
    assert max(len(line) for line in lines) <= 120
    # 20 of 20 runs on one trajectory. A pass rate's Wilson lower bound is 20 / (20 + 1.96^2) = 0.839; a modal share
    # (determinism, output agreement) rests on 19 held-out agreements of 19: 19 / (19 + 1.96^2) = 0.832.
    # Determinism and output agreement (no output: all agree), then the pass rate (no evaluator: every run passes).
    assert lines[2].count('100% [83-100]') == 2 and lines[2].count('100% [84-100]') == 1
    assert lines[3].startswith('    tools 100% [83-100], strict 100% [83-100]; pass@20 1.00; top: agent(tool_number_0)')


def test_branches_share_a_context_only_when_every_one_saw_the_same() -> None:
    from pytest_agentarch.core.divergence import Branch, ModelContext, shared_context

    def context(prompt: str, results: list[str]) -> ModelContext:
        return ModelContext(request=2, instructions='Answer.', prompt=prompt, tool_results=results)

    same = [
        Branch(step='a', count=3, example_run=0, context=context('hi', ['t: 1'])),
        Branch(step='b', count=2, example_run=1, context=context('hi', ['t: 1'])),
    ]
    assert shared_context(same) == context('hi', ['t: 1'])
    differ = [same[0], Branch(step='b', count=2, example_run=1, context=context('hi', ['t: 2']))]
    assert shared_context(differ) is None
    assert shared_context([same[0]]) is None
    assert shared_context([same[0], Branch(step=None, count=1, example_run=4, context=None)]) is None
