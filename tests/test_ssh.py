"""xdist workers over SSH (`--tx ssh=...`), end to end: a real sshd on 127.0.0.1 with a host key and a client key this
test makes, and a second virtualenv as the remote interpreter. The session's records, gates, exit status and report
equal those of the same session under `-n 2`; and a session whose remote workers would share limits through files on
this machine is refused before any run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_examples import project
from test_shards import TIMING

ROOT = Path(__file__).parent.parent
SSHD = shutil.which('sshd') or ('/usr/sbin/sshd' if Path('/usr/sbin/sshd').exists() else None)
SLICE = [
    '--arch', 'single,manual', '--runs', '3', '-k', '(crash_loop_ledger or healthy_pod) and not k8s_anomaly_raw',
    '--agentarch-model-settings', 'temperature=1.2', '--min-determinism', '0.9',
    '-p', 'no:cacheprovider', '-p', 'no:randomly', '-q',
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope='module')
def ssh_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An sshd on 127.0.0.1 that lets this user in with a fresh key; an ssh_config naming it `agentarch-remote`; and a
    second virtualenv whose interpreter sees this environment's packages (the remote interpreter)."""
    if SSHD is None or shutil.which('ssh') is None or shutil.which('ssh-keygen') is None:
        pytest.skip('sshd and ssh are not installed (Debian: apt-get install -y openssh-server openssh-client)')
    home = tmp_path_factory.mktemp('ssh')
    for name in ('host_key', 'client_key'):
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(home / name)], check=True)
    (home / 'authorized_keys').write_text((home / 'client_key.pub').read_text())
    os.chmod(home / 'authorized_keys', 0o600)
    port = _free_port()
    (home / 'sshd_config').write_text(
        f'Port {port}\nListenAddress 127.0.0.1\nHostKey {home / "host_key"}\nPidFile {home / "sshd.pid"}\n'
        f'AuthorizedKeysFile {home / "authorized_keys"}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n'
        'PubkeyAuthentication yes\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n'
    )
    (home / 'ssh_config').write_text(
        f'Host agentarch-remote\n  HostName 127.0.0.1\n  Port {port}\n  User {os.environ.get("USER") or "root"}\n'
        f'  IdentityFile {home / "client_key"}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n'
        '  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n'
    )
    try:
        Path('/run/sshd').mkdir(exist_ok=True)  # sshd's privilege-separation directory
    except PermissionError:
        pytest.skip('sshd needs /run/sshd, which this user cannot create (run as root, or create it once)')
    daemon = subprocess.Popen([SSHD, '-D', '-e', '-f', str(home / 'sshd_config')], stderr=subprocess.PIPE, text=True)
    venv = home / 'remote-venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    (site,) = (venv / 'lib').glob('python3*/site-packages')
    # The remote interpreter is a virtualenv of its own; a .pth line makes this environment's packages (and its
    # editable install of the project) importable there, as an install of the same versions would.
    same = f'import site; site.addsitedir({sysconfig.get_paths()["purelib"]!r})\n'
    (site / 'agentarch_same_environment.pth').write_text(same)
    try:
        deadline = time.monotonic() + 20
        while True:
            probe = subprocess.run(
                ['ssh', '-F', str(home / 'ssh_config'), 'agentarch-remote',
                 shlex.join([str(venv / 'bin' / 'python'), '-c', 'import pytest_agentarch, xdist; print("ok")'])],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            if probe.stdout.strip() == 'ok':
                break
            if time.monotonic() > deadline or daemon.poll() is not None:
                pytest.fail(f'sshd on 127.0.0.1:{port} did not let the test in: {probe.stderr}')
            time.sleep(0.2)
        yield {'config': str(home / 'ssh_config'), 'python': str(venv / 'bin' / 'python')}
    finally:
        daemon.terminate()
        daemon.communicate(timeout=10)


def xdist_project(tmp_path: Path) -> Path:
    """A copy of the main job without its `-n auto` (which replaces every `--tx` with local workers)."""
    where = project(tmp_path)
    pyproject = where / 'pyproject.toml'
    lines = pyproject.read_text().splitlines()
    pyproject.write_text('\n'.join(line for line in lines if not line.startswith('addopts')) + '\n')
    return where


def _session(where: Path, json_name: str, *extra: str) -> int:
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', *SLICE, '--agentarch-json', json_name, *extra],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert (where / json_name).exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done.returncode


def _comparable(path: Path) -> Any:
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in TIMING}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    report = json.loads(path.read_text())
    report['metadata']['options'].pop('json')
    return strip(report)


def test_workers_over_ssh_give_the_report_of_two_local_workers(ssh_host: dict[str, str], tmp_path: Path) -> None:
    where = xdist_project(tmp_path)
    local = _session(where, 'local.json', '-n', '2')
    spec = f'ssh=agentarch-remote//ssh_config={ssh_host["config"]}//python={ssh_host["python"]}//chdir={where}'
    remote = _session(where, 'remote.json', '-p', 'xdist', '--dist', 'load', '--tx', f'2*{spec}')
    assert local == remote == 1, 'the gate (0.9 determinism at temperature 1.2) is missed the same way in both'
    assert _comparable(where / 'remote.json') == _comparable(where / 'local.json')
    report = json.loads((where / 'remote.json').read_text())
    assert sum(len(c['run_results']) for a in report['architectures'] for c in a['cases']) == 12
    assert report['gate_misses']


def test_remote_workers_with_limits_on_files_are_refused_before_any_run(tmp_path: Path) -> None:
    # No sshd needed: the refusal comes before xdist opens any gateway.
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '--arch', 'single', '-p', 'no:cacheprovider', '-p', 'xdist',
         '--tx', 'ssh=nobody@192.0.2.1//python=python3', '--agentarch-rpm', '60'],
        cwd=xdist_project(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        'xdist workers on other machines (ssh=nobody@192.0.2.1//python=python3) cannot share limits and budgets kept '
        'in files on this one: pass --agentarch-store redis://HOST:PORT/DB'
    ) in done.stderr
