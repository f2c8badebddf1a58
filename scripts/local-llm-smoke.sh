#!/usr/bin/env bash
# Smoke test of the local LLM backend on the real model (Qwen2.5-Coder 1.5B on llama.cpp): set up .venv, install the
# `local` extra, fetch the pinned weights if they are missing (about 1.1 GB, checked against their SHA-256), then run
# the live-model tests: an agent with two tools and structured output, and one K8s case on `manual` and `hybrid`,
# two runs each. Slow on CPU: expect tens of seconds per model request. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[local]'
.venv/bin/agentarch local fetch qwen2.5-coder-1.5b
AGENTARCH_LOCAL_LLM=1 .venv/bin/pytest tests/test_local_llm.py -n 0 -s -rs "$@"
