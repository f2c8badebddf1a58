"""Sequential gates against fixed-N runs: error rates and runs on simulated streams, and the K8s main job.

`simulate`: simulated items whose true pass rate or trajectory distribution is at, above or below the threshold.
For each, the share of wrong decisions (met when the rate is below the threshold, missed when it is at or above;
met includes the final test at the maximum, `gates.final`), the share met, the share met by the final test at the
maximum, and the mean runs the sequential design used (batches of --batch, at most --max-runs), beside the runs the
fixed-N design needs for the same error rate at that true rate (`fixed_n_exact`, power 0.8) and the chance that the
fixed design of --max-runs itself (an exact one-sided test) meets the gate. A naive rule that peeks at the Wilson 95%
interval after every batch is shown for contrast.

`main-job`: the K8s main job twice at the repository root on `sim`, side by side with the same seed: fixed (--runs N
for every item) and sequential (--agentarch-sequential, at most N), both with --min-determinism 0.9 --min-pass-rate
0.8 and -n 2. It reports runs, tokens and wall time of each, and replays the sequential rule on the fixed session's
runs (run i is the same run in both sessions) to check that the sequential session stopped every item exactly where
the rule says. With --fixed-report and --sequential-report it analyses two reports made earlier instead of running.

`efficiency`: the met test's mixture before (1/2 on q = 1, 1/18 on each of t + (1 - t) j / 10) and now (the package's),
on the same seeded simulated streams with no maximum, at true rates from the threshold to 1: runs to a decision (mean,
median, 90th percentile), the share met, the paired difference with its standard error, and the chance of met within
--max-runs (e-process alone for both; with the final test, exactly, for the new one), beside the fixed design at power
0.8 and the wrong-decision rates at the boundary. Then the designs considered, met side alone, computed exactly (the
runs to meet a perfect stream, mean runs to met, met within --max-runs), and the new design's wrong decisions at
thresholds 0.5-0.95 for true rates 0, t and 1, every run a look, at most 150 runs. Its own code computes the old
mixture and the alternatives considered; the new one is the package's `log_e_value`.

Usage:
  python benchmarks/sequential.py simulate [--sessions 2000] [--max-runs 116]
  python benchmarks/sequential.py efficiency [--threshold 0.9] [--sessions 2000] [--horizon 4000] [--seed 0]
  python benchmarks/sequential.py main-job [--runs 116] [--workers 2]
  python benchmarks/sequential.py main-job --fixed-report F.json --sequential-report S.json [--walls 1200,700]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_agentarch.core.gates import Thresholds, decide
from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.core.sequential import (
    agreement_with_predicted_mode,
    decide_determinism,
    decide_rate,
    final_cutoff,
    fixed_n_exact,
    fixed_n_power,
    log_e_value,
    plan,
)
from pytest_agentarch.core.stats import wilson

ROOT = Path(__file__).resolve().parent.parent
GATES = ['--min-determinism', '0.9', '--min-pass-rate', '0.8']

# (label, threshold, trajectory probabilities or a pass rate, the wrong decision at that truth)
PASS_RATE = [(0.8, p) for p in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6)] + [
    (0.9, p) for p in (1.0, 0.98, 0.95, 0.92, 0.9, 0.88)
]
DETERMINISM: list[tuple[str, list[tuple[str, float]]]] = [
    ('1.00 (one trajectory)', [('a', 1.0)]),
    ('0.98, one other', [('a', 0.98), ('b', 0.02)]),
    ('0.95, others unique', [('a', 0.95), ('*', 0.05)]),
    ('0.92, others unique', [('a', 0.92), ('*', 0.08)]),
    ('0.90, one other', [('a', 0.9), ('b', 0.1)]),
    ('0.90, others unique', [('a', 0.9), ('*', 0.1)]),
    ('0.88, one other', [('a', 0.88), ('b', 0.12)]),
    ('0.85, one other', [('a', 0.85), ('b', 0.15)]),
    ('0.80, three others', [('a', 0.8), ('b', 0.1), ('c', 0.05), ('d', 0.05)]),
    ('0.64, others unique', [('a', 0.64), ('*', 0.36)]),
    ('0.50 / 0.45', [('a', 0.5), ('b', 0.45), ('*', 0.05)]),
]


def _keys(rng: random.Random, weights: Sequence[tuple[str, float]], n: int) -> list[str]:
    names, probs = [k for k, _ in weights], [w for _, w in weights]
    return [f'u{rng.random()}' if k == '*' else k for k in rng.choices(names, probs, k=n)]


def _run(stream: list[Any], rule: Callable[[list[Any]], str], batch: int, max_runs: int) -> tuple[str, int]:
    for n in range(batch, max_runs + batch, batch):
        n = min(n, max_runs)
        decision = rule(stream[:n])
        if decision != 'undecided':
            return decision, n
    return 'undecided', max_runs


def _final(successes: int, looks: tuple[int, ...], threshold: float, alpha: float) -> str:
    """The final test at the maximum: met when the met side's successes reach the cutoff, else undecided (fails)."""
    return 'met' if successes >= final_cutoff(looks, threshold, alpha) else 'undecided'


