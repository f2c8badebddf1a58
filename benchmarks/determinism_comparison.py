"""False "more deterministic" verdicts and power of the pairwise determinism comparison, by simulated sessions with
their own random generator.

Each simulated session runs two architectures on m cases (1, 10, 29), 20 runs each, every case of an architecture
with the same trajectory distribution, and compares them with `compare_pairs` (the verdict the report prints) and
`compare_to_baseline` (the determinism row, the first architecture as the baseline). Rows with equal determinism d
and different runner-ups must call either "more deterministic" in at most 5% of sessions; rows with a real difference
show the power. Beside them, the test the comparison used before (the exact test stratified by case on the modal
counts, two-sided) on the same sessions, and a check that no "more" verdict was printed beside an interval that
crosses 0.

Usage: python benchmarks/determinism_comparison.py [--sessions 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence

from pytest_agentarch.core.compare import Observed, compare_pairs, compare_to_baseline, stratified_exact
from pytest_agentarch.core.sequential import agreement_with_predicted_mode

RUNS = 20
ROWS: list[tuple[str, tuple[float, ...], tuple[float, ...]]] = [
    ('d 0.5: (0.5, 0.5) vs 0.5 + 5 x 0.1', (0.5, 0.5), (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)),
    ('d 0.7: (0.7, 0.3) vs 0.7 + 3 x 0.1', (0.7, 0.3), (0.7, 0.1, 0.1, 0.1)),
    ('d 0.5: (0.5, 0.25, 0.25) vs (0.5, 0.5)', (0.5, 0.25, 0.25), (0.5, 0.5)),
    ('power: (0.9, 0.1) vs (0.7, 0.3)', (0.9, 0.1), (0.7, 0.3)),
    ('power: (0.9, 0.1) vs 0.7 + 3 x 0.1', (0.9, 0.1), (0.7, 0.1, 0.1, 0.1)),
]


def _item(rng: random.Random, arch: str, case: int, probs: Sequence[float]) -> Observed:
    keys = [str(k) for k in rng.choices(range(len(probs)), probs, k=RUNS)]
    top = max(Counter(keys).values())
    return Observed(
        architecture=arch,
        model=None,
        dataset=None,
        case=f'c{case}',
        determinism=(top, RUNS),
        pass_rate=(0, RUNS),
        held_out=agreement_with_predicted_mode(keys),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sessions', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f'{args.sessions} simulated sessions per row, {RUNS} runs per case, alpha 0.05')
    print(
        f'{"architectures A vs B":<40} {"cases":>5} {"A more":>7} {"B more":>7} {"baseline":>8} '
        f'{"old test":>8} {"more, interval crossing 0":>25}'
    )
    worst = 0.0
    for label, first, second in ROWS:
        equal = max(first) == max(second)
        for m in (1, 10, 29):
            a_more = b_more = baseline = old = crossing = 0
            for _ in range(args.sessions):
                a = [_item(rng, 'A', c, first) for c in range(m)]
                b = [_item(rng, 'B', c, second) for c in range(m)]
                (pair,) = compare_pairs([*a, *b], level='steps')
                if pair.verdict == 'more':
                    a_more += pair.first == 'A'
                    b_more += pair.first == 'B'
                    crossing += pair.low <= 0
                # A as the baseline, B as the session: a significant change either way in B's determinism.
                renamed = [Observed(**{**vars(o), 'architecture': 'A'}) for o in b]
                cmp = compare_to_baseline(renamed, a, path='baseline', level='steps')
                baseline += any(i.determinism.significant for i in cmp.items)
                tables = [(x.determinism[0], RUNS, y.determinism[0], RUNS) for x, y in zip(a, b, strict=True)]
                old += stratified_exact(tables) < 0.05
            n = args.sessions
            if equal:
                worst = max(worst, a_more / n, b_more / n)
            print(
                f'{label:<40} {m:>5} {a_more / n:>7.1%} {b_more / n:>7.1%} {baseline / n:>8.1%} {old / n:>8.1%} '
                f'{crossing:>25}'
            )
    print(f'largest false "more deterministic" rate at equal d: {worst:.1%} (at most 5% required)')
    print('baseline: a significant determinism change of B against A on any case (Holm over every test of it)')


if __name__ == '__main__':
    main()
