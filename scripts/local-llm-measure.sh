#!/usr/bin/env bash
# Measure the K8s suite on the local LLM (Qwen2.5-Coder 1.5B on llama.cpp) and record every exchange under
# recordings/k8s-qwen2.5-coder-1.5b/t0.7/: all six architectures on four items, 5 runs each at temperature 0.7, with
# llama.cpp's prompt cache off (every prompt evaluated whole, so a cached prefix cannot change an answer: engine noise
# is not counted as agent noise) and generation capped at 700 tokens. The items:
#   - cpu_saturation_checkout: a pod saturating its own CPU limit (the one item kept from the first measurement);
#   - cpu_throttled_quota_thumbnailer: heavy CFS throttling by the pod's own quota, not a noisy neighbour (new);
#   - oom_limit_too_low_pdf: OOM kills at an undersized limit, not a leak (new);
#   - cpu_saturation_checkout with the tools' assessments off (evals/k8s_anomaly_raw.yaml).
# They are selected by the pytest arguments in recordings/k8s-qwen2.5-coder-1.5b/selection.txt (one a line, read by
# pytest's @FILE), which tests/test_real_model_replay.py replays too.
# Hours of CPU time: it is resumable. Stop it at any point (Ctrl-C, kill); run it again and it goes on where it
# stopped, sending only the requests the recording lacks (--agentarch-resume). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[local]'
.venv/bin/agentarch local fetch qwen2.5-coder-1.5b
out=recordings/k8s-qwen2.5-coder-1.5b
# A cell whose report holds every run (none left out as an infrastructure failure, none not run) is complete: running
# it again would only replay it, and overwrite its report's latencies with the replay's.
complete() {
    .venv/bin/python - "$1" "$2" <<'PY'
import json
import sys

try:
    report = json.load(open(sys.argv[1], encoding='utf-8'))
    summaries = [a['summary'] for a in report['architectures']]
    whole = len(summaries) == 1 and summaries[0]['runs'] == int(sys.argv[2]) and summaries[0]['infra'] == 0
    sys.exit(0 if whole and not report['not_run'] and not report['stopped_by'] else 1)
except (OSError, ValueError, KeyError, TypeError):  # no report, or not one this check can read: run the cell
    sys.exit(1)
PY
}
# Kept in the repository gzipped, also when the measurement is stopped (Ctrl-C); a later sitting that resumes an
# item unpacks it first.
trap '.venv/bin/agentarch recording pack "$out"' EXIT
# Cheapest architectures first (fewest requests per run), so that whole cells exist early in a long measurement.
temperature=0.7
runs=5
items=4
for arch in manual workflow hybrid single delegation specialized; do
    if complete "$out/t$temperature-$arch.report.json" $((items * runs)); then
        echo "t$temperature $arch: complete, not run again"
        continue
    fi
    .venv/bin/pytest "@$out/selection.txt" --arch "$arch" --runs "$runs" -n 0 \
        --agentarch-concurrency 1 --agentarch-memory off --agentarch-model llamacpp:qwen2.5-coder-1.5b \
        --agentarch-model-settings "temperature=$temperature,max_tokens=700,extra_body={\"cache_prompt\": false}" \
        --agentarch-record "$out/t$temperature" --agentarch-resume \
        --agentarch-json "$out/t$temperature-$arch.report.json" -v "$@" \
        || [ $? -eq 1 ]  # 1: some runs failed their evaluators, which is a finding
done
