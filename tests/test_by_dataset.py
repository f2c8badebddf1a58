"""Each dataset reported apart: in a session of several datasets every architecture's summary is also computed per
dataset (`by_dataset`), in the JSON report, the terminal, the Markdown summary and the HTML page, and in the report
`agentarch merge` rebuilds from shards; a session of one dataset shows no breakdown.

The project: two architectures over two datasets, 4 runs per case. `steady` calls alpha and answers `ok` on every
input. `narrow` answers one entity per request: it raises ValueError on `a, b` (the pair dataset), and on `world` its
run 3 calls beta instead of alpha (a path outside the case's `TrajectorySteps`, with the right answer). So, worked
out by hand:

- one_entity (cases first, second; outcome `EqualsExpected`, path `TrajectorySteps [[alpha]]`):
  steady: 8 runs, all pass, modal trajectories 4 + 4 with held-out agreement 3 + 3, path 8/8;
  narrow: 8 runs, all pass (pass^4 = 1); trajectories alpha x4 and alpha, alpha, alpha, beta: modal 4 + 3 = 7 of 8,
  held-out 3 + 2 of 6 (run 3's beta is not the mode of runs 0-2); path 4 + 3 = 7 of 8.
- two_entities (case pair, outcome only): steady 4/4 passed; narrow: all 4 runs raised ValueError, 0/4 passed.

The intervals, with z = 1.959964 (z^2 = 3.841459) and Student's t at 1 degree of freedom 12.706205:
- every run of two cases succeeding: the interval is Wilson's over the 2 cases, low 2 / (2 + z^2) = 0.3424;
- one case, 4/4 runs: Wilson low 4 / (4 + z^2) = 0.5101; 0/4: high z^2 / (4 + z^2) = 0.4899; a modal share of 4/4
  with held-out 3/3: low 3 / (3 + z^2) = 0.4385, high 1;
- narrow's determinism on one_entity: low from held-out (3 of 3, 2 of 3): p = 5/6, cluster variance 2 * (0.5^2 +
  0.5^2) / 6^2 = 0.027778 > binomial 0.023148, so Wilson with t on n = p(1 - p) / 0.027778 = 5: low 0.0209; high
  from the modal counts (4 of 4, 3 of 4): p = 7/8, variance 2 * 0.5 / 8^2 = 0.015625, n = 7: high 0.9993. Its path
  conformance, (4 of 4, 3 of 4) clustered: low 0.0318, high 0.9993.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_agentarch.cli import main
from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.reports.html import render_html
from pytest_agentarch.reports.markdown import render_markdown
from pytest_agentarch.reports.merge import merge_reports
from pytest_agentarch.reports.report import NO_DATASET, ItemResult, Report, build_report
from pytest_agentarch.reports.table import render_by_dataset, render_session

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('steady')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('narrow')
    async def narrow(inputs, model):
        if ',' in inputs:
            raise ValueError('one entity per request')
        if inputs == 'world':
            return await archkit.run(lambda i: [['beta']] if i == 3 else [['alpha']], inputs)
        return await archkit.run(lambda i: [['alpha']], inputs)
"""

ONE_ENTITY = """
    name: one_entity
    cases:
      - name: first
        inputs: hello
        expected_output: ok
        evaluators:
          - EqualsExpected
          - TrajectorySteps: {steps: [[alpha]]}
      - name: second
        inputs: world
        expected_output: ok
        evaluators:
          - EqualsExpected
          - TrajectorySteps: {steps: [[alpha]]}
"""

TWO_ENTITIES = """
    name: two_entities
    cases:
      - name: pair
        inputs: a, b
        expected_output: ok
        evaluators:
          - EqualsExpected
"""

OUTPUTS = ('--agentarch-json=report.json', '--agentarch-md=summary.md', '--agentarch-html=report.html')


@pytest.fixture
def suite(project: Callable[..., pytest.Pytester]) -> pytest.Pytester:
    return project(ARCHS, one_entity=ONE_ENTITY, two_entities=TWO_ENTITIES)


