#!/usr/bin/env bash
# The main job: every K8s case, 20 runs per architecture, on the embedded simulated model.
# Extra arguments go to pytest, e.g. `bash scripts/main.sh -v` or `bash scripts/main.sh --runs 50`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# --assert=plain: the job's items are dataset cases, whose verdicts never come from `assert` statements, so pytest's
# assertion rewriting buys nothing; it costs 3-4 s of CPU in each of the job's processes where no bytecode is cached
# (PYTHONDONTWRITEBYTECODE, a read-only tree), because pytest rewrites every module of each installed pytest plugin's
# distribution as it is imported (logfire's, imported through pydantic-evals, and anyio's, through pydantic-ai).
exec .venv/bin/pytest --arch all --runs 20 --assert=plain --agentarch-json agentarch-report.json "$@"
