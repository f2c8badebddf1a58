#!/usr/bin/env bash
# The main job: every K8s case, 20 runs per architecture, on the embedded simulated model.
# Extra arguments go to pytest, e.g. `bash scripts/main.sh -v` or `bash scripts/main.sh --runs 50`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest --arch all --runs 20 --agentarch-json agentarch-report.json "$@"
