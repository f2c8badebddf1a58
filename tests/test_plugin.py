"""The plugin end to end: capture, the `arch` fixture, selection, user evaluators, concurrency."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ONE_CASE, XDIST
from pytest_agentarch.reports.report import Report

CAPTURE = """
    import asyncio

    import archkit
    from pytest_agentarch import architecture, call_tool

    async def delegate(q: str) -> str:
        # A tool that hands the question to a sub-agent (delegation).
        return await archkit.run(lambda i: [['alpha'], ['beta']], q)

    @architecture('delegating')
    async def delegating(inputs, model):
        return await archkit.run(lambda i: [['delegate'], ['gamma']], inputs, tools=[delegate, archkit.gamma])

    @architecture('gathering')
    async def gathering(inputs, model):
        # Two agents at once; which one starts first and which one finishes first changes from run to run.
        i = archkit.run_index()
        first = archkit.run(lambda i: [['alpha']], inputs, delay=0.03 * (i % 2))
        second = archkit.run(lambda i: [['beta']], inputs, delay=0.03 * (1 - i % 2))
        pair = (first, second) if i < 2 else (second, first)
        await asyncio.gather(*pair)
        return 'ok'

    @architecture('direct')
    async def direct(inputs, model):
        # Orchestration code calling tools itself; two of them together.
        await call_tool(archkit.alpha, 'x')
        await asyncio.gather(call_tool(archkit.beta, q='y'), call_tool(archkit.gamma, 'z'))
        return 'ok'

    @architecture('silent')
    async def silent(inputs, model):
        return 'ok'

    @architecture('raising')
    async def raising(inputs, model):
        if archkit.run_index() == 1:
            raise ValueError('planned failure')
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('sleepy')
    async def sleepy(inputs, model):
        if archkit.run_index() == 2:
            await asyncio.sleep(60)
        return await archkit.run(lambda i: [['alpha']], inputs)
"""


def load(pytester: pytest.Pytester, name: str = 'report.json') -> Report:
    return Report.model_validate_json(pytester.path.joinpath(name).read_text())


def cases_by_arch(report: Report) -> dict[str, Any]:
    return {a.summary.architecture: a.cases[0] for a in report.architectures}


def test_capture_of_nested_concurrent_and_direct_tool_calls(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(CAPTURE, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '4', '--agentarch-timeout', '2', '--agentarch-json', 'report.json')
    result.assert_outcomes(passed=3, failed=3)
    cases = cases_by_arch(load(pytester))

    def variants(arch: str) -> list[tuple[str, int]]:
        return [(v.trajectory, v.count) for v in cases[arch].variants]

    assert variants('delegating') == [('agent(delegate(agent(alpha > beta)) > gamma)', 4)]
    assert cases['delegating'].variants[0].steps == [['delegate'], ['alpha'], ['beta'], ['gamma']]
    assert variants('gathering') == [('{agent(alpha), agent(beta)}', 4)]
    assert variants('direct') == [('alpha > {beta, gamma}', 4)]
    assert [c.tool_calls.mean for c in (cases['delegating'], cases['gathering'], cases['direct'])] == [4, 2, 3]

    silent = cases['silent']
    # A run that raised is behaviour: its own variant, in determinism and pass rate alike.
    assert (silent.errors, silent.error_types, silent.determinism.n, silent.determinism.value) == (
        4,
        {'CaptureError': 4},
        4,
        1.0,
    )
    assert [(v.trajectory, v.count) for v in silent.variants] == [('error: CaptureError', 4)]
    raising = cases['raising']
    assert (raising.errors, raising.determinism.value, raising.pass_rate.successes) == (1, 0.75, 3)
    sleepy = cases['sleepy']
    assert (sleepy.errors, sleepy.error_types, sleepy.pass_rate.successes) == (1, {'TimeoutError': 1}, 3)

    result.stdout.fnmatch_lines(
        [
            '*_ first[[]silent[]] _*',
            'gate missed: silent first: pass_rate 0.000 n=4 < threshold 1',
            'runs=4 errors=4 pass rate 0% [[]0%-49%[]] n=4 all 4 runs raised CaptureError',
            'runs 0-3 (4 runs):',  # four runs that failed alike: one block
            '  error: CaptureError: nothing was captured: *call tools from orchestration code through '
            'pytest_agentarch.call_tool',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            '*_ first[[]raising[]] _*',
            'gate missed: raising first: pass_rate 0.750 n=4 < threshold 1',
            'run 1:',
            '  error: ValueError: planned failure',
            '  actual tools:   (none)',
        ]
    )
    result.stdout.fnmatch_lines(
        ['*_ first[[]sleepy[]] _*', 'run 2:', '  error: TimeoutError: run exceeded --agentarch-timeout=2.0s']
    )


ARCH_FIXTURE_TEST = """
    import asyncio

    def test_repeat(arch):
        assert arch.name in ('steady', 'wobbly')
        assert asyncio.run(arch.run('hello')) == 'ok'
        runs = arch.repeat('hello', runs=10)
        assert runs.runs == 10
        assert runs.determinism.value >= 0.9, arch.name
