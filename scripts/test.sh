#!/usr/bin/env bash
# The project's checks: lint, format, strict type check of the package, the documentation site (mkdocs --strict), the
# release check (build, twine check, the wheel's contents), the compatibility jobs at both ends of the supported
# versions (scripts/compat.sh; AGENTARCH_COMPAT=skip leaves them to a CI matrix), then the tests (no network:
# simulated model, FunctionModel, TestModel only).
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
bash scripts/docs.sh
bash scripts/release-check.sh
if [ "${AGENTARCH_COMPAT:-run}" != skip ]; then
    bash scripts/compat.sh
fi
exec .venv/bin/pytest tests "$@"
