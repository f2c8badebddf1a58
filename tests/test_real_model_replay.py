"""The real-model table of docs/real-models.md, reproduced offline from the shipped recording.

The doc's rows come from the live measurement's own reports (`scripts/local-llm-measure.sh`, then
`scripts/real-models-table.py`). The table is preceded by a marker naming its recording, temperature and runs; this
test replays every architecture the table lists, exactly as the doc shows, over the items the measurement selected
(`recordings/k8s-qwen2.5-coder-1.5b/selection.txt`, which the measurement script reads too), and checks every count of
its rows: runs, determinism at the three levels, pass rate, path conformance, mean tokens and requests, errors, the
recorded latency, and the same items on `sim`. No model, no server, no weights: every answer comes from the recording.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
DOC = ROOT / 'docs' / 'real-models.md'
MEASURE = ROOT / 'scripts' / 'local-llm-measure.sh'
SELECTION = Path('recordings') / 'k8s-qwen2.5-coder-1.5b' / 'selection.txt'
MARKER = re.compile(r'<!-- replay (?P<dir>\S+) temperature=(?P<t>[0-9.]+) runs=(?P<runs>\d+) -->')
SIM_MARKER = re.compile(r'<!-- sim temperature=(?P<t>[0-9.]+) runs=(?P<runs>\d+) seed=(?P<seed>\d+) -->')
MODEL = 'llamacpp:qwen2.5-coder-1.5b'
ITEMS = {
    'evals/k8s_anomaly.yaml::cpu_saturation_checkout',
    'evals/k8s_anomaly.yaml::cpu_throttled_quota_thumbnailer',
    'evals/k8s_anomaly.yaml::oom_limit_too_low_pdf',
    'evals/k8s_anomaly_raw.yaml::cpu_saturation_checkout',
}
"""The four items docs/real-models.md says the measurement runs (the last with the tools' assessments off)."""
QUIET = ('-n', '0', '-p', 'no:cacheprovider', '-p', 'no:randomly', '-q')
"""One process, no cache or random order of this repository's own test run, a short terminal report."""
COUNTS = ('runs', 'tools', 'steps', 'strict', 'pass', 'path', 'tok in', 'tok out', 'req', 'err')
USAGE = ('tok in', 'tok out', 'req')
"""How many of the recorded answers a run asks for, and so its tokens and recorded latency: pydantic-ai's retry rules
decide it, and they change between releases. The `manual` row's run that hit the token limit inside a tool call made
three requests on pydantic-ai 2.62 (two retries) and makes one on 2.71, which raises at once; its verdict, trajectory
and error are the same. The table is measured with the release constraints.txt pins."""


def _pinned() -> bool:
    """Whether the installed pydantic-ai is the release constraints.txt pins, the one the table was measured with."""
    pin = re.search(r'^pydantic-ai-slim==(\S+)$', (ROOT / 'constraints.txt').read_text(encoding='utf-8'), re.M)
    assert pin is not None, 'constraints.txt pins no pydantic-ai-slim'
    return metadata.version('pydantic-ai-slim') == pin[1]


def settings(temperature: str) -> str:
    """The measurement's model settings (scripts/local-llm-measure.sh); a replay is keyed by requests, not settings,
    but its report should say what was measured."""
    return f'temperature={temperature},max_tokens=700,extra_body={{"cache_prompt": false}}'


Table = tuple[str, dict[str, str], list[dict[str, str]]]


def _rows(lines: list[str], i: int) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header is line i, as column -> cell."""
    header = [cell.strip() for cell in lines[i].strip().strip('|').split('|')]
    rows = []
    for body in lines[i + 2 :]:
        if not body.startswith('|'):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in body.strip().strip('|').split('|')), strict=True)))
    return rows


def tables(marker: re.Pattern[str]) -> list[Table]:
    """(marker line, its fields, rows as column -> cell) for every table of the doc under such a marker."""
    found = []
    lines = DOC.read_text(encoding='utf-8').splitlines()
    for i, line in enumerate(lines):
        match = marker.fullmatch(line.strip())
        if match is not None:
            found.append((line.strip(), match.groupdict(), _rows(lines, i + 1)))
    return found


TABLES = tables(MARKER)


def _plan() -> list[str]:
    """The architectures the measurement script measures, in its order."""
    loop = re.search(r'^for arch in ([a-z ]+); do$', MEASURE.read_text(encoding='utf-8'), re.M)
    assert loop is not None, f'{MEASURE} has no `for arch in ...; do` loop'
    return loop[1].split()


def _names_after(label: str) -> list[str]:
    """The `names` on the doc's line starting with `**label**`."""
    line = next((s for s in DOC.read_text(encoding='utf-8').splitlines() if s.startswith(f'**{label}**')), None)
    assert line is not None, f'{DOC} has no line starting with **{label}**'
    return re.findall(r'`([a-z_]+)`', line)


def _share(rate: dict[str, int] | None) -> str:
    return '-' if rate is None else f'{rate["successes"]}/{rate["n"]}'


def counts(summary: dict[str, Any]) -> dict[str, str]:
    """A summary's cells as the doc shows them."""
    levels = summary['determinism_by_level']
    return {
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
    }


def _session(*args: str, report: Path) -> dict[str, Any]:
    """A pytest session over the measurement's items; its JSON report."""
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', f'@{SELECTION}', *args, '--agentarch-json', str(report), *QUIET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # exit 1 is a finding (runs that failed their evaluators), not a broken session
    assert done.returncode in (0, 1) and report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return {'stdout': done.stdout, 'report': json.loads(report.read_text(encoding='utf-8'))}


def test_the_measurement_and_the_replay_read_one_selection_of_the_four_items() -> None:
    script = MEASURE.read_text(encoding='utf-8')
    assert 'out=recordings/k8s-qwen2.5-coder-1.5b\n' in script and '.venv/bin/pytest "@$out/selection.txt"' in script
    # The script's count of items (a cell is complete at items x runs) and settings are those replayed here.
    assert f'\nitems={len(ITEMS)}\n' in script
    assert '"' + settings('$temperature').replace('"', '\\"') + '"' in script
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', f'@{SELECTION}', '--arch', 'manual', '--collect-only', *QUIET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    collected = {line.removesuffix('[manual]') for line in done.stdout.splitlines() if line.endswith('[manual]')}
    assert collected == ITEMS


def test_the_doc_says_which_architectures_are_measured_and_which_are_to_come() -> None:
    measured, to_come = _names_after('Measured so far:'), _names_after('Still to come:')
    assert not set(measured) & set(to_come), (measured, to_come)
    assert sorted(measured + to_come) == sorted(_plan()), 'together they are the architectures the script measures'
    assert len(TABLES) == 1, f'{DOC} should hold one table marked for replay'
    (_, _, rows) = TABLES[0]
    assert sorted(row['architecture'] for row in rows) == sorted(measured), 'the table lists the measured ones'


def test_the_doc_holds_replayable_tables() -> None:
    """Every row the table lists has its recording in the repository. A table with no row is allowed only while the
    doc says that no architecture is measured yet (the measurement takes many hours and lands cell by cell)."""
    assert TABLES, f'{DOC} has no table marked for replay'
    for marker, fields, rows in TABLES:
        if not rows:
            assert _names_after('Measured so far:') == [], (
                f'the table under {marker} in {DOC.name} is empty although the doc names measured architectures: '
                'add the rows scripts/real-models-table.py prints from the measured cells'
            )
            continue
        assert (ROOT / fields['dir']).is_dir(), (
            f'{fields["dir"]} does not exist: the recording of the table is not in the repository; copy it and its '
            'reports from the measurement (docs/real-models.md, "Adding a row")'
        )


@pytest.mark.parametrize(('marker', 'fields', 'rows'), TABLES, ids=[t[1]['dir'] for t in TABLES])
def test_the_replay_reproduces_the_documented_real_model_table(
    tmp_path: Path, marker: str, fields: dict[str, str], rows: list[dict[str, str]]
) -> None:
    if not rows:
        # Only while the doc says so (test_the_doc_holds_replayable_tables): nothing is measured, nothing to replay.
        pytest.skip(f'no architecture of {fields["dir"]} is measured yet (docs/real-models.md: "Measured so far")')
    if not (ROOT / fields['dir']).is_dir():
        pytest.fail(f'{fields["dir"]} does not exist: the table under {marker} lists rows of a recording not shipped')
    archs = [row['architecture'] for row in rows]
    assert len(set(archs)) == len(archs), f'an architecture is listed twice: {archs}'
    done = _session(
        *('--arch', ','.join(archs), '--runs', fields['runs'], '--agentarch-model', MODEL),
        *('--agentarch-model-settings', settings(fields['t']), '--agentarch-replay', fields['dir']),
        report=tmp_path / 'replay.json',
    )
    report = done['report']
    assert report['total']['requests'] > 0
    assert 'ReplayMissError' not in json.dumps(report), 'a run sent a request the recording does not hold'
    got = {entry['summary']['architecture']: entry for entry in report['architectures']}
    assert sorted(got) == sorted(archs)
    pinned = _pinned()
    for row in rows:
        entry = got[row['architecture']]
        summary = entry['summary']
        assert {case['nodeid'].removesuffix(f'[{row["architecture"]}]') for case in entry['cases']} == ITEMS
        # On another pydantic-ai release (the compatibility jobs), what the runs concluded must still replay; how many
        # answers they asked for may not (USAGE).
        compared = COUNTS if pinned else tuple(key for key in COUNTS if key not in USAGE)
        got_counts = counts(summary)
        assert {key: got_counts[key] for key in compared} == {key: row[key] for key in compared}, row['architecture']
        # Recorded in format version 2, which stores every exchange's duration: the recorded model's latency per run
        # is known, the same whatever sitting sent the requests (the live `p50 / p95` is not replayable).
        recorded = summary['recorded_latency_p50'], summary['recorded_latency_p95']
        assert None not in recorded, f'{row["architecture"]}: the recording stores no durations'
        if pinned:
            assert row['rec p50 / p95'] == f'{recorded[0]:.0f}s / {recorded[1]:.0f}s', row['architecture']
        # The sim columns are those of the doc's sim table (which test_the_sim_table_is_sim_on_the_measured_items runs).
        on_sim = {r['architecture']: r for r in tables(SIM_MARKER)[0][2]}[row['architecture']]
        assert (row['sim steps'], row['sim pass']) == (on_sim['steps'], on_sim['pass']), row['architecture']
    assert 'rec p50' in done['stdout'], 'the terminal table shows the recorded latency of a replay'


def test_the_sim_table_is_sim_on_the_measured_items(tmp_path: Path) -> None:
    found = tables(SIM_MARKER)
    assert len(found) == 1, f'{DOC} should hold one table of sim marked `<!-- sim temperature=T runs=N seed=S -->`'
    marker, fields, rows = found[0]
    assert sorted(row['architecture'] for row in rows) == sorted(_plan()), f'the table under {marker}'
    done = _session(
        *('--arch', 'all', '--runs', fields['runs'], '--agentarch-seed', fields['seed']),
        *('--agentarch-model', 'sim', '--agentarch-model-settings', settings(fields['t'])),
        report=tmp_path / 'sim.json',
    )
    sim = {entry['summary']['architecture']: entry['summary'] for entry in done['report']['architectures']}
    for row in rows:
        assert counts(sim[row['architecture']]) == {key: row[key] for key in COUNTS}, row['architecture']
