"""Reusable pieces of scenarios: the healthy cluster around a fault, and fault injectors.

Each injector writes one kind of trouble into a `Builder` (telemetry, objects, events and logs that belong
together), so a scenario module reads as the list of what happens in it:

- `cluster`: the healthy surroundings (workload pods and their observations, steady usage, quiet companions and
  nodes, request lines) and the events every injector writes through;
- `usage`: shapes of usage series (steps, leaks, saturation, crash loops, peaks, a node filling up, scrape gaps);
- `pods`: trouble of one pod (probe failures and kills, OOM kills, crash loops, rollouts, network failures);
- `nodes`: trouble of a node (pressure, image garbage collection, evictions, a noisy neighbour);
- `workloads` (imported from its module): a pod whose container never runs, an autoscaler and its rescales.

Injectors draw from the scenario's one random generator in a fixed order, on which the committed data files depend.
docs/k8s-contract.md ("Fault injectors") lists which scenario uses which.
"""

from __future__ import annotations

from architectures.telemetry.faults.cluster import (
    Companion,
    Host,
    client_ip,
    companion,
    companions,
    healthy_node,
    node_event,
    node_local_dns,
    observe,
    pod_event,
    quiet_node,
    request_line,
    restarted,
    service_pod,
    steady_usage,
)
from architectures.telemetry.faults.nodes import (
    Resource,
    batch_progress,
    best_effort_eviction,
    evicted_state,
    eviction,
    image_gc_failures,
    noisy_neighbour,
    pressure,
    pressured_node,
    reclaim_lines,
)
from architectures.telemetry.faults.pods import (
    container_started,
    cpu_rise,
    crash_loop,
    crash_loop_state,
    dns_failure_line,
    dns_timeout,
    liveness_kills,
    network_failure,
    oom_kill,
    readiness_failures,
    rollout,
    scheduled,
    start_up_lines,
)
from architectures.telemetry.faults.usage import (
    Level,
    cpu_saturation,
    crash_loop_usage,
    disk_fill,
    level_shift,
    linear_growth,
    memory_leak_until_oom,
    node_memory_fill,
    scrape_gap,
    step_changes,
    traffic_peak,
)

__all__ = (
    'Companion',
    'Host',
    'Level',
    'Resource',
    'batch_progress',
    'best_effort_eviction',
    'client_ip',
    'companion',
    'companions',
    'container_started',
    'cpu_rise',
    'cpu_saturation',
    'crash_loop',
    'crash_loop_state',
    'crash_loop_usage',
    'disk_fill',
    'dns_failure_line',
    'dns_timeout',
    'evicted_state',
    'eviction',
    'healthy_node',
    'image_gc_failures',
    'level_shift',
    'linear_growth',
    'liveness_kills',
    'memory_leak_until_oom',
    'network_failure',
    'node_event',
    'node_local_dns',
    'node_memory_fill',
    'noisy_neighbour',
    'observe',
    'oom_kill',
    'pod_event',
    'pressure',
    'pressured_node',
    'quiet_node',
    'readiness_failures',
    'reclaim_lines',
    'request_line',
    'restarted',
    'rollout',
    'scheduled',
    'scrape_gap',
    'service_pod',
    'start_up_lines',
    'steady_usage',
    'step_changes',
    'traffic_peak',
)