def _looks(batch: int, max_runs: int, seed_run: bool) -> tuple[int, ...]:
    """The met side's trials at each check (determinism's first run only seeds the mode)."""
    ends = [min(n, max_runs) for n in range(batch, max_runs + batch, batch)]
    return tuple(n - seed_run for n in ends if n - seed_run > 0)


def _peek(successes: int, n: int, threshold: float) -> str:
    low, high = wilson(successes, n)
    return 'met' if low >= threshold else 'missed' if high < threshold else 'undecided'


def simulate(sessions: int, max_runs: int, batch: int, alpha: float, seed: int) -> None:
    rng = random.Random(seed)
    fixed_met = f'fixed {max_runs} met'
    header = (
        f'{"truth":<36} {"wrong":>7} {"peek wrong":>10} {"met":>7} {"at max":>7} {fixed_met:>13} '
        f'{"mean runs":>9} {"fixed-N same error":>18} {"saved vs " + str(max_runs):>12}'
    )
    print(f'simulated items: {sessions} per row, batches of {batch}, at most {max_runs} runs, alpha {alpha}')
    worst = 0.0
    rows: list[tuple[str, float, float, float, float, float, float, str, float]] = []
    for threshold, rate in PASS_RATE:
        wrong_side = 'met' if rate < threshold else 'missed'
        tally = defaultdict(int)
        runs = peek_wrong = at_max = 0
        looks = _looks(batch, max_runs, False)
        for _ in range(sessions):
            stream = [rng.random() < rate for _ in range(max_runs)]
            decision, used = _run(stream, lambda s, t=threshold: decide_rate(sum(s), len(s), t, alpha), batch, max_runs)
            if decision == 'undecided':
                decision = _final(sum(stream), looks, threshold, alpha)
                at_max += decision == 'met'
            tally[decision] += 1
            runs += used
            peek, _ = _run(stream, lambda s, t=threshold: _peek(sum(s), len(s), t), batch, max_runs)
            peek_wrong += peek == wrong_side
        fixed = fixed_n_exact(threshold, rate, alpha) if rate != threshold else None
        rows.append(
            (
                f'pass rate {rate:.2f} vs {threshold}',
                tally[wrong_side] / sessions,
                peek_wrong / sessions,
                tally['met'] / sessions,
                at_max / sessions,
                fixed_n_power(threshold, rate, max_runs, alpha),
                runs / sessions,
                '-' if fixed is None else str(fixed),
                1 - runs / sessions / max_runs,
            )
        )
    for label, weights in DETERMINISM:
        mode = max(w for k, w in weights if k != '*')
        wrong_side = 'met' if mode < 0.9 else 'missed'
        tally = defaultdict(int)
        runs = peek_wrong = at_max = 0
        looks = _looks(batch, max_runs, True)
        for _ in range(sessions):
            keys = _keys(rng, weights, max_runs)
            decision, used = _run(keys, lambda s: decide_determinism(s, 0.9, alpha), batch, max_runs)
            if decision == 'undecided':
                decision = _final(agreement_with_predicted_mode(keys), looks, 0.9, alpha)
                at_max += decision == 'met'
            tally[decision] += 1
            runs += used
            peek, _ = _run(keys, lambda s: _peek(max(s.count(k) for k in set(s)), len(s), 0.9), batch, max_runs)
            peek_wrong += peek == wrong_side
        fixed = fixed_n_exact(0.9, mode, alpha) if mode != 0.9 else None
        rows.append(
            (
                f'determinism {label}',
                tally[wrong_side] / sessions,
                peek_wrong / sessions,
                tally['met'] / sessions,
                at_max / sessions,
                fixed_n_power(0.9, mode, max_runs - 1, alpha),
                runs / sessions,
                '-' if fixed is None else str(fixed),
                1 - runs / sessions / max_runs,
            )
        )
    print(header)
    for label, wrong, peek, met, at_max, fixed_met, mean, fixed, saved in rows:
        worst = max(worst, wrong)
        print(
            f'{label:<36} {wrong:7.2%} {peek:10.2%} {met:7.1%} {at_max:7.1%} {fixed_met:13.1%} {mean:9.1f} '
            f'{fixed:>18} {saved:12.1%}'
        )
    print(f'largest wrong-decision rate: {worst:.2%} (alpha {alpha:.0%})')


