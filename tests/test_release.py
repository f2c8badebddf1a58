"""The release artefact works on its own: the wheel `python -m build` makes, installed into a fresh venv with nothing
of this checkout on the path, carries its data files and runs the quick start's project as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

from conftest import InstalledWheel

ROOT = Path(__file__).parent.parent
QUICKSTART = (ROOT / 'docs' / 'quickstart.md').read_text(encoding='utf-8')
BLOCKS = re.findall(r'```(\w+)\n(.*?)```', QUICKSTART, re.S)

TOOLS = '''
def get_weather(city: str) -> dict:
    """Current weather of a city."""
    return {'city': city, 'sky': 'clear', 'temperature_c': 3}


def get_forecast(city: str, days: int = 3) -> dict:
    """Forecast of a city for the next days."""
    return {'city': city, 'days': days, 'sky': 'snow'}
'''


def block(language: str, marker: str) -> str:
    (found,) = [text for lang, text in BLOCKS if lang == language and marker in text]
    return found


def run(*args: str | Path, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{args}: {result.stdout[-3000:]}{result.stderr[-3000:]}'
    return result


def test_the_wheel_carries_its_data_files(installed_wheel: InstalledWheel) -> None:
    names = set(zipfile.ZipFile(installed_wheel.wheel).namelist())
    templates = sorted(p.name for p in (ROOT / 'src/pytest_agentarch/backends/chat_templates').glob('*.jinja'))
    assert templates, 'the local backend ships at least one chat template'
    assert {f'pytest_agentarch/backends/chat_templates/{name}' for name in templates} <= names
    assert {'pytest_agentarch/py.typed', 'pytest_agentarch/reports/schema.json'} <= names
    assert not [n for n in names if '__pycache__' in n or n.startswith(('tests/', 'architectures/', 'evals/'))]


def test_the_installed_wheel_runs_the_quickstart_project(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    venv, python = installed_wheel.venv, installed_wheel.python

    project = tmp_path / 'project'
    (project / 'myapp').mkdir(parents=True)
    (project / 'myapp' / '__init__.py').write_text('')
    (project / 'myapp' / 'tools.py').write_text(TOOLS)
    (project / 'conftest.py').write_text(block('python', '# conftest.py'))
    (project / 'evals').mkdir()
    (project / 'evals' / 'weather.yaml').write_text(block('yaml', '# evals/weather.yaml'))
    (project / 'test_stable.py').write_text(block('python', 'def test_stable(arch)'))
    (project / 'pyproject.toml').write_text(block('toml', 'agentarch_datasets') + 'pythonpath = ["."]\n')

    session = run(
        python, '-m', 'pytest', '--runs', '3', '-p', 'no:cacheprovider', '--agentarch-json', 'report.json', cwd=project
    )
    assert '4 passed' in session.stdout, session.stdout[-3000:]
    assert 'agentarch: architecture comparison' in session.stdout
    report = json.loads((project / 'report.json').read_text())
    assert sorted(a['summary']['architecture'] for a in report['architectures']) == ['one-agent', 'scripted']
    # Per architecture: the dataset case's 3 runs (--runs 3) and test_stable's arch.repeat(..., runs=20).
    assert [a['summary']['runs'] for a in report['architectures']] == [23, 23]

    # The package was imported from the venv, not from this checkout, and its schema is the one in the repository.
    probe = run(
        python,
        '-c',
        'import pytest_agentarch, importlib.resources as r; print(pytest_agentarch.__file__); '
        "print(r.files('pytest_agentarch.reports').joinpath('schema.json').read_text(), end='')",
        cwd=project,
    )
    location, schema = probe.stdout.split('\n', 1)
    assert Path(location).is_relative_to(venv), location
    assert schema == (ROOT / 'src/pytest_agentarch/reports/schema.json').read_text(encoding='utf-8')
    assert set(json.loads(schema)['properties']) >= set(report)