"""

FIXTURE_ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('steady', description='always alpha then beta')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']], inputs)

    @architecture('wobbly')
    async def wobbly(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']] if i % 4 else [['beta', 'alpha']], inputs)
"""


@pytest.mark.parametrize('xdist', XDIST)
def test_arch_fixture_runs_and_repeats_and_its_statistics_reach_the_summary(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(FIXTURE_ARCHS)
    pytester.makepyfile(test_archs=ARCH_FIXTURE_TEST)
    result = pytester.runpytest('--agentarch-json', 'report.json', *xdist)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['FAILED test_archs.py::test_repeat[[]wobbly[]] - AssertionError: wobbly*'])
    # The runs of the failed test are still measured and reported.
    result.stdout.fnmatch_lines(
        [
            'steady * 1 * 10 * 0 * 100.0% *',
            'wobbly * 1 * 10 * 0 * 70.0% *',
        ]
    )
    case = cases_by_arch(load(pytester))['wobbly']
    assert (case.case, case.nodeid, case.dataset) == ('test_repeat[wobbly]', 'test_archs.py::test_repeat[wobbly]', None)
    assert [(v.trajectory, v.count) for v in case.variants] == [('agent(alpha > beta)', 7), ('agent({alpha, beta})', 3)]
    assert load(pytester).architectures[0].summary.description == 'always alpha then beta'


SEEDED = """
    import random

    import archkit
    import pytest_agentarch
    from pytest_agentarch import architecture

    def plan(i):
        rng = random.Random(pytest_agentarch.current_run().derive_seed())
        return rng.choice([[['alpha'], ['beta']], [['beta'], ['alpha']], [['alpha', 'gamma']]])

    @architecture('one')
    async def one(inputs, model):
        return await archkit.run(plan, inputs)

    @architecture('two')
    async def two(inputs, model):
        return await archkit.run(plan, inputs)
"""

TWO_CASES = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: second
        inputs: world
        expected_output: ok
        evaluators:
          - EqualsExpected
