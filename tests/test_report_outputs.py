"""What a session writes for people and CI besides the JSON: the comparison with a baseline report and its gate,
the pairwise verdicts, the Markdown summary (file and $GITHUB_STEP_SUMMARY), JUnit properties, report metadata and
case fingerprints."""

from __future__ import annotations

import json
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agentarch.core.compare import compare_pairs
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.reports.markdown import render_markdown
from pytest_agentarch.reports.report import ItemResult, Report, build_report

# 'steady' always calls alpha. 'wobbly' does too, unless WOBBLE is set: then on input 'hello' each run calls alpha
# a different number of times (run i: i + 1 steps), so every run has its own trajectory: determinism 1/20.
ARCHS = """
    import os

    import archkit
    from pytest_agentarch import architecture

    @architecture('steady')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('wobbly')
    async def wobbly(inputs, model):
        if os.environ.get('WOBBLE') and inputs == 'hello':
            return await archkit.run(lambda i: [['alpha']] * (i + 1), inputs)
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('gone')
    async def gone(inputs, model):
        return await archkit.run(lambda i: [['beta']], inputs)
"""

CASES = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: second
        inputs: world
"""

# The same dataset with the second case's inputs changed and a third case added.
CASES_V2 = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: second
        inputs: world, changed
      - name: third
        inputs: new
"""


@pytest.fixture(scope='module')
def baseline_json() -> dict[str, str]:
    """The baseline report's text, written by the first test that needs it and copied into the others' projects."""
    return {}


@pytest.fixture
def baseline(project: Callable[..., pytest.Pytester], baseline_json: dict[str, str]) -> pytest.Pytester:
    """A project whose baseline.json was written by a session of all three architectures, 20 runs, v1 cases."""
    pytester = project(ARCHS, cases=CASES)
    # The session is the same for every test (same project, seed and runs): run it once per module, not per test.
    if 'text' not in baseline_json:
        result = pytester.runpytest('-n', '0', '--runs=20', '--agentarch-json=baseline.json')
        result.assert_outcomes(passed=6)
        baseline_json['text'] = pytester.path.joinpath('baseline.json').read_text()
    else:
        pytester.path.joinpath('baseline.json').write_text(baseline_json['text'])
    pytester.makefile('.yaml', cases=textwrap.dedent(CASES_V2))
    return pytester