# ------------------------------------------------------------------------------------------------ efficiency

# The met mixture before this design: 1/2 on q = 1, 1/18 on each of q = t + (1 - t) j / 10, j = 1..9.
OLD_MET = [(1.0, 0.5), *((j / 10, 1 / 18) for j in range(1, 10))]
# Old with the weights of u = 0.1..0.5 (5/18) regrouped as 2/18 on 0.2 and 1.5/18 on each of 0.35 and 0.5: at
# thresholds 0.8 and 0.9 it never needs more successes than the old mixture up to 300 runs, and gains little.
NEVER_STRICTER = [
    (1.0, 0.5),
    (0.2, 2 / 18),
    (0.35, 1.5 / 18),
    (0.5, 1.5 / 18),
    *((j / 10, 1 / 18) for j in range(6, 10)),
]
STRICTER_UP_TO = 300
"""Runs up to which a design's met boundary is compared with the old mixture's, look by look (every run a look)."""
EFFICIENCY_SHARES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)
"""True rates for `efficiency`: these shares of the way from the threshold to 1 (0.90, 0.92, ... 1 at 0.9)."""


def _mixture_log_e(successes: int, n: int, threshold: float, table: Sequence[tuple[float, float]]) -> float:
    """log of a met mixture e-value, (u, weight) pairs for q = t + (1 - t) u (its own code, not the package's)."""
    terms = []
    for u, w in table:
        q = threshold + (1 - threshold) * u
        if successes < n and u >= 1:
            continue  # q = 1 cannot fail
        failures = (n - successes) * math.log((1 - q) / (1 - threshold)) if successes < n else 0.0
        terms.append(math.log(w) + successes * math.log(q / threshold) + failures)
    if not terms:
        return -math.inf
    top = max(terms)
    return top + math.log(math.fsum(math.exp(t - top) for t in terms))


def _fewest(log_e: Callable[[int, int], float], n: int, bar: float) -> int:
    """The fewest successes of `n` at which an e-value increasing in the successes reaches `bar` (n + 1 if none)."""
    lo, hi = 0, n + 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if log_e(mid, n) >= bar else (mid + 1, hi)
    return lo


def _boundaries(log_e: Callable[[int, int], float], looks: Sequence[int], bar: float) -> list[int]:
    return [_fewest(log_e, n, bar) for n in looks]


def _missed_bounds(threshold: float, looks: Sequence[int], bar: float) -> list[int]:
    """The most successes of n at which missed is decided (-1 if none): the missed e-value falls with the successes."""
    out = []
    for n in looks:
        lo, hi = -1, n  # invariant: decided at lo (or lo = -1), not decided above hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if log_e_value(mid, n, threshold, 'missed') >= bar else (lo, mid - 1)
        out.append(lo)
    return out


