"""scripts/sim-calibration.py: which `sim` options come closest to a real model's figures on the same cells."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / 'scripts' / 'sim-calibration.py'


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location('sim_calibration', SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules['sim_calibration'] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


calibration = _script()


def test_ranking_agreement_counts_pairs_ordered_alike() -> None:
    real = {'a': 1.0, 'b': 0.5, 'c': 0.5}
    # (a, b): a above b on both; (a, c): a above c on both; (b, c): tied on the real model, b above c on sim.
    assert calibration.ranking_agreement(real, {'a': 0.9, 'b': 0.6, 'c': 0.5}) == (2, 3)
    # (a, b) and (a, c) reversed; (b, c) tied on both, which agrees.
    assert calibration.ranking_agreement(real, {'a': 0.1, 'b': 0.6, 'c': 0.6}) == (1, 3)
    # Only architectures both rate are compared.
    assert calibration.ranking_agreement(real, {'a': 0.2, 'b': 0.1}) == (1, 1)


def test_mean_abs_difference_over_shared_architectures() -> None:
    # |0.9 - 1.0| + |0.2 - 0.5| = 0.1 + 0.3, over 2 architectures; 'c' is not rated on sim.
    assert calibration.mean_abs_difference({'a': 1.0, 'b': 0.5, 'c': 0.5}, {'a': 0.9, 'b': 0.2}) == pytest.approx(0.2)


def _sim_report(path: Path, options: str) -> None:
    """A report made on `sim` the way the real measurement is made, standing in for a real model's."""
    done = subprocess.run(
        [
            *(sys.executable, '-m', 'pytest', 'evals/k8s_anomaly.yaml', '-k', 'cpu_saturation_checkout'),
            *('--arch', 'single,delegation', '--runs', '4', '-n', '0', '-q', '-p', 'no:cacheprovider'),
            *('--agentarch-model', f'sim:{options}', '--agentarch-model-settings', 'temperature=0.7'),
            *('--agentarch-json', str(path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1) and path.exists(), done.stdout[-2000:]


def test_the_options_that_made_the_figures_come_first_with_no_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / 'real.report.json'
    _sim_report(real, 'parallel=1,slip=0.2')
    # The script's own entry point, in this process (its sim sessions are still processes of their own).
    capsys.readouterr()
    status = calibration.main([str(real), '--temperatures', '0.7', '--parallel', '0.25,1', '--slip', '0,0.2'])
    out = capsys.readouterr().out
    assert status == 0, out[-2000:]
    rows = [line for line in out.splitlines() if line.startswith('| sim ')]
    names = [r.split('|')[1].strip() for r in rows]
    assert names[0] == 'sim T=0.7 parallel=1 slip=0.2'
    assert sorted(names[1:]) == [
        'sim T=0.7 parallel=0.25 slip=0',
        'sim T=0.7 parallel=0.25 slip=0.2',
        'sim T=0.7 parallel=1 slip=0',
    ]
    real_row = next(line for line in out.splitlines() if line.startswith('| real '))
    first = rows[0].split('|')
    # The same seed, cells and options reproduce the figures exactly: every cell equals the real row's.
    assert first[2:4] == real_row.split('|')[2:4]
    assert [c.strip() for c in first[4:7]] == ['1/1', '0.00', '0.00']
    # Calls batched less often, or no agent answering early, give other trajectories: every other option set differs.
    assert all(row.split('|')[2:4] != real_row.split('|')[2:4] for row in rows[1:])


def test_reports_of_different_seeds_are_refused(tmp_path: Path) -> None:
    first, second = tmp_path / 'a.json', tmp_path / 'b.json'
    first.write_text('{"seed": 0, "runs_per_case": 5, "architectures": []}')
    second.write_text('{"seed": 3, "runs_per_case": 5, "architectures": []}')
    with pytest.raises(SystemExit, match=r'different seeds \[0, 3\]'):
        calibration.load([first, second], 'steps')
