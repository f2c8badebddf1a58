"""The CI gate of docs/ci-gates.md, run as written at the repository root on a slice of its items: a perfectly
deterministic architecture passes it (a gate that cannot be met would be a usage error, exit 4)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CI_GATES = (ROOT / 'docs' / 'ci-gates.md').read_text(encoding='utf-8')


def ci_gate_command() -> list[str]:
    section = CI_GATES.split('# A CI gate', 1)[1]
    (block,) = re.findall(r'```bash\n(.*?)```', section, re.S)[:1]
    words = shlex.split(block.replace('\\\n', ' '))
    assert words[0] == 'pytest', block
    return words[1:]


# One case of each dataset, evals/k8s_anomaly.yaml and evals/k8s_anomaly_batch.yaml. The command's options (gates,
# runs, the check that the gates can be met at that many runs) act on each item alike, and every case passes with one
# trajectory at temperature 0 (tests/test_architectures.py), so two items prove what all 40 would at a twentieth of
# the runs; the test below checks that the command as written collects all 40.
SLICE = ('-k', 'crash_loop_ledger or batch_node_disk_harms_pod')


def test_the_readme_ci_gate_command_collects_every_case_of_both_datasets() -> None:
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', *ci_gate_command(), '-p', 'no:cacheprovider', '--collect-only', '-q'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    items = [line for line in result.stdout.splitlines() if line.endswith('[workflow]')]
    # 38 cases in evals/k8s_anomaly.yaml and 2 in evals/k8s_anomaly_batch.yaml, on the one architecture named.
    assert len(items) == 40
    assert sum(i.startswith('evals/k8s_anomaly_batch.yaml::') for i in items) == 2


def test_the_readme_ci_gate_passes_on_a_deterministic_architecture(tmp_path: Path) -> None:
    args = ci_gate_command()
    json_at = args.index('--agentarch-json') + 1
    args[json_at] = str(tmp_path / 'report.json')  # the same option; the file lands outside the work tree
    # In one process (`-n 0` after the command's own options): two items would keep the repository's two xdist
    # workers busy for less than it takes to start them, and the report is the same either way
    # (tests/test_plugin.py compares one whole).
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', *args, *SLICE, '-n', '0', '-p', 'no:cacheprovider', '-q'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    assert [a['summary']['architecture'] for a in report['architectures']] == ['workflow']
    for arch in report['architectures']:
        assert len(arch['cases']) == 2
        assert arch['summary']['runs'] == 2 * 40  # crash_loop_ledger and one batch case, 40 runs each
        assert arch['summary']['determinism']['value'] == 1.0
        assert arch['summary']['pass_rate']['value'] == 1.0
    assert report['gate_misses'] == []
