"""The comparison statistics against values worked out by hand: Fisher's exact test, the test stratified by case,
Holm's correction, the difference interval, and the comparisons built on them."""

import itertools
import math

import pytest

from pytest_agentarch.core.compare import (
    BaselineError,
    Observed,
    compare_pairs,
    compare_to_baseline,
    determinism_interval,
    determinism_test,
    difference_interval,
    fisher_exact,
    holm,
    observed_in_report,
    stratified_exact,
    stratified_exact_greater,
)
from pytest_agentarch.core.sequential import agreement_with_predicted_mode


def test_fisher_exact_on_the_tea_tasting_table() -> None:
    # Table [[3, 1], [1, 3]]: margins 4, 4 (rows) and 4, 4 (columns). P(a) = C(4,a) C(4,4-a) / C(8,4), C(8,4) = 70:
    # a = 0..4 -> 1, 16, 36, 16, 1 (/70). Observed a = 3 (weight 16): two-sided p sums weights <= 16:
    # (1 + 16 + 16 + 1) / 70 = 34/70.
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    assert fisher_exact(1, 4, 3, 4) == pytest.approx(34 / 70, rel=1e-12)
    # a = 4: only the two extreme tables: 2/70.
    assert fisher_exact(4, 4, 0, 4) == pytest.approx(2 / 70, rel=1e-12)


def test_fisher_exact_twenty_of_twenty_against_sixteen_of_twenty() -> None:
    # 36 successes, 4 failures over two groups of 20. Failures in the first group k = 0..4, P(k) =
    # C(4,k) C(36,20-k) / C(40,20). P(0) = C(36,20)/C(40,20) = (20*19*18*17)/(40*39*38*37) = 116280/2193360,
    # and P(4) = P(0) by symmetry of equal groups; P(1), P(2), P(3) are larger. Two-sided p = 2 * 116280/2193360.
    assert fisher_exact(20, 20, 16, 20) == pytest.approx(2 * 116280 / 2193360, rel=1e-12)  # 0.10603


def test_fisher_exact_of_identical_or_degenerate_groups_is_one() -> None:
    assert fisher_exact(20, 20, 20, 20) == 1.0  # one possible table
    assert fisher_exact(0, 5, 0, 7) == 1.0
    assert fisher_exact(5, 10, 5, 10) == 1.0
    with pytest.raises(ValueError, match='between 0 and the runs'):
        fisher_exact(3, 2, 0, 2)


def test_stratified_exact_convolves_the_cases() -> None:
    # Two cases, each [[2, 0], [0, 2]]: per case a in 0..2 with weights C(2,a) C(2,2-a) = 1, 4, 1 (/6).
    # The sum over both cases: (1, 4, 1) * (1, 4, 1) = 1, 8, 18, 8, 1 (/36). Observed sum 4 (weight 1):
    # p = (1 + 1) / 36. One case alone (Fisher): (1 + 1) / 6.
    assert stratified_exact([(2, 2, 0, 2), (2, 2, 0, 2)]) == pytest.approx(2 / 36, rel=1e-12)
    assert fisher_exact(2, 2, 0, 2) == pytest.approx(2 / 6, rel=1e-12)
    # A case where every run succeeded on both sides has one possible table: it changes nothing.
    assert stratified_exact([(2, 2, 0, 2), (2, 2, 0, 2), (20, 20, 20, 20)]) == pytest.approx(2 / 36, rel=1e-12)
    # Opposite directions cancel: observed sum 2 is the most likely outcome, p = 1.
    assert stratified_exact([(2, 2, 0, 2), (0, 2, 2, 2)]) == 1.0
    assert stratified_exact([]) == 1.0


def test_holm_multiplies_by_rank_and_keeps_order() -> None:
    # Sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08, 0.20; made monotone -> 0.04, 0.09, 0.09,
    # 0.20; returned in the order given.
    assert holm([0.01, 0.04, 0.03, 0.20]) == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([]) == []


def test_difference_interval_of_one_case() -> None:
    # 20/20 against 20/20: Agresti-Caffo p = 21/22 on each side, variance (21/22)(1/22)/22 = 21/10648 each; half
    # width 1.959964 * sqrt(2 * 21/10648) = 0.123095.
    mean, low, high = difference_interval([(20, 20, 20, 20)])
    assert mean == 0
    assert high == pytest.approx(1.959964 * math.sqrt(42 / 10648), rel=1e-6)
    assert low == pytest.approx(-high)


