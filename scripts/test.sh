#!/usr/bin/env bash
# The project's checks: lint, format, strict type check of the package, then the tests (no network: simulated model, FunctionModel, TestModel only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest tests "$@"