def test_a_significant_drop_fails_the_session_with_one_line_and_nothing_is_dropped(
    baseline: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('WOBBLE', '1')
    args = ['--arch=steady,wobbly', '--runs=20', '--agentarch-baseline=baseline.json', '--agentarch-json=new.json']
    result = baseline.runpytest(*args, '--fail-on-regression')
    result.assert_outcomes(passed=6)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # wobbly first: 20/20 -> 1/20 (twenty different trajectories). The drop is tested on the baseline's held-out
    # agreement, 19 of 19, against the session's modal count, 1 of 20: 20 successes in 39, the first group at its
    # most, 19: P = C(19,19) C(20,1) / C(39,20) = 20 / 68923264410, doubled: 5.803e-10. Holm over 8 tests (4 items
    # in both x 2 rates; every other p is 1): 8 * 5.803e-10 = 4.642e-09.
    result.stdout.fnmatch_lines(
        [
            'baseline baseline.json: 4 items compared at level steps, 1 significant drop(s), 0 significant rise(s) '
            "(pass rate: Fisher's exact test; determinism: held-out agreement against the modal count; Holm over 8 "
            'tests, alpha 0.05)',
            '  different dataset version: 2 case(s) changed since the baseline: steady demo::second, '
            'wobbly demo::second',
            '  only in the baseline (2): gone demo::first, gone demo::second',
            '  only in this session (2): steady demo::third, wobbly demo::third',
            '  architectures only in the baseline: gone',
            'agentarch: 1 significant regression(s) against the baseline',
            '  regression: wobbly demo::first determinism: 20/20 -> 1/20 (-95.0%, p=5.8e-10, Holm-adjusted 4.64e-09)',
        ]
    )
    # The last line says why the session failed although every test passed.
    result.stdout.fnmatch_lines(['=* 6 passed, 1 regression in *'])
    report = json.loads(baseline.path.joinpath('new.json').read_text())
    assert report['schema_version'] == 8
    cmp = report['baseline']
    assert cmp['fingerprints'] == 'changed'
    key = {'architecture': 'wobbly', 'model': None, 'dataset': 'demo', 'case': 'first'}
    first = next(i for i in cmp['items'] if i['item'] == key)
    assert first['determinism']['p_value'] == pytest.approx(40 / 68923264410, rel=1e-9)
    assert first['top_changed'] is False  # 'agent(alpha)' is still the first variant listed (run 0 took it)


def test_without_the_flag_a_regression_is_shown_and_the_session_passes(
    baseline: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('WOBBLE', '1')
    result = baseline.runpytest('-n', '0', '--arch=steady,wobbly', '--runs=20', '--agentarch-baseline=baseline.json')
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ['agentarch: 1 significant regression(s) against the baseline (not failing the session: *', '  regression: *']
    )


def test_no_change_passes_the_gate(baseline: pytest.Pytester) -> None:
    result = baseline.runpytest('-n', '0', '--runs=20', '--agentarch-baseline=baseline.json', '--fail-on-regression')
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(['baseline baseline.json: 6 items compared at level steps, 0 significant drop(s), *'])
    assert 'regression' not in result.stdout.str()


def test_bad_baselines_and_a_gate_without_one_are_usage_errors(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=CASES)
    pytester.makefile('.json', notreport='{"hello": 1}')
    for args, message in [
        (['--agentarch-baseline=missing.json'], '*--agentarch-baseline: cannot read missing.json: No such file*'),
        (['--agentarch-baseline=notreport.json'], '*notreport.json: not a pytest-agentarch JSON report*'),
        (['--fail-on-regression'], '*--fail-on-regression needs a report to compare with: add --agentarch-baseline*'),
    ]:
        result = pytester.runpytest('-n', '0', *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args
        result.stderr.fnmatch_lines([message])


def test_markdown_junit_and_metadata(project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch) -> None:
    pytester = project(ARCHS, cases=CASES)
    summary = pytester.path / 'step-summary.md'
    summary.write_text('earlier step\n')
    monkeypatch.setenv('GITHUB_STEP_SUMMARY', str(summary))
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@example.invalid']
    subprocess.run([*git, 'init', '-q'], cwd=pytester.path, check=True)
    subprocess.run([*git, 'add', '-A'], cwd=pytester.path, check=True)
    subprocess.run([*git, 'commit', '-q', '-m', 'x'], cwd=pytester.path, check=True)
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=pytester.path, capture_output=True, text=True).stdout
    result = pytester.runpytest(
        '--arch=steady,gone',
        '--runs=5',
        '--agentarch-md=out/summary.md',
        '--junitxml=junit.xml',
        '--agentarch-json=report.json',
        '--agentarch-html=report.html',
        '-v',
    )
    result.assert_outcomes(passed=4)
    # steady and gone are each 5/5 on both cases: tied? The lower bound compares held-out agreement 4/4 with the
    # modal 5/5: Agresti-Caffo variances (5/6)(1/6)/6 = 0.023148 and (6/7)(1/7)/7 = 0.017493 per case; within
    # variance 2 x 0.040641 / 2^2 = 0.020321, half width 1.96 * 0.14255 = 0.2794 > 0.05: not enough runs to tell.
    result.stdout.fnmatch_lines(
        [
            'pairwise determinism(steps), paired by case (held-out agreement against the modal count, exact test '
            'stratified by case, Holm):',
            '  gone vs steady: not enough runs to tell: 100.0% vs 100.0%, difference +0.0% [-27.9%, +27.9%], '
            'better on 0/0 of 2 cases, p=1',
            'Markdown summary written to out/summary.md',
        ]
    )
    markdown = pytester.path.joinpath('out', 'summary.md').read_text()
    # Pooled 10/10 per architecture, cluster-adjusted Wilson = plain Wilson (no spread over cases): lower bound
    # 10 / (10 + 1.96^2) = 0.722 -> 72%.
    # Two cases of 5/5: for the population of cases, the Wilson interval of 2 cases out of 2 (2/(2 + z^2) = 0.342);
    # for these cases only, determinism on 8 held-out agreements of 8 (8/(8 + z^2) = 0.676), the pass rate on 10 of
    # 10 runs (10/(10 + z^2) = 0.722).
    assert (
        '| steady | 2 | 10 | 0 | 100.0% [34%-100%] suite [68%-100%] n=10 | 100.0% [34%-100%] suite [72%-100%] n=10 '
        '| 1.00 | 200 | 20 | - |'
    ) in markdown
    assert '| gone vs steady: not enough runs to tell | +0.0% [-27.9%, +27.9%] | 0 / 0 of 2 | 1 |' in markdown
    assert summary.read_text() == 'earlier step\n' + markdown

    cases = {
        c.get('name'): {p.get('name'): p.get('value') for p in c.iter('property')}
        for c in ET.parse(pytester.path / 'junit.xml').getroot().iter('testcase')
    }
    # Two requests per run (the tool call, the answer), 100 input and 10 output tokens each.
    assert cases['first[steady]'] == {
        'agentarch.determinism': '1.0000',
        'agentarch.determinism_level': 'steps',
        # Determinism's lower bound: Wilson's for the 4 held-out runs of 4, 4/(4 + z^2) = 0.5101.
        'agentarch.determinism_low': f'{4 / (4 + 1.959963984540054**2):.4f}',
        'agentarch.determinism_high': '1.0000',
        'agentarch.pass_rate': '1.0000',
        'agentarch.pass_rate_low': '0.5655',
        'agentarch.pass_rate_high': '1.0000',
        'agentarch.n': '5',
        'agentarch.runs': '5',
        'agentarch.variants': '1',
        'agentarch.input_tokens': '200.0',
        'agentarch.output_tokens': '20.0',
        'agentarch.cost': 'n/a',
    }
    assert len(cases) == 4 and all(len(props) == 13 for props in cases.values())

    report = json.loads(pytester.path.joinpath('report.json').read_text())
    meta = report['metadata']
    assert meta['git_commit'] == head.strip()
    assert meta['pydantic_ai_version'] == '2.62.0' and meta['pydantic_evals_version'] == '2.62.0'
    assert meta['options']['runs'] == 5 and meta['options']['markdown'] == 'out/summary.md'
    assert meta['thresholds']['level'] == 'steps' and meta['thresholds']['overrides'] == {}
    assert meta['started_at'].endswith('+00:00') and meta['duration'] > 0
    fingerprints = {c['case']: c['fingerprint'] for a in report['architectures'] for c in a['cases']}
    assert fingerprints['first'].startswith('sha256:') and fingerprints['first'] != fingerprints['second']

    # The HTML report carries the same comparison and where the report came from.
    html = pytester.path.joinpath('report.html').read_text()
    assert (
        '<tr><td>gone vs steady: not enough runs to tell</td><td>+0.0% [-27.9%, +27.9%]</td>'
        '<td>0 / 0 of 2</td><td>1</td></tr>'
    ) in html
    assert 'pydantic-ai 2.62.0, pydantic-evals 2.62.0, ' in html and f'commit {head.strip()[:12]}' in html


def test_outside_a_git_checkout_the_commit_is_null(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=CASES)
    pytester.runpytest('-n', '0', '--arch=steady', '--agentarch-json=report.json').assert_outcomes(passed=2)
    assert json.loads(pytester.path.joinpath('report.json').read_text())['metadata']['git_commit'] is None


def test_markdown_escapes_what_users_and_datasets_name() -> None:
    records = [RunRecord(index=i, duration=0.1, trajectory='a') for i in range(3)]
    item = ItemResult(
        nodeid='n', architecture='x|<script>alert(1)</script>', description='', case='c', dataset=None, records=records
    )
    text = render_markdown(build_report([item], model='m', seed=0, runs=3, missing={'a|b': 'died <here>'}))
    assert '| x\\|&lt;script&gt;alert(1)&lt;/script&gt; | 1 | 3 |' in text
    assert '- a\\|b: died &lt;here&gt;' in text
    assert '<script>' not in text


def test_report_pairs_come_from_the_cases_both_ran() -> None:
    # Through build_report: one architecture 3/3 on one case, the other 0/3 (every run raised: each its own variant
    # 'error: E'... all three the same error, so determinism 3/3 too). Tied? One case of 3 runs: not enough runs.
    def item(arch: str, error: str | None) -> ItemResult:
        records = [RunRecord(index=i, duration=0.1, trajectory='a', error_type=error) for i in range(3)]
        return ItemResult(nodeid=arch, architecture=arch, description='', case='c', dataset='d', records=records)

    report = build_report([item('a', None), item('b', 'E')], model='m', seed=0, runs=3, missing={})
    (pair,) = report.comparisons
    assert (pair.first, pair.second, pair.cases, pair.p_value, pair.verdict) == ('a', 'b', 1, 1.0, 'unclear')
    assert compare_pairs([], level='steps') == []
    assert Report.model_validate_json(report.model_dump_json()) == report


def test_the_published_schema_names_the_new_fields() -> None:
    shipped = Path(__file__).parent.parent / 'src' / 'pytest_agentarch' / 'reports' / 'schema.json'
    schema = json.loads(shipped.read_text())
    assert {'metadata', 'comparisons', 'baseline'} <= set(schema['properties'])
    assert 'fingerprint' in schema['$defs']['CaseReport']['properties']
