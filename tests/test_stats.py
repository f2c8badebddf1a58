"""Statistics against values computed by hand: the numbers a user reads in the summary and the JSON report."""

from __future__ import annotations

import json
import math

import pytest

from pytest_agentarch.records import Assertion, RunRecord, ToolCallRecord
from pytest_agentarch.stats import Rate, aggregate, case_stats, pass_at_k, pass_hat_k, percentile, wilson


def record(
    index: int, trajectory: str = 'a > b', *, ok: bool = True, error: str | None = None, **kw: object
) -> RunRecord:
    return RunRecord(
        index=index,
        duration=kw.pop('duration', 0.1),  # type: ignore[arg-type]
        error_type=error,
        error_message='boom' if error else None,
        trajectory='' if error else trajectory,
        trajectory_args='' if error else kw.pop('trajectory_args', trajectory),  # type: ignore[arg-type]
        assertions=[] if error else [Assertion(name='EqualsExpected', value=ok, reason=None if ok else 'wrong')],
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ('successes', 'n', 'low', 'high'),
    [
        (8, 10, 0.4902, 0.9433),
        (10, 10, 0.7225, 1.0),
        (0, 10, 0.0, 0.2775),
        (1, 2, 0.0945, 0.9055),
        (0, 0, 0.0, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    assert wilson(successes, n) == pytest.approx((low, high), abs=5e-5)


def test_rate_carries_n_and_interval_and_reads_na_for_no_runs() -> None:
    rate = Rate.of(8, 10)
    assert (rate.value, rate.successes, rate.n) == (0.8, 8, 10)
    assert (rate.low, rate.high) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    assert str(rate) == '80% [49%-94%] n=10'
    empty = Rate.of(0, 0)
    assert empty.value is None
    assert str(empty) == 'n/a (n=0)'


@pytest.mark.parametrize(
    ('n', 'c', 'k', 'hat', 'at'),
    [
        (5, 3, 2, 0.3, 0.9),  # C(3,2)/C(5,2) = 3/10; 1 - C(2,2)/C(5,2) = 9/10
        (5, 3, 1, 0.6, 0.6),
        (5, 3, 3, 0.1, 1.0),  # C(3,3)/C(5,3) = 1/10; any 3 of 5 include a pass
        (5, 3, 4, 0.0, 1.0),
        (10, 10, 10, 1.0, 1.0),
        (4, 0, 2, 0.0, 0.0),
    ],
)
def test_pass_hat_k_and_pass_at_k_are_draws_without_replacement(n: int, c: int, k: int, hat: float, at: float) -> None:
    assert pass_hat_k(n, c, k) == pytest.approx(hat)
    assert pass_at_k(n, c, k) == pytest.approx(at)


@pytest.mark.parametrize('k', [0, 6])
def test_pass_k_rejects_k_outside_1_to_n(k: int) -> None:
    with pytest.raises(ValueError, match=r'k must be in 1\.\.5'):
        pass_hat_k(5, 3, k)
    with pytest.raises(ValueError, match=r'k must be in 1\.\.5'):
        pass_at_k(5, 3, k)


def test_percentile_interpolates_linearly() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 11)], 95) == pytest.approx(9.55)  # position 8.55
    assert percentile([1.0, 2.0], 0) == 1.0
    assert percentile([1.0, 2.0], 100) == 2.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_determinism_leaves_errored_runs_out_and_pass_rate_counts_them_as_failed() -> None:
    records = [
        record(0, 'a > b'),
        record(1, error='TimeoutError'),
        record(2, 'a > b'),
        record(3, 'b > a', ok=False),
        record(4, 'a > b'),
        record(5, error='CaptureError'),
    ]
    stats = case_stats(records, architecture='x', case='c')
    assert stats.runs == 6
    assert stats.errors == 2
    assert stats.error_types == {'TimeoutError': 1, 'CaptureError': 1}
    assert (stats.determinism.successes, stats.determinism.n) == (3, 4)
    assert (stats.pass_rate.successes, stats.pass_rate.n) == (3, 6)
    assert stats.pass_hat_k[1] == pytest.approx(math.comb(3, 2) / math.comb(6, 2))
    assert len(stats.pass_hat_k) == len(stats.pass_at_k) == 6
    assert [f.index for f in stats.failures] == [1, 3, 5]
    assert stats.failures[0].error == 'TimeoutError: boom'
    assert stats.failures[1].failed_assertions == ['EqualsExpected: wrong']
    # Latency covers every run, tokens and tool calls only the completed ones.
    assert stats.latency.n == 6
    assert stats.tool_calls.n == 4


