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

`mixtures`: the met test's mixture with its weight on q = 1 moved to the interior alternatives, computed exactly (no
simulation) for a 0.9 gate in batches of 5: the fewest runs to decide a perfect stream, the chance of being met by the
e-process within 116 runs at true rates 0.92, 0.95 and 0.98, and the mean runs to met at 0.95 with no maximum (up to
3000), beside the fixed design. It is why the weights were left at 1/2 (docs/statistics.md).

Usage:
  python benchmarks/sequential.py simulate [--sessions 2000] [--max-runs 116]
  python benchmarks/sequential.py mixtures
  python benchmarks/sequential.py main-job [--runs 116] [--workers 2]
  python benchmarks/sequential.py main-job --fixed-report F.json --sequential-report S.json [--walls 1200,700]
"""

from __future__ import annotations

import argparse
import json
import math
import random
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


# ------------------------------------------------------------------------------------------------ mixture weights


def _met_log_e(successes: int, n: int, threshold: float, weights: list[tuple[float, float]]) -> float:
    """log of the met mixture e-value with the given (q, weight) pairs (its own code, not the package's)."""
    terms = []
    for q, w in weights:
        if successes < n and q >= 1:
            continue
        log_q = successes * math.log(q / threshold) + (n - successes) * (
            math.log((1 - q) / (1 - threshold)) if successes < n else 0.0
        )
        terms.append(math.log(w) + log_q)
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def _met_profile(extreme: float, threshold: float, rate: float, cap: int, batch: int) -> tuple[float, float]:
    """(chance of met within `cap`, mean runs to met or `cap`) for a Bernoulli(`rate`) stream, met side only."""
    inner = [threshold + (1 - threshold) * j / 10 for j in range(1, 10)]
    weights = [(1.0, extreme), *((q, (1 - extreme) / len(inner)) for q in inner)]
    alive = {0: 1.0}
    met = expected = 0.0
    n = 0
    while n < cap and alive:
        step = min(batch, cap - n)
        pmf = [math.comb(step, k) * rate**k * (1 - rate) ** (step - k) for k in range(step + 1)]
        grown: dict[int, float] = defaultdict(float)
        for s, w in alive.items():
            for k, pk in enumerate(pmf):
                grown[s + k] += w * pk
        n += step
        # The e-value grows with the successes: bisect for the fewest that reach 1/alpha.
        lo, hi = 0, n + 1
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _met_log_e(mid, n, threshold, weights) >= math.log(20) else (mid + 1, hi)
        bound = lo
        done = sum(w for s, w in grown.items() if s >= bound)
        met += done
        expected += done * n
        alive = {s: w for s, w in grown.items() if s < bound and w > 1e-15}
    return met, expected + sum(alive.values()) * n


def mixtures() -> None:
    print('met test at threshold 0.9, batches of 5, alpha 0.05; weight on q = 1, the rest on 0.91..0.99 evenly')
    print(
        f'{"weight on q=1":>13} {"perfect: runs":>13} {"met<=116 @0.92":>14} {"@0.95":>7} {"@0.98":>7} '
        f'{"mean runs @0.95, no max":>23}'
    )
    for extreme in (0.5, 0.3, 0.2, 0.1):
        perfect = _met_profile(extreme, 0.9, 1.0, 200, 1)[1]
        capped = [_met_profile(extreme, 0.9, r, 116, 5)[0] for r in (0.92, 0.95, 0.98)]
        uncapped = _met_profile(extreme, 0.9, 0.95, 3000, 5)[1]
        print(
            f'{extreme:>13} {perfect:>13.0f} {capped[0]:>14.1%} {capped[1]:>7.1%} {capped[2]:>7.1%} {uncapped:>23.0f}'
        )
    print(
        f'fixed design, power 0.8: 0.95 needs {fixed_n_exact(0.9, 0.95)} runs; 116 runs meet 0.95 with '
        f'{fixed_n_power(0.9, 0.95, 116):.1%}'
    )


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
    sub.add_parser('mixtures')
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
    if args.command == 'mixtures':
        mixtures()
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