"""

TIMING = {'latency', 'duration', 'peak_memory', 'cost', 'latency_p50', 'latency_p95'}
# `metadata` holds the session's start time and its options (the JSON path differs): not the runs' results.
TIMING |= {'metadata'}


def untimed(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: untimed(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [untimed(v) for v in data]
    return data


def test_json_report_is_the_same_with_and_without_xdist_for_one_seed(pytester: pytest.Pytester, project: Any) -> None:
    project(SEEDED, cases=TWO_CASES)
    reports = {}
    for name, args in [('a', ['-n', '0', '--agentarch-seed', '7']), ('b', ['-n', '2', '--agentarch-seed', '7'])]:
        result = pytester.runpytest('--runs=6', '--min-pass-rate=0', f'--agentarch-json=out/{name}.json', *args)
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines([f'report written to out/{name}.json'])
        reports[name] = json.loads(pytester.path.joinpath('out', f'{name}.json').read_text())
    assert sorted(p.name for p in pytester.path.joinpath('out').iterdir()) == ['a.json', 'b.json']  # no temp files

    report = Report.model_validate(reports['a'])
    assert (report.model, report.seed, report.runs_per_case, report.missing) == ('test', 7, 6, [])
    assert [a.summary.architecture for a in report.architectures] == ['one', 'two']
    for arch in report.architectures:
        assert [c.case for c in arch.cases] == ['first', 'second']
        for case in arch.cases:
            assert sum(v.count for v in case.variants) == case.runs == 6
            assert case.determinism.successes == case.variants[0].count
    # The seed, not the scheduling, picks each run's trajectory: the runs really differ, identically both ways.
    assert any(len(c.variants) > 1 for a in report.architectures for c in a.cases)
    assert untimed(reports['a']) == untimed(reports['b'])

    other = pytester.runpytest('--runs=6', '--min-pass-rate=0', '--agentarch-json=out/c.json', '--agentarch-seed=8')
    other.assert_outcomes(passed=4)
    assert untimed(json.loads(pytester.path.joinpath('out', 'c.json').read_text())) != untimed(reports['a'])


def test_a_session_without_xdist_builds_its_report_from_the_items_own_results(
    pytester: pytest.Pytester, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In one process the controller takes each item's results as the item made them: no record is copied to plain
    # data and back (that is for reports crossing to an xdist controller), and the statistics an item judged its
    # gates on are the report's, not computed a second time. Four items: four computations, no copies.
    from pytest_agentarch.core.records import RunRecord
    from pytest_agentarch.plugin import collection, hooks
    from pytest_agentarch.reports import report as report_module

    calls = {'case_stats': 0, 'to_wire': 0, 'from_wire': 0}
    stats_of = collection.case_stats

    def counted_stats(*args: Any, **kwargs: Any) -> Any:
        calls['case_stats'] += 1
        return stats_of(*args, **kwargs)

    for module in (collection, hooks, report_module):
        monkeypatch.setattr(module, 'case_stats', counted_stats)
    to_wire, from_wire = RunRecord.to_wire, RunRecord.from_wire.__func__  # type: ignore[attr-defined]

    def counted_to_wire(self: RunRecord) -> dict[str, Any]:
        calls['to_wire'] += 1
        return to_wire(self)

    def counted_from_wire(cls: type[RunRecord], data: dict[str, Any]) -> RunRecord:
        calls['from_wire'] += 1
        return from_wire(cls, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(RunRecord, 'to_wire', counted_to_wire)
    monkeypatch.setattr(RunRecord, 'from_wire', classmethod(counted_from_wire))
    project(SEEDED, cases=TWO_CASES)
    result = pytester.runpytest_inprocess('-n', '0', '--runs=6', '--min-pass-rate=0', '--agentarch-json=a.json')
    result.assert_outcomes(passed=4)
    assert calls == {'case_stats': 4, 'to_wire': 0, 'from_wire': 0}
    report = load(pytester, 'a.json')
    assert [sum(v.count for v in c.variants) for a in report.architectures for c in a.cases] == [6, 6, 6, 6]


CRASHING = """
    import os

    import archkit
    from pytest_agentarch import architecture

    @architecture('fragile')
    async def fragile(inputs, model):
        if inputs == 'crash':
            os._exit(1)
        return await archkit.run(lambda i: [['alpha']], inputs)
"""

CRASH_CASES = """
    name: demo
    cases:
      - name: calm
        inputs: hello
      - name: doomed
        inputs: crash
      - name: steady
        inputs: world
"""


def test_a_crashed_worker_leaves_its_item_listed_as_missing(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(CRASHING, cases=CRASH_CASES)
    result = pytester.runpytest('-n', '2', '--runs', '3', '--agentarch-json', 'report.json')
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            '*agentarch: architecture comparison*',
            'fragile * 2 * 6 * 0 * 100.0% *',
            'missing results (1 items):',
            '  cases.yaml::doomed[[]fragile[]]: *crashed*',
        ]
    )
    report = load(pytester)
    assert [m.nodeid for m in report.missing] == ['cases.yaml::doomed[fragile]']
    assert [c.case for c in report.architectures[0].cases] == ['calm', 'steady']


SELECTION = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('b')
    async def b(inputs, model):
        return await archkit.run(lambda i: [['beta']], inputs)

    @architecture('c', datasets=('other',))
    async def c(inputs, model):
        return await archkit.run(lambda i: [['gamma']], inputs)
"""