def test_variants_are_ordered_by_count_then_by_first_run() -> None:
    records = [
        record(0, 'c'),
        record(1, 'b'),
        record(2, 'a'),
        record(3, 'a'),
        record(4, 'b'),
        record(5, 'a'),
        record(6, 'd'),
    ]
    stats = case_stats(list(reversed(records)), architecture='x', case='c')
    assert [(v.trajectory, v.count, v.example_run) for v in stats.variants] == [
        ('a', 3, 2),
        ('b', 2, 1),
        ('c', 1, 0),
        ('d', 1, 6),
    ]
    assert stats.determinism.value == pytest.approx(3 / 7)


def test_strict_determinism_and_output_agreement_are_separate_modes() -> None:
    records = [
        record(0, 'a', trajectory_args='a{"q":1}', output_key='"yes"'),
        record(1, 'a', trajectory_args='a{"q":2}', output_key='"yes"'),
        record(2, 'a', trajectory_args='a{"q":1}', output_key='"no"'),
        record(3, 'a', trajectory_args='a{"q":3}', output_key='"yes"'),
    ]
    stats = case_stats(records, architecture='x', case='c')
    assert stats.determinism.value == 1.0
    assert stats.strict_determinism.value == 0.5
    assert stats.output_agreement.value == 0.75


def test_cost_is_reported_only_when_every_run_was_priced() -> None:
    priced = case_stats([record(0, cost=0.01), record(1, cost=0.03)], architecture='x', case='c')
    assert priced.cost is not None
    assert priced.cost.mean == pytest.approx(0.02)
    partly = case_stats([record(0, cost=0.01), record(1, cost=None)], architecture='x', case='c')
    assert partly.cost is None


def test_aggregate_pools_counts_over_cases_and_averages_pass_k() -> None:
    tool = ToolCallRecord(name='a', args='{}')
    one = case_stats(
        [record(0, 'a'), record(1, 'a'), record(2, 'b', ok=False), record(3, error='ValueError'), record(4, 'a')],
        architecture='x',
        case='one',
    )
    two = case_stats(
        [record(i, 'a', tool_calls=[tool, tool], cost=0.5) for i in range(3)], architecture='x', case='two'
    )
    summary = aggregate([one, two], description='demo', latencies=[0.1, 0.2, 0.3, 0.4])
    assert (summary.cases, summary.runs, summary.errors) == (2, 8, 1)
    assert (summary.determinism.successes, summary.determinism.n) == (3 + 3, 4 + 3)
    assert (summary.pass_rate.successes, summary.pass_rate.n) == (3 + 3, 5 + 3)
    assert summary.distinct_trajectories == 1.5
    # pass^k is averaged over cases, for k up to the smallest number of runs.
    assert len(summary.pass_hat_k) == 3
    assert summary.pass_hat_k[1] == pytest.approx((math.comb(3, 2) / math.comb(5, 2) + 1.0) / 2)
    # Per-run means are weighted by completed runs: (4 runs * 0 calls + 3 runs * 2 calls) / 7.
    assert summary.tool_calls == pytest.approx(6 / 7)
    assert summary.cost is None  # case `one` was not priced
    assert summary.latency_p50 == pytest.approx(0.25)
    assert summary.description == 'demo'


def test_aggregate_cost_is_the_mean_per_run_over_priced_cases() -> None:
    one = case_stats([record(0, cost=0.01), record(1, cost=0.03)], architecture='x', case='one')
    two = case_stats([record(0, cost=0.05)], architecture='x', case='two')
    assert aggregate([one, two]).cost == pytest.approx((0.01 + 0.03 + 0.05) / 3)


def test_aggregate_needs_a_case() -> None:
    with pytest.raises(ValueError, match='at least one case'):
        aggregate([])


def test_run_records_survive_the_json_wire() -> None:
    original = record(
        3,
        'a > b',
        tool_calls=[ToolCallRecord(name='a', args='{"q":1}', failed=True)],
        metrics={'tokens': 3.0},
        output={'answer': 'ok'},
    )
    wire = json.loads(json.dumps(original.to_wire()))
    assert RunRecord.from_wire(wire) == original
    assert RunRecord.from_wire({**wire, 'added_by_a_newer_version': 1}) == original


def test_a_rate_compares_with_numbers_by_its_point_estimate() -> None:
    rate = Rate.of(19, 20)
    assert rate >= 0.95 and rate > 0.9 and rate <= 0.95 and rate < 1 and not rate >= 0.96
    assert float(rate) == 0.95 and rate >= Rate.of(9, 10)
    empty = Rate.of(0, 0)
    assert not empty >= 0.0 and not empty < 1.0  # n=0 proves nothing either way
    with pytest.raises(TypeError, match='compares with a number'):
        _ = rate >= '0.9'