def _percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def _met_exact(
    log_e: Callable[[int, int], float], rate: float, batch: int, horizon: int, cap: int, bar: float
) -> tuple[float, float]:
    """(mean runs to met, the horizon for streams not met by then; the chance of met within `cap` runs) of the met
    side alone, computed exactly by following the distribution of successes look by look."""
    alive = {0: 1.0}
    expected = by_cap = 0.0
    n = 0
    pmf = [math.comb(batch, k) * rate**k * (1 - rate) ** (batch - k) for k in range(batch + 1)]
    while n < horizon and alive:
        grown: dict[int, float] = defaultdict(float)
        for s, w in alive.items():
            for k, pk in enumerate(pmf):
                if pk:
                    grown[s + k] += w * pk
        n += batch
        bound = _fewest(log_e, n, bar)
        done = math.fsum(w for s, w in grown.items() if s >= bound)
        expected += n * done
        by_cap += done if n <= cap else 0.0
        alive = {s: w for s, w in grown.items() if s < bound and w > 1e-15}
    return expected + math.fsum(alive.values()) * n, by_cap


def efficiency(threshold: float, sessions: int, horizon: int, cap: int, batch: int, alpha: float, seed: int) -> None:
    """Runs to a decision of the old and the new met mixture on the same simulated streams, against the fixed design;
    the error rate at the boundary; the designs considered, exactly; validity at the edges with every run a look."""
    rng = random.Random(seed)
    bar = math.log(1 / alpha)
    looks = list(range(batch, horizon + 1, batch))
    old = _boundaries(lambda s, n: _mixture_log_e(s, n, threshold, OLD_MET), looks, bar)
    new = _boundaries(lambda s, n: log_e_value(s, n, threshold, 'met'), looks, bar)
    missed = _missed_bounds(threshold, looks, bar)
    print(
        f'runs to a decision, threshold {threshold}, alpha {alpha}, batches of {batch}, no maximum (streams still '
        f'undecided after {horizon} runs count {horizon}), {sessions} simulated items a row (seed {seed}), the same '
        "streams for both designs; old = 1/2 on q = 1 and 1/18 on each of t + (1 - t) j/10; new = the package's"
    )
    print(
        f'{"true rate":>9} {"fixed-N":>7} | {"old mean":>8} {"median":>6} {"p90":>5} {"met":>6} | {"new mean":>8} '
        f'{"median":>6} {"p90":>5} {"met":>6} | {"new - old":>14} | {"met<=" + str(cap) + " old":>12} {"new":>6} '
        f'{"new+final":>9}'
    )
    rates = [round(threshold + (1 - threshold) * f, 4) for f in EFFICIENCY_SHARES]
    for rate in rates:
        runs: dict[str, list[int]] = {'old': [], 'new': []}
        met = {'old': 0, 'new': 0}
        early = {'old': 0, 'new': 0}
        missed_wrong = 0
        for _ in range(sessions):
            stop: dict[str, tuple[str, int]] = {}
            s = 0
            for i, n in enumerate(looks):
                s += sum(rng.random() < rate for _ in range(batch))
                for name, bounds in (('old', old), ('new', new)):
                    if name not in stop:
                        if s >= bounds[i]:
                            stop[name] = ('met', n)
                        elif s <= missed[i]:
                            stop[name] = ('missed', n)
                if len(stop) == 2:
                    break
            for name in ('old', 'new'):
                decision, used = stop.get(name, ('undecided', horizon))
                runs[name].append(used)
                met[name] += decision == 'met'
                early[name] += decision == 'met' and used <= cap
            missed_wrong += stop.get('new', ('',))[0] == 'missed'
        diffs = [b - a for a, b in zip(runs['old'], runs['new'], strict=True)]
        mean_diff = statistics.fmean(diffs)
        spread = statistics.stdev(diffs) / math.sqrt(sessions)
        fixed = fixed_n_exact(threshold, rate, alpha) if rate != threshold else None
        final_met = plan(threshold, rate, max_runs=cap, batch=batch, alpha=alpha).met
        cells = []
        for name in ('old', 'new'):
            values = runs[name]
            cells.append(
                f'{statistics.fmean(values):>8.1f} {_percentile(values, 0.5):>6} {_percentile(values, 0.9):>5} '
                f'{met[name] / sessions:>6.1%}'
            )
        print(
            f'{rate:>9.2f} {"-" if fixed is None else fixed:>7} | {cells[0]} | {cells[1]} | '
            f'{mean_diff:>+7.1f} +-{spread:>4.1f} | {early["old"] / sessions:>12.1%} {early["new"] / sessions:>6.1%} '
            f'{final_met:>9.1%}'
        )
        if rate == threshold:
            boundary = (met['new'] / sessions, missed_wrong / sessions)
    print(
        f'at the boundary (true rate {threshold}), new design within {horizon} runs: met (wrong) {boundary[0]:.2%}, '
        f'missed (wrong) {boundary[1]:.2%}; alpha {alpha:.0%} bounds each'
    )

    print()
    print(
        f'designs considered, met side alone, computed exactly (no simulation): mean runs to met at threshold '
        f'{threshold}, batches of {batch}, no maximum (streams not met by {horizon} count {horizon}); "perfect" = the '
        'runs after which an all-success stream is met, checked after every run'
    )
    considered: list[tuple[str, Callable[[float], Callable[[int, int], float]]]] = [
        ('old: 1/2 on q = 1, 1/18 on u = 0.1..0.9', lambda r: lambda s, n: _mixture_log_e(s, n, threshold, OLD_MET)),
        ('new (the package)', lambda r: lambda s, n: log_e_value(s, n, threshold, 'met')),
        (
            'old grid, 0.2 on q = 1',
            lambda r: (
                lambda s, n: _mixture_log_e(s, n, threshold, [(1.0, 0.2), *((j / 10, 0.8 / 9) for j in range(1, 10))])
            ),
        ),
        (
            'old, u = 0.1..0.5 regrouped on 0.2, 0.35, 0.5',
            lambda r: lambda s, n: _mixture_log_e(s, n, threshold, NEVER_STRICTER),
        ),
        (
            'uniform over (t, 1] (200 points)',
            lambda r: lambda s, n: _mixture_log_e(s, n, threshold, [((i + 0.5) / 200, 1 / 200) for i in range(200)]),
        ),
        (
            'one alternative at the true rate (oracle)',
            lambda r: (
                lambda s, n: _mixture_log_e(s, n, threshold, [(min(1.0, (r - threshold) / (1 - threshold)), 1.0)])
            ),
        ),
    ]
    above = [r for r in rates if r > threshold]
    print(
        f'{"design":<46} {"perfect":>7} '
        + ' '.join(f'{r:>6.2f}' for r in above)
        + f' | met within {cap}: '
        + ' '.join(f'{r:>6.2f}' for r in above[:-1])
        + f' | stricter than old at n <= {STRICTER_UP_TO}'
    )
    old_bounds = _boundaries(considered[0][1](1.0), range(1, STRICTER_UP_TO + 1), bar)
    for name, make in considered:
        perfect_e = make(1.0)
        perfect = next(n for n in range(1, 5000) if perfect_e(n, n) >= bar)
        rows = [_met_exact(make(r), r, batch, horizon, cap, bar) for r in above]
        bounds = _boundaries(perfect_e, range(1, STRICTER_UP_TO + 1), bar)
        # The oracle's mixture changes with the rate: its boundaries are not one design's.
        stricter = [n for n, (a, b) in enumerate(zip(old_bounds, bounds, strict=True), 1) if b > a]
        shown = '-' if 'oracle' in name else ', '.join(map(str, stricter[:4])) + (' ...' if len(stricter) > 4 else '')
        print(
            f'{name:<46} {perfect:>7} '
            + ' '.join(f'{m:>6.0f}' for m, _ in rows)
            + f' | {"":>{len(f"met within {cap}:")}} '
            + ' '.join(f'{c:>6.1%}' for _, c in rows[:-1])
            + f' | {shown or "none"}'
        )
    fixed_row = ' '.join(f'{fixed_n_exact(threshold, r, alpha) or 0:>6}' for r in above)
    power_row = ' '.join(f'{fixed_n_power(threshold, r, cap, alpha):>6.1%}' for r in above[:-1])
    label, pad = f'fixed design: N at power 0.8 | power of {cap}', len(f'met within {cap}:')
    print(f'{label:<46} {"":>7} {fixed_row} | {"":>{pad}} {power_row}')

    print()
    print(
        f'validity at the edges: the new design checked after every run, at most {VALIDITY_RUNS} runs, {sessions} '
        f'simulated items a row (seed {seed}); wrong = met at a true rate at or below the threshold, missed at or above'
    )
    print(f'{"threshold":>9} {"rate 0: met":>11} {"rate t: met":>11} {"rate t: missed":>14} {"rate 1: missed":>14}')
    worst = 0.0
    for t in (0.5, 0.8, 0.9, 0.95):
        cells = []
        for rate, wrong in ((0.0, 'met'), (t, 'met'), (t, 'missed'), (1.0, 'missed')):
            count = 0
            for _ in range(sessions):
                s = 0
                for n in range(1, VALIDITY_RUNS + 1):
                    s += rng.random() < rate
                    decision = decide_rate(s, n, t, alpha)
                    if decision != 'undecided':
                        count += decision == wrong
                        break
            worst = max(worst, count / sessions)
            cells.append(count / sessions)
        print(f'{t:>9} {cells[0]:>11.2%} {cells[1]:>11.2%} {cells[2]:>14.2%} {cells[3]:>14.2%}')
    print(f'largest wrong-decision rate: {worst:.2%} (alpha {alpha:.0%})')


