"""scripts/real-models-table.py: the rows of docs/real-models.md from the measurement's reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / 'scripts' / 'real-models-table.py'
SELECTION = ROOT / 'recordings' / 'k8s-qwen2.5-coder-1.5b' / 'selection.txt'


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location('real_models_table', SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


table = _script()


def _rate(successes: int, n: int) -> dict[str, int]:
    return {'successes': successes, 'n': n}


def _summary(name: str, **changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        'architecture': name,
        'runs': 20,
        'determinism_by_level': {'tools': _rate(18, 20), 'steps': _rate(17, 20), 'strict': _rate(9, 20)},
        'pass_rate': _rate(11, 20),
        'path_conformance': _rate(16, 20),
        'input_tokens': 21236.4,
        'output_tokens': 638.449,
        'requests': 5.34,
        'errors': 2,
        'infra': 0,
        'latency_p50': 211.4,
        'latency_p95': 576.6,
        'recorded_latency_p50': None,
        'recorded_latency_p95': None,
    }
    return summary | changes


ITEMS = (
    'evals/k8s_anomaly.yaml::cpu_saturation_checkout',
    'evals/k8s_anomaly.yaml::cpu_throttled_quota_thumbnailer',
    'evals/k8s_anomaly.yaml::oom_limit_too_low_pdf',
    'evals/k8s_anomaly_raw.yaml::cpu_saturation_checkout',
)
"""Four items of 5 runs: the 20 runs of every summary below."""


def _report(
    path: Path,
    *summaries: dict[str, Any],
    seed: int = 0,
    runs: int = 5,
    temperature: float = 0.7,
    items: Any = ITEMS,
    stopped_by: str | None = None,
) -> Path:
    report = {
        'not_run': [],
        'stopped_by': stopped_by,
        'seed': seed,
        'runs_per_case': runs,
        'metadata': {'options': {'model_settings': {'temperature': temperature, 'max_tokens': 700}}},
        'architectures': [
            {'summary': s, 'cases': [{'nodeid': f'{i}[{s["architecture"]}]'} for i in items]} for s in summaries
        ],
    }
    path.write_text(json.dumps(report), encoding='utf-8')
    return path


def _run(*args: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_a_row_per_architecture_with_its_replayed_latency_and_sim_figures(tmp_path: Path) -> None:
    live = _report(tmp_path / 'single.json', _summary('single'))
    other = _report(tmp_path / 'manual.json', _summary('manual', errors=0, latency_p50=85.0, latency_p95=241.2))
    replay = _report(
        tmp_path / 'replay.json',
        _summary('single', recorded_latency_p50=180.49, recorded_latency_p95=550.4),
        _summary('manual', errors=0, recorded_latency_p50=70.0, recorded_latency_p95=99.99),
    )
    sim = _report(
        tmp_path / 'sim.json',
        _summary('single', determinism_by_level={'steps': _rate(19, 20)}, pass_rate=_rate(15, 20)),
        _summary('manual', determinism_by_level={'steps': _rate(20, 20)}, pass_rate=_rate(15, 20)),
    )
    done = _run(live, other, '--replay', replay, '--sim', sim)
    assert done.returncode == 0, done.stderr
    header = (
        '| architecture | runs | tools | steps | strict | pass | path | tok in | tok out | req | p50 / p95 '
        '| rec p50 / p95 | err | sim steps | sim pass |'
    )
    assert done.stdout.splitlines() == [
        header,
        '|' + ' --- |' * 15,
        # Sorted by name; tokens to the unit, requests to a tenth, seconds to the second.
        '| manual | 20 | 18/20 | 17/20 | 9/20 | 11/20 | 16/20 | 21236 | 638 | 5.3 | 85s / 241s | 70s / 100s | 0 '
        '| 20/20 | 15/20 |',
        '| single | 20 | 18/20 | 17/20 | 9/20 | 11/20 | 16/20 | 21236 | 638 | 5.3 | 211s / 577s | 180s / 550s | 2 '
        '| 19/20 | 15/20 |',
    ]


def test_without_replay_or_sim_the_row_has_the_live_columns_only(tmp_path: Path) -> None:
    done = _run(_report(tmp_path / 'single.json', _summary('single', path_conformance=None)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == (
        '| single | 20 | 18/20 | 17/20 | 9/20 | 11/20 | - | 21236 | 638 | 5.3 | 211s / 577s | 2 |'
    )


def test_a_recording_without_durations_shows_its_latency_unknown(tmp_path: Path) -> None:
    live = _report(tmp_path / 'single.json', _summary('single'))
    done = _run(live, '--replay', _report(tmp_path / 'replay.json', _summary('single')))
    assert done.returncode == 0, done.stderr
    assert '| 211s / 577s | unknown | 2 |' in done.stdout


def test_a_replay_that_does_not_give_back_the_live_counts_is_refused(tmp_path: Path) -> None:
    live = _report(tmp_path / 'single.json', _summary('single'))
    # One more error and one run fewer passing: the table would fail its replay test.
    replay = _report(tmp_path / 'replay.json', _summary('single', errors=3, pass_rate=_rate(10, 20)))
    done = _run(live, '--replay', replay)
    assert done.returncode == 1 and not done.stdout
    assert 'single pass: live 11/20, replayed 10/20; single err: live 2, replayed 3' in done.stderr


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'seed': 3}, 'seed 3 (the real reports: [0])'),
        ({'runs': 20}, 'runs_per_case 20 (the real reports: [5])'),
        ({'temperature': 0.0}, 'temperature 0.0 (the real reports: [0.7])'),
        ({'items': ITEMS[1:]}, "single: items ['evals/k8s_anomaly.yaml::cpu_throttled_quota_thumbnailer[single]',"),
    ],
)
def test_sim_figures_of_other_cells_are_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    live = _report(tmp_path / 'single.json', _summary('single'))
    sim = _report(tmp_path / 'sim.json', _summary('single'), **changes)
    done = _run(live, '--sim', sim)
    assert done.returncode == 1 and not done.stdout
    assert 'the sim report is not of the same cells as the real ones' in done.stderr and message in done.stderr


@pytest.mark.parametrize(
    ('changes', 'stopped_by', 'problem'),
    [
        ({'runs': 19}, None, 'single: 19 of 20 runs, 0 left out as infrastructure failures'),
        ({'infra': 1}, None, 'single: 20 of 20 runs, 1 left out as infrastructure failures'),
        ({}, 'interrupted', 'the session stopped early (interrupted)'),
    ],
)
def test_a_report_of_an_incomplete_cell_is_refused(
    tmp_path: Path, changes: dict[str, Any], stopped_by: str | None, problem: str
) -> None:
    live = _report(tmp_path / 'single.json', _summary('single', **changes), stopped_by=stopped_by)
    done = _run(live)
    assert done.returncode == 1 and not done.stdout
    assert f'{live}: an incomplete cell ({problem}); leave it out' in done.stderr


def test_sim_alone_prints_the_table_of_sim(tmp_path: Path) -> None:
    done = _run('--sim', _report(tmp_path / 'sim.json', _summary('single'), _summary('hybrid', errors=0)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        '| architecture | runs | tools | steps | strict | pass | path | tok in | tok out | req | err |',
        '|' + ' --- |' * 11,
        '| hybrid | 20 | 18/20 | 17/20 | 9/20 | 11/20 | 16/20 | 21236 | 638 | 5.3 | 0 |',
        '| single | 20 | 18/20 | 17/20 | 9/20 | 11/20 | 16/20 | 21236 | 638 | 5.3 | 2 |',
    ]


def test_no_report_or_an_unreadable_one_is_a_usage_error(tmp_path: Path) -> None:
    done = _run()
    assert done.returncode == 2 and 'give the real reports, or --sim alone' in done.stderr
    broken = tmp_path / 'broken.json'
    broken.write_text('{"seed": 0}', encoding='utf-8')
    done = _run(broken)
    assert done.returncode == 1 and f'{broken}: not a pytest-agentarch JSON report' in done.stderr


def test_a_recorded_session_and_its_replay_make_a_row(tmp_path: Path) -> None:
    """The measurement's own path on `sim`: record the selected items, replay the recording, print the row."""
    session = [sys.executable, '-m', 'pytest', f'@{SELECTION}', '--arch', 'manual', '--runs', '2', '-n', '0', '-q']
    session += ['-p', 'no:cacheprovider', '--agentarch-model-settings', 'temperature=0.7,max_tokens=700']
    live, replay = tmp_path / 'live.json', tmp_path / 'replay.json'
    recorded = subprocess.run(
        [*session, '--agentarch-record', str(tmp_path / 'rec'), '--agentarch-json', str(live)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert recorded.returncode in (0, 1) and live.exists(), recorded.stdout[-2000:]
    replayed = subprocess.run(
        [*session, '--agentarch-replay', str(tmp_path / 'rec'), '--agentarch-json', str(replay)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert replayed.returncode in (0, 1) and replay.exists(), replayed.stdout[-2000:]
    done = _run(live, '--replay', replay)
    assert done.returncode == 0, done.stderr
    cells = [c.strip() for c in done.stdout.splitlines()[2].strip('|').split('|')]
    # Four items (two datasets) of 2 runs; `manual` makes 2 requests a run on `sim`.
    assert cells[:2] == ['manual', '8'] and cells[9] == '2.0'
    assert cells[11] != 'unknown' and cells[11].endswith('s')  # the recording stores each exchange's duration
