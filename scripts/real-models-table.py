"""Print the Markdown tables of docs/real-models.md from the JSON reports of the real-model measurement.

Usage: python scripts/real-models-table.py REAL.report.json [REAL.report.json ...] [--sim SIM.report.json]

Each REAL report is one session of `scripts/local-llm-measure.sh` (one architecture, one temperature; latency is the
live session's). The optional SIM report is the same cells run on `sim`. One row per architecture: how many runs,
determinism at the three levels (share of runs with the most common trajectory, as successes/n), pass rate, mean
input/output tokens and requests per run, latency p50/p95, runs that raised; then, when given, the same cells on
`sim`. `tests/test_real_model_replay.py` replays the recording and checks every count of these rows against the doc.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

LEVELS = ('tools', 'steps', 'strict')


def _share(rate: dict[str, Any]) -> str:
    return f'{rate["successes"]}/{rate["n"]}'


def _seconds(value: float | None) -> str:
    return '-' if value is None else f'{value:.0f}s'


def summaries(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Architecture name -> its summary, from every report given (a later report of one architecture wins)."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        report = json.loads(path.read_text())
        for entry in report['architectures']:
            found[entry['summary']['architecture']] = entry['summary']
    return found


def row(summary: dict[str, Any], sim: dict[str, Any] | None) -> str:
    levels = summary['determinism_by_level']
    cells = [
        summary['architecture'],
        str(summary['runs']),
        *(_share(levels[level]) for level in LEVELS),
        _share(summary['pass_rate']),
        f'{summary["input_tokens"]:.0f}',
        f'{summary["output_tokens"]:.0f}',
        f'{summary["requests"]:.1f}',
        f'{_seconds(summary["latency_p50"])} / {_seconds(summary["latency_p95"])}',
        str(summary['errors']),
    ]
    if sim is not None:
        cells += [_share(sim['determinism_by_level']['steps']), _share(sim['pass_rate'])]
    return '| ' + ' | '.join(cells) + ' |'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('reports', nargs='+', type=Path)
    parser.add_argument('--sim', type=Path, help='JSON report of the same cells on sim')
    args = parser.parse_args(argv)
    real = summaries(args.reports)
    sim = summaries([args.sim]) if args.sim else {}
    header = [
        'architecture',
        'runs',
        'tools',
        'steps',
        'strict',
        'pass',
        'tok in',
        'tok out',
        'req',
        'p50 / p95',
        'err',
    ]
    if args.sim:
        header += ['sim steps', 'sim pass']
    print('| ' + ' | '.join(header) + ' |')
    print('|' + ' --- |' * len(header))
    for name in sorted(real):
        print(row(real[name], sim.get(name) if args.sim else None))
    return 0


if __name__ == '__main__':
    sys.exit(main())