VALIDITY_RUNS = 150


# ------------------------------------------------------------------------------------------------ the main job


def _records(case: dict[str, Any]) -> list[RunRecord]:
    """A report's runs as records carrying what the gates read: verdict, trajectory variant, infrastructure, judged."""
    out = []
    for r in case['run_results']:
        key = str(r['variant'])
        out.append(
            RunRecord(
                index=r['index'],
                duration=r['duration'],
                trajectory=key,
                trajectory_tools=key,
                trajectory_args=key,
                error_type=r['error_type'],
                error_kind=r['error_kind'],
                assertions=[Assertion(name='passed', value=bool(r['passed']))],
                evaluator_infra_errors=['unjudged'] if r.get('unjudged') else [],
                input_tokens=r['input_tokens'],
                output_tokens=r['output_tokens'],
            )
        )
    return sorted(out, key=lambda r: r.index)


def _replay(records: list[RunRecord], thresholds: Thresholds, batch: int, alpha: float, first_miss: bool) -> int:
    """Where the sequential rule stops an item whose runs are `records` (every gate decided, or the first gate decided
    missed with `first_miss`)."""
    decided: dict[str, str] = {}
    n = 0
    while n < len(records):
        n = min(n + batch, len(records))
        for d in decide(records[:n], thresholds, alpha):
            if d.decision != 'undecided':
                decided.setdefault(d.metric, d.decision)
        if len(decided) == 2 or (first_miss and 'missed' in decided.values()):
            return n
    return n


