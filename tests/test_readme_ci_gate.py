"""The CI gate of docs/ci-gates.md, run exactly as written at the repository root: a perfectly deterministic
architecture passes it (a gate that cannot be met would be a usage error, exit 4)."""

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


def test_the_readme_ci_gate_passes_on_a_deterministic_architecture(tmp_path: Path) -> None:
    args = ci_gate_command()
    json_at = args.index('--agentarch-json') + 1
    args[json_at] = str(tmp_path / 'report.json')  # the same option; the file lands outside the work tree
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', *args, '-p', 'no:cacheprovider', '-q'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    assert [a['summary']['architecture'] for a in report['architectures']] == ['workflow']
    for arch in report['architectures']:
        assert arch['summary']['runs'] == 29 * 40  # 27 cases and 2 batch cases
        assert arch['summary']['determinism']['value'] == 1.0
        assert arch['summary']['pass_rate']['value'] == 1.0
    assert report['gate_misses'] == []
