"""The numbers the assessment rules (`rules.py`) compare statistics with; docs/k8s-contract.md lists them too."""

from __future__ import annotations

SHIFT_SIGNIFICANT = 3.0
"""A shift of at least this many robust sigmas confirms a change against the baseline."""
SHIFT_LARGE = 6.0
"""A shift this large is an anomaly on its own when usage also approaches the limit."""

CPU_SATURATED_FRACTION = 0.9
"""p95 CPU usage at or above this fraction of the limit is saturation."""
CPU_SHIFT_LIMIT_FRACTION = 0.7
"""A large CPU shift counts only when p95 usage reaches this fraction of the limit."""
THROTTLING_HEAVY = 0.25
"""Median share of CFS periods throttled that counts as heavy throttling."""
NOISY_BELOW_LIMIT_FRACTION = 0.8
"""A throttled pod whose p95 usage stays below this fraction of its limit is not the one saturating."""
CPU_PRESSURE_CONTENDED = 0.2
"""Median CPU pressure (PSI "some": seconds a task of the pod waited for a CPU, per second) at or above this is
contention: the pod is runnable but the node gives it no CPU. CFS throttling is not counted in it (a throttled task
is not runnable), so it tells another pod's load from the pod's own quota."""
NODE_CPU_BUSY = 0.9
"""p95 node CPU utilisation (usage / allocatable) at or above this is saturation."""
DOMINANT_POD_SHARE = 0.5
"""One pod using at least this share of a saturated node's CPU is a noisy neighbour."""

MEMORY_NEAR_LIMIT = 0.9
"""Peak memory at or above this fraction of the limit is close to an OOM kill."""
MEMORY_AT_LIMIT = 0.95
"""Peak memory at or above this fraction of the limit means the limit was reached."""
MEMORY_SHIFT_LIMIT_FRACTION = 0.7
"""A large memory shift counts only when peak usage reaches this fraction of the limit."""
LEAK_MIN_SAMPLES = 10
"""Growth is only fitted on restart-free segments at least this long."""
LEAK_MIN_R2 = 0.8
"""Linear growth must explain at least this share of the segment's variance."""
LEAK_MIN_GROWTH_FRACTION = 0.15
"""Growth over the segment must be at least this fraction of the limit."""
LEAK_HORIZON_MINUTES = 120.0
"""Growth reaching the limit within this many minutes is urgent."""
NODE_MEMORY_PRESSURE = 0.9
"""p95 node memory utilisation (working set / allocatable) at or above this is memory pressure."""

CRASH_MIN_RESTARTS = 3
"""Restarts within the window that make a restart loop."""
PROBE_MIN_FAILURES = 3
"""Liveness-probe failures within the window that count as failing probes."""
READINESS_MIN_FAILURES = 10
"""Readiness-probe failures within the window that make a persistently unready pod (not a blip)."""
READINESS_MIN_MINUTES = 10.0
"""...and the minutes they must span."""
MOUNT_MIN_FAILURES = 3
"""FailedMount / FailedAttachVolume events within the window that make a volume that cannot be mounted."""
HPA_FLAP_MIN_RESCALES = 6
"""Rescales of one autoscaler within the window that make flapping..."""
HPA_FLAP_MIN_EACH_WAY = 3
"""...with at least this many in each direction (events are aggregated by size, so their order is not known)."""
HPA_AT_MAX_MINUTES = 10.0
"""An autoscaler limited at its maximum replicas for at least this long is at its ceiling, not passing through."""
NETWORK_MIN_LINES = 5
"""Network-error log lines within the window needed to call network errors."""
NETWORK_MIN_SHARE = 0.5
"""Share of the error lines that must be network errors."""
NETWORK_NEW_RATIO = 0.25
"""Network errors are new when the baseline rate is at most this fraction of the window's."""
TOP_TEMPLATES = 8
"""How many error templates a log analysis lists."""

CONFIDENCE_HEALTHY = 0.8
"""The confidence of a healthy verdict."""
CONFIDENCE_PARTIAL = 0.6
"""The confidence of a healthy verdict drawn from partial data (see `PARTIAL_DATA_SHARE`, or no log lines at all)."""
PARTIAL_DATA_SHARE = 0.25
"""A window missing more than this share of its samples gives only a partial-data healthy verdict."""