def _runs(case: dict[str, Any]) -> list[tuple[str | None, bool, int]]:
    """Each run's trajectory, verdict and input tokens, by index: what must be the same run in both sessions."""
    variants = case['variants']
    return [
        (None if r['variant'] is None else variants[r['variant']]['trajectory'], r['passed'], r['input_tokens'])
        for r in sorted(case['run_results'], key=lambda r: r['index'])
    ]


def _tokens(records: Sequence[RunRecord]) -> int:
    return sum(r.input_tokens + r.output_tokens for r in records)


def main_job(fixed_path: Path, sequential_path: Path, walls: tuple[float, float] | None) -> None:
    fixed = json.loads(fixed_path.read_text(encoding='utf-8'))
    sequential = json.loads(sequential_path.read_text(encoding='utf-8'))
    cases = {c['nodeid']: c for a in sequential['architectures'] for c in a['cases']}
    first = next(c['sequential'] for c in cases.values() if c['sequential'])
    batch, alpha, max_runs = first['batch'], first['alpha'], fixed['runs_per_case']
    thresholds = Thresholds(min_determinism=0.9, min_pass_rate=0.8)
    per_arch: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    mismatches = []
    for arch in fixed['architectures']:
        for case in arch['cases']:
            records = _records(case)
            stop = _replay(records, thresholds, batch, alpha, first_miss=False)
            early = _replay(records, thresholds, batch, alpha, first_miss=True)
            got = cases[case['nodeid']]
            used = got['sequential']['runs_used']
            if used != stop:
                mismatches.append(f'{case["nodeid"]}: session stopped at {used}, the rule on the fixed runs at {stop}')
            elif _runs(got) != _runs(case)[:used]:
                mismatches.append(f"{case['nodeid']}: its first {used} runs differ from the fixed session's")
            row = per_arch[case['architecture']]
            for i, value in enumerate(
                (1, len(records), used, _tokens(records), _tokens(records[:used]), early, got['sequential']['decided'])
            ):
                row[i] += int(value)
    print(
        f'main job: {fixed["runs_per_case"]} runs per item fixed, against sequential (alpha {alpha}, batches of '
        f'{batch}, at most {max_runs}), gates {" ".join(GATES)}'
    )
    print(
        f'{"architecture":<12} {"items":>5} {"decided":>7} {"fixed runs":>10} {"seq runs":>8} {"saved":>6} '
        f'{"fixed tokens":>12} {"seq tokens":>11} {"saved":>6} {"first-miss runs":>15}'
    )
    totals = [0] * 7
    for name, row in sorted(per_arch.items()):
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        _line(name, row)
    _line('session', totals)
    if walls is not None:
        print(f'wall time: fixed {walls[0]:.0f}s, sequential {walls[1]:.0f}s, saved {1 - walls[1] / walls[0]:.1%}')
    print(
        'stopping points: '
        + ('the sequential session stopped every item where the rule on the fixed runs does' if not mismatches else '')
    )
    for line in mismatches:
        print(f'  MISMATCH {line}')