def test_difference_interval_of_many_equal_cases_narrows_with_cases() -> None:
    # Twenty cases of 20/20 against 20/20: within variance 20 * 42/10648 / 20^2, half width 1.959964 * 0.014044 =
    # 0.027525 (the differences do not vary across cases, so the between-case term is 0).
    mean, low, high = difference_interval([(20, 20, 20, 20)] * 20)
    assert (mean, low) == (0, pytest.approx(-0.027525, abs=1e-6))
    assert high == pytest.approx(0.027525, abs=1e-6)


def test_difference_interval_uses_the_spread_across_cases_when_larger() -> None:
    # Differences 1.0 and 0.0 over two cases: mean 0.5, sample variance 0.5, variance of the mean 0.25, t(1) =
    # 12.706 -> half width 12.706 * 0.5 = 6.35, clipped to [-1, 1].
    assert difference_interval([(10, 10, 0, 10), (5, 10, 5, 10)]) == (0.5, -1.0, 1.0)


def item(arch: str, case: str, det: tuple[int, int], passed: tuple[int, int] | None = None, **kw: object) -> Observed:
    # By default the modal runs come first: every one after the first agrees with the mode before it.
    kw.setdefault('held_out', max(0, det[0] - 1))
    return Observed(
        architecture=arch,
        model=None,
        dataset='d',
        case=case,
        determinism=det,
        pass_rate=passed or det,
        **kw,  # type: ignore[arg-type]
    )


def test_baseline_flags_a_significant_drop_after_holm_and_lists_one_sided_items() -> None:
    old = [
        item('a', 'c1', (20, 20), (20, 20), fingerprint='f1'),
        item('a', 'c2', (20, 20), (20, 20), fingerprint='f2'),
        item('a', 'gone', (5, 5), fingerprint='f3'),
        item('old-arch', 'c1', (1, 1)),
    ]
    new = [
        # 20/20 -> 2/20: significant far below 0.05 / 4 (four tests: two items x two rates); worked out below.
        item('a', 'c1', (2, 20), (20, 20), fingerprint='f1'),
        # 20/20 -> 16/20: p = 0.106 before correction: not significant.
        item('a', 'c2', (16, 20), (20, 20), fingerprint='f2'),
        item('a', 'new', (3, 3), fingerprint='f4'),
    ]
    cmp = compare_to_baseline(new, old, path='old.json', level='steps')
    assert [str(k) for k, metric, _ in cmp.regressions()] == ['a d::c1']
    ((_, metric, change),) = cmp.regressions()
    # A drop: the baseline's held-out agreement 19/19 against the session's modal count 2/20. 21 successes in 39
    # trials; the first group at its maximum, 19: P = C(19,19) C(20,2) / C(39,21) = 190 / 62359143990, doubled.
    assert metric == 'determinism'
    assert change.p_value == pytest.approx(380 / 62359143990, rel=1e-12)
    assert change.p_adjusted == pytest.approx(4 * 380 / 62359143990, rel=1e-12)  # smallest of 4 tested p-values
    c2 = next(i for i in cmp.items if i.item.case == 'c2')
    # 19/19 held out against 16/20 modal: the 4 failures all in the second group, C(20,4) / C(39,4), doubled.
    assert c2.determinism.p_value == pytest.approx(2 * 4845 / 82251, rel=1e-12)
    assert not c2.determinism.significant
    assert c2.pass_rate.p_value == 1.0
    assert [str(k) for k in cmp.only_in_baseline] == ['a d::gone', 'old-arch d::c1']
    assert [str(k) for k in cmp.only_in_session] == ['a d::new']
    assert cmp.architectures_only_in_baseline == ['old-arch']
    assert cmp.architectures_only_in_session == []
    assert cmp.fingerprints == 'same'


def test_baseline_of_another_dataset_version_is_flagged() -> None:
    old = [item('a', 'c1', (5, 5), fingerprint='f1'), item('a', 'c2', (5, 5), fingerprint='f2')]
    new = [item('a', 'c1', (5, 5), fingerprint='f1-edited'), item('a', 'c2', (5, 5), fingerprint='f2')]
    cmp = compare_to_baseline(new, old, path='old.json', level='steps')
    assert cmp.fingerprints == 'changed'
    assert [i.case_changed for i in cmp.items] == [True, False]
    unknown = compare_to_baseline(new, [item('a', 'c1', (5, 5))], path='old.json', level='steps')
    assert unknown.fingerprints == 'unknown'
    assert unknown.items[0].case_changed is None


