"""Coverage of the intervals printed beside determinism and pass rates, by simulation with its own random generator.

Three tables:

1. `bias`: the modal share's upward bias (mean modal share - d) at n = 5 and 20 runs for the tie-heavy trajectory
   distributions of issue 25, beside the held-out agreement's (which is at most d).
2. `item` and `architecture`: how often the 95% interval of determinism covers the true d, for one item of n runs
   (`Rate.modal`) and for an architecture of m cases of n runs each, every case with the same distribution
   (`Rate.clustered_modal`, population target = d); the old intervals (Wilson on the modal count, the cluster
   interval on modal counts) beside them.
3. `edges`: pass rates of m cases of n runs, each case's rate drawn from a mixture (90% of cases at 1.0 and 10% at
   0.5; and 80% at 1.0, 20% at 0.9): coverage of the population interval (`Rate.clustered`, target the mixture's
   mean) and of the fixed-suite interval (`suite_low`/`suite_high`, target the mean of the drawn cases' rates),
   with the share of sessions whose pooled rate was 1 (where the edge rule applies).

Usage: python benchmarks/intervals.py [--sessions 4000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence

from pytest_agentarch.core.sequential import agreement_with_predicted_mode
from pytest_agentarch.core.stats import Rate, wilson

DISTRIBUTIONS: list[tuple[float, ...]] = [
    (0.5, 0.3, 0.2),
    (0.5, 0.5),
    (0.34, 0.33, 0.33),
    (0.4, 0.3, 0.3),
    (0.5, 0.1, 0.1, 0.1, 0.1, 0.1),
    (0.9, 0.1),
    (1.0,),
]
MIXTURES: list[tuple[tuple[float, float], ...]] = [((1.0, 0.9), (0.5, 0.1)), ((1.0, 0.8), (0.9, 0.2))]


def _keys(rng: random.Random, probs: Sequence[float], n: int) -> list[int]:
    return rng.choices(range(len(probs)), probs, k=n)


def _modal(keys: Sequence[int]) -> Rate:
    return Rate.modal(max(Counter(keys).values()), len(keys), agreement_with_predicted_mode(keys))


def bias(rng: random.Random, sessions: int) -> None:
    print('modal share bias: mean over sessions of (modal share - d) and of (held-out agreement - d)')
    print(f'{"distribution":<32} {"n":>3} {"modal bias":>10} {"held-out bias":>13}')
    for probs in DISTRIBUTIONS[:4]:
        for n in (5, 20):
            d = max(probs)
            modal = held = 0.0
            for _ in range(sessions):
                keys = _keys(rng, probs, n)
                modal += max(Counter(keys).values()) / n - d
                held += agreement_with_predicted_mode(keys) / (n - 1) - d
            print(f'{probs!s:<32} {n:>3} {modal / sessions:>+10.3f} {held / sessions:>+13.3f}')


def coverage(rng: random.Random, sessions: int) -> None:
    print()
    print('determinism coverage of the true d (95% intervals): one item of n runs; m cases of 20 runs')
    print(f'{"distribution":<32} {"cases x runs":>12} {"new":>7} {"old":>7} {"new width":>9}')
    worst = 1.0
    for probs in DISTRIBUTIONS:
        d = max(probs)
        for m, n in ((1, 5), (1, 20), (5, 20), (10, 20), (29, 20)):
            new = old = 0
            width = 0.0
            for _ in range(sessions):
                rates = [_modal(_keys(rng, probs, n)) for _ in range(m)]
                if m == 1:
                    rate, before = rates[0], wilson(rates[0].successes, n)
                else:
                    rate = Rate.clustered_modal(rates)
                    plain = Rate.clustered((r.successes, r.n) for r in rates)
                    before = (plain.low, plain.high)
                new += rate.low <= d <= rate.high
                old += before[0] <= d <= before[1]
                width += rate.high - rate.low
            worst = min(worst, new / sessions)
            shape = f'{m} x {n}'
            print(f'{probs!s:<32} {shape:>12} {new / sessions:>7.1%} {old / sessions:>7.1%} {width / sessions:>9.3f}')
    print(f'lowest coverage of the new intervals: {worst:.1%}')


def edges(rng: random.Random, sessions: int) -> None:
    print()
    print('pass rate of m cases x 20 runs, case rates drawn from a mixture: coverage of the population interval')
    print('(target: the mixture mean) and of the fixed-suite interval (target: the mean of the drawn cases)')
    print(f'{"mixture (rate, share)":<28} {"m":>3} {"pooled=1":>8} {"population":>10} {"suite":>7} {"old":>7}')
    worst = 1.0
    for mixture in MIXTURES:
        mean = sum(r * w for r, w in mixture)
        for m in (5, 10, 29):
            population = suite = old = edge = 0
            for _ in range(sessions):
                rates = rng.choices([r for r, _ in mixture], [w for _, w in mixture], k=m)
                counts = [(sum(rng.random() < p for _ in range(20)), 20) for p in rates]
                rate = Rate.clustered(counts)
                fixed = sum(rates) / m
                assert rate.suite_low is not None and rate.suite_high is not None
                population += rate.low <= mean <= rate.high
                suite += rate.suite_low <= fixed <= rate.suite_high
                pooled_one = all(y == n for y, n in counts)
                edge += pooled_one
                # Before: a pooled rate of 1 fell back to the Wilson interval of the pooled runs.
                before = wilson(20 * m, 20 * m) if pooled_one else (rate.low, rate.high)
                old += before[0] <= mean <= before[1]
            worst = min(worst, population / sessions, suite / sessions)
            print(
                f'{mixture!s:<28} {m:>3} {edge / sessions:>8.1%} {population / sessions:>10.1%} '
                f'{suite / sessions:>7.1%} {old / sessions:>7.1%}'
            )
    print(f'lowest coverage: {worst:.1%}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sessions', type=int, default=4000)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f'{args.sessions} simulated sessions per row, seed {args.seed}')
    bias(rng, args.sessions)
    coverage(rng, args.sessions)
    edges(rng, args.sessions)


if __name__ == '__main__':
    main()