def _block(stdout: str) -> list[list[str]]:
    """The terminal's by-dataset rows (header first), each split into its cells."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('by dataset ('))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if not set(line) <= {'-', ' '}:
            rows.append(re.split(r'\s{2,}', line.strip()))
    return rows


def _by_dataset(report: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {
        (a['summary']['architecture'], d['dataset']): d['summary']
        for a in report['architectures']
        for d in a['by_dataset']
    }


def test_each_dataset_is_reported_apart_with_the_figures_worked_out_by_hand(suite: pytest.Pytester) -> None:
    # In one process: the breakdown is built on the controller from the items' results, which reach it alike with
    # and without xdist (conftest.XDIST).
    result = suite.runpytest('-n', '0', '--runs=4', *OUTPUTS)
    # narrow misses two gates: `second`'s path conformance 3/4 and `pair`'s pass rate 0/4.
    result.assert_outcomes(passed=4, failed=2)
    report = json.loads(suite.path.joinpath('report.json').read_text())
    assert report['schema_version'] == 8
    found = _by_dataset(report)
    assert sorted(found) == [
        ('narrow', 'one_entity'),
        ('narrow', 'two_entities'),
        ('steady', 'one_entity'),
        ('steady', 'two_entities'),
    ]
    counts = {k: (s['cases'], s['runs'], s['errors'], s['infra']) for k, s in found.items()}
    assert counts == {
        ('narrow', 'one_entity'): (2, 8, 0, 0),
        ('narrow', 'two_entities'): (1, 4, 4, 0),
        ('steady', 'one_entity'): (2, 8, 0, 0),
        ('steady', 'two_entities'): (1, 4, 0, 0),
    }
    narrow = found['narrow', 'one_entity']
    assert (narrow['determinism']['successes'], narrow['determinism']['n'], narrow['determinism']['held_out']) == (
        7,
        8,
        5,
    )
    assert narrow['determinism']['low'] == pytest.approx(0.020879, abs=1e-5)
    assert narrow['determinism']['high'] == pytest.approx(0.999329, abs=1e-5)
    assert (narrow['pass_rate']['successes'], narrow['pass_rate']['n']) == (8, 8)
    assert narrow['pass_rate']['low'] == pytest.approx(0.342380, abs=1e-5)
    assert (narrow['path_conformance']['successes'], narrow['path_conformance']['n']) == (7, 8)
    assert narrow['path_conformance']['low'] == pytest.approx(0.031838, abs=1e-5)
    assert narrow['path_conformance']['high'] == pytest.approx(0.999329, abs=1e-5)
    assert (narrow['k'], narrow['pass_hat_k']) == (4, [1.0, 1.0, 1.0, 1.0])
    pair = found['narrow', 'two_entities']
    assert pair['all_raised'] == 'all 4 runs raised ValueError'
    assert (pair['pass_rate']['successes'], pair['pass_rate']['n']) == (0, 4)
    assert pair['pass_rate']['high'] == pytest.approx(0.489891, abs=1e-5)
    assert pair['path_conformance'] is None
    assert pair['pass_hat_k'] == [0.0, 0.0, 0.0, 0.0]
    steady_pair = found['steady', 'two_entities']
    assert steady_pair['pass_rate']['low'] == pytest.approx(0.510109, abs=1e-5)
    assert steady_pair['determinism']['low'] == pytest.approx(0.438503, abs=1e-5)
    # The pooled row still pools: narrow 8 of 12 runs passed over its 3 cases.
    pooled = {a['summary']['architecture']: a['summary'] for a in report['architectures']}
    assert (pooled['narrow']['pass_rate']['successes'], pooled['narrow']['pass_rate']['n']) == (8, 12)

    assert _block(result.stdout.str()) == [
        [
            'dataset',
            'architecture',
            'cases',
            'runs',
            'err',
            'infra',
            'determinism(steps)',
            'pass rate',
            'path conformance',
            'pass^4',
        ],
        ['one_entity', 'narrow', '2', '8', '0', '0', '88% [2-100]', '100% [34-100]', '88% [3-100]', '1.00'],
        ['one_entity', 'steady', '2', '8', '0', '0', '100% [34-100]', '100% [34-100]', '100% [34-100]', '1.00'],
        ['two_entities', 'narrow', '1', '4', '4', '0', 'all 4 runs raised ValueError', '0% [0-49]', '-', '0.00'],
        ['two_entities', 'steady', '1', '4', '0', '0', '100% [44-100]', '100% [51-100]', '-', '1.00'],
    ]

    markdown = suite.path.joinpath('summary.md').read_text()
    assert '### By dataset' in markdown
    assert (
        '| two_entities | narrow | 1 | 4 | 4 | 0 | all 4 runs raised ValueError | 0.0% [0%-49%] suite [0%-49%] n=4 | - '
        '| 0.00 |'
    ) in markdown.splitlines()
    assert (
        '| two_entities | steady | 1 | 4 | 0 | 0 | 100.0% [44%-100%] suite [44%-100%] n=4 | 100.0% [51%-100%] suite '
        '[51%-100%] n=4 | - | 1.00 |'
    ) in markdown.splitlines()

    page = suite.path.joinpath('report.html').read_text()
    rows = dict(
        ((m[1], m[2]), re.findall(r'<td>(.*?)</td>', m[3]))
        for m in re.finditer(r'<tr data-dataset="([^"]*)" data-arch="([^"]*)">(.*?)</tr>', page)
    )
    assert sorted(rows) == sorted((dataset, arch) for arch, dataset in found)
    assert rows['two_entities', 'narrow'] == [
        'two_entities',
        'narrow',
        '1',
        '4',
        '4',
        '0',
        'all 4 runs raised ValueError',
        '0.0% [0%\u201349%] n=4',
        '-',
        '0.00',
    ]
    assert rows['one_entity', 'narrow'][6:] == [
        '87.5% [2%\u2013100%] n=8',
        '100.0% [34%\u2013100%] n=8',
        '87.5% [3%\u2013100%] n=8',
        '1.00',
    ]
    assert '<th>path conformance</th><th>pass^4</th></tr>' in page


def test_a_session_of_one_dataset_shows_no_breakdown(suite: pytest.Pytester) -> None:
    result = suite.runpytest('-n', '0', 'one_entity.yaml', '--runs=4', *OUTPUTS)
    result.assert_outcomes(passed=3, failed=1)
    assert 'by dataset' not in result.stdout.str()
    report = json.loads(suite.path.joinpath('report.json').read_text())
    assert [a['by_dataset'] for a in report['architectures']] == [[], []]
    assert 'By dataset' not in suite.path.joinpath('summary.md').read_text()
    assert 'by-dataset' not in suite.path.joinpath('report.html').read_text()


def test_tests_that_are_not_dataset_cases_are_a_group_of_their_own(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_direct="""
        def test_direct(arch):
            stats = arch.repeat('hello', runs=2)
            assert stats.errors == 0
        """
    )
    result = suite.runpytest('-n', '0', 'one_entity.yaml', 'test_direct.py', '--runs=4', '--agentarch-json=r.json')
    result.assert_outcomes(passed=5, failed=1)
    found = _by_dataset(json.loads(suite.path.joinpath('r.json').read_text()))
    assert sorted(found, key=str) == sorted(
        [('narrow', 'one_entity'), ('narrow', None), ('steady', 'one_entity'), ('steady', None)], key=str
    )
    direct = found['steady', None]
    assert (direct['cases'], direct['runs'], direct['pass_rate']['successes'], direct['pass_rate']['n']) == (1, 2, 2, 2)
    block = _block(result.stdout.str())
    # No dataset comes last, under its own name.
    assert [row[:4] for row in block[1:]] == [
        ['one_entity', 'narrow', '2', '8'],
        ['one_entity', 'steady', '2', '8'],
        [NO_DATASET, 'narrow', '1', '2'],
        [NO_DATASET, 'steady', '1', '2'],
    ]


TIMING = frozenset({'latency_p50', 'latency_p95', 'peak_memory'})
"""Measured, not computed from what the runs did."""


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in TIMING}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def test_merged_shards_carry_the_breakdown_of_the_one_session(
    suite: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    suite.runpytest('-n', '0', '--runs=4', '--agentarch-json=whole.json')
    for index in (1, 2):
        suite.runpytest('-n', '0', '--runs=4', f'--agentarch-shard={index}/2', f'--agentarch-json=shard{index}.json')
    whole = Report.model_validate_json(suite.path.joinpath('whole.json').read_text())
    shards = [suite.path / 'shard1.json', suite.path / 'shard2.json']
    # Each shard made some of the runs of every item: its own breakdown covers only them.
    parts = [Report.model_validate_json(p.read_text()) for p in shards]
    assert sorted(d.summary.runs for p in parts for a in p.architectures for d in a.by_dataset) != sorted(
        d.summary.runs for a in whole.architectures for d in a.by_dataset
    )
    merged = merge_reports(shards).report
    assert [_strip([d.model_dump() for d in a.by_dataset]) for a in merged.architectures] == [
        _strip([d.model_dump() for d in a.by_dataset]) for a in whole.architectures
    ]
    assert render_by_dataset(merged) == render_by_dataset(whole)
    # `agentarch merge` prints the block as the session did.
    capsys.readouterr()
    main(['merge', *map(str, shards), '-o', str(suite.path / 'merged.json')])
    out = capsys.readouterr().out
    assert _block(out) == _block('\n'.join(render_by_dataset(whole)))
    assert _block(out)[3][:8] == [
        'two_entities',
        'narrow',
        '1',
        '4',
        '4',
        '0',
        'all 4 runs raised ValueError',
        '0% [0-49]',
    ]


# ------------------------------------------------------------------------------------ without a session


def _item(
    architecture: str,
    dataset: str | None,
    case: str,
    passed: list[bool],
    model: str | None = None,
    raised: str | None = None,
    path: bool = False,
) -> ItemResult:
    """An item whose run i passes when `passed[i]` (trajectory a, else b), or raises `raised` in every run; with
    `path`, its case has a path evaluator (every run that did not raise conforms)."""
    records = [
        RunRecord(index=i, duration=0.1, error_type=raised, error_message='stopped', path_checked=path)
        if raised
        else RunRecord(
            index=i,
            duration=0.1,
            trajectory='a' if ok else 'b',
            assertions=[Assertion(name='EqualsExpected', value=ok)],
            path_checked=path,
        )
        for i, ok in enumerate(passed)
    ]
    return ItemResult(
        nodeid=f'{dataset}.yaml::{case}[{architecture}]',
        architecture=architecture,
        model=model,
        description='',
        case=case,
        dataset=dataset,
        records=records,
    )


def test_each_model_gets_its_own_breakdown() -> None:
    items = [
        _item('x', 'one', 'c1', [True, True, True, False], model='m1'),
        _item('x', 'two', 'c2', [False, False, False, False], model='m1'),
        _item('x', 'one', 'c1', [True, True, True, True], model='m2'),
        _item('x', 'two', 'c2', [True, False, False, False], model='m2'),
    ]
    report = build_report(items, model='m1,m2', models=['m1', 'm2'], seed=0, runs=4, missing={})
    passed = {
        (a.summary.model, d.dataset): (d.summary.pass_rate.successes, d.summary.pass_rate.n)
        for a in report.architectures
        for d in a.by_dataset
    }
    assert passed == {('m1', 'one'): (3, 4), ('m1', 'two'): (0, 4), ('m2', 'one'): (4, 4), ('m2', 'two'): (1, 4)}
    who = [row.split()[:2] for row in render_by_dataset(report)[4:]]
    assert who == [['one', 'x@m1'], ['one', 'x@m2'], ['two', 'x@m1'], ['two', 'x@m2']]


def test_a_datasets_breakdown_is_the_summary_of_a_session_of_that_dataset_alone() -> None:
    items = [
        _item('x', 'one', 'c1', [True, True, False, True, True]),
        _item('x', 'one', 'c2', [True, False, False, True, True]),
        _item('x', 'two', 'c3', [False, False, True, True, True]),
        _item('x', None, 'direct', [True, True, True, True, True]),
        _item('y', 'one', 'c1', [True, True, True, True, True]),
    ]
    report = build_report(items, model='m', seed=0, runs=5, missing={})
    for a in report.architectures:
        for d in a.by_dataset:
            alone = build_report(
                [i for i in items if i.dataset == d.dataset and i.architecture == a.summary.architecture],
                model='m',
                seed=0,
                runs=5,
                missing={},
            )
            assert alone.architectures[0].by_dataset == []
            assert d.summary == alone.architectures[0].summary
    # y served one dataset of the session's three: its breakdown still names it.
    y = next(a for a in report.architectures if a.summary.architecture == 'y')
    assert [d.dataset for d in y.by_dataset] == ['one']
    x = next(a for a in report.architectures if a.summary.architecture == 'x')
    assert [d.label for d in x.by_dataset] == ['one', 'two', NO_DATASET]
    # 4 + 3 of the 10 runs of dataset one passed, 3 of 5 of dataset two.
    assert [(d.summary.pass_rate.successes, d.summary.pass_rate.n) for d in x.by_dataset] == [(7, 10), (3, 5), (5, 5)]
    assert any(line.startswith('by dataset (') for line in render_session(report, verbose=False))
    assert '### By dataset' in render_markdown(report)
    assert 'data-table="by-dataset"' in render_html(report)


def test_dataset_names_are_escaped_in_every_output() -> None:
    hostile = '<script>document.title="pwned"</script>|`x`'
    items = [_item('x', 'one', 'c1', [True, False]), _item('x', hostile, 'c2', [False, False])]
    report = build_report(items, model='m', seed=0, runs=2, missing={})
    page = render_html(report)
    assert '<script>' not in page
    assert 'data-dataset="&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;|`x`"' in page
    markdown = render_markdown(report)
    assert '<script>' not in markdown
    assert '| &lt;script&gt;document.title="pwned"&lt;/script&gt;\\|\\`x\\` | x |' in markdown


def test_the_by_dataset_table_fits_a_1280_pixel_window(tmp_path: Path) -> None:
    from test_html_report import MEASURE, browse

    # The main job's shape: its datasets and architectures on one model, path conformance, and whole datasets that
    # raised. (Two models with long names widen the architecture column past the window, as they do the summary's.)
    names = ['k8s_anomaly', 'k8s_anomaly_batch', 'k8s_anomaly_raw', 'k8s_anomaly_separating']
    architectures = ['delegation', 'hybrid', 'manual', 'single', 'specialized', 'workflow']
    items = [
        _item(
            arch,
            dataset,
            f'{dataset}_{i}',
            [True] * 20,
            raised='SkippedStepError' if arch in ('single', 'delegation') and dataset != 'k8s_anomaly' else None,
            path=True,
        )
        for arch in architectures
        for dataset in names
        for i in range(2)
    ]
    report = build_report(items, model='sim', seed=0, runs=20, missing={})
    page = render_html(report)
    assert '<td>all 40 runs raised SkippedStepError</td>' in page
    assert '<th>path conformance</th>' in page
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', page)
    assert policy is not None
    harness = tmp_path / 'measured.html'
    harness.write_text(page.replace(policy.group(0), '').replace('</body>', MEASURE + '</body>'), encoding='utf-8')
    dom = browse(harness, tmp_path / 'profile', '--window-size=1280,1000', '--dump-dom')
    title = re.search(r'<title>(.*?)</title>', dom)
    assert title is not None
    widths = dict(part.split(':') for part in title.group(1).split())
    scroll, visible = map(int, widths['by-dataset'].split('/'))
    assert 0 < scroll <= visible, f'the by-dataset table needs {scroll} px in a {visible} px column: it scrolls'
