"""Which `sim` options come closest to a real model: the same cells run on `sim` over a grid of options, each set
beside the real model's figures.

Usage: python scripts/sim-calibration.py REAL.report.json [REAL.report.json ...]
           [--temperatures 0,0.1,0.4,0.7,1.2] [--parallel 0.25,0.5,1] [--slip 0] [--runs N] [--level steps]
           [--keep DIR]

The REAL reports are the real-model measurement's own JSON reports (`scripts/local-llm-measure.sh`, one per
architecture). Their items (node ids), seed and runs per case say which cells to run: every option set of the grid is
one pytest session on `sim` over exactly those items (`--agentarch-model sim:parallel=P,slip=S`, the temperature as a
session model setting, as the real measurement set it), with `--runs N` (default: the real runs per case; `sim` is
cheap, so more runs give its rates tighter intervals).

For each option set it prints, per architecture, `sim`'s determinism at the chosen level and its pass rate, then:
- `rank`: pairs of architectures ordered the same way by determinism on `sim` as on the real model (a tie counts as
  an order: it agrees only with a tie), out of all pairs;
- `det diff`, `pass diff`: the mean absolute difference between `sim`'s rate and the real model's, over architectures.
Rows are sorted best first: most pairs in the real order, then the smallest determinism difference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent


@dataclass(frozen=True)
class Cells:
    """What the real reports measured: the items, the architectures, the seed and the runs per case."""

    nodeids: tuple[str, ...]
    architectures: tuple[str, ...]
    seed: int
    runs: int


@dataclass(frozen=True)
class Rates:
    """Per architecture: (successes, n) of determinism at the level, and of pass rate."""

    determinism: dict[str, tuple[int, int]]
    passed: dict[str, tuple[int, int]]


def _rate(pair: tuple[int, int]) -> float:
    successes, n = pair
    return successes / n if n else math.nan


def load(paths: list[Path], level: str) -> tuple[Cells, Rates]:
    """The cells and rates of the reports given (a later report of one architecture wins)."""
    nodeids: dict[str, list[str]] = {}
    determinism: dict[str, tuple[int, int]] = {}
    passed: dict[str, tuple[int, int]] = {}
    seeds, runs = set(), set()
    for path in paths:
        report = json.loads(path.read_text(encoding='utf-8'))
        seeds.add(report['seed'])
        runs.add(report['runs_per_case'])
        for entry in report['architectures']:
            summary = entry['summary']
            name = summary['architecture']
            nodeids[name] = [case['nodeid'] for case in entry['cases']]
            level_rate = summary['determinism_by_level'][level]
            determinism[name] = (level_rate['successes'], level_rate['n'])
            passed[name] = (summary['pass_rate']['successes'], summary['pass_rate']['n'])
    if len(seeds) != 1 or len(runs) != 1:
        raise SystemExit(f'the reports were made with different seeds {sorted(seeds)} or runs {sorted(runs)}')
    cells = Cells(
        nodeids=tuple(n for name in sorted(nodeids) for n in nodeids[name]),
        architectures=tuple(sorted(nodeids)),
        seed=seeds.pop(),
        runs=runs.pop(),
    )
    return cells, Rates(determinism=determinism, passed=passed)


def ranking_agreement(real: dict[str, float], sim: dict[str, float]) -> tuple[int, int]:
    """(pairs ordered alike, pairs): for every pair of architectures both rate, the sign of the difference of their
    rates on `sim` against the same on the real model; a tie agrees only with a tie."""
    names = sorted(set(real) & set(sim))
    pairs = list(itertools.combinations(names, 2))

    def sign(rates: dict[str, float], a: str, b: str) -> int:
        return (rates[a] > rates[b]) - (rates[a] < rates[b])

    alike = sum(sign(real, a, b) == sign(sim, a, b) for a, b in pairs)
    return alike, len(pairs)


def mean_abs_difference(real: dict[str, float], sim: dict[str, float]) -> float:
    """Mean over the architectures both rate of |sim - real|."""
    names = sorted(set(real) & set(sim))
    return sum(abs(sim[n] - real[n]) for n in names) / len(names) if names else math.nan


def run_sim(cells: Cells, temperature: float, parallel: float, slip: float, runs: int, report: Path) -> None:
    """One pytest session on `sim` over the cells, its JSON report written to `report`."""
    command = [
        sys.executable,
        '-m',
        'pytest',
        *cells.nodeids,
        '--arch',
        ','.join(cells.architectures),
        '--runs',
        str(runs),
        '--agentarch-seed',
        str(cells.seed),
        '--agentarch-model',
        f'sim:parallel={parallel:g},slip={slip:g}',
        '--agentarch-model-settings',
        f'temperature={temperature:g}',
        '--agentarch-json',
        str(report),
        '-n',
        '0',
        '-q',
        '-p',
        'no:cacheprovider',
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or not report.exists():  # 1: some runs failed their evaluators, a finding
        raise SystemExit(f'sim session failed (exit {done.returncode}): {" ".join(command)}\n{done.stdout[-3000:]}')


@dataclass(frozen=True)
class Row:
    temperature: float
    parallel: float
    slip: float
    rates: Rates
    rank: tuple[int, int]
    det_diff: float
    pass_diff: float


def compare(real: Rates, temperature: float, parallel: float, slip: float, sim: Rates) -> Row:
    real_det = {n: _rate(p) for n, p in real.determinism.items()}
    sim_det = {n: _rate(p) for n, p in sim.determinism.items()}
    return Row(
        temperature=temperature,
        parallel=parallel,
        slip=slip,
        rates=sim,
        rank=ranking_agreement(real_det, sim_det),
        det_diff=mean_abs_difference(real_det, sim_det),
        pass_diff=mean_abs_difference(
            {n: _rate(p) for n, p in real.passed.items()}, {n: _rate(p) for n, p in sim.passed.items()}
        ),
    )


def best_first(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (-(r.rank[0] / r.rank[1] if r.rank[1] else 0.0), r.det_diff, r.pass_diff))


def _share(pair: tuple[int, int]) -> str:
    return f'{pair[0]}/{pair[1]}'


def markdown(cells: Cells, real: Rates, rows: list[Row], level: str) -> str:
    header = ['model', *(f'{a} det / pass' for a in cells.architectures), 'rank', 'det diff', 'pass diff']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    real_cells = [f'{_share(real.determinism[a])} / {_share(real.passed[a])}' for a in cells.architectures]
    lines.append('| real | ' + ' | '.join(real_cells) + ' | - | - | - |')
    for row in rows:
        sim_cells = [f'{_share(row.rates.determinism[a])} / {_share(row.rates.passed[a])}' for a in cells.architectures]
        name = f'sim T={row.temperature:g} parallel={row.parallel:g} slip={row.slip:g}'
        stats = [_share(row.rank), f'{row.det_diff:.2f}', f'{row.pass_diff:.2f}']
        lines.append('| ' + ' | '.join([name, *sim_cells, *stats]) + ' |')
    return f'determinism at level {level}, seed {cells.seed}\n\n' + '\n'.join(lines)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected comma-separated numbers, e.g. 0,0.4,0.7') from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('reports', nargs='+', type=Path, help="the real model's JSON reports")
    parser.add_argument('--temperatures', type=_floats, default=[0.0, 0.1, 0.4, 0.7, 1.2])
    parser.add_argument('--parallel', type=_floats, default=[0.25, 0.5, 1.0])
    parser.add_argument('--slip', type=_floats, default=[0.0])
    parser.add_argument('--runs', type=int, default=None, help='runs per case on sim (default: the real runs)')
    parser.add_argument('--level', choices=('tools', 'steps', 'strict'), default='steps')
    parser.add_argument('--keep', type=Path, default=None, help="keep sim's JSON reports in this folder")
    args = parser.parse_args(argv)
    cells, real = load(args.reports, args.level)
    runs = args.runs or cells.runs
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for temperature, parallel, slip in itertools.product(args.temperatures, args.parallel, args.slip):
            report = folder / f'sim-t{temperature:g}-p{parallel:g}-s{slip:g}.report.json'
            run_sim(cells, temperature, parallel, slip, runs, report)
            _, sim = load([report], args.level)
            rows.append(compare(real, temperature, parallel, slip, sim))
    print(markdown(cells, real, best_first(rows), args.level))
    return 0


if __name__ == '__main__':
    sys.exit(main())
