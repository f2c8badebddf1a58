"""Peak memory of `agentarch merge` as the number of runs grows: the merge holds every record of every shard at once.

Makes one real shard report of the main job on `sim` (`--arch manual --runs 2 --agentarch-shard 1/1`, 29 items) for
its per-run records, then writes synthetic split sessions of N runs as two shard reports: the same items, N / 29 runs
each, run i of an item a copy of that item's real record i mod 2 with its index set to i, in the shard `run_owner`
gives it. Every merge runs as its own process (`python -m pytest_agentarch merge A B -o merged.json`); its peak RSS
is read from `os.wait4`, its input from the files' sizes. Identical copies make the statistics cheap (two
trajectories an item) but take the same memory per record as distinct ones: the memory is the records'.

Usage: python benchmarks/merge_memory.py [--runs 5000 25000 100000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_agentarch.core.shards import run_owner

ROOT = Path(__file__).parent.parent


def template(directory: Path) -> dict[str, Any]:
    """A real shard report of the main job (29 items, 2 runs each)."""
    out = directory / 'template.json'
    command = [
        sys.executable, '-m', 'pytest', '-q', '-n', '0', '-p', 'no:cacheprovider', '-p', 'no:randomly',
        '--arch', 'manual', '--runs', '2', '--agentarch-shard', '1/1', '--agentarch-json', str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if not out.exists():
        raise SystemExit(f'the template session wrote no report (exit {done.returncode}):\n{done.stdout[-3000:]}')
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def write_split(base: dict[str, Any], total: int, directory: Path) -> list[Path]:
    """Two shard reports holding `total` runs over the template's items."""
    items = base['shard']['items']
    runs = max(total // len(items), 1)
    default_model = (base.get('models') or [base['model']])[0]
    paths = []
    for index in (1, 2):
        shard = copy.deepcopy({k: v for k, v in base.items() if k != 'shard'})
        shard['runs_per_case'] = runs
        if shard.get('metadata') and 'runs' in shard['metadata'].get('options', {}):
            shard['metadata']['options']['runs'] = runs
        out_items = []
        for item in items:
            owned = [
                i
                for i in range(runs)
                if run_owner(
                    dataset=item['dataset'],
                    case=item['case'],
                    architecture=item['architecture'],
                    model=item['model'] or default_model,
                    index=i,
                    count=2,
                )
                == index
            ]
            if not owned:
                continue
            records = [{**item['records'][i % len(item['records'])], 'index': i} for i in owned]
            out_items.append({**item, 'records': records, 'misses': []})
        shard['shard'] = {**base['shard'], 'index': index, 'count': 2, 'items': out_items}
        shard['missing'] = []
        path = directory / f'shard{index}-{total}.json'
        path.write_text(json.dumps(shard))
        paths.append(path)
    return paths


def merge_peak(paths: list[Path], directory: Path) -> tuple[int, float, int]:
    """(peak RSS in KiB, wall seconds, exit status) of one merge in its own process."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, '-m', 'pytest_agentarch', 'merge', *map(str, paths), '-o', str(directory / 'merged.json')],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode()
    process.stderr.close()
    if process.returncode not in (0, 1):
        raise SystemExit(f'merge failed (exit {process.returncode}): {error[-2000:]}')
    return usage.ru_maxrss, time.monotonic() - started, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, nargs='+', default=[5000, 25000, 100000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='agentarch-merge-memory-') as tmp:
        directory = Path(tmp)
        base = template(directory)
        items = len(base['shard']['items'])
        records = sum(len(i['records']) for i in base['shard']['items'])
        print(f'template: {items} items, {records} real records (main job, manual, sim)')
        print(f'{"runs":>8} {"shard JSON":>11} {"merge peak RSS":>15} {"per run":>9} {"wall":>7} exit')
        for total in args.runs:
            paths = write_split(base, total, directory)
            size = sum(p.stat().st_size for p in paths)
            peak, wall, status = merge_peak(paths, directory)
            runs = max(total // items, 1) * items
            print(
                f'{runs:>8,} {size / 2**20:>8.1f} MiB {peak / 2**10:>11.1f} MiB '
                f'{peak * 1024 / runs / 1024:>6.1f} KiB {wall:>6.1f}s {status}'
            )
            for p in paths:
                p.unlink()


if __name__ == '__main__':
    main()
