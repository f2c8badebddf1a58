"""Statistics over run records: determinism, agreement, pass rates, pass^k, usage. No pytest here.

Every rate carries its n and a Wilson 95% interval. Runs that raised (or captured nothing) are counted and
shown: left out of determinism and output agreement, counted as failed in the pass rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from .records import RunRecord

__all__ = (
    'ArchitectureStats',
    'CaseStats',
    'Distribution',
    'FailedRun',
    'Rate',
    'Variant',
    'aggregate',
    'case_stats',
    'pass_at_k',
    'pass_hat_k',
    'percentile',
    'wilson',
)

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: probability that k runs drawn without replacement all pass, C(c,k)/C(n,k) (tau-bench)."""
    if not 1 <= k <= n:
        raise ValueError(f'k must be in 1..{n}, got {k}')
    return math.comb(c, k) / math.comb(n, k)


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k: probability that at least one of k runs drawn without replacement passes, 1 - C(n-c,k)/C(n,k)."""
    if not 1 <= k <= n:
        raise ValueError(f'k must be in 1..{n}, got {k}')
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _number(other: object) -> float:
    if isinstance(other, Rate):
        return float(other)
    if isinstance(other, int | float) and not isinstance(other, bool):
        return float(other)
    raise TypeError(f'a Rate compares with a number or another Rate, not {type(other).__name__}')


class Rate(BaseModel):
    """A proportion with its sample size and Wilson 95% interval."""

    value: float | None = Field(description='successes / n; null when n is 0')
    successes: int
    n: int
    low: float = Field(description='Wilson 95% lower bound')
    high: float = Field(description='Wilson 95% upper bound')

    @classmethod
    def of(cls, successes: int, n: int) -> Rate:
        low, high = wilson(successes, n)
        return cls(value=successes / n if n else None, successes=successes, n=n, low=low, high=high)

    def __str__(self) -> str:
        return 'n/a (n=0)' if self.value is None else f'{self.value:.0%} [{self.low:.0%}-{self.high:.0%}] n={self.n}'

    def __float__(self) -> float:
        """The point estimate; NaN when n is 0, so that every comparison with it is false."""
        return math.nan if self.value is None else self.value

    # `assert runs.determinism >= 0.95` compares the point estimate; use `.low` to compare the Wilson lower bound.
    def __ge__(self, other: object) -> bool:
        return float(self) >= _number(other)

    def __gt__(self, other: object) -> bool:
        return float(self) > _number(other)

    def __le__(self, other: object) -> bool:
        return float(self) <= _number(other)

    def __lt__(self, other: object) -> bool:
        return float(self) < _number(other)


class Distribution(BaseModel):
    """Mean and percentiles of one per-run quantity."""

    mean: float | None
    p50: float | None
    p95: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        return cls(
            mean=sum(values) / len(values) if values else None,
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            n=len(values),
        )


class Variant(BaseModel):
    """One distinct canonical trajectory and how often it occurred."""

    trajectory: str
    count: int
    example_run: int = Field(description='index of the first run with this trajectory')
    steps: list[list[str]] = Field(description='flattened unordered steps of tool names of that example run')


class FailedRun(BaseModel):
    """A run that did not pass, with what the failure message needs."""

    index: int
    error: str | None = Field(description='`Type: message` if the run raised or captured nothing')
    failed_assertions: list[str] = Field(description='`name: reason` of each false assertion or evaluator error')
    tool_calls: list[str] = Field(description="the run's tool calls in start order")


class CaseStats(BaseModel):
    """Statistics of one (architecture, case): N runs of the same inputs."""

    architecture: str
    case: str
    dataset: str | None = None
    runs: int
    errors: int = Field(description='runs that raised, timed out or captured nothing')
    error_types: dict[str, int]
    determinism: Rate = Field(description='share of completed runs with the most common level-1 trajectory')
    strict_determinism: Rate = Field(description='same, with normalized arguments (level 2)')
    variants: list[Variant] = Field(description='distinct level-1 trajectories, most common first')
    output_agreement: Rate = Field(description='share of completed runs whose compared output fields equal the mode')
    pass_rate: Rate = Field(description='runs that passed every assertion, over all runs')
    pass_hat_k: list[float] = Field(description='pass^k for k = 1..runs')
    pass_at_k: list[float] = Field(description='pass@k for k = 1..runs')
    requests: Distribution
    input_tokens: Distribution
    output_tokens: Distribution
    tool_calls: Distribution
    cost: Distribution | None = Field(description='USD per run; null unless every request was priced')
    latency: Distribution = Field(description='wall seconds per run')
    metrics: dict[str, float] = Field(
        description='mean per completed run of each metric the architecture reported (increment_eval_metric)'
    )
    expected_steps: list[list[str]] | None = None
    failures: list[FailedRun] = Field(description='up to 10 runs that did not pass')


def _mode_rate(keys: Sequence[str]) -> tuple[Rate, Counter[str]]:
    counts = Counter(keys)
    top = counts.most_common(1)[0][1] if counts else 0
    return Rate.of(top, len(keys)), counts


def case_stats(
    records: Sequence[RunRecord],
    *,
    architecture: str,
    case: str,
    dataset: str | None = None,
    expected_steps: list[list[str]] | None = None,
    max_failures: int = 10,
) -> CaseStats:
    """Statistics of the runs of one case by one architecture."""
    records = sorted(records, key=lambda r: r.index)
    done = [r for r in records if not r.errored]
    n = len(records)
    passed = sum(r.passed for r in records)
    determinism, counts = _mode_rate([r.trajectory for r in done])
    strict, _ = _mode_rate([r.trajectory_args for r in done])
    agreement, _ = _mode_rate([r.output_key or '' for r in done])
    first: dict[str, RunRecord] = {}
    for r in done:
        first.setdefault(r.trajectory, r)
    # Ties in count are ordered by first occurrence, which depends only on run indexes (reproducible).
    variants = [
        Variant(trajectory=t, count=c, example_run=first[t].index, steps=first[t].steps)
        for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]].index))
    ]
    failures = [
        FailedRun(
            index=r.index,
            error=f'{r.error_type}: {r.error_message}' if r.errored else None,
            failed_assertions=[f'{a.name}: {a.reason or "false"}' for a in r.failed_assertions] + r.evaluator_errors,
            tool_calls=[c.name + ('!' if c.failed else '') for c in r.tool_calls],
        )
        for r in records
        if not r.passed
    ][:max_failures]
    costs = [r.cost for r in done]
    metric_names = sorted({k for r in done for k in r.metrics})
    return CaseStats(
        architecture=architecture,
        case=case,
        dataset=dataset,
        runs=n,
        errors=n - len(done),
        error_types=dict(Counter(r.error_type for r in records if r.error_type)),
        determinism=determinism,
        strict_determinism=strict,
        variants=variants,
        output_agreement=agreement,
        pass_rate=Rate.of(passed, n),
        pass_hat_k=[pass_hat_k(n, passed, k) for k in range(1, n + 1)],
        pass_at_k=[pass_at_k(n, passed, k) for k in range(1, n + 1)],
        requests=Distribution.of([r.requests for r in done]),
        input_tokens=Distribution.of([r.input_tokens for r in done]),
        output_tokens=Distribution.of([r.output_tokens for r in done]),
        tool_calls=Distribution.of([len(r.tool_calls) for r in done]),
        cost=Distribution.of([c for c in costs if c is not None]) if costs and None not in costs else None,
        latency=Distribution.of([r.duration for r in records]),
        metrics={m: sum(r.metrics.get(m, 0.0) for r in done) / len(done) for m in metric_names},
        expected_steps=expected_steps,
        failures=failures,
    )


class ArchitectureStats(BaseModel):
    """One architecture over all its cases: pooled counts, pass^k averaged over cases."""

    architecture: str
    description: str = ''
    cases: int
    runs: int
    errors: int
    determinism: Rate = Field(description='pooled: modal runs over completed runs, summed over cases')
    strict_determinism: Rate
    distinct_trajectories: float = Field(description='mean number of distinct trajectories per case')
    output_agreement: Rate
    pass_rate: Rate
    pass_hat_k: list[float] = Field(description='mean over cases of pass^k, k = 1..min runs')
    pass_at_k: list[float]
    input_tokens: float | None = Field(description='mean per run')
    output_tokens: float | None
    requests: float | None
    tool_calls: float | None
    cost: float | None = Field(description='mean USD per run; null unless every run was priced')
    latency_p50: float | None
    latency_p95: float | None
    peak_memory: int | None = Field(
        default=None,
        description='largest per-run Python heap peak (tracemalloc) of its traced items, bytes',
    )


def _pool(rates: Sequence[Rate]) -> Rate:
    return Rate.of(sum(r.successes for r in rates), sum(r.n for r in rates))


def _weighted(cases: Sequence[CaseStats], pick: str) -> float | None:
    total = sum(getattr(c, pick).n for c in cases)
    if not total:
        return None
    return sum((getattr(c, pick).mean or 0.0) * getattr(c, pick).n for c in cases) / total


def aggregate(
    cases: Sequence[CaseStats], *, description: str = '', latencies: Sequence[float] = ()
) -> ArchitectureStats:
    """Pool the cases of one architecture. `latencies` are all its runs' wall times (for exact percentiles)."""
    if not cases:
        raise ValueError('aggregate needs at least one case')
    k_max = min(c.runs for c in cases)
    costs = [c.cost for c in cases]
    cost_runs = sum(c.n for c in costs if c is not None)
    return ArchitectureStats(
        architecture=cases[0].architecture,
        description=description,
        cases=len(cases),
        runs=sum(c.runs for c in cases),
        errors=sum(c.errors for c in cases),
        determinism=_pool([c.determinism for c in cases]),
        strict_determinism=_pool([c.strict_determinism for c in cases]),
        distinct_trajectories=sum(len(c.variants) for c in cases) / len(cases),
        output_agreement=_pool([c.output_agreement for c in cases]),
        pass_rate=_pool([c.pass_rate for c in cases]),
        pass_hat_k=[sum(c.pass_hat_k[k] for c in cases) / len(cases) for k in range(k_max)],
        pass_at_k=[sum(c.pass_at_k[k] for c in cases) / len(cases) for k in range(k_max)],
        input_tokens=_weighted(cases, 'input_tokens'),
        output_tokens=_weighted(cases, 'output_tokens'),
        requests=_weighted(cases, 'requests'),
        tool_calls=_weighted(cases, 'tool_calls'),
        cost=(
            sum((c.mean or 0.0) * c.n for c in costs if c is not None) / cost_runs
            if cost_runs and None not in costs
            else None
        ),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
    )
