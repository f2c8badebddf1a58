"""Shapes of usage series: how CPU, memory, throttling and disk move when something goes wrong (or right).

Each function returns the lists `Builder.pod_series` / `Builder.node_series` take, one value per minute of the
data, and draws its noise minute by minute in the order its docstring gives (the committed scenario files depend
on that order). `scrape_gap` is the exception: it removes samples from a series already written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

from architectures.telemetry.builder import GIB, INCIDENT, MIB, MINUTES, Builder

__all__ = (
    'Level',
    'cpu_saturation',
    'crash_loop_usage',
    'disk_fill',
    'level_shift',
    'linear_growth',
    'memory_leak_until_oom',
    'node_memory_fill',
    'scrape_gap',
    'step_changes',
    'traffic_peak',
)

Level = tuple[float, float]
"""A noisy level: `(mean, relative standard deviation)`."""


def check_starts(starts: Sequence[float]) -> None:
    """`ValueError` unless `starts` (the minutes a crash-looping container starts) has a first start and at least one
    restart, increasing, inside the data."""
    if len(starts) < 2:
        raise ValueError(f'a crash loop needs a first start and at least one restart, got starts={list(starts)}')
    if any(later <= earlier for earlier, later in pairwise(starts)):
        raise ValueError(f'crash-loop starts must increase, got {list(starts)}')
    if starts[0] < 0 or starts[-1] >= MINUTES:
        raise ValueError(f'crash-loop starts must lie in the data, minutes [0, {MINUTES}), got {list(starts)}')


def level_shift(b: Builder, baseline: float, incident: float, rel_sd: float) -> list[float]:
    """A noisy level that moves from `baseline` to `incident` at the incident start (a step change)."""
    return [b.noisy(baseline if minute < INCIDENT else incident, rel_sd) for minute in range(MINUTES)]


def step_changes(b: Builder, *metrics: tuple[Level, Level]) -> list[list[float]]:
    """Several metrics that each step from a baseline `Level` to an incident `Level` at the incident start.

    Draws minute by minute, every metric of a minute (in argument order) before the next minute; a metric that
    does not change gives the same `Level` twice.
    """
    if not metrics:
        raise ValueError('step_changes needs at least one metric')
    series: list[list[float]] = [[] for _ in metrics]
    for minute in range(MINUTES):
        for values, (baseline, incident) in zip(series, metrics, strict=True):
            level, rel_sd = baseline if minute < INCIDENT else incident
            values.append(b.noisy(level, rel_sd))
    return series


def linear_growth(b: Builder, level: float, per_minute: float, rel_sd: float) -> list[float]:
    """A noisy level, flat during the baseline, that grows by `per_minute` every incident minute (a leak)."""
    return [b.noisy(level + per_minute * max(0, minute - INCIDENT), rel_sd) for minute in range(MINUTES)]


def cpu_saturation(
    b: Builder, *, kills: list[int], cpu: float, memory_mib: float
) -> tuple[list[float], list[float], list[float]]:
    """CPU pinned at a 1-core limit from the incident start, with the container killed in the minutes `kills`.

    Baseline: CPU around `cpu`, 2% of periods throttled, memory around `memory_mib`. Incident: CPU ramps over
    four minutes to just under the limit and throttling to about 65% of periods, memory 30 MiB higher; a kill
    minute shows the restart (CPU 0.55, 30% throttled, memory 262 MiB). Returns `(cpu, memory, throttled)`,
    drawn CPU, throttled, memory each minute.
    """
    usage: list[float] = []
    throttled: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            usage.append(b.noisy(cpu, 0.06))
            throttled.append(b.noisy(0.02, 0.4))
            memory.append(b.noisy(memory_mib * MIB, 0.015))
        elif minute in kills:
            usage.append(b.noisy(0.55, 0.05))
            throttled.append(b.noisy(0.3, 0.1))
            memory.append(b.noisy(262 * MIB, 0.01))
        else:
            ramp = min(1.0, (minute - INCIDENT + 1) / 4)
            usage.append(min(0.999, 0.45 + ramp * b.noisy(0.535, 0.012)))
            throttled.append(b.noisy(0.1 + ramp * 0.55, 0.08))
            memory.append(b.noisy((memory_mib + 30) * MIB, 0.015))
    return usage, memory, throttled


def memory_leak_until_oom(
    b: Builder, *, oom: int, limit_mib: float, cpu: float, memory_mib: float, leak_mib: float
) -> tuple[list[float], list[float]]:
    """A working set that grows `leak_mib` a minute from the incident start until it is OOM-killed at minute `oom`
    (held just under `limit_mib`), then grows again from 140 MiB after the restart.

    Baseline: CPU around `cpu`, memory around `memory_mib`. While leaking CPU creeps up by 0.004 cores a minute
    from `cpu + 0.06` (the garbage collector works harder); after the kill it is back near 0.2. Returns
    `(cpu, memory)`, drawn CPU then memory each minute.
    """
    limit = limit_mib * MIB
    usage: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        if minute < INCIDENT:
            usage.append(b.noisy(cpu, 0.06))
            memory.append(b.noisy(memory_mib * MIB, 0.012))
        elif minute < oom:
            usage.append(b.noisy(cpu + 0.06 + 0.004 * (minute - INCIDENT), 0.06))
            memory.append(min(limit * 0.995, b.noisy((memory_mib + 2 + leak_mib * (minute - INCIDENT)) * MIB, 0.006)))
        else:
            usage.append(b.noisy(0.2, 0.06))
            memory.append(b.noisy((140 + leak_mib * (minute - oom)) * MIB, 0.006))
    return usage, memory


def crash_loop_usage(
    b: Builder, *, starts: Sequence[float], cpu: Level, memory_mib: float, start_cpu: float, start_memory_mib: float
) -> tuple[list[float], list[float]]:
    """A container that runs normally until its first crash, then only lives for moments at each restart.

    Before the minute of `starts[0]`: CPU at `cpu`, memory around `memory_mib`. In a minute holding a start:
    start-up usage (`start_cpu`, `start_memory_mib`). Otherwise almost nothing (2 millicores, 3 MiB: the pod's
    pause container and the kubelet's accounting). Returns `(cpu, memory)`, drawn CPU then memory each minute.
    """
    check_starts(starts)
    first = int(starts[0])
    start_minutes = {int(start) for start in starts}
    usage: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        if minute < first:
            usage.append(b.noisy(*cpu))
            memory.append(b.noisy(memory_mib * MIB, 0.01))
        elif minute in start_minutes:
            usage.append(b.noisy(start_cpu, 0.1))
            memory.append(b.noisy(start_memory_mib * MIB, 0.05))
        else:
            usage.append(b.noisy(0.002, 0.3))
            memory.append(b.noisy(3 * MIB, 0.1))
    return usage, memory


def traffic_peak(b: Builder, *, cpu: float, memory_mib: float) -> tuple[list[float], list[float]]:
    """Load that climbs 12% of the baseline a minute from the incident start and levels off at 2.05 times it: CPU
    follows the load, memory grows 20 MiB per baseline's worth of extra load. Returns `(cpu, memory)`, drawn CPU
    then memory each minute."""
    usage: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        load = 1.0 if minute < INCIDENT else min(2.05, 1.0 + 0.12 * (minute - INCIDENT + 1))
        usage.append(b.noisy(cpu * load, 0.05))
        memory.append(b.noisy((memory_mib + 20 * (load - 1)) * MIB, 0.008))
    return usage, memory


def node_memory_fill(
    b: Builder, *, allocatable: float, others: float, evictions: list[tuple[int, float]]
) -> tuple[list[float], list[float]]:
    """The usage of a pod without a memory limit that fills its node: it takes whatever leaves the node at a target
    share of `allocatable` bytes, 60% during the baseline, then 62% rising 3 points a minute up to 96.5%.

    `others` is the memory of everything else on the node (bytes, system included) and `evictions` the
    `(minute, bytes)` of pods evicted from it: the memory they free goes to this pod. CPU: 0.9 cores, 1.4 from the
    incident start. Returns `(cpu, memory)`, drawn memory then CPU each minute.
    """
    usage: list[float] = []
    memory: list[float] = []
    for minute in range(MINUTES):
        still = sum(size for when, size in evictions if minute < when)
        target = 0.6 if minute < INCIDENT else min(0.965, 0.62 + 0.03 * (minute - INCIDENT))
        memory.append(b.noisy(target * allocatable, 0.004) - others - still)
        usage.append(b.noisy(0.9 if minute < INCIDENT else 1.4, 0.05))
    return usage, memory


def disk_fill(b: Builder, fraction: Callable[[int], float]) -> list[float]:
    """Used bytes of a 100 GiB node filesystem filled to `fraction(minute)` of its capacity (0.2% noise)."""
    capacity = (100 * GIB // 1024 - 12_000) * 1024
    return [capacity * b.noisy(fraction(minute), 0.002) for minute in range(MINUTES)]


def scrape_gap(b: Builder, entity: str, first: int, stop: int) -> None:
    """No samples of any of the entity's metrics in minutes `[first, stop)`: the monitoring lost its target."""
    if entity not in b.series:
        raise ValueError(f'no series of {entity!r} to remove samples from; known: {", ".join(sorted(b.series))}')
    if not 0 <= first < stop <= MINUTES:
        raise ValueError(f'a scrape gap needs 0 <= first < stop <= {MINUTES}, got [{first}, {stop})')
    block = b.series[entity]
    for key, values in block.items():
        if isinstance(values, list):
            block[key] = [None if first <= minute < stop else value for minute, value in enumerate(values)]
