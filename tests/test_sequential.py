"""Sequential gates: the mixture tests' numbers by hand, their error rates exactly and by simulation, the planner's
sample sizes by hand, and a session that stops each item where the arithmetic says, with and without xdist."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import XDIST
from pytest_agentarch.core.gates import Thresholds, check, decide, final, gated, sequential_misses
from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.core.sequential import (
    Plan,
    SequentialItem,
    SequentialTotals,
    agreement_with_predicted_mode,
    alternatives,
    decide_determinism,
    decide_rate,
    e_value,
    fewest_runs_to_meet,
    final_cutoff,
    fixed_n_exact,
    fixed_n_normal,
    fixed_n_power,
    plan,
    without_maximum,
)
from pytest_agentarch.core.stats import case_stats, wilson

ROOT = Path(__file__).parent.parent
CI_GATES = (ROOT / 'docs' / 'ci-gates.md').read_text(encoding='utf-8')

# ------------------------------------------------------------------------------------------------ the tests by hand


def test_the_mixtures() -> None:
    # met: q = 0.9 + 0.1 u for u = 0.2, 0.35, 0.5, 0.7, 0.85 and q = 1, weights 0.15, 0.12, 0.12, 0.10, 0.06, 0.45
    met = alternatives(0.9, 'met')
    assert [round(q, 10) for q, _ in met] == [0.92, 0.935, 0.95, 0.97, 0.985, 1.0]
    assert [w for _, w in met] == [0.15, 0.12, 0.12, 0.10, 0.06, 0.45]
    assert math.fsum(w for _, w in met) == pytest.approx(1.0)
    # missed: q = 0 with 1/2, and 0.5 j / 10 for j = 1..9, 1/18 each
    missed = alternatives(0.5, 'missed')
    assert missed[0] == (0.0, 0.5)
    assert [round(q, 10) for q, _ in missed[1:]] == [round(0.05 * j, 10) for j in range(1, 10)]
    assert math.fsum(w for _, w in missed) == pytest.approx(1.0)


def test_e_values_of_one_run_at_one_half() -> None:
    # met at t = 0.5: q = 0.6, 0.675, 0.75, 0.85, 0.925, 1. One success: sum_q w q / 0.5 = (0.15 * 0.6 + 0.12 * 0.675
    # + 0.12 * 0.75 + 0.10 * 0.85 + 0.06 * 0.925 + 0.45) / 0.5 = (0.09 + 0.081 + 0.09 + 0.085 + 0.0555 + 0.45) / 0.5
    # = 1.703.
    assert e_value(1, 1, 0.5, 'met') == pytest.approx(1.703)
    # One failure: q = 1 cannot fail (its weight is lost); sum_q w (1 - q) / 0.5 = (0.06 + 0.039 + 0.03 + 0.015
    # + 0.0045) / 0.5 = 0.297. At p = t the e-value is a martingale: 0.5 * 1.703 + 0.5 * 0.297 = 1.
    assert e_value(0, 1, 0.5, 'met') == pytest.approx(0.297)
    # missed, one failure: 0.5 * (1 - 0)/0.5 + (1/18) * sum_j (1 - 0.05 j)/0.5 = 1 + (1/18)(18 - 4.5) = 1.75
    assert e_value(0, 1, 0.5, 'missed') == pytest.approx(1.75)
    assert e_value(0, 0, 0.5, 'met') == 1.0


def test_e_value_of_a_short_sequence_with_failures() -> None:
    # 3 successes and 1 failure at t = 0.9: q = 1 is gone; sum_q w (q/0.9)^3 ((1 - q)/0.1) over the five others:
    # 0.92: 0.15 * 1.068159 * 0.8 = 0.128179; 0.935: 0.12 * 1.121263 * 0.65 = 0.087458; 0.95: 0.12 * 1.176097 * 0.5
    # = 0.070566; 0.97: 0.10 * 1.251952 * 0.3 = 0.037559; 0.985: 0.06 * 1.310935 * 0.15 = 0.011798; e = 0.335560.
    assert e_value(3, 4, 0.9, 'met') == pytest.approx(0.335560, abs=1e-6)
    # The same counts in any order: the mixture depends on the successes only.
    assert decide_rate(3, 4, 0.9) == 'undecided'


def test_fewest_runs_to_decide_met() -> None:
    # All successes at t = 0.9: e(n) = sum_q w (q/0.9)^n.
    # n = 34: 0.45 * 35.955 = 16.180, and 0.15 * 2.111 + 0.12 * 3.659 + 0.12 * 6.286 + 0.10 * 12.764 + 0.06 * 21.507
    # = 0.317 + 0.439 + 0.754 + 1.276 + 1.290 = 4.076: e = 20.256 >= 20.
    # n = 33: 0.45 * 32.359 = 14.562, and 0.310 + 0.423 + 0.715 + 1.184 + 1.179 = 3.810: e = 18.372 < 20.
    assert fewest_runs_to_meet(0.9) == 34
    assert e_value(34, 34, 0.9, 'met') == pytest.approx(20.256, abs=0.001)
    assert e_value(33, 33, 0.9, 'met') == pytest.approx(18.372, abs=0.001)
    # t = 0.8 (q = 0.84, 0.87, 0.9, 0.94, 0.97, 1): n = 16: 0.45 * 1.25^16 = 15.987, plus 0.15 * 2.183 + 0.12 * 3.827
    # + 0.12 * 6.583 + 0.10 * 13.201 + 0.06 * 21.823 = 4.206: 20.193 >= 20; n = 15: 12.790 + 3.639 = 16.429 < 20.
    assert fewest_runs_to_meet(0.8) == 16
    assert e_value(16, 16, 0.8, 'met') == pytest.approx(20.193, abs=0.001)
    # Determinism: run 0 only seeds the mode, so one run more.
    assert fewest_runs_to_meet(0.9, determinism=True) == 35
    # No finite stream shows a rate of at least 1.
    assert fewest_runs_to_meet(1.0) is None


def test_the_met_mixture_needs_fewer_successes_than_the_old_one_just_above_the_threshold() -> None:
    # 140 of 145 at t = 0.9 (a rate of 0.966). The old mixture (1/2 on q = 1, lost at the first failure; 1/18 on each
    # of q = 0.91..0.99), by its closed form: (1/18) sum_j ((0.9 + 0.01 j)/0.9)^140 ((0.1 - 0.01 j)/0.1)^5 = 19.37,
    # short of 20. The new one, w (q/0.9)^140 ((1 - q)/0.1)^5 term by term: 1.066 (0.92) + 2.907 (0.935)
    # + 7.267 (0.95) + 8.704 (0.97) + 1.399 (0.985) = 21.34: met one success sooner.
    old = math.fsum(((0.9 + 0.01 * j) / 0.9) ** 140 * ((0.1 - 0.01 * j) / 0.1) ** 5 for j in range(1, 10)) / 18
    assert old == pytest.approx(19.371, abs=0.001)
    assert e_value(140, 145, 0.9, 'met') == pytest.approx(21.343, abs=0.001)
    assert decide_rate(140, 145, 0.9) == 'met'
    assert decide_rate(139, 145, 0.9) == 'undecided'


def test_decide_rate_at_the_edges() -> None:
    # A threshold of 1 (every run must pass): missed at the first failure, never met.
    assert decide_rate(0, 1, 1.0) == 'missed'
    assert decide_rate(500, 500, 1.0) == 'undecided'
    assert decide_rate(0, 0, 0.0) == 'met'
    assert decide_rate(33, 33, 0.9) == 'undecided'
    assert decide_rate(34, 34, 0.9) == 'met'
    # One failure after 34 successes: the q = 1 weight is gone, the rest is far from 20.
    assert decide_rate(34, 35, 0.9) == 'undecided'


def test_agreement_with_the_predicted_mode() -> None:
    # x x y x: run 1 agrees with x (mode of {x}); run 2 (y) does not; run 3 agrees with x (mode of {x, x, y}): 2.
    assert agreement_with_predicted_mode(['x', 'x', 'y', 'x']) == 2
    # a b b a b: the mode before each run is a, a (tie a1 b1: the earliest), b, a (tie a2 b2: the earliest), so no
    # run agrees with it.
    assert agreement_with_predicted_mode(['a', 'b', 'b', 'a', 'b']) == 0
    assert agreement_with_predicted_mode([]) == 0


def test_determinism_met_needs_one_run_more_and_missed_uses_the_modal_count() -> None:
    assert decide_determinism(['t'] * 34, 0.9) == 'undecided'  # 33 agreements
    assert decide_determinism(['t'] * 35, 0.9) == 'met'  # 34 agreements
    # Two trajectories taking turns: modal count 5 of 10. Missed e = (1/18) sum_j (0.1 j)^5 (10 - 0.9 j)^5
    # = (1/18) sum_j (j - 0.09 j^2)^5 = (0.62 + 11.9 + 50.4 + 110.0 + 157.3 + 160.5 + 116.0 + 56.4 + 14.6) / 18 = 37.6
    keys = ['a', 'b'] * 5
    assert e_value(5, 10, 0.9, 'missed') == pytest.approx(37.6, abs=0.1)
    assert decide_determinism(keys, 0.9) == 'missed'
    assert decide_determinism(keys[:8], 0.9) == 'undecided'


# ------------------------------------------------------------------------------------------------ the planner by hand


def test_fixed_n_by_the_normal_approximation() -> None:
    # 0.9 against 0.8 at alpha 0.05, power 0.8: z = 1.6449 and 0.8416; sqrt(0.9 * 0.1) = 0.3, sqrt(0.8 * 0.2) = 0.4;
    # ((1.6449 * 0.3 + 0.8416 * 0.4) / 0.1)^2 = (0.49346 + 0.33665)^2 / 0.01 = 8.3011^2 = 68.91 -> 69.
    assert fixed_n_normal(0.9, 0.8) == 69
    # 0.8 against 0.7: ((1.6449 * 0.4 + 0.8416 * 0.45826) / 0.1)^2 = (0.65796 + 0.38567)^2 / 0.01 = 108.9 -> 109.
    assert fixed_n_normal(0.8, 0.7) == 109
    with pytest.raises(ValueError, match='cannot be told'):
        fixed_n_normal(0.9, 0.9)


def test_fixed_n_exact() -> None:
    # A perfect item at 0.9: the test rejects p <= 0.9 only when all N pass, which needs 0.9^N <= 0.05:
    # 0.9^28 = 0.0523, 0.9^29 = 0.0471 -> 29 (and a perfect item passes every run: power 1).
    assert fixed_n_exact(0.9, 1.0) == 29
    # An item that always fails at 0.5: 0.5^4 = 0.0625, 0.5^5 = 0.03125 -> 5.
    assert fixed_n_exact(0.5, 0.0) == 5
    # Exact binomial needs more than the normal approximation near 0.9 (its tails are skewed): 78 against 69.
    assert fixed_n_exact(0.9, 0.8) == 78
    assert fixed_n_exact(0.9, 0.9) is None


def test_plan_of_a_perfect_stream() -> None:
    # Decided met after 34 runs; checked after batches of 5, so at 35; with batches of 1, at 34.
    perfect = plan(0.9, 1.0, max_runs=100, batch=5)
    assert (perfect.expected_runs, perfect.met, perfect.undecided) == (35.0, 1.0, 0.0)
    assert plan(0.9, 1.0, max_runs=100, batch=1).expected_runs == 34.0
    # A maximum below 29 leaves it undecided at the maximum (0.9^19 = 0.135: no final cutoff at 20).
    short = plan(0.9, 1.0, max_runs=20, batch=5)
    assert (short.expected_runs, short.met, short.undecided) == (20.0, 0.0, 1.0)
    # A stream that always fails at 0.9: missed e after n failures = 0.5 * 10^n + ..., >= 20 at n = 2 (0.5 * 100).
    failing = plan(0.9, 0.0, max_runs=100, batch=1)
    assert (failing.expected_runs, failing.missed) == (2.0, 1.0)


def test_without_a_maximum_by_exact_enumeration() -> None:
    """Every sequence of 10 runs, each stopped at its first decision (checked after every run), against the planner's
    distribution of successes with no maximum and a horizon of 10."""
    threshold, rate, horizon = 0.5, 0.7, 10
    expected = met = missed = 0.0
    for outcomes in itertools.product((0, 1), repeat=horizon):
        chance = math.prod(rate if x else 1 - rate for x in outcomes)
        decision, used = 'undecided', horizon
        for n in range(1, horizon + 1):
            decision = decide_rate(sum(outcomes[:n]), n, threshold)
            if decision != 'undecided':
                used = n
                break
        expected += chance * used
        met += chance * (decision == 'met')
        missed += chance * (decision == 'missed')
    p = without_maximum(threshold, rate, batch=1, horizon=horizon)
    assert p.expected_runs == pytest.approx(expected, rel=1e-12)
    assert (p.met, p.missed) == (pytest.approx(met, rel=1e-12), pytest.approx(missed, rel=1e-12))
    assert p.undecided == pytest.approx(1 - met - missed, rel=1e-12)
    # A perfect stream at 0.9: met after 34 runs, 35 in batches of 5 and (determinism) 36 in batches of 2.
    assert without_maximum(0.9, 1.0, batch=5).expected_runs == 35.0
    assert without_maximum(0.9, 1.0, batch=2, determinism=True).expected_runs == 36.0
    # A stream that always fails at 0.9: missed after 2 runs (e = 0.5 * 10^2 + ... >= 20).
    assert without_maximum(0.9, 0.0, batch=1) == Plan(rate=0.0, expected_runs=2.0, met=0.0, missed=1.0, undecided=0.0)


# ------------------------------------------------------------------------------------------------ error rates


@pytest.mark.parametrize('threshold', [0.5, 0.8, 0.9, 0.95])
def test_the_chance_of_a_wrong_decision_on_a_bernoulli_stream_is_at_most_alpha(threshold: float) -> None:
    """Exact (no simulation): at the threshold a missed decision is wrong; just below it, a met decision is."""
    for rate, wrong in ((threshold, 'missed'), (threshold - 0.01, 'met'), (threshold + 0.03, 'missed')):
        p = plan(threshold, rate, max_runs=300, batch=5)
        assert getattr(p, wrong) <= 0.05, (threshold, rate, p)


@pytest.mark.parametrize('threshold', [0.5, 0.9])
def test_a_simulated_stream_at_the_threshold_or_at_the_edges_is_decided_wrongly_at_most_alpha_of_the_time(
    threshold: float,
) -> None:
    """Seeded simulation with its own generator, every run a look (the most chances to cross), at most 120 runs: a
    stream at the threshold is met or missed, both wrong, a stream that always fails is never met and one that
    always passes is never missed."""
    rng = random.Random(2025)
    wrong = {'met': 0, 'missed': 0}
    for _ in range(300):
        successes = 0
        for n in range(1, 121):
            successes += rng.random() < threshold
            decision = decide_rate(successes, n, threshold)
            if decision != 'undecided':
                wrong[decision] += 1
                break
    # 300 items, each kind of wrong decision at most alpha = 5% of the time: more than 24 (8%) has probability 0.9%
    # under Binomial(300, 0.05). Seen: 12 met and 16 missed at 0.5, 12 and 5 at 0.9; peeking at a Wilson interval
    # after every run is wrong 15-20% of the time (60 or more).
    assert wrong['met'] <= 24 and wrong['missed'] <= 24, wrong
    for rate, never in ((0.0, 'met'), (1.0, 'missed')):
        for n in range(1, 121):
            assert decide_rate(round(rate * n), n, threshold) != never, (rate, n)


def _stream(rng: random.Random, weights: Sequence[tuple[str, float]], n: int) -> list[str]:
    names = [k for k, _ in weights]
    probs = [w for _, w in weights]
    out = []
    for _ in range(n):
        key = rng.choices(names, probs)[0]
        # '*' is a trajectory seen once: each such run is its own variant.
        out.append(f'unique{rng.random()}' if key == '*' else key)
    return out


def _sessions(
    weights: Sequence[tuple[str, float]], decide_at: Callable[[list[str]], str], *, sessions: int, seed: int
) -> dict[str, int]:
    """Decisions of `sessions` simulated items (batches of 5, at most 100 runs) with trajectory probabilities
    `weights`."""
    rng = random.Random(seed)
    outcome = {'met': 0, 'missed': 0, 'undecided': 0}
    for _ in range(sessions):
        keys = _stream(rng, weights, 100)
        decision = 'undecided'
        for n in range(5, 101, 5):
            decision = decide_at(keys[:n])
            if decision != 'undecided':
                break
        outcome[decision] += 1
    return outcome


DETERMINISM = {
    # the mode exactly at the threshold: missed is wrong
    'mode at 0.9, one other': ([('a', 0.9), ('b', 0.1)], 'missed'),
    'mode at 0.9, all others unique': ([('a', 0.9), ('*', 0.1)], 'missed'),
    # just below: met is wrong; a large second trajectory makes the predicted mode switch early on
    'mode at 0.88, others unique': ([('a', 0.88), ('*', 0.12)], 'met'),
    'mode at 0.85, one other': ([('a', 0.85), ('b', 0.15)], 'met'),
    'two near halves': ([('a', 0.5), ('b', 0.45), ('*', 0.05)], 'met'),
    'mode at 0.95': ([('a', 0.95), ('b', 0.03), ('*', 0.02)], 'missed'),
}


@pytest.mark.parametrize('name', list(DETERMINISM))
def test_determinism_decisions_are_wrong_at_most_alpha_of_the_time(name: str) -> None:
    weights, wrong = DETERMINISM[name]
    outcome = _sessions(weights, lambda keys: decide_determinism(keys, 0.9), sessions=400, seed=7)
    # 400 simulated items: at most 20 wrong decisions (5%). The mixture is conservative (about 1% wrong here, see
    # benchmarks/sequential.py for 2,000 items a row), so sampling noise leaves room; an invalid rule fails (below).
    assert outcome[wrong] <= 20, outcome


def test_checking_a_fixed_n_interval_after_every_batch_is_not_valid() -> None:
    """The simulation can fail: the same streams decided by peeking at the Wilson 95% interval after every batch
    (met when its lower bound reaches the threshold, missed when its upper bound falls below) go wrong far more often
    than alpha, which is what the anytime-valid test is for."""

    def peeking(keys: list[str]) -> str:
        n, top = len(keys), max(keys.count(k) for k in set(keys))
        low, high = wilson(top, n)
        return 'met' if low >= 0.9 else 'missed' if high < 0.9 else 'undecided'

    peeked = _sessions([('a', 0.9), ('b', 0.1)], peeking, sessions=400, seed=7)
    ours = _sessions([('a', 0.9), ('b', 0.1)], lambda keys: decide_determinism(keys, 0.9), sessions=400, seed=7)
    assert peeked['missed'] > 40, peeked
    assert ours['missed'] <= 20, ours


# ------------------------------------------------------------------------------------------------ gates on records


def _records(passes: Sequence[bool], keys: Sequence[str]) -> list[RunRecord]:
    return [
        RunRecord(
            index=i,
            duration=0.0,
            trajectory=k,
            trajectory_tools=k,
            trajectory_args=k,
            assertions=[Assertion(name='ok', value=p)],
        )
        for i, (p, k) in enumerate(zip(passes, keys, strict=True))
    ]


def test_gates_decide_from_records_in_index_order() -> None:
    thresholds = Thresholds(min_pass_rate=0.8, min_determinism=0.9)
    records = _records([True] * 35, ['t'] * 35)
    shuffled = list(reversed(records))
    decisions = decide(shuffled, thresholds, 0.05)
    assert [(d.metric, d.decision, d.at_run) for d in decisions] == [
        ('pass_rate', 'met', 35),
        ('determinism:steps', 'met', 35),
    ]
    # The deciding side's counts: 35 of 35 passed; 34 of 34 runs after the first agreed with the mode.
    assert [(d.successes, d.trials) for d in decisions] == [(35, 35), (34, 34)]
    assert decisions[1].e_value >= 20


def test_the_final_cutoff_by_hand() -> None:
    # One look at 29 trials, t = 0.9: P(29 of 29) = 0.9^29 = 0.0471 <= 0.05, P(>= 28) = 0.0471 + 29 * 0.9^28 * 0.1 =
    # 0.1989: the cutoff is 29. Earlier looks below 34 trials cannot cross the met boundary (34 of 34 is the first
    # e-value >= 20), so checking after every 5 runs changes nothing.
    assert final_cutoff((29,), 0.9) == 29
    assert final_cutoff((4, 9, 14, 19, 24, 29), 0.9) == 29
    # 19 trials: 0.9^19 = 0.135 > 0.05: nothing passes at the maximum.
    assert final_cutoff((19,), 0.9) == 20
    # Looks at 34 and 35: 34 of 34 crosses with 0.9^34 = 0.0278; reaching 34 of 35 uncrossed needs 33 of 34 then a
    # success, 34 * 0.9^33 * 0.1 * 0.9 = 0.0946, too much; 35 of 35 uncrossed is impossible: the cutoff is 35.
    assert final_cutoff((34, 35), 0.9) == 35
    # Looks at 33 and 34: 33 of 33 cannot cross (e = 18.37), so only the last look counts: 0.9^34 = 0.0278 <= 0.05,
    # 0.0278 + 34 * 0.9^33 * 0.1 = 0.1329 > 0.05: the cutoff is 34.
    assert final_cutoff((33, 34), 0.9) == 34
    with pytest.raises(ValueError, match='increasing'):
        final_cutoff((5, 5), 0.9)
    with pytest.raises(ValueError, match='strictly between 0 and 1'):
        final_cutoff((5,), 1.0)


def test_fixed_n_power_by_hand() -> None:
    # 29 trials at t = 0.9: the cutoff is 29 (above); at a true rate of 0.95 it is met with 0.95^29 = 0.2259.
    assert fixed_n_power(0.9, 0.95, 29) == pytest.approx(0.95**29, rel=1e-9)
    assert fixed_n_power(0.9, 1.0, 19) == 0.0  # 19 trials never reach level 0.05
    with pytest.raises(ValueError, match='true rate must be between 0 and 1'):
        fixed_n_power(0.9, 1.5, 10)


@pytest.mark.parametrize('threshold', [0.8, 0.9, 0.95])
def test_a_pass_at_the_threshold_happens_at_most_alpha_of_the_time_with_the_final_test(threshold: float) -> None:
    # Exactly, on Bernoulli streams at and below the threshold: met early or at the maximum, at most alpha.
    for rate in (threshold, threshold - 0.02, threshold - 0.1):
        for runs, batch in ((116, 5), (40, 1), (200, 10)):
            p = plan(threshold, rate, max_runs=runs, batch=batch)
            assert p.met <= 0.05 + 1e-12
            assert p.met + p.missed + p.undecided == pytest.approx(1.0)
    # And the final test does pass rates just above the threshold that the e-process leaves undecided at 116 runs:
    # at 0.95 against 0.9 more than half are met (the e-process alone met 28.7%).
    p = plan(0.9, 0.95, max_runs=116, batch=5)
    assert p.met > 0.5 and p.met_at_maximum > 0.2


def test_at_the_maximum_an_undecided_gate_is_met_by_the_final_test_or_fails() -> None:
    thresholds = Thresholds(min_pass_rate=0.9)
    # 30 of 30 passed, checked after every 5: the e-process needs 34; the final cutoff for looks 5..30 is 30
    # (0.9^30 = 0.0424 <= 0.05; 30 * 0.9^29 * 0.1 + 0.0424 > 0.05).
    perfect = _records([True] * 30, ['t'] * 30)
    (undecided,) = decide(perfect, thresholds, 0.05)
    assert undecided.decision == 'undecided'
    (met,) = final(perfect, [undecided], thresholds, 0.05, 5)
    assert (met.decision, met.final_test, met.at_run, met.successes, met.trials) == ('met', True, 30, 30, 30)
    # 29 of 30: below the cutoff, still undecided: a miss judged 'undecided', although its point estimate 0.967
    # meets 0.9 (the ordinary rule would pass it).
    one_failure = _records([True] * 29 + [False], ['t'] * 30)
    (still,) = final(one_failure, decide(one_failure, thresholds, 0.05), thresholds, 0.05, 5)
    assert still.decision == 'undecided'
    stats = case_stats(one_failure, architecture='a', case='c')
    assert check(stats, thresholds) == []
    (miss,) = sequential_misses(stats, check(stats, thresholds), [still])
    assert (miss.metric, miss.judged_on, miss.value, miss.n) == ('pass_rate', 'undecided', 29 / 30, 30)
    # A threshold of 1 (every run must pass) stays with the ordinary rule: 30 of 30 passes.
    every = Thresholds()
    decisions = final(perfect, decide(perfect, every, 0.05), every, 0.05, 5)
    assert [d.decision for d in decisions] == ['undecided']
    assert sequential_misses(case_stats(perfect, architecture='a', case='c'), [], decisions) == []


def test_infrastructure_failures_are_left_out_of_the_streams() -> None:
    records = _records([True] * 16, ['t'] * 16)
    records.append(RunRecord(index=16, duration=0.0, error_type='ModelHTTPError', error_kind='infrastructure'))
    (d,) = decide(records, Thresholds(min_pass_rate=0.8), 0.05)
    assert (d.decision, d.successes, d.trials) == ('met', 16, 16)


def test_which_items_are_gated() -> None:
    assert gated(Thresholds())  # every run must pass
    assert not gated(Thresholds(min_pass_rate=0.0))  # a measurement: any rate is at least 0
    assert gated(Thresholds(min_pass_rate=0.0, min_determinism=0.9))
    assert gated(Thresholds(min_pass_rate=0.0, min_scores={'accuracy': 0.5}))


def test_totals_sum_items() -> None:
    def item(runs: int, decision: str) -> SequentialItem:
        return SequentialItem.model_validate(
            {
                'alpha': 0.05,
                'batch': 5,
                'max_runs': 100,
                'runs_used': runs,
                'decided': decision != 'undecided',
                'gates': [
                    {
                        'metric': 'pass_rate',
                        'threshold': 0.8,
                        'decision': decision,
                        'at_run': runs if decision != 'undecided' else None,
                        'successes': 0,
                        'trials': runs,
                        'e_value': 1.0,
                    }
                ],
                'tokens_used': runs * 10,
                'tokens_saved': (100 - runs) * 10,
            }
        )

    totals = SequentialTotals.of([item(20, 'met'), item(40, 'missed'), item(100, 'undecided')])
    assert (totals.items, totals.decided, totals.undecided, totals.met, totals.missed) == (3, 2, 1, 1, 1)
    # 160 of 300 runs used, 140 saved; tokens 1600 used, 1400 saved
    assert (totals.runs_used, totals.runs_max, totals.runs_saved) == (160, 300, 140)
    assert (totals.tokens_used, totals.tokens_saved) == (1600, 1400)


# ------------------------------------------------------------------------------------------------ sessions

# `steady` takes alpha > beta in every run; `turns` takes alpha > beta in even runs and beta > alpha in odd ones. Both
# answer 'ok', which the case expects. With --min-pass-rate 0.8 --min-determinism 0.9 in batches of 5:
# steady: pass rate met after 16 runs (checked at 20), determinism met after 35 (checked at 35): stops at 35;
# turns: determinism missed at 10 (5 of 10 modal, e = 37.6), pass rate met at 20: stops at 20, and fails.
ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('steady')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']], inputs)

    @architecture('turns')
    async def turns(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']] if i % 2 == 0 else [['beta'], ['alpha']], inputs)
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

GATES = ['--runs', '60', '--agentarch-sequential', '--min-pass-rate', '0.8', '--min-determinism', '0.9']


@pytest.mark.parametrize('xdist', XDIST)
def test_a_session_stops_each_item_where_its_gates_are_decided(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest(
        *GATES,
        '--agentarch-json',
        'report.json',
        '--agentarch-md',
        'summary.md',
        '--agentarch-html',
        'r.html',
        '-v',
        *xdist,
    )
    result.assert_outcomes(passed=1, failed=1)
    report: dict[str, Any] = json.loads((pytester.path / 'report.json').read_text())
    items = {c['architecture']: c for a in report['architectures'] for c in a['cases']}
    steady, turns = items['steady']['sequential'], items['turns']['sequential']
    # turns stops at its missed gate, after 10 runs: its pass rate (10/10 short of the 20 that decide 0.8) is left
    # undecided at the stop, and is no miss.
    assert (steady['runs_used'], turns['runs_used']) == (35, 10)
    assert [r['index'] for r in items['steady']['run_results']] == list(range(35))
    assert [(g['metric'], g['decision'], g['at_run']) for g in steady['gates']] == [
        ('pass_rate', 'met', 20),
        ('determinism:steps', 'met', 35),
    ]
    assert [(g['metric'], g['decision'], g['at_run']) for g in turns['gates']] == [
        ('pass_rate', 'undecided', None),
        ('determinism:steps', 'missed', 10),
    ]
    (miss,) = items['turns']['gate_misses']
    # Decided at 10 runs with 5 of them on the modal trajectory.
    assert (miss['metric'], miss['judged_on'], miss['value'], miss['n']) == ('determinism:steps', 'sequential', 0.5, 10)
    # Each run made 3 model requests of 100 + 10 tokens (archkit's usage): 330 tokens a run.
    # Saved: steady 25 runs x 330 = 8250, turns 50 x 330 = 16500.
    assert (steady['tokens_used'], steady['tokens_saved']) == (35 * 330, 25 * 330)
    assert (turns['tokens_used'], turns['tokens_saved']) == (10 * 330, 50 * 330)
    assert report['sequential']['runs_saved'] == 25 + 50
    assert report['sequential']['undecided'] == 0
    result.stdout.fnmatch_lines(
        [
            '*sequential gates (alpha 0.05, batches of 5, at most 60 runs*: 2 items, 2 decided (1 met, 1 missed), '
            '0 undecided*runs 45 of 120 (saved 75, 62.5%)*',
            '*first[[]steady[]]: 35 of 60 runs: pass_rate met at run 20 (e=*, 20/20); determinism:steps met at run 35*',
            '*determinism:steps sequential 0.500  n=10  < 0.9*',
        ]
    )
    # The Markdown and HTML reports carry the same figures: 45 of 120 runs used, 75 saved (62.5%), 75 x 330 = 24750
    # tokens saved.
    markdown = (pytester.path / 'summary.md').read_text()
    assert '| steady | 1 | 1 | 0 | 0 | 35 of 60 | 25 (41.7%) | 8250 |' in markdown, markdown
    assert '| **session** | 2 | 1 | 1 | 0 | 45 of 120 | 75 (62.5%) | 24750 |' in markdown, markdown
    html = (pytester.path / 'r.html').read_text()
    assert '<td>session</td><td>2</td><td>1</td><td>1</td><td>0</td><td>45 of 120</td><td>75</td>' in html
    assert 'determinism:steps missed at run 10 (e=' in html


def test_an_item_undecided_at_the_maximum_fails_unless_the_final_test_meets_it(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=CASES)
    # At most 20 runs: steady's determinism needs 35 for the e-process, and 19 of 19 held-out agreements are short of
    # the final test (0.9^19 = 0.135 > 0.05): undecided, so it fails although its point estimate is 100%.
    args = ['--agentarch-sequential', '--min-determinism', '0.9', '-k', 'steady', '-vv']
    result = pytester.runpytest('--runs', '20', *args, '--agentarch-md', 'u.md', '--agentarch-html', 'u.html')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*1 items, 0 decided (0 met, 0 missed), 1 undecided (an undecided gate fails; a threshold of 1 is judged '
            'on every run)*',
            # The failure says the gate is undecided, never "1.000 < 0.9": the figure is above the threshold.
            '*determinism:steps undecided at the maximum of runs: 1.000 (n=19) not shown to reach 0.9 by the '
            'sequential test at alpha',
        ]
    )
    result.stdout.fnmatch_lines(
        ['*steady*determinism:steps undecided at the maximum: 1.000  n=19  not shown to reach 0.9']
    )
    assert '< threshold 0.9' not in result.stdout.str() and '< 0.9' not in result.stdout.str()
    markdown = (pytester.path / 'u.md').read_text()
    assert '| steady | first | determinism:steps (undecided at the maximum) | 1.000 | 19 | 0.9 |' in markdown
    html = (pytester.path / 'u.html').read_text()
    assert 'determinism:steps undecided at the maximum: 1.000 (n=19) not shown to reach 0.9</li>' in html
    assert '&lt; 0.9' not in html
    # At most 30: 29 of 29 reach the final cutoff (0.9^29 = 0.0471): met at the maximum. The pass-rate gate (every
    # run must pass, a threshold of 1) stays with the ordinary rule: the item passes and counts as undecided.
    result = pytester.runpytest('--runs', '30', *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['*determinism:steps met at the maximum by the final test (29/29)*'])


def test_alpha_must_be_an_error_rate(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest('--agentarch-sequential', '--agentarch-alpha', '1.5')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*--agentarch-alpha: must be strictly between 0 and 1 (e.g. 0.05), got *1.5*'])


def test_the_planner_prints_and_runs_nothing(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest(
        '--agentarch-plan', '--runs', '100', '--min-determinism', '0.9', '--min-pass-rate', '0.8'
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            'agentarch plan: sequential gates at alpha 0.05, batches of 5, at most 100 runs per item*',
            'pass_rate >= 0.8 (session):',
            # a perfect item at 0.8: fixed-N 0.8^14 = 0.044 <= 0.05 (0.8^13 = 0.055): 14 runs; sequential met at 16,
            # checked at 20
            # (and with no maximum, 20 runs too)
            '  1.00 * 14 * 20 * 100.0% * 20.0 * 100.0% * 0.0% * 0.0% * 0.0%',
            '*decided met after 16 runs; to tell 0.8 from 0.7 a fixed-N design needs 116 runs '
            '(normal approximation 109)',
            'determinism:steps >= 0.9 (session):',
            '  1.00 * 29 * 35 * 100.0% * 35.0 * 100.0% * 0.0% * 0.0% * 0.0%',
            '*decided met after 35 runs; to tell 0.9 from 0.8 a fixed-N design needs 78 runs (normal approximation 69)',
        ]
    )
    assert 'passed' not in result.stdout.str() and 'agentarch: architecture comparison' not in result.stdout.str()


def test_the_readme_sequential_ci_gate_spends_less(tmp_path: Path) -> None:
    """The sequential CI example of docs/ci-gates.md, run as written at the repository root on a deterministic
    architecture: every item is decided met after 35 runs (pass rate 0.9 met after 34, determinism after 35, checked
    after batches of 5). Each item is decided on its own runs, so a slice shows it: for the 29 items the command
    collects (tests/test_readme_ci_gate.py) that is the 1,015 runs (29 x 35) the page quotes where a fixed --runs 80
    makes 2,320 (29 x 80); here, 3 items x 35 = 105 runs of 3 x 80 = 240."""
    section = CI_GATES.split('## Sequential gates', 1)[1]
    (block,) = [b for b in re.findall(r'```bash\n(.*?)```', section, re.S) if '--agentarch-sequential' in b]
    command = '\n'.join(line for line in block.splitlines() if not line.startswith('#'))
    args = shlex.split(command.replace('\\\n', ' '))
    assert args[0] == 'pytest', block
    args = args[1:]
    args[args.index('--agentarch-json') + 1] = str(tmp_path / 'report.json')
    # `-n 0`: three items, in one process rather than the repository's two xdist workers (the report is the same).
    args += ['-k', 'crash_loop_ledger or batch_', '-n', '0', '-p', 'no:cacheprovider', '-q']
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    assert [a['summary']['architecture'] for a in report['architectures']] == ['workflow']
    used = [c['sequential']['runs_used'] for a in report['architectures'] for c in a['cases']]
    assert used == [35, 35, 35]
    totals = report['sequential']
    assert (totals['items'], totals['met'], totals['runs_used'], totals['runs_max']) == (3, 3, 105, 240)