def test_pairs_more_deterministic_tied_and_unclear() -> None:
    cases = [f'c{i}' for i in range(20)]
    items = [
        *(item('steady', c, (20, 20)) for c in cases),
        *(item('twin', c, (20, 20)) for c in cases),
        *(item('shaky', c, (10, 20)) for c in cases),
        item('lonely', 'c0', (20, 20)),
        item('lonely-twin', 'c0', (20, 20)),
    ]
    pairs = {(p.first, p.second): p for p in compare_pairs(items, level='steps')}
    steady_shaky = pairs['steady', 'shaky']
    assert steady_shaky.verdict == 'more'
    assert (steady_shaky.first_better, steady_shaky.second_better, steady_shaky.cases) == (20, 0, 20)
    assert steady_shaky.difference == pytest.approx(0.5)
    assert steady_shaky.low > 0
    # Identical on 20 cases of 20 runs: the lower bound compares 19/19 held out with 20/20 modal (Agresti-Caffo
    # variances (20/21)(1/21)/21 + (21/22)(1/22)/22 = 0.0041318 per case, / 20 cases), half-width
    # 1.96 sqrt(0.0041318 / 20) = 0.028171, the upper bound its mirror: inside the 5% margin.
    steady_twin = pairs['steady', 'twin']
    assert (steady_twin.verdict, steady_twin.p_value, steady_twin.difference) == ('tied', 1.0, 0.0)
    assert (steady_twin.low, steady_twin.high) == pytest.approx((-0.028171, 0.028171), abs=1e-6)
    # Identical on one case of 20 runs: +-0.126, wider than the margin: not enough runs to tell.
    lonely = pairs['lonely', 'lonely-twin']
    assert (lonely.verdict, lonely.cases) == ('unclear', 1)
    assert 'not enough runs to tell' in lonely.sentence()
    # lonely and steady share one case, c0: both 20/20.
    assert pairs['lonely', 'steady'].cases == 1


def test_pairs_order_the_more_deterministic_first_and_adjust_over_pairs() -> None:
    # One case each of 4 runs: a took one trajectory (4/4, held out 3/3); b and c four different ones (1/4, 0/3).
    # a against b: 3/3 held out against 1/4 modal, 4 successes in 7: P(first = 3) = C(4,1)/C(7,4) = 4/35, doubled.
    items = [item('b', 'c', (1, 4)), item('a', 'c', (4, 4)), item('c', 'c', (1, 4))]
    pairs = compare_pairs(items, level='steps')
    assert [(p.first, p.second) for p in pairs] == [('a', 'b'), ('a', 'c'), ('b', 'c')]
    assert [p.p_value for p in pairs] == pytest.approx([8 / 35, 8 / 35, 1.0])
    # Holm over (8/35, 8/35, 1): 3 * 8/35, then max(24/35, 2 * 8/35), then 1.
    assert [p.p_adjusted for p in pairs] == pytest.approx([24 / 35, 24 / 35, 1.0])
    assert [p.verdict for p in pairs] == ['unclear', 'unclear', 'unclear']


def test_pairs_leave_out_items_without_held_out_counts() -> None:
    items = [item('a', 'c', (4, 4), held_out=None), item('b', 'c', (1, 4))]
    assert compare_pairs(items, level='steps') == []


def test_one_sided_stratified_exact_by_hand() -> None:
    # 3/4 against 1/4 (tea tasting): tables with 3 or 4 first-group successes: (16 + 1) / 70.
    assert stratified_exact_greater([(3, 4, 1, 4)]) == pytest.approx(17 / 70, rel=1e-12)
    assert stratified_exact_greater([(1, 4, 3, 4)]) == pytest.approx(69 / 70, rel=1e-12)
    # Two cases of 2/2 against 0/2: convolution 1, 8, 18, 8, 1 of 36; the observed sum 4 is the top one.
    assert stratified_exact_greater([(2, 2, 0, 2), (2, 2, 0, 2)]) == pytest.approx(1 / 36, rel=1e-12)