OTHER = """
    name: other
    cases:
      - name: elsewhere
        inputs: hi
"""


def test_arch_selects_architectures_and_datasets_limit_pairing(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(SELECTION, cases=ONE_CASE, other=OTHER)
    result = pytester.runpytest('--co', '-q', '--agentarch-json=out.json')
    result.stdout.fnmatch_lines(
        [
            'cases.yaml::first[[]a[]]',
            'cases.yaml::first[[]b[]]',
            'other.yaml::elsewhere[[]a[]]',
            'other.yaml::elsewhere[[]b[]]',
            'other.yaml::elsewhere[[]c[]]',
            '5 tests collected*',
        ]
    )
    result.stdout.no_fnmatch_line('cases.yaml::first[[]c[]]')
    # Collecting runs nothing: no comparison, no items reported missing, no report file.
    result.stdout.no_fnmatch_line('*agentarch*')
    assert not pytester.path.joinpath('out.json').exists()
    result = pytester.runpytest('--arch', 'c,b')
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(['b * 2 * 2 *', 'c * 1 * 1 *'])
    result.stdout.no_fnmatch_line('a  *')


USER_EVALUATOR = """
    from dataclasses import dataclass

    import archkit
    from pydantic_evals.evaluators import Evaluator, EvaluatorContext
    from pytest_agentarch import architecture

    @dataclass
    class Shouts(Evaluator):
        word: str

        def evaluate(self, ctx: EvaluatorContext) -> bool:
            return ctx.output == self.word.upper()

    @architecture('loud')
    async def loud(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs, answer=lambda i: 'HELLO')
"""

USER_CASES = """
    name: demo
    cases:
      - name: greets
        inputs: hi
        evaluators:
          - Shouts: {word: hello}
      - name: whispers
        inputs: hi
        evaluators:
          - Shouts: {word: bye}
"""


def test_evaluators_defined_in_a_conftest_are_usable_by_name(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(USER_EVALUATOR, cases=USER_CASES)
    result = pytester.runpytest('--runs', '2')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ['gate missed: loud whispers: pass_rate 0.000 n=2 < threshold 1', '  assertion failed: Shouts: false']
    )


CONCURRENT = """
    from pathlib import Path

    import archkit
    from pytest_agentarch import architecture

    in_flight = {'now': 0, 'max': 0}

    @architecture('slow')
    async def slow(inputs, model):
        in_flight['now'] += 1
        in_flight['max'] = max(in_flight['max'], in_flight['now'])
        try:
            # Four model requests of 50 ms each: every run lasts far longer than it takes to start all of them.
            return await archkit.run(lambda i: [['alpha'], ['beta'], ['gamma']], inputs, delay=0.05)
        finally:
            in_flight['now'] -= 1

    def pytest_sessionfinish(session):
        if in_flight['max']:  # only the process that ran the item (a worker, under xdist)
            Path('in_flight.txt').write_text(str(in_flight['max']))
"""


@pytest.mark.parametrize(
    ('concurrency', 'expected', 'xdist'),
    [
        # An architecture's first run in a process runs alone (it decides which capture path its later runs take, see
        # docs/design.md), so without a limit the other 19 of 20 runs are in flight together.
        pytest.param([], 19, [], id='default-no-xdist'),
        pytest.param(['--agentarch-concurrency', '6'], 6, [], id='limit-no-xdist'),
        # Once under xdist, with the limit: the worker running the item parses it and caps its runs at it. The default
        # is the same constant in every process, so its xdist variant would prove nothing more.
        pytest.param(['--agentarch-concurrency', '6'], 6, ['-n', '2'], id='limit-xdist-2'),
    ],
)
def test_runs_of_a_case_execute_concurrently_up_to_the_limit(
    project: Callable[..., pytest.Pytester], concurrency: list[str], expected: int, xdist: list[str]
) -> None:
    pytester = project(CONCURRENT, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '20', *concurrency, *xdist)
    result.assert_outcomes(passed=1)
    assert int(pytester.path.joinpath('in_flight.txt').read_text()) == expected


PRICED = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('priced')
    async def priced(inputs, model):
        # Three requests of 100 input and 10 output tokens at gpt-4o prices ($2.50 / $10 per million).
        return await archkit.run(lambda i: [['alpha'], ['beta']], inputs, model_name='gpt-4o')

    @architecture('unpriced')
    async def unpriced(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)
"""


def test_usage_and_cost_per_run(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(PRICED, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '3', '--agentarch-json', 'report.json')
    result.assert_outcomes(passed=2)
    # Columns from `tok in`: input tokens, output tokens, requests, cost per run.
    result.stdout.fnmatch_lines(['priced * 300 * 30 * 3.0 * $0.00105 *', 'unpriced * 200 * 20 * 2.0 * - *'])
    report = load(pytester)
    priced, unpriced = (a.summary for a in report.architectures)
    assert (priced.input_tokens, priced.output_tokens, priced.requests, priced.tool_calls) == (300, 30, 3, 2)
    assert priced.cost == pytest.approx(3 * (100 * 2.5 + 10 * 10) / 1e6)
    assert unpriced.cost is None
    assert report.architectures[0].cases[0].cost is not None
    assert report.architectures[0].cases[0].cost.n == 3


GC_WATCH = """
    import gc

    import pytest_agentarch
    from pytest_agentarch import architecture

    seen = set()

    def probe(q: str) -> str:
        return q

    @architecture('watch')
    async def watch(inputs, model):
        seen.add(gc.get_threshold())
        return await pytest_agentarch.call_tool(probe, inputs)

    def pytest_sessionfinish(session):
        print(f'\\nthresholds seen: {sorted(seen)}')
"""


def test_collector_is_tuned_for_the_runs_and_restored_for_the_probe_and_after(
    pytester: pytest.Pytester, project: Any
) -> None:
    project(GC_WATCH, cases=TWO_CASES)
    before = gc.get_threshold()
    try:
        gc.set_threshold(900, 11, 12)
        result = pytester.runpytest_inprocess('--runs=3', '--min-pass-rate=0', '-n', '0', '-s')
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    result.assert_outcomes(passed=2)
    # Runs see the tuned threshold, the memory probe the session's own; the session leaves it as it found it.
    result.stdout.fnmatch_lines(['thresholds seen: [(900, 11, 12), (10000, 11, 12)]'])
    assert after == (900, 11, 12)


@pytest.mark.parametrize(
    ('mode', 'traced', 'xdist'),
    [
        pytest.param('first-case', {'first'}, [], id='first-case-no-xdist'),
        pytest.param('all', {'first', 'second'}, [], id='all-no-xdist'),
        pytest.param('off', set(), [], id='off-no-xdist'),
        # Under xdist the two cases' items land on either worker: each worker must still probe the same case.
        pytest.param('first-case', {'first'}, ['-n', '2'], id='first-case-xdist-2'),
    ],
)
def test_memory_is_traced_on_the_same_case_for_every_architecture(
    pytester: pytest.Pytester, project: Any, mode: str, traced: set[str], xdist: list[str]
) -> None:
    project(SEEDED, cases=TWO_CASES)
    result = pytester.runpytest(
        '--runs=4', '--min-pass-rate=0', '--agentarch-json=out.json', f'--agentarch-memory={mode}', *xdist
    )
    result.assert_outcomes(passed=4)
    report = Report.model_validate_json(pytester.path.joinpath('out.json').read_text())
    for arch in report.architectures:
        peaks = {c.case: c.peak_memory for c in arch.cases if c.peak_memory is not None}
        assert set(peaks) == traced
        assert all(peak > 0 for peak in peaks.values())
        assert arch.summary.peak_memory == (max(peaks.values()) if peaks else None)


HEAVY = """
    import asyncio

    import pytest_agentarch
    from pytest_agentarch import architecture

    MIB = 2**20
    invocations = []

    def probe(q: str) -> str:
        return q

    @architecture('heavy')
    async def heavy(inputs, model):
        invocations.append(pytest_agentarch.current_run().index)
        held = bytearray(8 * MIB)
        await asyncio.sleep(0.01)  # every run of the item holds its 8 MiB at the same time
        await pytest_agentarch.call_tool(probe, inputs)
        return f'ok {len(held)}'

    def pytest_sessionfinish(session):
        print(f'\\ninvocations: {sorted(invocations)}')
"""


def test_memory_is_the_peak_of_one_uncounted_run(pytester: pytest.Pytester, project: Any) -> None:
    project(HEAVY, cases=TWO_CASES)
    result = pytester.runpytest('--runs=4', '--min-pass-rate=0', '--agentarch-json=out.json', '-n', '0', '-s')
    result.assert_outcomes(passed=2)
    # The first case's four runs, then its probe (index 0 again); the second case is not traced.
    result.stdout.fnmatch_lines(['invocations: [0, 0, 0, 1, 1, 2, 2, 3, 3]'])
    report = Report.model_validate_json(pytester.path.joinpath('out.json').read_text())
    first, second = report.architectures[0].cases
    assert (first.runs, second.runs) == (4, 4)
    assert second.peak_memory is None
    # One run's 8 MiB, not the 32 MiB the four concurrent runs of the item hold together.
    assert first.peak_memory is not None
    assert 8 * 2**20 <= first.peak_memory < 12 * 2**20


@pytest.mark.parametrize('xdist', XDIST)
def test_architectures_from_another_package_entry_points(
    pytester: pytest.Pytester, project: Any, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    # An installed distribution (a .dist-info on sys.path) exposing one module and one object.
    project('', cases=ONE_CASE)
    pytester.makepyfile(
        extarch="""
        import archkit
        from pytest_agentarch import architecture

        @architecture('ext-module')
        async def ext_module(inputs, model):
            return await archkit.run(lambda i: [['alpha']], inputs)
        """,
        extobj="""
        import archkit
        from pytest_agentarch import architecture

        @architecture('ext-object')
        async def ext_object(inputs, model):
            return await archkit.run(lambda i: [['beta']], inputs)
        """,
    )
    dist = pytester.mkdir('extarch-1.0.dist-info')
    dist.joinpath('METADATA').write_text('Metadata-Version: 2.1\nName: extarch\nVersion: 1.0\n')
    dist.joinpath('entry_points.txt').write_text(
        '[pytest_agentarch.architectures]\nmodule = extarch\nobject = extobj:ext_object\n'
    )
    pytester.syspathinsert()
    monkeypatch.setenv('PYTHONPATH', str(pytester.path))  # for xdist workers, which are new processes
    result = pytester.runpytest('-v', '--runs=2', *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(['ext-module * 2 *', 'ext-object * 2 *'])  # summary rows, any xdist layout

    dist.joinpath('entry_points.txt').write_text('[pytest_agentarch.architectures]\nbroken = no_such_module\n')
    broken = pytester.runpytest('--runs=1', *xdist)
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(["*entry point 'broken' = 'no_such_module'*failed to load*"])


INTERRUPTED = """
    import archkit
    import pytest_agentarch
    from pytest_agentarch import architecture

    @architecture('one')
    async def one(inputs, model):
        if inputs == 'world' and pytest_agentarch.current_run().index == 3:
            raise KeyboardInterrupt
        return await archkit.run(lambda i: [['alpha']], inputs)
"""


def test_an_interrupt_keeps_finished_items_and_the_finished_runs_of_the_item_in_progress(
    pytester: pytest.Pytester, project: Any
) -> None:
    project(INTERRUPTED, cases=TWO_CASES)
    result = pytester.runpytest(
        '--runs=6', '--agentarch-concurrency=1', '--min-pass-rate=0', '--agentarch-json=o.json', no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ['interrupted items (1), their finished runs kept:', '  cases.yaml::second[[]one[]]: 3 of 6 runs']
    )
    report = Report.model_validate_json(pytester.path.joinpath('o.json').read_text())
    cases = {c.case: c for c in report.architectures[0].cases}
    assert (cases['first'].runs, cases['first'].interrupted) == (6, False)
    assert (cases['second'].runs, cases['second'].interrupted) == (3, True)
    assert [r.index for r in cases['second'].run_results] == [0, 1, 2]
    assert report.missing == []