def _line(name: str, row: list[int]) -> None:
    items, fixed_runs, seq_runs, fixed_tokens, seq_tokens, early, decided = row
    print(
        f'{name:<12} {items:>5} {decided:>7} {fixed_runs:>10} {seq_runs:>8} {1 - seq_runs / fixed_runs:>6.1%} '
        f'{fixed_tokens:>12} {seq_tokens:>11} {1 - seq_tokens / fixed_tokens:>6.1%} {early:>15}'
    )


def _session(runs: int, workers: int, out: Path, sequential: bool) -> float:
    command = [
        sys.executable,
        '-m',
        'pytest',
        '--arch',
        'all',
        '--runs',
        str(runs),
        '-n',
        str(workers),
        '-q',
        '-p',
        'no:cacheprovider',
        *GATES,
        '--agentarch-json',
        str(out),
        *(['--agentarch-sequential'] if sequential else []),
    ]
    start = time.perf_counter()
    # Exit status 1 is expected: the gates fail the items that miss them.
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    sim = sub.add_parser('simulate')
    sim.add_argument('--sessions', type=int, default=2000)
    sim.add_argument('--max-runs', type=int, default=116)
    sim.add_argument('--batch', type=int, default=5)
    sim.add_argument('--alpha', type=float, default=0.05)
    sim.add_argument('--seed', type=int, default=0)
    eff = sub.add_parser('efficiency')
    eff.add_argument('--threshold', type=float, default=0.9)
    eff.add_argument('--sessions', type=int, default=2000)
    eff.add_argument('--horizon', type=int, default=4000)
    eff.add_argument('--max-runs', type=int, default=116)
    eff.add_argument('--batch', type=int, default=5)
    eff.add_argument('--alpha', type=float, default=0.05)
    eff.add_argument('--seed', type=int, default=0)
    job = sub.add_parser('main-job')
    job.add_argument('--runs', type=int, default=116)
    job.add_argument('--workers', type=int, default=2)
    job.add_argument('--fixed-report', type=Path)
    job.add_argument('--sequential-report', type=Path)
    job.add_argument('--walls', help='FIXED,SEQUENTIAL wall seconds of the two reports given')
    args = parser.parse_args()
    if args.command == 'simulate':
        simulate(args.sessions, args.max_runs, args.batch, args.alpha, args.seed)
        return
    if args.command == 'efficiency':
        efficiency(args.threshold, args.sessions, args.horizon, args.max_runs, args.batch, args.alpha, args.seed)
        return
    if args.fixed_report and args.sequential_report:
        walls = tuple(float(w) for w in args.walls.split(',')) if args.walls else None
        main_job(args.fixed_report, args.sequential_report, walls)  # type: ignore[arg-type]
        return
    with tempfile.TemporaryDirectory() as tmp:
        fixed, sequential = Path(tmp) / 'fixed.json', Path(tmp) / 'sequential.json'
        walls = (_session(args.runs, args.workers, fixed, False), _session(args.runs, args.workers, sequential, True))
        main_job(fixed, sequential, walls)


if __name__ == '__main__':
    main()
