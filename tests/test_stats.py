"""Statistics against values computed by hand: the numbers a user reads in the summary and the JSON report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
from typing import Any

import pytest

from pytest_agentarch.core.gates import Miss
from pytest_agentarch.core.records import Assertion, ModelRequestRecord, RequestContext, RunRecord, ToolCallRecord
from pytest_agentarch.core.sequential import agreement_with_predicted_mode
from pytest_agentarch.core.stats import (
    Rate,
    Score,
    aggregate,
    case_stats,
    level_of,
    pass_at_k,
    pass_hat_k,
    pass_k_curves,
    percentile,
    t_critical,
    wilson,
)
from pytest_agentarch.reports.report import ItemResult, build_report
from pytest_agentarch.reports.table import render_cases, render_failure, render_session, render_summary


def record(
    index: int,
    trajectory: str = 'a > b',
    *,
    ok: bool = True,
    error: str | None = None,
    kind: str | None = None,
    **kw: Any,
) -> RunRecord:
    """A run; its three trajectory levels default to `trajectory`. `error` makes it raise (of `kind`)."""
    return RunRecord(
        index=index,
        duration=kw.pop('duration', 0.1),
        error_type=error,
        error_message='boom' if error else None,
        error_kind=kind if kind else ('behaviour' if error else None),  # type: ignore[arg-type]
        trajectory_tools=kw.pop('tools', trajectory),
        trajectory=trajectory,
        trajectory_args=kw.pop('trajectory_args', trajectory),
        assertions=kw.pop('assertions', [] if error else [Assertion(name='EqualsExpected', value=ok, reason='wrong')]),
        **kw,
    )


def infra(index: int, error: str = 'ModelRateLimitError', **kw: Any) -> RunRecord:
    return record(index, '', error=error, kind='infrastructure', **kw)


# --- intervals --------------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ('df', 'value'),
    # Two-sided 95% critical values of Student's t, from any printed table.
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281), (19, 2.0930), (30, 2.0423), (120, 1.9799)],
)
def test_t_critical_matches_the_printed_table(df: int, value: float) -> None:
    assert t_critical(df) == pytest.approx(value, abs=5e-5)


def test_t_critical_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match='df must be at least 1, got 0'):
        t_critical(0)


def test_rate_carries_n_and_interval_and_reads_na_for_no_runs() -> None:
    rate = Rate.of(8, 10)
    assert (rate.value, rate.successes, rate.n, rate.interval) == (0.8, 8, 10, 'wilson')
    assert (rate.low, rate.high) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    assert str(rate) == '80% [49%-94%] n=10'
    empty = Rate.of(0, 0)
    assert empty.value is None
    assert str(empty) == 'n/a (n=0)'


def test_clustered_rate_widens_the_interval_by_the_design_effect() -> None:
    # Cases (9/10, 5/10, 10/10): p = 24/30 = 0.8. Residuals y - p*n = 1, -3, 2; sum of squares 14.
    # Cluster variance = 3/2 * 14 / 30^2 = 0.023333; binomial variance = 0.8*0.2/30 = 0.005333; deff = 4.375.
    # Effective n = 30 / 4.375 = 6.857143; critical value t(2) = 4.302653, c^2 = 18.512821.
    # Wilson on (p, n_eff, c): denom = 1 + c^2/n = 3.699786; centre = (0.8 + c^2/(2n)) / denom = 0.581086;
    # half = c * sqrt(0.16/n + c^2/(4n^2)) / denom = 4.302653 * sqrt(0.023333 + 0.098429) / 3.699786 = 0.405804.
    rate = Rate.clustered([(9, 10), (5, 10), (10, 10)])
    assert (rate.value, rate.successes, rate.n, rate.interval) == (0.8, 24, 30, 'cluster-wilson')
    assert (rate.low, rate.high) == pytest.approx((0.175282, 0.986890), abs=2e-6)
    pooled = Rate.of(24, 30)
    assert rate.low < pooled.low and rate.high > pooled.high


def test_clustered_rate_of_cases_that_split_all_or_nothing() -> None:
    # (10/10, 0/10, 10/10, 0/10): p = 0.5, residuals +-5, cluster variance 4/3 * 100 / 40^2 = 0.083333,
    # binomial 0.25/40 = 0.00625: deff = 13.33, n_eff = 3. t(3) = 3.182446, c^2 = 10.128; denom = 4.376;
    # half = 3.182446 * sqrt(0.25/3 + 10.128/36) / 4.376 = 0.439170 around 0.5.
    rate = Rate.clustered([(10, 10), (0, 10), (10, 10), (0, 10)])
    assert (rate.low, rate.high) == pytest.approx((0.060830, 0.939170), abs=2e-6)


def test_clustered_rate_at_the_edges_is_a_wilson_interval_over_the_cases() -> None:
    # Every case 10/10: no spread between cases to estimate a variance from, and a case's runs may be alike: the
    # Wilson interval of 2 cases out of 2 (low 2/(2+z^2) = 0.342), not of 20 runs out of 20 (0.839).
    same = Rate.clustered([(10, 10), (10, 10)])
    assert (same.low, same.high) == pytest.approx((2 / (2 + 1.959964**2), 1.0), abs=1e-6)
    # The fixed suite's interval is the pooled one: 20/(20+z^2).
    assert (same.suite_low, same.suite_high) == pytest.approx((20 / (20 + 1.959964**2), 1.0), abs=1e-6)
    # 29 perfect cases of 20 runs: 29/(29+z^2) = 0.88303 for the population, 580/(580+z^2) = 0.99342 for the suite.
    perfect = Rate.clustered([(20, 20)] * 29)
    assert (perfect.low, perfect.suite_low) == pytest.approx((0.88303, 0.99342), abs=1e-5)
    # Pooled 0: mirrored, high = z^2/(5+z^2) = 0.43448 over 5 cases.
    none = Rate.clustered([(0, 20)] * 5)
    assert (none.low, none.high) == pytest.approx((0.0, 0.43448), abs=1e-5)
    # One case at the edge: its own Wilson interval.
    assert Rate.clustered([(10, 10)]).low == pytest.approx(10 / (10 + 1.959964**2), abs=1e-6)


def test_clustered_rate_without_clustering_is_the_pooled_wilson_interval() -> None:
    # Cases that differ less than independent draws would (deff < 1) never narrow it below the pooled one.
    calm = Rate.clustered([(5, 10), (5, 10), (6, 10), (4, 10)])
    assert (calm.low, calm.high) == pytest.approx(wilson(20, 40))
    # One case: its own Wilson interval; cases with no runs are not clusters.
    assert (Rate.clustered([(7, 10), (0, 0)]).low, Rate.clustered([(7, 10)]).high) == pytest.approx(wilson(7, 10))
    assert Rate.clustered([(0, 0)]).value is None


def test_counts_above_their_totals_are_refused() -> None:
    with pytest.raises(ValueError, match='passed runs c must be between 0 and the runs, got 7 of 5'):
        pass_hat_k(5, 7, 3)
    with pytest.raises(ValueError, match='got 7 of 5'):
        pass_at_k(5, 7, 3)
    with pytest.raises(ValueError, match='got 5 of 4'):
        wilson(5, 4)
    with pytest.raises(ValueError, match='got -1 of 4'):
        Rate.of(-1, 4)
    with pytest.raises(ValueError, match='cannot be negative'):
        wilson(0, -1)
    with pytest.raises(ValueError, match='got 11 of 10'):
        Rate.clustered([(11, 10)])
    with pytest.raises(ValueError, match='held-out agreeing runs must be between 0 and the runs, got 20 of 19'):
        Rate.modal(20, 20, 20)


def test_modal_share_interval_rests_on_held_out_agreement_below_and_the_modal_count_above() -> None:
    # 10 of 20 runs modal, 5 of 19 agreeing with the mode before them. Low: Wilson of 5/19: denom 1.20218, centre
    # (0.26316 + 0.10109) / 1.20218 = 0.30299, half 1.96 sqrt(0.010206 + 0.0026603) / 1.20218 = 0.18493 -> 0.11806.
    # High: Wilson of 10/20: 0.5 + 1.96 sqrt(0.0125 + 0.0024010) / 1.19207 = 0.70071.
    rate = Rate.modal(10, 20, 5)
    assert (rate.value, rate.successes, rate.n, rate.held_out, rate.interval) == (0.5, 10, 20, 5, 'held-out')
    assert (rate.low, rate.high) == pytest.approx((0.11806, 0.70071), abs=1e-4)
    # One run tells nothing about d from below; no runs: the whole range.
    assert (Rate.modal(1, 1, 0).low, Rate.modal(1, 1, 0).high) == (0.0, 1.0)
    assert Rate.modal(0, 0, 0).value is None


@pytest.mark.parametrize(
    ('probs', 'old_below_93'), [((0.5, 0.5), True), ((0.4, 0.3, 0.3), True), ((0.34, 0.33, 0.33), False)]
)
def test_modal_share_interval_covers_the_true_determinism_by_exact_enumeration(
    probs: tuple[float, ...], old_below_93: bool
) -> None:
    # Every sequence of 8 runs, weighted by its probability: how often the interval holds d = max(probs). The
    # Wilson interval on the modal count alone (the interval before) falls below 93% near ties.
    d, n = max(probs), 8
    new = old = 0.0
    for seq in itertools.product(range(len(probs)), repeat=n):
        p = math.prod(probs[k] for k in seq)
        top = max(seq.count(k) for k in set(seq))
        rate = Rate.modal(top, n, agreement_with_predicted_mode([str(k) for k in seq]))
        new += p * (rate.low <= d <= rate.high)
        low, high = wilson(top, n)
        old += p * (low <= d <= high)
    assert new >= 0.95
    assert (old < 0.93) is old_below_93


def test_clustered_modal_shares_pool_modal_counts_and_bound_below_on_held_out_counts() -> None:
    cases = [Rate.modal(10, 20, 5), Rate.modal(20, 20, 19)]
    pooled = Rate.clustered_modal(cases)
    assert (pooled.value, pooled.successes, pooled.n, pooled.held_out) == (0.75, 30, 40, 24)
    assert pooled.interval == 'cluster-held-out'
    assert pooled.low == Rate.clustered([(5, 19), (19, 19)]).low
    assert pooled.high == Rate.clustered([(10, 20), (20, 20)]).high
    assert (pooled.suite_low, pooled.suite_high) == (wilson(24, 38)[0], wilson(30, 40)[1])
    with pytest.raises(ValueError, match='held-out counts'):
        Rate.clustered_modal([Rate.of(3, 4)])


def test_score_mean_has_a_t_interval() -> None:
    # Mean 0.7; deviations -0.1, 0.1, 0, 0.2, -0.2: s^2 = 0.1/4 = 0.025, s = 0.158114, se = s/sqrt(5) = 0.070711;
    # t(4) = 2.776445: half-width 0.196324.
    score = Score.of([0.6, 0.8, 0.7, 0.9, 0.5])
    assert (score.mean, score.n, score.interval) == (pytest.approx(0.7), 5, 't')
    assert score.std == pytest.approx(0.158114, abs=1e-6)
    assert (score.low, score.high) == pytest.approx((0.503676, 0.896324), abs=1e-6)
    assert str(score) == '0.7 [0.504, 0.896] n=5'
    one = Score.of([0.4])
    assert (one.mean, one.low, one.high, str(one)) == (0.4, None, None, '0.4 n=1')


def test_clustered_score_uses_the_case_to_case_variance_when_it_is_larger() -> None:
    # Cases [0.2, 0.4], [0.9, 0.9, 0.9], [0.5]: N = 6, mean = 3.8/6 = 0.633333.
    # Case sums minus mean*n: 0.6-1.266667, 2.7-1.9, 0.5-0.633333 -> squares 0.444444 + 0.64 + 0.017778 = 1.102222.
    # Cluster variance 3/2 * 1.102222 / 36 = 0.045926 > run variance s^2/N = (0.473333/5)/6 = 0.015778.
    # Half-width t(2) * sqrt(0.045926) = 4.302653 * 0.214304 = 0.922075.
    score = Score.clustered([Score.of([0.2, 0.4]), Score.of([0.9, 0.9, 0.9]), Score.of([0.5])])
    assert (score.n, score.interval) == (6, 'cluster-t')
    assert score.mean == pytest.approx(0.633333, abs=1e-6)
    assert (score.low, score.high) == pytest.approx((-0.288742, 1.555408), abs=1e-5)


def test_clustered_score_is_never_narrower_than_the_t_interval_over_runs() -> None:
    # Two cases [0, 1] with equal means: no case-to-case variance. Over the 4 runs: s^2 = 1/3, se = 0.288675,
    # t(3) = 3.182446: half-width 0.918693 around 0.5.
    score = Score.clustered([Score.of([0.0, 1.0]), Score.of([0.0, 1.0])])
    assert (score.low, score.high) == pytest.approx((-0.418693, 1.418693), abs=2e-6)


# --- pass^k, percentiles --------------------------------------------------------------------------------------


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


def test_pass_k_curves_give_every_k_at_once() -> None:
    # n = 5, c = 3: pass^k = C(3,k)/C(5,k) = 3/5, 3/10, 1/10, 0, 0; pass@k = 1 - C(2,k)/C(5,k) = 3/5, 9/10, 1, 1, 1.
    hat, at = pass_k_curves(5, 3)
    assert hat == pytest.approx([0.6, 0.3, 0.1, 0.0, 0.0])
    assert at == pytest.approx([0.6, 0.9, 1.0, 1.0, 1.0])
    assert pass_k_curves(4, 4) == ([1.0] * 4, [1.0] * 4)
    assert pass_k_curves(3, 0) == ([0.0] * 3, [0.0] * 3)
    assert pass_k_curves(0, 0) == ([], [])
    # Thousands of runs: no overflow, and the same figures as the exact ratio of binomials at a few k.
    hat, at = pass_k_curves(3000, 2990)
    for k in (1, 10, 500, 2990):
        assert hat[k - 1] == pytest.approx(pass_hat_k(3000, 2990, k), rel=1e-9)
        assert at[k - 1] == pytest.approx(pass_at_k(3000, 2990, k), rel=1e-9)
    assert hat[2990] == 0.0 and at[2990] == 1.0
    with pytest.raises(ValueError, match='passed runs c'):
        pass_k_curves(5, 7)


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


# --- one case -------------------------------------------------------------------------------------------------


def test_determinism_at_three_levels_and_variants_at_the_headline_level() -> None:
    records = [
        record(0, 'a > b', tools='a b', trajectory_args='a(1) > b'),
        record(1, 'b > a', tools='a b', trajectory_args='b > a(1)'),
        record(2, 'a > b', tools='a b', trajectory_args='a(2) > b'),
        record(3, 'a > b > b', tools='a b b', trajectory_args='a(1) > b > b'),
    ]
    stats = case_stats(records, architecture='x', case='c', level='tools')
    by_level = {lv: (r.successes, r.n) for lv, r in stats.determinism_by_level.items()}
    assert by_level == {'tools': (3, 4), 'steps': (2, 4), 'strict': (1, 4)}
    assert list(stats.determinism_by_level) == ['tools', 'steps', 'strict']
    assert (stats.level, stats.determinism.successes) == ('tools', 3)
    assert [(v.trajectory, v.count, v.example_run) for v in stats.variants] == [('a b', 3, 0), ('a b b', 1, 3)]
    steps = case_stats(records, architecture='x', case='c')
    assert (steps.level, steps.determinism.successes, len(steps.variants)) == ('steps', 2, 3)


def test_a_behaviour_error_is_its_own_variant_and_a_failed_run() -> None:
    records = [
        record(0, 'a > b'),
        record(1, 'a', error='TimeoutError'),  # the partial trajectory is not its variant: the error is
        record(2, 'a > b'),
        record(3, 'b > a', ok=False),
        record(4, 'a > b'),
        record(5, '', error='CaptureError', kind=None),  # no kind recorded: behaviour
    ]
    stats = case_stats(list(reversed(records)), architecture='x', case='c')
    assert (stats.runs, stats.errors, stats.infra) == (6, 2, 0)
    assert stats.error_types == {'TimeoutError': 1, 'CaptureError': 1}
    for rate in stats.determinism_by_level.values():
        assert (rate.successes, rate.n) == (3, 6)
    # Ties in count are ordered by the first run that took them.
    assert [(v.trajectory, v.count, v.example_run, v.error_type) for v in stats.variants] == [
        ('a > b', 3, 0, None),
        ('error: TimeoutError', 1, 1, 'TimeoutError'),
        ('b > a', 1, 3, None),
        ('error: CaptureError', 1, 5, 'CaptureError'),
    ]
    assert stats.variants[1].steps == []
    assert (stats.pass_rate.successes, stats.pass_rate.n) == (3, 6)
    assert stats.pass_hat_k[1] == pytest.approx(math.comb(3, 2) / math.comb(6, 2))  # 3/15
    assert stats.pass_at_k[3] == pytest.approx(1 - math.comb(3, 4) / math.comb(6, 4))  # C(3,4) = 0: 1.0
    assert len(stats.pass_hat_k) == len(stats.pass_at_k) == 6
    assert [f.index for f in stats.failures] == [1, 3, 5]
    assert (stats.failures[0].error, stats.failures[0].error_kind) == ('TimeoutError: boom', 'behaviour')
    assert stats.failures[1].failed_assertions == ['EqualsExpected: wrong']


def test_a_case_whose_runs_all_raised_shows_its_error_variants() -> None:
    stats = case_stats(
        [record(i, error='UsageLimitExceeded' if i < 3 else 'TimeoutError') for i in range(4)],
        architecture='x',
        case='c',
    )
    assert [(v.trajectory, v.count) for v in stats.variants] == [
        ('error: UsageLimitExceeded', 3),
        ('error: TimeoutError', 1),
    ]
    assert (stats.determinism.successes, stats.determinism.n) == (3, 4)
    assert (stats.pass_rate.successes, stats.pass_rate.n) == (0, 4)


def test_infrastructure_failures_are_counted_and_left_out_of_every_rate() -> None:
    records = [
        record(0, 'a', input_tokens=10, cost=0.01, duration=1.0, output_key='"yes"'),
        infra(1, input_tokens=100, cost=0.5, duration=9.0),
        record(2, 'a', input_tokens=20, cost=0.01, duration=2.0, output_key='"yes"'),
        record(3, 'b', ok=False, input_tokens=30, cost=0.01, duration=3.0, output_key='"no"'),
        infra(4, 'ModelServerError', input_tokens=0, cost=None, duration=9.0),
        record(5, 'a', error='UsageLimitExceeded', input_tokens=40, cost=0.02, duration=4.0),
    ]
    stats = case_stats(records, architecture='x', case='c')
    assert (stats.runs, stats.errors, stats.infra) == (6, 1, 2)
    assert stats.error_types == {'ModelRateLimitError': 1, 'ModelServerError': 1, 'UsageLimitExceeded': 1}
    assert (stats.determinism.successes, stats.determinism.n) == (2, 4)  # a, a, b, error
    assert (stats.pass_rate.successes, stats.pass_rate.n) == (2, 4)
    assert (stats.output_agreement.successes, stats.output_agreement.n) == (2, 4)
    assert len(stats.pass_hat_k) == 4
    assert stats.pass_hat_k[1] == pytest.approx(1 / 6)  # C(2,2)/C(4,2)
    # Per-run means cover the counted runs, the behaviour error included: (10 + 20 + 30 + 40) / 4.
    assert stats.input_tokens.mean == pytest.approx(25)
    assert stats.cost is not None and stats.cost.mean == pytest.approx(0.0125)
    assert (stats.latency.n, stats.latency.mean) == (4, pytest.approx(2.5))
    # The totals are every run's spend; the unpriced infrastructure failure is counted as unpriced.
    assert (stats.total.runs, stats.total.input_tokens, stats.total.unpriced_runs) == (6, 200, 1)
    assert stats.total.cost == pytest.approx(0.55)
    infra_failures = [f for f in stats.failures if f.error_kind == 'infrastructure']
    assert [f.index for f in infra_failures] == [1, 4]


def test_a_case_with_only_infrastructure_failures_has_no_rates() -> None:
    stats = case_stats([infra(0), infra(1)], architecture='x', case='c')
    assert (stats.runs, stats.infra, stats.errors) == (2, 2, 0)
    assert stats.determinism.value is None and stats.pass_rate.value is None
    assert (stats.variants, stats.pass_hat_k, stats.metrics) == ([], [], {})
    assert stats.input_tokens.mean is None


def test_scores_and_labels_are_summarized_per_name() -> None:
    def judged(index: int, accuracy: float, verdict: str, *, error: str | None = None) -> RunRecord:
        return record(
            index,
            error=error,
            assertions=[
                Assertion(name='ok', value=True),
                Assertion(name='accuracy', value=accuracy),
                Assertion(name='steps', value=3),
                Assertion(name='verdict', value=verdict),
            ],
        )

    stats = case_stats(
        [
            judged(0, 0.6, 'anomaly'),
            judged(1, 0.8, 'normal'),
            judged(2, 0.7, 'anomaly'),
            judged(3, 0.9, 'anomaly'),
            judged(4, 0.5, 'normal'),
            infra(5),
        ],
        architecture='x',
        case='c',
    )
    assert list(stats.scores) == ['accuracy', 'steps']  # booleans are assertions, not scores
    assert (stats.scores['accuracy'].mean, stats.scores['accuracy'].n) == (pytest.approx(0.7), 5)
    assert (stats.scores['accuracy'].low, stats.scores['accuracy'].high) == pytest.approx(
        (0.503676, 0.896324), abs=1e-6
    )
    assert (stats.scores['steps'].mean, stats.scores['steps'].low, stats.scores['steps'].high) == (3, 3, 3)
    assert stats.labels == {'verdict': {'anomaly': 3, 'normal': 2}}
    assert list(stats.labels['verdict']) == ['anomaly', 'normal']  # most common first


def test_cost_is_reported_only_when_every_counted_run_was_priced() -> None:
    priced = case_stats([record(0, cost=0.01), record(1, cost=0.03)], architecture='x', case='c')
    assert priced.cost is not None
    assert priced.cost.mean == pytest.approx(0.02)
    partly = case_stats([record(0, cost=0.01), record(1, cost=None)], architecture='x', case='c')
    assert partly.cost is None
    assert (partly.total.cost, partly.total.unpriced_runs) == (0.01, 1)


def test_level_names_are_checked() -> None:
    assert level_of('strict') == 'strict'
    with pytest.raises(ValueError, match="one of tools, steps, strict, got 'args'"):
        level_of('args')


# --- an architecture ------------------------------------------------------------------------------------------


def test_aggregate_pools_counts_over_cases_with_a_cluster_interval_and_averages_pass_k() -> None:
    tool = ToolCallRecord(name='a', args='{}')
    one = case_stats(
        [record(0, 'a'), record(1, 'a'), record(2, 'b', ok=False), record(3, 'a', error='ValueError'), record(4, 'a')],
        architecture='x',
        case='one',
    )
    two = case_stats(
        [record(i, 'a', tool_calls=[tool, tool], cost=0.5) for i in range(3)] + [infra(3)],
        architecture='x',
        case='two',
    )
    summary = aggregate([one, two], description='demo', latencies=[0.1, 0.2, 0.3, 0.4])
    assert (summary.cases, summary.runs, summary.errors, summary.infra) == (2, 9, 1, 1)
    # Pooled point values: determinism (3 + 3) / (5 + 3), pass rate (3 + 3) / (5 + 3).
    assert (summary.determinism.successes, summary.determinism.n) == (6, 8)
    assert (summary.pass_rate.successes, summary.pass_rate.n) == (6, 8)
    assert summary.pass_rate.interval == 'cluster-wilson'
    # Cases 3/5 and 3/3: p = 0.75, residuals 3 - 3.75 = -0.75 and 3 - 2.25 = 0.75; cluster variance
    # 2 * 1.125 / 64 = 0.035156 > binomial 0.1875/8 = 0.023438: n_eff = 0.1875 / 0.035156 = 5.333, t(1) = 12.706.
    assert (summary.pass_rate.low, summary.pass_rate.high) == pytest.approx(
        _wilson_by_hand(0.75, 0.1875 / 0.03515625, 12.706205), abs=1e-5
    )
    assert summary.distinct_trajectories == 2.0  # one: a, b, error; two: a
    # pass^k is averaged over cases, for k up to the fewest counted runs (3: case two's infra run is out).
    assert summary.k == 3 and len(summary.pass_hat_k) == len(summary.pass_at_k) == 3
    assert summary.pass_hat_k[1] == pytest.approx((math.comb(3, 2) / math.comb(5, 2) + 1.0) / 2)
    # Per-run means are weighted by counted runs: (5 runs * 0 calls + 3 runs * 2 calls) / 8.
    assert summary.tool_calls == pytest.approx(6 / 8)
    assert summary.cost is None  # case `one` was not priced
    assert summary.total.cost == pytest.approx(1.5)
    assert (summary.total.runs, summary.total.unpriced_runs) == (9, 6)
    assert summary.latency_p50 == pytest.approx(0.25)
    assert summary.description == 'demo'


def _wilson_by_hand(p: float, n: float, c: float) -> tuple[float, float]:
    denom = 1 + c * c / n
    centre = (p + c * c / (2 * n)) / denom
    half = c * math.sqrt(p * (1 - p) / n + c * c / (4 * n * n)) / denom
    return (centre - half, centre + half)


def test_aggregate_scores_labels_and_metrics() -> None:
    def run(index: int, value: float, label: str, calls: float) -> RunRecord:
        return record(
            index,
            assertions=[Assertion(name='accuracy', value=value), Assertion(name='verdict', value=label)],
            metrics={'calls': calls},
        )

    one = case_stats([run(0, 0.2, 'anomaly', 1.0), run(1, 0.4, 'normal', 3.0)], architecture='x', case='one')
    two = case_stats([run(i, 0.9, 'anomaly', 2.0) for i in range(3)], architecture='x', case='two')
    three = case_stats([run(0, 0.5, 'normal', 0.0)], architecture='x', case='three')
    summary = aggregate([one, two, three])
    assert summary.scores['accuracy'].mean == pytest.approx(0.633333, abs=1e-6)
    assert (summary.scores['accuracy'].low, summary.scores['accuracy'].high) == pytest.approx(
        (-0.288742, 1.555408), abs=1e-5
    )
    assert summary.labels == {'verdict': {'anomaly': 4, 'normal': 2}}
    assert summary.metrics == {'calls': pytest.approx((1 + 3 + 2 * 3 + 0) / 6)}


def test_aggregate_cost_is_the_mean_per_run_over_priced_cases() -> None:
    one = case_stats([record(0, cost=0.01), record(1, cost=0.03)], architecture='x', case='one')
    two = case_stats([record(0, cost=0.05)], architecture='x', case='two')
    assert aggregate([one, two]).cost == pytest.approx((0.01 + 0.03 + 0.05) / 3)


def test_aggregate_needs_a_case_and_one_level() -> None:
    with pytest.raises(ValueError, match='at least one case'):
        aggregate([])
    one = case_stats([record(0)], architecture='x', case='one', level='tools')
    two = case_stats([record(0)], architecture='x', case='two', level='steps')
    with pytest.raises(ValueError, match='share a determinism level'):
        aggregate([one, two])


# --- Rate as a number -----------------------------------------------------------------------------------------


def test_a_rate_compares_with_numbers_by_its_point_estimate() -> None:
    rate = Rate.of(19, 20)
    assert rate >= 0.95 and rate > 0.9 and rate <= 0.95 and rate < 1 and not rate >= 0.96
    assert float(rate) == 0.95 and rate >= Rate.of(9, 10)
    empty = Rate.of(0, 0)
    assert not empty >= 0.0 and not empty < 1.0  # n=0 proves nothing either way
    with pytest.raises(TypeError, match='compares with a number'):
        _ = rate >= '0.9'


def test_a_rate_equals_a_number_like_it_orders_with_one() -> None:
    perfect = Rate.of(20, 20)
    assert perfect == 1.0 and perfect == 1 and operator.eq(1.0, perfect)
    assert (perfect != 1.0) is False and (perfect == 0.95) is False and perfect != 0.95
    empty = Rate.of(0, 0)
    assert (empty == 0.0) is False and empty != 0.0  # like NaN
    # Between Rates, equality is exact (the same counts and interval), not the same point estimate.
    assert Rate.of(1, 2) == Rate.of(1, 2) and Rate.of(1, 2) != Rate.of(2, 4)
    assert perfect != 'all' and perfect != True  # noqa: E712  (a bool is not a share)


def test_a_rate_is_deliberately_unhashable() -> None:
    with pytest.raises(TypeError, match='unhashable'):
        hash(Rate.of(1, 2))


def test_run_records_survive_the_json_wire() -> None:
    original = record(
        3,
        'a > b',
        error='ModelRateLimitError',
        kind='infrastructure',
        tool_calls=[ToolCallRecord(name='a', args='{"q":1}', failed=True)],
        metrics={'tokens': 3.0},
        output={'answer': 'ok'},
    )
    wire = json.loads(json.dumps(original.to_wire()))
    assert RunRecord.from_wire(wire) == original
    assert RunRecord.from_wire({**wire, 'added_by_a_newer_version': 1}) == original
    assert original.infrastructure and original.errored and not original.passed


def test_the_wire_form_of_a_run_is_plain_data_and_shares_nothing_with_it() -> None:
    original = RunRecord(
        index=2,
        duration=0.5,
        trajectory='a > b',
        steps=[['a'], ['b']],
        flow=[[0], [1]],
        tool_calls=[ToolCallRecord(name='a', args='{"q":1}', result='"A"', order=3, why='named in the prompt')],
        model_requests=[
            ModelRequestRecord(
                model='m',
                input_tokens=10,
                output_tokens=2,
                cost=0.25,
                duration=0.01,
                order=1,
                context=RequestContext(instructions='be brief', prompt='hi', tool_results=['a: "A"']),
            ),
            ModelRequestRecord(model='m', input_tokens=4, output_tokens=1, cost=None, duration=0.02, order=5),
        ],
        output={'answer': ['ok', {'n': 1}]},
        assertions=[Assertion(name='EqualsExpected', value=True)],
        evaluator_errors=['X raised boom'],
        metrics={'tokens': 3.0},
    )
    wire = original.to_wire()
    assert wire['tool_calls'] == [
        {'name': 'a', 'args': '{"q":1}', 'failed': False, 'result': '"A"', 'order': 3, 'why': 'named in the prompt'}
    ]
    assert wire['model_requests'] == [
        {
            'model': 'm',
            'input_tokens': 10,
            'output_tokens': 2,
            'cost': 0.25,
            'duration': 0.01,
            'order': 1,
            'context': {'instructions': 'be brief', 'prompt': 'hi', 'tool_results': ['a: "A"']},
        },
        {
            'model': 'm',
            'input_tokens': 4,
            'output_tokens': 1,
            'cost': None,
            'duration': 0.02,
            'order': 5,
            'context': None,
        },
    ]
    assert wire['assertions'] == [{'name': 'EqualsExpected', 'value': True, 'reason': None, 'side': 'outcome'}]
    assert (wire['steps'], wire['flow'], wire['output']) == ([['a'], ['b']], [[0], [1]], {'answer': ['ok', {'n': 1}]})
    # Every field is there, as `dataclasses.asdict` would give it (a field added later that holds records fails here).
    assert wire == dataclasses.asdict(original)
    assert json.loads(json.dumps(wire)) == wire
    # The wire form is a copy: changing it leaves the record as it was.
    wire['steps'][0].append('x')
    wire['flow'][0].append(9)
    wire['output']['answer'][1]['n'] = 2
    wire['model_requests'][0]['context']['tool_results'].append('b')
    wire['metrics']['tokens'] = 4.0
    wire['evaluator_errors'].clear()
    assert original.steps == [['a'], ['b']] and original.flow == [[0], [1]]
    assert original.output == {'answer': ['ok', {'n': 1}]} and original.metrics == {'tokens': 3.0}
    context = original.model_requests[0].context
    assert context is not None and context.tool_results == ['a: "A"']
    assert original.evaluator_errors == ['X raised boom']


# --- what the terminal shows ----------------------------------------------------------------------------------


def _item(architecture: str, case: str, records: list[RunRecord], **kw: Any) -> ItemResult:
    return ItemResult(
        nodeid=f'cases.yaml::{case}[{architecture}]',
        architecture=architecture,
        description='',
        case=case,
        dataset='demo',
        records=records,
        **kw,
    )


def test_the_pass_k_column_names_its_k() -> None:
    full = [_item('a', 'c', [record(i) for i in range(5)]), _item('b', 'c', [record(i) for i in range(5)])]
    header = render_summary(build_report(full, model='m', seed=0, runs=5, missing={}))[0]
    assert 'pass^5' in header.split()
    # An item that ran 3 runs (interrupted, or repeat(runs=3)): that architecture's k is 3, and the cell says so.
    short = [full[0], _item('b', 'c', [record(i, ok=i != 1) for i in range(3)])]
    report = build_report(short, model='m', seed=0, runs=5, missing={})
    lines = render_summary(report)
    assert 'pass^k' in lines[0].split() and 'determinism(steps)' in lines[0]
    assert '1.00' in lines[2].split()  # a: 5 of 5 pass, pass^5 = 1
    assert '0.00 (k=3)' in lines[3]  # b: 2 of 3 pass, pass^3 = C(2,3)/C(3,3) = 0


def test_render_session_shows_levels_infra_spend_scores_and_misses() -> None:
    records = [
        record(0, 'a', tools='a', cost=0.25, input_tokens=7, assertions=[Assertion(name='accuracy', value=0.5)]),
        record(1, 'b', tools='a', cost=0.25, input_tokens=7, assertions=[Assertion(name='accuracy', value=1.0)]),
        infra(2, cost=0.5, input_tokens=1),
    ]
    miss = Miss(
        architecture='a',
        case='c',
        metric='score:recall',
        value=None,
        n=0,
        threshold=0.8,
        judged_on='value',
        detail='no run produced a score named recall',
    )
    report = build_report(
        [_item('a', 'c', records, misses=[miss.model_dump()])], model='sim', seed=3, runs=3, missing={}, level='tools'
    )
    lines = render_session(report, verbose=True)
    text = '\n'.join(lines)
    assert lines[0].startswith('model sim, seed 3, 3 run(s) per case; determinism(tools) = ')
    assert 'determinism(tools) [95% CI]' in lines[1]
    row = lines[3].split()
    assert row[:5] == ['a', '1', '3', '0', '1']  # architecture, cases, runs, err, infra
    assert '$1.00000' in row  # spend: 0.25 + 0.25 + 0.5, the infrastructure failure included
    assert 'session spend: 3 runs, 0 requests, 15 tokens in, 0 tokens out, $1.00000' in lines
    case_header, _, case_row, case_detail = render_cases(report)
    assert 'determinism(tools)' in case_header
    # The other levels and pass@k under the row: 2 counted runs (one infrastructure failure left out).
    assert case_detail.startswith('    steps ') and ', strict ' in case_detail and '; pass@2 ' in case_detail
    assert case_row.split()[:5] == ['a', 'c', '3', '0', '1']
    assert '  a: accuracy 0.75 [-2.43, 3.93] n=2' in lines  # s = 0.353553, t(1) = 12.706: 0.75 +- 3.177
    assert '    c: accuracy 0.75 [-2.43, 3.93] n=2' in lines
    assert 'gate misses (1):' in lines
    assert '  a  c  score:recall n/a  n=0  < 0.8  (no run produced a score named recall)' in lines
    assert 'interrupted' not in text and 'missing results' not in text
    quiet = render_session(report, verbose=False)
    assert '    c: accuracy 0.75 [-2.43, 3.93] n=2' not in quiet


def test_render_failure_lists_every_level_scores_and_runs() -> None:
    records = [
        record(0, 'a > b', tools='a b', tool_calls=[ToolCallRecord(name='a', args='{}')]),
        record(
            1,
            'b > a',
            tools='a b',
            assertions=[Assertion(name='ok', value=False), Assertion(name='verdict', value='normal')],
        ),
        record(2, '', error='UsageLimitExceeded'),
        infra(3),
    ]
    stats = case_stats(records, architecture='x', case='c')
    miss = Miss(architecture='x', case='c', metric='pass_rate', value=1 / 3, n=3, threshold=1, judged_on='value')
    text = render_failure(stats, [miss], 'a > b')
    lines = text.splitlines()
    assert lines[0] == 'gate missed: x c: pass_rate 0.333 n=3 < threshold 1'
    # steps: a > b, b > a, error: modal 1 of 3 (Wilson high 0.79); held out 0 of 2 (run 1 is not a > b, run 2 is
    # not the first-seen of a tie): low 0. tools: 'a b', 'a b', error: modal 2/3 (high 0.94), held out 1 of 2, whose
    # Wilson low is (0.5 + 0.9604 - 1.96 sqrt(0.125 + 0.2401)) / 2.9207 = 0.0945.
    assert lines[1] == 'runs=4 errors=1 infra=1 pass rate 33% [6%-79%] n=3 determinism(steps) 33% [0%-79%] n=3'
    assert lines[2] == 'determinism by level: tools 67% [9%-94%], steps 33% [0%-79%], strict 33% [0%-79%] (n=3)'
    assert 'labels: verdict: normal 1' in lines
    assert '  error: UsageLimitExceeded: boom' in lines
    assert '  error (infrastructure: not counted): ModelRateLimitError: boom' in lines
    assert lines.count('  expected tools: a > b') == 3  # runs 1, 2 and 3 failed
    assert 'trajectory variants (steps):' in lines and '     1x  error: UsageLimitExceeded' in lines


def test_render_session_lists_metrics_interrupted_and_missing_items() -> None:
    items = [
        _item('a', 'c', [record(0, metrics={'cache_hits': 2.0}), record(1, metrics={'cache_hits': 1.0})]),
        _item('a', 'd', [record(0)], interrupted=True),
    ]
    report = build_report(
        items, model='m', seed=0, runs=2, missing={'cases.yaml::e[a]': 'did not report (its worker died)'}
    )
    lines = render_session(report, verbose=False)
    # Metric means per counted run over the architecture: (2 + 1 + 0) / 3.
    assert lines[lines.index('metrics the architectures reported (mean per counted run):') + 1] == '  a: cache_hits 1'
    at = lines.index('interrupted items (1), their finished runs kept:')
    assert lines[at + 1] == '  cases.yaml::d[a]: 1 of 2 runs'
    at = lines.index('missing results (1 items):')
    assert lines[at + 1] == '  cases.yaml::e[a]: did not report (its worker died)'
    assert not any(line.startswith('gate misses') for line in lines)
