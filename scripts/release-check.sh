#!/usr/bin/env bash
# The release check: build the sdist and the wheel into dist/ (python -m build), check their metadata and README
# rendering (twine check --strict), and check that the wheel carries what the package reads at run time: py.typed,
# the local backend's chat templates and the report's JSON Schema. tests/test_release.py installs a wheel into a
# fresh venv and runs a session from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf dist
.venv/bin/python -m build --quiet --outdir dist .
.venv/bin/twine check --strict dist/*
.venv/bin/python - dist/*.whl <<'PY'
import sys
import zipfile
from pathlib import Path

wheel = zipfile.ZipFile(sys.argv[1])
names = set(wheel.namelist())
source = Path('src/pytest_agentarch')
# Every data file of the package (not Python source) must be in the wheel.
wanted = {
    f'pytest_agentarch/{p.relative_to(source)}'
    for p in source.rglob('*')
    if p.is_file() and p.suffix in {'.typed', '.jinja', '.json'}
}
required = {'pytest_agentarch/py.typed', 'pytest_agentarch/reports/schema.json'}
missing = sorted((wanted | required) - names)
templates = [n for n in names if n.startswith('pytest_agentarch/backends/chat_templates/') and n.endswith('.jinja')]
if missing or not templates:
    sys.exit(f'release check: the wheel lacks {missing or "the chat templates"}')
entry_points = next(n for n in names if n.endswith('.dist-info/entry_points.txt'))
if 'agentarch = pytest_agentarch.plugin.hooks' not in wheel.read(entry_points).decode():
    sys.exit('release check: the wheel does not register the pytest11 entry point')
print(f'release check: {Path(sys.argv[1]).name} carries py.typed, {len(templates)} chat template(s), the report schema')
PY
