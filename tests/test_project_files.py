"""The project's files agree with each other: what CI runs, what the package declares, and what is tested.

Each of these files is read by a different tool (pip, pre-commit, GitHub Actions, PyPI); nothing else would notice
when one of them drifts from the scripts that really run.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / 'pyproject.toml').read_text(encoding='utf-8'))
PROJECT = PYPROJECT['project']


def pins(name: str) -> dict[str, Version]:
    """The exact versions a constraints file pins, by normalized name."""
    out: dict[str, Version] = {}
    for line in (ROOT / name).read_text(encoding='utf-8').splitlines():
        if line and not line.startswith('#'):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == '==', line
            out[_normalized(requirement.name)] = Version(spec.version)
    return out


def _normalized(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def test_each_lower_bound_is_the_version_the_oldest_job_installs() -> None:
    oldest = pins('constraints-oldest.txt')
    for line in PROJECT['dependencies']:
        requirement = Requirement(line)
        (minimum,) = [s.version for s in requirement.specifier if s.operator == '>=']
        name = _normalized(requirement.name)
        assert name in oldest, f'{name} has a lower bound but constraints-oldest.txt does not install it'
        assert oldest[name] == Version(minimum), (
            f'{name}: pyproject.toml says >={minimum}, constraints-oldest.txt installs {oldest[name]}'
        )


def test_the_verified_and_the_oldest_versions_are_inside_the_declared_ranges() -> None:
    for name in ('constraints.txt', 'constraints-oldest.txt'):
        pinned = pins(name)
        for line in PROJECT['dependencies']:
            requirement = Requirement(line)
            version = pinned[_normalized(requirement.name)]
            assert requirement.specifier.contains(version), f'{name}: {requirement.name} {version} not in {line}'


def test_the_classifiers_name_the_python_versions_ci_tests() -> None:
    workflow = yaml.safe_load((ROOT / '.github' / 'workflows' / 'ci.yml').read_text(encoding='utf-8'))
    tested = {step['with']['python-version'] for step in workflow['jobs']['test']['steps'] if 'with' in step}
    tested |= {entry['python'] for entry in workflow['jobs']['compat']['strategy']['matrix']['include']}
    declared = {c.rsplit(' :: ', 1)[1] for c in PROJECT['classifiers'] if re.fullmatch(r'.*:: 3\.\d+', c)}
    assert tested == declared == {'3.11', '3.12', '3.13'}
    assert PROJECT['requires-python'] == '>=3.11'


def test_ci_runs_only_the_single_script_and_its_compat_jobs_are_those_of_compat_sh() -> None:
    workflow = yaml.safe_load((ROOT / '.github' / 'workflows' / 'ci.yml').read_text(encoding='utf-8'))
    runs = [step['run'] for job in workflow['jobs'].values() for step in job['steps'] if 'run' in step]
    assert runs == ['.ci/run', '.ci/run compat ${{ matrix.job }}']
    compat = (ROOT / 'scripts' / 'compat.sh').read_text(encoding='utf-8')
    versions = dict(re.findall(r'^\s+(\w+)\) version=(3\.\d+) ;;$', compat, re.M))
    matrix = {entry['job']: entry['python'] for entry in workflow['jobs']['compat']['strategy']['matrix']['include']}
    assert matrix == versions == {'oldest': '3.11', 'newest': '3.13', 'smoke': '3.12'}
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8')
    assert 'exec bash scripts/compat.sh --require "$@"' in ci
    assert ci.rstrip().endswith('bash scripts/test.sh')


def test_pre_commit_runs_the_checks_of_the_test_script() -> None:
    config = yaml.safe_load((ROOT / '.pre-commit-config.yaml').read_text(encoding='utf-8'))
    entries = [shlex.split(hook['entry']) for repo in config['repos'] for hook in repo['hooks']]
    hooked = [[word for word in entry if word != '--force-exclude'] for entry in entries]
    script = (ROOT / 'scripts' / 'test.sh').read_text(encoding='utf-8')
    lines = [line for line in script.splitlines() if line.startswith(('.venv/bin/ruff ', '.venv/bin/mypy'))]
    # The script checks the whole tree (`ruff check .`); pre-commit passes the changed files instead of the `.`.
    checks = [[word for word in shlex.split(line) if word != '.'] for line in lines]
    assert hooked == checks


def test_the_licence_and_the_changelog_match_the_package() -> None:
    assert PROJECT['license'] == 'MIT'
    assert (ROOT / 'LICENSE').read_text(encoding='utf-8').startswith('MIT License\n')
    changelog = (ROOT / 'CHANGELOG.md').read_text(encoding='utf-8')
    headings = re.findall(r'^## (\S+)', changelog, re.M)
    assert headings[0] == 'Unreleased'
    assert PROJECT['version'] in headings, f'CHANGELOG.md has no section for version {PROJECT["version"]}'


def test_the_changelog_lists_every_agentarch_subcommand() -> None:
    import argparse

    from pytest_agentarch.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {'html', 'merge', 'recording', 'local', 'plan'}
    changelog = (ROOT / 'CHANGELOG.md').read_text(encoding='utf-8')
    listings = [line for line in changelog.splitlines() if 'command-line tool' in line and '`agentarch`' in line]
    assert listings, 'CHANGELOG.md no longer lists the `agentarch` subcommands'
    for line in listings:
        missing = [name for name in commands.choices if f'`{name}' not in line]
        assert not missing, f'CHANGELOG.md leaves out agentarch {", ".join(missing)}: {line}'
