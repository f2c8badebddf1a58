"""The README's quick start, run exactly as written: a wheel built from the repository, installed into a fresh
virtual environment (no editable install, no repository on the path), the files and the command the README shows,
and the output it shows (timings aside)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import zipfile
from pathlib import Path

from conftest import InstalledWheel

ROOT = Path(__file__).parent.parent
README = (ROOT / 'README.md').read_text(encoding='utf-8')

_BLOCK = r'<!-- quickstart:{what} -->\n```\w*\n(.*?)```'


def quick_start() -> tuple[dict[str, str], str, list[str]]:
    """The quick start's files (path -> text), its command and its output lines, read from the README's markers."""
    files = dict(re.findall(r'<!-- quickstart:file (\S+) -->\n```\w*\n(.*?)```', README, re.S))
    (command,) = re.findall(_BLOCK.format(what='command'), README, re.S)
    (output,) = re.findall(_BLOCK.format(what='output'), README, re.S)
    return files, command.strip(), output.strip().splitlines()


def test_the_quick_start_is_on_the_first_screen_and_complete() -> None:
    files, command, output = quick_start()
    assert set(files) == {'conftest.py', 'evals/bank.yaml', 'pytest.ini'}
    assert command == 'pytest --arch all --runs 10'
    # Within the first screen: the install line and the quick start come before anything about the reference suite.
    first = README.index('pip install pytest-agentarch')
    assert first < README.index('<!-- quickstart:file conftest.py -->') < README.index('## The reference suite')
    assert 'git+<' not in README
    assert 'pip install -e path/to' not in README
    assert README[: README.index('## What it measures')].count('\n') < 110
    assert any(line.startswith('one-agent ') for line in output)


def _row(line: str) -> list[str]:
    """A summary row's cells that do not depend on timing (all but p50, p95 and peak memory)."""
    return line.split()[:-3]


def test_the_quick_start_runs_as_written_from_a_wheel_in_a_fresh_venv(
    installed_wheel: InstalledWheel, tmp_path: Path
) -> None:
    with zipfile.ZipFile(installed_wheel.wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith('.dist-info/entry_points.txt'))).decode()
    assert 'pytest_agentarch/py.typed' in names
    assert re.search(r'^Requires-Dist: pytest-xdist[<>=!, .0-9]*$', metadata, re.M), 'pytest-xdist is a dependency'
    assert 'agentarch = pytest_agentarch.plugin.hooks' in entry_points
    assert 'agentarch = pytest_agentarch.cli:main' in entry_points
    venv = installed_wheel.venv

    files, command, expected = quick_start()
    project = tmp_path / 'project'
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding='utf-8')
    args = shlex.split(command)
    assert args[0] == 'pytest'
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'PYTEST', 'VIRTUAL_ENV'))}
    env['PATH'] = f'{venv / "bin"}{os.pathsep}{env.get("PATH", "")}'
    done = subprocess.run(
        [str(venv / 'bin' / 'pytest'), *args[1:]], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    got = done.stdout.strip().splitlines()
    assert expected[0] in got, 'the header line'
    start = got.index(expected[0])
    for want, line in zip(expected[1:-1], got[start + 1 :], strict=False):
        # Column widths follow the timings' text: cells are compared, not spacing.
        if want.startswith(('one-agent', 'scripted')):
            assert _row(line) == _row(want)
        elif not want.startswith('---'):
            assert line.split() == want.split()
    assert re.fullmatch(r'=+ 2 passed in [0-9.]+s =+', got[-1]), got[-1]
    assert re.fullmatch(r'=+ 2 passed in [0-9.]+s =+', expected[-1])
