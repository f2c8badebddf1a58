#!/usr/bin/env bash
# The project's own tests (no network: simulated model, FunctionModel, TestModel only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest tests "$@"