def _summaries(probs: tuple[float, ...], n: int) -> dict[tuple[int, int, int], float]:
    """Exact distribution of (held-out agreeing runs, modal runs, runs) over every sequence of n runs."""
    out: dict[tuple[int, int, int], float] = {}
    for seq in itertools.product(range(len(probs)), repeat=n):
        key = (agreement_with_predicted_mode([str(k) for k in seq]), max(seq.count(k) for k in set(seq)), n)
        out[key] = out.get(key, 0.0) + math.prod(probs[k] for k in seq)
    return out


def test_determinism_test_keeps_its_level_when_runner_ups_differ_by_exact_enumeration() -> None:
    # Equal determinism d = 0.5, runner-ups (0.5) against five at 0.1: two cases of 6 runs each, every outcome
    # enumerated. "The first is more deterministic" may be claimed at level a with probability at most a / 2 (one
    # direction of the doubled test). The modal-count test the comparison used before breaks that bound.
    tie, spread = _summaries((0.5, 0.5), 6), _summaries((0.5, 0.1, 0.1, 0.1, 0.1, 0.1), 6)

    def two(d: dict[tuple[int, int, int], float]) -> list[tuple[list[tuple[int, int, int]], float]]:
        return [([x, y], px * py) for (x, px), (y, py) in itertools.product(d.items(), repeat=2)]

    for first, second in ((tie, spread), (spread, tie)):
        a, b = two(first), two(second)
        for level in (0.1, 0.3, 0.5, 0.7):
            claimed = sum(pa * pb for x, pa in a for y, pb in b if determinism_test(x, y) <= level)
            assert claimed <= level / 2 + 1e-12
    old = sum(
        pa * pb
        for x, pa in two(tie)
        for y, pb in two(spread)
        if 2 * stratified_exact_greater([(u[1], u[2], v[1], v[2]) for u, v in zip(x, y, strict=True)]) <= 0.5
    )
    assert old > 0.25


def test_determinism_interval_by_hand() -> None:
    # One case: 10/10 (held out 9/9) against 5/10 (held out 3/9). Mean 0.5. Lower bound: 9/9 against 5/10 with
    # Agresti-Caffo: (10/11)(1/11)/11 + (6/12)(6/12)/12 = 0.0075131 + 0.0208333; 0.5 - 1.96 sqrt(0.0283464) = 0.16999.
    # Upper: 10/10 against 3/9: 1 - 1/3 + 1.96 sqrt((11/12)(1/12)/12 + (4/11)(7/11)/11) = 0.666667 + 0.324447.
    mean, low, high = determinism_interval([(9, 10, 10)], [(3, 5, 10)])
    assert mean == 0.5
    assert low == pytest.approx(0.5 - 1.959964 * math.sqrt(10 / 1331 + 0.25 / 12), abs=1e-6)
    assert high == pytest.approx(2 / 3 + 1.959964 * math.sqrt(11 / 1728 + 28 / 1331), abs=1e-6)


def test_counts_above_their_totals_are_refused() -> None:
    with pytest.raises(ValueError, match='between 0 and the runs, got 5 of 4'):
        difference_interval([(5, 4, 1, 4)])
    with pytest.raises(ValueError, match='modal runs'):
        item('a', 'c', (5, 4))
    with pytest.raises(ValueError, match='held-out agreeing runs'):
        item('a', 'c', (3, 4), held_out=4)
    with pytest.raises(ValueError, match='both sides'):
        difference_interval([(0, 0, 1, 4)])


def test_observed_in_report_reads_a_json_report_and_says_what_is_wrong() -> None:
    rate = {'successes': 3, 'n': 4}
    data = {
        'architectures': [
            {
                'summary': {'architecture': 'a'},
                'cases': [
                    {
                        'architecture': 'a',
                        'case': 'c',
                        'dataset': 'd',
                        'level': 'steps',
                        'determinism_by_level': {'tools': {'successes': 4, 'n': 4}, 'steps': rate},
                        'pass_rate': {'successes': 1, 'n': 4},
                        'variants': [{'trajectory': 'x > y'}],
                    }
                ],
            }
        ]
    }
    (o,) = observed_in_report(data, 'steps')
    assert (o.determinism, o.pass_rate, o.top, o.fingerprint) == ((3, 4), (1, 4), 'x > y', None)
    assert observed_in_report(data, 'tools')[0].top is None  # variants are at another level
    with pytest.raises(BaselineError, match='no `architectures` list'):
        observed_in_report({'cases': []}, 'steps')
    with pytest.raises(BaselineError, match="no determinism at level 'strict'"):
        observed_in_report(data, 'strict')
