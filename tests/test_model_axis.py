"""Several models in one session: the model is an axis beside the architecture, and its statistics never pool."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from conftest import ONE_CASE
from pytest_agentarch.core.gates import Thresholds, parse_overrides
from pytest_agentarch.requests.specs import split_model_specs

# The architecture reads which model its run uses from the run's identity and follows a plan per model, so the
# statistics of each (architecture, model) row are known by hand: on `test` every run calls alpha (4 of 4 the same
# trajectory); on `sim` even runs call alpha and odd runs beta (2 of 4). Its answer names the model it got.
ARCH = """
    import archkit
    import pytest_agentarch
    from pytest_agentarch import architecture

    @architecture('solo')
    async def solo(inputs, model):
        label = pytest_agentarch.current_run().model
        plan = (lambda i: [['alpha']]) if label == 'test' else (lambda i: [['alpha' if i % 2 == 0 else 'beta']])
        return await archkit.run(plan, inputs, answer=lambda i: model.model_name)
"""


def test_model_specs_split_where_a_new_model_starts() -> None:
    assert split_model_specs('sim') == ['sim']
    assert split_model_specs('sim:temperature=0,seed=3') == ['sim:temperature=0,seed=3']
    assert split_model_specs('sim:temperature=0,seed=3,openai:gpt-4o') == ['sim:temperature=0,seed=3', 'openai:gpt-4o']
    assert split_model_specs(' test , sim ') == ['test', 'sim']
    with pytest.raises(ValueError, match="model 'sim' is given twice"):
        split_model_specs('sim,sim')


def test_thresholds_lines_name_a_model_an_architecture_or_both() -> None:
    base = Thresholds(min_pass_rate=0.5)
    out = parse_overrides(
        [
            'single: min_determinism=0.6',
            '@openai:gpt-4o: min_determinism=0.8',
            'single@sim:temperature=0,seed=3: min_determinism=0.95',
        ],
        base,
    )
    assert out['single'].min_determinism == 0.6
    assert out['@openai:gpt-4o'].min_determinism == 0.8
    assert out['single@sim:temperature=0,seed=3'].min_determinism == 0.95
    assert out['single@sim:temperature=0,seed=3'].min_pass_rate == 0.5
    # The old form without a space after the colon still reads.
    assert parse_overrides(['single:min_pass_rate=0.9'], base)['single'].min_pass_rate == 0.9


def test_each_model_is_its_own_row_item_and_gate(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(
        ARCH,
        ini="""
            agentarch_min_pass_rate = 0
            agentarch_arch_thresholds =
                @sim: min_determinism=0.9
        """,
        cases=ONE_CASE.replace('    expected_output: ok\n    evaluators:\n      - EqualsExpected\n', ''),
    )
    result = pytester.runpytest('--agentarch-model', 'test,sim', '--runs', '4', '--agentarch-json=report.json', '-v')
    # The sim row has 2 of 4 runs on its modal trajectory: 0.5 < 0.9 fails it; the test row has no such gate.
    result.assert_outcomes(passed=1, failed=1)
    expected = (('PASSED', r'cases\.yaml::first\[solo@test\]'), ('FAILED', r'cases\.yaml::first\[solo@sim\]'))
    for outcome, nodeid in expected:
        result.stdout.re_match_lines([f'.*({outcome} {nodeid}|{nodeid} {outcome}).*'], consecutive=False)
    result.stdout.fnmatch_lines(['*gate missed: solo@sim first: determinism:steps 0.500 n=4 < threshold 0.9*'])
    report = json.loads((pytester.path / 'report.json').read_text())
    assert report['model'] == 'test,sim'
    assert report['models'] == ['test', 'sim']
    rows = {(a['summary']['architecture'], a['summary']['model']): a for a in report['architectures']}
    assert set(rows) == {('solo', 'test'), ('solo', 'sim')}
    on_test, on_sim = rows['solo', 'test'], rows['solo', 'sim']
    assert (on_test['summary']['determinism']['successes'], on_test['summary']['determinism']['n']) == (4, 4)
    assert (on_sim['summary']['determinism']['successes'], on_sim['summary']['determinism']['n']) == (2, 4)
    assert {r['output_key'] for r in on_test['cases'][0]['run_results']} == {'test'}
    assert {r['output_key'] for r in on_sim['cases'][0]['run_results']} == {'sim'}
    assert [(m['architecture'], m['model']) for m in report['gate_misses']] == [('solo', 'sim')]


def test_one_model_keeps_the_plain_ids(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCH, cases=ONE_CASE.replace('expected_output: ok', 'expected_output: test'))
    result = pytester.runpytest('--runs', '2', '--agentarch-json=report.json', '-v')
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['*cases.yaml::first?solo? PASSED*'])
    report = json.loads((pytester.path / 'report.json').read_text())
    assert report['models'] == ['test']
    assert report['architectures'][0]['summary']['model'] is None


def test_the_arch_fixture_runs_on_every_model(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCH)
    pytester.makepyfile(
        test_fixture="""
        def test_repeat(arch):
            stats = arch.repeat('hello', runs=4)
            expected = 4 if arch.model_label == 'test' else 2
            assert stats.determinism.successes == expected
            assert stats.model == arch.model_label
        """
    )
    result = pytester.runpytest('--agentarch-model', 'test,sim', '-v', '-p', 'no:randomly')
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(['*test_repeat?solo@test? PASSED*', '*test_repeat?solo@sim? PASSED*'])


def test_a_model_named_twice_is_a_usage_error(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCH, cases=ONE_CASE)
    result = pytester.runpytest('--agentarch-model', 'test,test')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentarch-model 'test,test': model 'test' is given twice*"])
