"""The four K8s tools every architecture shares (docs/k8s-contract.md).

Each tool computes real statistics from the backend's telemetry and ends its result with an `assessment`: the
fields of `AnomalyReport` except `entity`, decided by the documented rules below from those statistics alone.
The confidences are calibrated so that the contract's merging rule (the anomalous assessment with the highest
confidence wins) picks the tool most directly tied to a failure mode:

- 0.90  metadata: node DiskPressure, NotReady or PIDPressure, a container waiting for its image or its configuration,
        an unschedulable pod; memory: leak / node memory pressure confirmed by a baseline shift; cpu: saturation
        confirmed by a baseline shift, noisy neighbour (CPU pressure) confirmed by a shift or a busy node; logs:
        crash loop with new error templates
- 0.85  the same without a baseline; metadata: node MemoryPressure, a pod in CrashLoopBackOff after application
        errors, an autoscaler at its maximum or flapping; logs: node disk pressure, network errors new against the
        baseline, NodeNotReady, PID pressure, image pull / configuration / scheduling / volume mount failures,
        readiness failing for 10 minutes in a pod not restarted
- 0.80  logs: node memory pressure, network errors; cpu (node): saturation by one dominant pod (noisy neighbour)
- 0.75  cpu (node): saturation without a dominant pod (0.80 with a baseline shift); memory: at the limit without
        growth, then restarted (OOM-killed, not a leak)
- 0.70  metadata/logs: OOMKilled container (oom_killed), evicted pod
- 0.60  logs: liveness-probe timeouts (a symptom of CPU starvation); cpu/memory: large shift towards the limit
- 0.55  memory: close to the limit without growth (oom_killed, medium)
- 0.50  metadata: repeated kills (exit 137) without OOM; cpu: throttled below the limit (bursts over its own quota)

A healthy verdict carries confidence 0.80; `get_entity_metadata` on a missing entity answers `entity_not_found`
with confidence 1.0.

The tools are coroutine functions: a live backend awaits the cluster's APIs, and agents run them on the event loop
instead of handing each call to a worker thread as they do for plain functions. The fixture backend answers from
memory, so a call never blocks the loop for long.

Statistics are robust: medians and median absolute deviations (MAD); a shift is
`(median_window - median_baseline) / (1.4826 * MAD_baseline)`, with the MAD floored so a perfectly flat baseline
does not turn any change into an infinite shift.

Where things are: `arguments.py` checks the arguments a model sends; `measurement.py` holds the shared statistics
helpers; one module per tool (`metadata.py`, `cpu.py`, `memory.py`, `logs.py`) measures; `rules.py` holds every
assessment rule and `thresholds.py` the numbers they compare with.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from architectures.tools.cpu import analyze_cpu_metrics
from architectures.tools.logs import analyze_logs
from architectures.tools.memory import analyze_memory_metrics
from architectures.tools.metadata import get_entity_metadata

__all__ = (
    'ALL_TOOLS',
    'ToolFunction',
    'analyze_cpu_metrics',
    'analyze_logs',
    'analyze_memory_metrics',
    'get_entity_metadata',
)

ToolFunction = Callable[..., Coroutine[Any, Any, dict[str, Any]]]
"""What the four tools are: coroutine functions that return JSON-able results."""

ALL_TOOLS: tuple[ToolFunction, ...] = (get_entity_metadata, analyze_cpu_metrics, analyze_memory_metrics, analyze_logs)
"""The four tools, in the order an investigation usually calls them."""
