#!/usr/bin/env bash
# The project's checks: lint, format, strict type check of the package, then the tests (no network: simulated model, FunctionModel, TestModel only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The tests start a few hundred Python processes (pytester sessions, xdist workers). Where PYTHONDONTWRITEBYTECODE is
# set, each would compile the project's modules and redo pytest's assertion rewriting of every installed pytest
# plugin from source: about 4 s of CPU per process. The suite lets Python write its bytecode caches (__pycache__,
# ignored by git) so that only the first process pays.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest tests "$@"
