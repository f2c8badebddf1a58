#!/usr/bin/env bash
# The project's checks: lint, format, strict type check of the package, the documentation site (mkdocs --strict), the
# release check (build, twine check, the wheel's contents), the compatibility jobs at both ends of the supported
# versions (scripts/compat.sh; AGENTARCH_COMPAT=skip leaves them to a CI matrix), then the tests (no network:
# simulated model, FunctionModel, TestModel only).
# The compatibility jobs (mostly installing into their own venvs) and the docs and release builds run in the
# background while the lint, type check and tests run; their output is shown when they end, and any failure fails the
# script after the tests have run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests start a few hundred Python processes (pytester sessions, xdist workers). Where PYTHONDONTWRITEBYTECODE is
# set, each would compile the project's modules and redo pytest's assertion rewriting of every installed pytest
# plugin from source: about 4 s of CPU per process. The suite lets Python write its bytecode caches (__pycache__,
# ignored by git) so that only the first process pays.
unset PYTHONDONTWRITEBYTECODE
logs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT
background=()
start() {  # start NAME COMMAND...: run in the background, output to $logs/NAME
    local name=$1
    shift
    "$@" >"$logs/$name" 2>&1 &
    background+=("$name:$!")
}
if [ "${AGENTARCH_COMPAT:-run}" != skip ]; then
    start compat bash scripts/compat.sh
fi
bash scripts/setup.sh
start docs+release bash -c 'bash scripts/docs.sh && bash scripts/release-check.sh'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
status=0
.venv/bin/pytest tests "$@" || status=$?
for job in "${background[@]}"; do
    name=${job%%:*}
    if wait "${job##*:}"; then
        echo "--- $name: passed"
        cat "$logs/$name"
    else
        echo "--- $name: FAILED"
        cat "$logs/$name"
        [ "$status" != 0 ] || status=1
    fi
done
exit "$status"
