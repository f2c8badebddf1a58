"""The real-model table of docs/real-models.md, reproduced offline from the shipped recording.

The doc's tables come from the live measurement's own reports (`scripts/local-llm-measure.sh`, then
`scripts/real-models-table.py`). Each table is preceded by a marker naming its recording and runs; this test replays
every architecture a table lists, exactly as the README shows ("the same comparison on a real LLM, replayed"), and
checks every count of its row: runs, determinism at the three levels, pass rate, mean tokens and requests, errors.
No model, no server, no weights: every answer comes from the recording.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOC = ROOT / 'docs' / 'real-models.md'
MARKER = re.compile(r'<!-- replay (?P<dir>\S+) temperature=(?P<t>[0-9.]+) runs=(?P<runs>\d+) -->')
SELECTION = 'cpu_saturation_checkout or (healthy_node and not ambiguous)'
MODEL = 'llamacpp:qwen2.5-coder-1.5b'


def tables() -> list[tuple[str, str, int, list[dict[str, str]]]]:
    """(recording dir, temperature, runs, rows as column -> cell) for every marked table of the doc."""
    found = []
    lines = DOC.read_text(encoding='utf-8').splitlines()
    for i, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        header = [cell.strip() for cell in lines[i + 1].strip().strip('|').split('|')]
        rows = []
        for body in lines[i + 3 :]:
            if not body.startswith('|'):
                break
            rows.append(dict(zip(header, (cell.strip() for cell in body.strip().strip('|').split('|')), strict=True)))
        found.append((marker['dir'], marker['t'], int(marker['runs']), rows))
    return found


TABLES = tables()


def test_the_doc_holds_replayable_tables() -> None:
    assert TABLES, f'{DOC} has no table marked for replay'
    for directory, _, _, rows in TABLES:
        assert (ROOT / directory).is_dir(), directory
        assert rows, f'the table of {directory} has no rows'


def _share(rate: dict[str, int]) -> str:
    return f'{rate["successes"]}/{rate["n"]}'


@pytest.mark.parametrize(('directory', 'temperature', 'runs', 'rows'), TABLES, ids=[t[0] for t in TABLES])
def test_the_replay_reproduces_the_documented_real_model_table(
    tmp_path: Path, directory: str, temperature: str, runs: int, rows: list[dict[str, str]]
) -> None:
    archs = [row['architecture'] for row in rows]
    report_path = tmp_path / 'replay.json'
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'pytest',
            'evals/k8s_anomaly.yaml',
            '-k',
            SELECTION,
            '--arch',
            ','.join(archs),
            '--runs',
            str(runs),
            '--agentarch-model',
            MODEL,
            '--agentarch-model-settings',
            f'temperature={temperature},max_tokens=700',
            '--agentarch-replay',
            directory,
            '--agentarch-json',
            str(report_path),
            '-p',
            'no:cacheprovider',
            '-q',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # exit 1 is a finding (runs that failed their evaluators), not a broken replay
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert 'ReplayMissError' not in result.stdout, result.stdout[-3000:]
    report = json.loads(report_path.read_text())
    assert report['total']['requests'] > 0
    got = {entry['summary']['architecture']: entry['summary'] for entry in report['architectures']}
    # Recorded in format version 1, which stored no durations: the model's latency is unknown, never the replay's own.
    assert 'rec p50' in result.stdout and 'unknown' in result.stdout
    assert all(s['recorded_latency_p50'] is None and s['latency_p50'] is not None for s in got.values())
    for row in rows:
        summary = got[row['architecture']]
        levels = summary['determinism_by_level']
        assert {
            'runs': str(summary['runs']),
            'tools': _share(levels['tools']),
            'steps': _share(levels['steps']),
            'strict': _share(levels['strict']),
            'pass': _share(summary['pass_rate']),
            'path': _share(summary['path_conformance']),
            'tok in': f'{summary["input_tokens"]:.0f}',
            'tok out': f'{summary["output_tokens"]:.0f}',
            'req': f'{summary["requests"]:.1f}',
            'err': str(summary['errors']),
        } == {
            key: row[key]
            for key in ('runs', 'tools', 'steps', 'strict', 'pass', 'path', 'tok in', 'tok out', 'req', 'err')
        }
