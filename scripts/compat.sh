#!/usr/bin/env bash
# Compatibility jobs: the package against the versions at both ends of its declared ranges, each in its own venv
# under .compat/ (an editable install of this checkout).
#   oldest  Python 3.11, the lower bounds of pyproject.toml (constraints-oldest.txt: pydantic-evals 2.50, ...)
#   newest  Python 3.13, the newest installable pydantic-evals and everything else (re-resolved on every run)
#   smoke   Python 3.12, the verified versions of constraints.txt: the main-job session only
# oldest and newest run the compatibility tests (the behaviour that differs between releases and what adapts to it)
# and a small main-job session; the full suite runs on the verified versions (scripts/test.sh).
#
# Usage: bash scripts/compat.sh [--require] [oldest] [newest] [smoke]    (no job named: all three)
# A job whose Python is not found (python3.X on PATH, or pyenv's) is skipped with a message, unless --require.
set -euo pipefail
cd "$(dirname "$0")/.."

require=0
jobs=()
for arg in "$@"; do
    case $arg in
        --require) require=1 ;;
        oldest | newest | smoke) jobs+=("$arg") ;;
        *) echo "compat: unknown job '$arg': name oldest, newest or smoke (or none for all three)" >&2; exit 2 ;;
    esac
done
[ ${#jobs[@]} -gt 0 ] || jobs=(oldest newest smoke)

# What the compatibility tests cover: what differs between releases (test_versions), the private names used
# (test_compat), the span-based evaluators and capture that read pydantic-ai's spans and capabilities, the report
# schema pydantic generates, and recordings: keys that are the same on every release (test_recording_versions) and
# the shipped real-model recording replayed to its documented table (test_real_model_replay; its table of `sim` is
# checked by the main suite).
TESTS=(tests/test_versions.py tests/test_compat.py tests/test_evaluators.py tests/test_capture.py
    tests/test_report_schema.py tests/test_recording_versions.py tests/test_real_model_replay.py
    -k 'not test_the_sim_table_is_sim_on_the_measured_items')
# A small main-job session: two architectures (orchestrated and single-agent) on three K8s cases, 2 runs each.
SESSION=(evals/k8s_anomaly.yaml --arch manual,single --runs 2 -n 0 -q -p no:randomly
    -k 'cpu_saturation_checkout or memory_leak or (healthy_node and not ambiguous)')

# An interpreter of that version that runs: pyenv puts shims of every version on PATH that fail unless selected.
find_python() {
    local version=$1 candidate
    for candidate in "$(command -v "python$version" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python3; do
        if [ -x "$candidate" ] && "$candidate" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$version')" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

run_job() {
    local job=$1 version venv python
    case $job in
        oldest) version=3.11 ;;
        newest) version=3.13 ;;
        smoke) version=3.12 ;;
    esac
    if ! python=$(find_python "$version"); then
        if [ "$require" = 1 ]; then
            echo "compat $job: no Python $version found (python$version on PATH or pyenv)" >&2
            return 1
        fi
        echo "compat $job: skipped, no Python $version found (python$version on PATH or pyenv)" >&2
        return 0
    fi
    venv=.compat/$job
    # Commands below end in `|| return 1`: errexit does not apply inside a function called as `run_job ... || ...`.
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || return 1
    local pip=("$venv/bin/python" -m pip install --quiet)
    case $job in
        oldest) "${pip[@]}" -c constraints-oldest.txt -e '.[openai,xdist]' || return 1 ;;
        newest) "${pip[@]}" --upgrade --upgrade-strategy eager -e '.[openai,xdist]' || return 1 ;;
        smoke) "${pip[@]}" -c constraints.txt -e '.[xdist]' || return 1 ;;
    esac
    "$venv/bin/python" - "$job" <<'PY' || return 1
import platform
import sys
from importlib.metadata import version

names = ('pydantic-evals', 'pydantic-ai-slim', 'pydantic', 'pytest', 'opentelemetry-sdk', 'genai-prices')
print(f'compat {sys.argv[1]}: Python {platform.python_version()}, ' + ', '.join(f'{n} {version(n)}' for n in names))
PY
    if [ "$job" != smoke ]; then
        "$venv/bin/python" -m pytest "${TESTS[@]}" -n 0 -q -p no:randomly || return 1
    fi
    "$venv/bin/python" -m pytest "${SESSION[@]}"
}

failed=()
for job in "${jobs[@]}"; do
    run_job "$job" || failed+=("$job")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "compat: failed: ${failed[*]}" >&2
    exit 1
fi
