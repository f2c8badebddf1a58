"""Print the Markdown rows of docs/real-models.md from the JSON reports of the real-model measurement.

Usage: python scripts/real-models-table.py [REAL.report.json ...] [--replay REPLAY.report.json]
           [--sim SIM.report.json]

Each REAL report is one session of `scripts/local-llm-measure.sh` (one architecture, every item of the measurement;
its latency is the live session's), of a complete cell: a report with runs missing or left out as infrastructure
failures is refused. One row per architecture: how many runs, determinism at the three levels (share
of runs with the most common trajectory, as successes/n), pass rate (right verdicts), path conformance, mean
input/output tokens and requests per run, live latency p50/p95, runs that raised; then, when given:
- `--replay`: the report of the recording replayed (the replay command of docs/real-models.md with `--agentarch-json`)
  adds `rec p50 / p95`, the recorded model's latency per run (the sum of the recorded durations of its exchanges,
  whatever sitting sent them), and must give back every count of the live reports: a table the recording does not
  reproduce is refused, since `tests/test_real_model_replay.py` would fail it;
- `--sim`: the same items on `sim` (same runs per case, seed and temperature, which are checked) add `sim steps` and
  `sim pass`. Given without REAL reports, `--sim` prints the doc's table of `sim` alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from operator import itemgetter
from pathlib import Path
from typing import Any

LEVELS = ('tools', 'steps', 'strict')
COUNTS = ('runs', 'tools', 'steps', 'strict', 'pass', 'path', 'tok in', 'tok out', 'req', 'err')
"""The cells a replay of the recording must give back exactly (latency is the live sitting's own)."""


def _share(rate: dict[str, Any] | None) -> str:
    return '-' if rate is None else f'{rate["successes"]}/{rate["n"]}'


def _seconds(value: float | None) -> str:
    return '-' if value is None else f'{value:.0f}s'


def load(path: Path) -> dict[str, Any]:
    """A JSON report, or exit with a message naming the file."""
    try:
        report = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as exc:
        raise SystemExit(f'{path}: not a readable JSON report ({exc})') from None
    if not isinstance(report, dict) or not isinstance(report.get('architectures'), list):
        raise SystemExit(f'{path}: not a pytest-agentarch JSON report (no "architectures" list)')
    return report


def check_complete(path: Path, report: dict[str, Any]) -> None:
    """Exit with a message unless every architecture of a live report ran every run of every item: a row is added
    when its cell is complete (the measurement script's own test of a cell, plus the items' runs)."""
    problems = []
    if report.get('not_run') or report.get('stopped_by'):
        problems.append(f'the session stopped early ({report.get("stopped_by") or "items not run"})')
    for entry in report['architectures']:
        summary = entry['summary']
        expected = len(entry['cases']) * report['runs_per_case']
        if summary['runs'] != expected or summary['infra']:
            problems.append(
                f'{summary["architecture"]}: {summary["runs"]} of {expected} runs, {summary["infra"]} left out as '
                'infrastructure failures'
            )
    if problems:
        raise SystemExit(
            f'{path}: an incomplete cell ({"; ".join(problems)}); leave it out until the measurement completes it '
            '(scripts/local-llm-measure.sh resumes it)'
        )


def summaries(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Architecture name -> its summary, from every report given (a later report of one architecture wins)."""
    return {entry['summary']['architecture']: entry['summary'] for r in reports for entry in r['architectures']}


def items(reports: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Architecture name -> the node ids of its items, sorted (a later report of one architecture wins)."""
    return {
        entry['summary']['architecture']: sorted(case['nodeid'] for case in entry['cases'])
        for r in reports
        for entry in r['architectures']
    }


def counts(summary: dict[str, Any]) -> dict[str, str]:
    """The cells of a row that a replay reproduces, formatted as the doc shows them."""
    levels = summary['determinism_by_level']
    return {
        'runs': str(summary['runs']),
        **{level: _share(levels[level]) for level in LEVELS},
        'pass': _share(summary['pass_rate']),
        'path': _share(summary.get('path_conformance')),
        'tok in': f'{summary["input_tokens"]:.0f}',
        'tok out': f'{summary["output_tokens"]:.0f}',
        'req': f'{summary["requests"]:.1f}',
        'err': str(summary['errors']),
    }


def recorded_latency(summary: dict[str, Any]) -> str:
    """The `rec p50 / p95` cell of a replay's summary; `unknown` when the recording stored no durations."""
    if summary.get('recorded_latency_p50') is None:
        return 'unknown'
    return f'{_seconds(summary["recorded_latency_p50"])} / {_seconds(summary["recorded_latency_p95"])}'


def _temperature(report: dict[str, Any]) -> Any:
    settings = report.get('metadata', {}).get('options', {}).get('model_settings') or {}
    return settings.get('temperature')


def check_same_cells(real: list[dict[str, Any]], other: dict[str, Any], what: str) -> None:
    """Exit with a message unless `other` ran every real architecture on the same items, runs, seed and temperature."""
    problems = []
    for key, of in (
        ('runs_per_case', itemgetter('runs_per_case')),
        ('seed', itemgetter('seed')),
        ('temperature', _temperature),
    ):
        theirs, ours = of(other), sorted({of(r) for r in real}, key=str)
        if ours != [theirs]:
            problems.append(f'{key} {theirs} (the real reports: {ours})')
    their_items = items([other])
    for name, nodeids in items(real).items():
        if their_items.get(name) != nodeids:
            problems.append(f'{name}: items {their_items.get(name)} (the real report: {nodeids})')
    if problems:
        raise SystemExit(f'the {what} report is not of the same cells as the real ones: ' + '; '.join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('reports', nargs='*', type=Path, help="the live sessions' JSON reports")
    parser.add_argument('--replay', type=Path, help='JSON report of the recording replayed (adds rec p50 / p95)')
    parser.add_argument('--sim', type=Path, help='JSON report of the same items on sim')
    args = parser.parse_args(argv)
    if not args.reports and args.sim is None:
        parser.error('give the real reports, or --sim alone for the table of sim')
    if not args.reports and args.replay is not None:
        parser.error('--replay is checked against the real reports: give them too')
    sim_report = load(args.sim) if args.sim is not None else None
    if not args.reports:
        assert sim_report is not None
        print('| ' + ' | '.join(('architecture', *COUNTS)) + ' |')
        print('|' + ' --- |' * (len(COUNTS) + 1))
        for name, summary in sorted(summaries([sim_report]).items()):
            print('| ' + ' | '.join((name, *counts(summary).values())) + ' |')
        return 0
    real_reports = [load(path) for path in args.reports]
    for path, report in zip(args.reports, real_reports, strict=True):
        check_complete(path, report)
    real = summaries(real_reports)
    replayed: dict[str, dict[str, Any]] = {}
    if args.replay is not None:
        replay_report = load(args.replay)
        check_same_cells(real_reports, replay_report, 'replay')
        replayed = summaries([replay_report])
        differ = [
            f'{name} {cell}: live {live}, replayed {counts(replayed[name])[cell]}'
            for name in sorted(real)
            for cell, live in counts(real[name]).items()
            if counts(replayed[name])[cell] != live
        ]
        if differ:
            raise SystemExit('the replay does not give back the live counts: ' + '; '.join(differ))
    sim: dict[str, dict[str, Any]] = {}
    if sim_report is not None:
        check_same_cells(real_reports, sim_report, 'sim')
        sim = summaries([sim_report])
    header = ['architecture', *COUNTS[:-1], 'p50 / p95', *(['rec p50 / p95'] if replayed else []), 'err']
    if sim:
        header += ['sim steps', 'sim pass']
    print('| ' + ' | '.join(header) + ' |')
    print('|' + ' --- |' * len(header))
    for name, summary in sorted(real.items()):
        cells = counts(summary)
        row = [name, *(cells[c] for c in COUNTS[:-1])]
        row.append(f'{_seconds(summary["latency_p50"])} / {_seconds(summary["latency_p95"])}')
        if replayed:
            row.append(recorded_latency(replayed[name]))
        row.append(cells['err'])
        if sim:
            row += [_share(sim[name]['determinism_by_level']['steps']), _share(sim[name]['pass_rate'])]
        print('| ' + ' | '.join(row) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
