"""Same seed, same trajectories, whatever the scheduling.

A run's trajectory may depend only on the session seed, the case, the architecture and the run index: never on
timing, load, how many runs share the event loop, which xdist worker ran the item, what ran before it in the
process, or Python's salted string hashes. These tests run a sample of the reference K8s suite in real pytest
sessions at the repository root, under deliberately different scheduling, and require the identical trajectory
for every (architecture, case, run index) in all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

# Two architectures the model is free in (a coordinator delegating to sub-agents, one agent with every tool) and two
# cases, a pod and a node, where each of the four items takes two or three trajectories in its first 6 runs (seed 0):
# the sample exercises the model's sampling, not a fixed workflow. 4 items x 6 runs, about 160 model requests.
ARCHITECTURES = ('delegation', 'single')
CASES = ('crash_loop_ledger', 'ambiguous_anything_wrong_with_healthy_node')
RUNS = 6
SELECTION = f'({" or ".join(CASES)}) and ({" or ".join(ARCHITECTURES)})'
ITEMS = [f'{case}[{arch}]' for case in CASES for arch in ARCHITECTURES]

Trajectories = dict[tuple[str, str, int], str]

SCHEDULES: dict[str, list[str]] = {
    # Runs one after another in one process: nothing overlaps.
    'serial': ['-n', '0', '--agentarch-concurrency', '1'],
    # Two xdist workers and every run of a case in flight at once: items land on workers by timing.
    'xdist': ['-n', '2', '--agentarch-concurrency', '20'],
    # Every model request waits a random extra 0..20 ms (an OS-seeded generator): completion order is shuffled.
    'jitter': ['-n', '0', '--agentarch-concurrency', '20', '--agentarch-model', 'sim:jitter=0.02'],
}
"""Session-wide schedules; the fourth schedule runs each item alone in a fresh process (`alone[...]`)."""


def _command(json_path: Path, extra: list[str], selection: str) -> list[str]:
    return [
        sys.executable,
        '-m',
        'pytest',
        'evals/k8s_anomaly.yaml',
        '--arch',
        ','.join(ARCHITECTURES),
        '--runs',
        str(RUNS),
        '-k',
        selection,
        '-p',
        'no:cacheprovider',
        '-q',
        '--agentarch-json',
        str(json_path),
        # Well above 0 so that 6 runs of every item differ (sim's choices spread continuously with temperature).
        '--agentarch-model-settings',
        'temperature=1.2',
        *extra,
    ]


def _trajectories(report: dict[str, object]) -> Trajectories:
    """(architecture, case, run index) -> the trajectory string of the variant that run took."""
    found: Trajectories = {}
    for arch in report['architectures']:  # type: ignore[union-attr]
        for case in arch['cases']:  # type: ignore[index]
            variants = case['variants']
            for run in case['run_results']:
                assert run['variant'] is not None, f'{case["nodeid"]} run {run["index"]} has no trajectory'
                found[(case['architecture'], case['case'], run['index'])] = variants[run['variant']]['trajectory']
    return found


@pytest.fixture(scope='module')
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trajectories]:
    """Every schedule's trajectories, from sessions started together (they also load each other's CPU)."""
    tmp = tmp_path_factory.mktemp('reproducibility')
    jobs: dict[str, list[str]] = {
        name: _command(tmp / f'{name}.json', extra, SELECTION) for name, extra in SCHEDULES.items()
    }
    for item in ITEMS:
        case, arch = item[:-1].split('[')
        jobs[f'alone[{item}]'] = _command(tmp / f'alone-{case}-{arch}.json', ['-n', '0'], f'{case} and {arch}')
    processes: dict[str, subprocess.Popen[str]] = {}
    for index, (name, command) in enumerate(jobs.items()):
        # A different hash salt per session: string hashing (set iteration order) must not matter either.
        env = {**os.environ, 'PYTHONHASHSEED': str(index + 1)}
        processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    results: dict[str, Trajectories] = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f'{name} session failed:\n{output[-3000:]}'
        path = Path(jobs[name][jobs[name].index('--agentarch-json') + 1])
        results[name] = _trajectories(json.loads(path.read_text(encoding='utf-8')))
    alone: Trajectories = {}
    for name in [n for n in results if n.startswith('alone[')]:
        alone.update(results.pop(name))
    results['alone'] = alone
    return results


def test_every_schedule_ran_the_whole_sample(sessions: dict[str, Trajectories]) -> None:
    expected = {(arch, case, index) for case in CASES for arch in ARCHITECTURES for index in range(RUNS)}
    for name, trajectories in sessions.items():
        assert set(trajectories) == expected, name


def test_the_sample_varies(sessions: dict[str, Trajectories]) -> None:
    """Otherwise agreeing across schedules would prove nothing: every item takes at least two trajectories."""
    serial = sessions['serial']
    for case in CASES:
        for arch in ARCHITECTURES:
            distinct = {serial[(arch, case, i)] for i in range(RUNS)}
            assert len(distinct) >= 2, f'{case}[{arch}] took one trajectory in all {RUNS} runs'


def test_every_run_takes_the_same_trajectory_under_every_schedule(sessions: dict[str, Trajectories]) -> None:
    reference = sessions['serial']
    differences: Counter[str] = Counter()
    lines: list[str] = []
    for name, other in sessions.items():
        for arch, case, index in sorted(reference):
            expected, got = reference[(arch, case, index)], other[(arch, case, index)]
            if got != expected:
                differences[f'{case}[{arch}] under {name}'] += 1
                lines.append(f'{case}[{arch}] run {index}:\n  serial {expected}\n  {name} {got}')
    assert not differences, f'runs that differ: {dict(differences)}\n' + '\n'.join(lines)
