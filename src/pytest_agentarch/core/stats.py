"""Statistics over run records: determinism, agreement, pass rates, pass^k, scores, labels, usage. No pytest here.

Every rate carries its n and a 95% interval: Wilson for one case, whose runs are independent draws; a
cluster-adjusted Wilson interval for an architecture, whose runs are grouped by case, which estimates the mean over a
population of cases the suite samples (the fixed-suite interval is carried beside it). A modal share (determinism,
output agreement) is biased upward, so its interval is built from two quantities it is valid for: held-out agreement
below, the modal count above (docs/statistics.md).

How runs count:
- a run that raised because of the architecture's own behaviour (`error_kind` 'behaviour', or not set) counts in
  determinism as its own variant `error: <ExceptionType>`, as a failed run in the pass rate and pass^k, and in the
  per-run usage means;
- a run that failed on infrastructure (`error_kind` 'infrastructure': rate limits, provider 5xx, connection errors)
  says nothing about the architecture: it is counted and shown (`infra`), its spend is in the totals, and it is
  left out of every other figure (as tau2-bench does);
- a run whose evaluators could not reach their model (a judge's provider failed on infrastructure) has no verdict:
  it is left out of the pass rate and pass^k (`unjudged`), and counts in everything else.
Evaluators' own model requests (judges) are never part of a run's usage; `Totals` sums them apart as evaluation spend.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from .records import RunRecord
from .sequential import agreement_with_predicted_mode

__all__ = (
    'LEVELS',
    'ArchitectureStats',
    'CaseStats',
    'Distribution',
    'FailedRun',
    'FaultStats',
    'Level',
    'Rate',
    'Score',
    'Totals',
    'Variant',
    'aggregate',
    'case_stats',
    'check_count',
    'level_of',
    'pass_at_k',
    'pass_hat_k',
    'pass_k_curves',
    'percentile',
    't_critical',
    'variant_key',
    'wilson',
)

Z95 = 1.959963984540054
"""Two-sided 95% critical value of the standard normal distribution."""

Level = Literal['tools', 'steps', 'strict']
"""What "the same trajectory" means: the multiset of tool names (`tools`), the ordered steps of concurrent groups
(`steps`), or those steps with normalized arguments (`strict`)."""

LEVELS: tuple[Level, ...] = ('tools', 'steps', 'strict')

_KEY_OF: dict[Level, str] = {'tools': 'trajectory_tools', 'steps': 'trajectory', 'strict': 'trajectory_args'}
"""The `RunRecord` field holding each level's rendered trajectory."""


def _wilson(p: float, n: float, c: float) -> tuple[float, float]:
    """Wilson score interval around the proportion `p` observed on (effective) sample size `n`."""
    denom = 1 + c * c / n
    centre = (p + c * c / (2 * n)) / denom
    half = c * math.sqrt(p * (1 - p) / n + c * c / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def check_count(successes: int, n: int, what: str = 'successes') -> None:
    """Raise ValueError unless 0 <= successes <= n: a count cannot exceed the total it is a part of."""
    if n < 0:
        raise ValueError(f'a total of runs cannot be negative, got n={n}')
    if not 0 <= successes <= n:
        raise ValueError(f'{what} must be between 0 and the runs, got {successes} of {n}')


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    check_count(successes, n)
    if n == 0:
        return (0.0, 1.0)
    low, high = _wilson(successes / n, n, z)
    # Exact at the edges: rounding must not leave 1 (or 0) outside the interval of n/n (or 0/n).
    return (0.0 if successes == 0 else low, 1.0 if successes == n else high)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c = 1.0
    d = 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for aa in (
            m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m)),
        ):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def _t_cdf(t: float, df: int) -> float:
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


@lru_cache(maxsize=256)
def t_critical(df: int, confidence: float = 0.95) -> float:
    """Two-sided critical value of Student's t with `df` degrees of freedom (12.706 for df=1 at 95%)."""
    if df < 1:
        raise ValueError(f'df must be at least 1, got {df}')
    target = 1 - (1 - confidence) / 2
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < target:
        lo, hi = hi, hi * 2
    # The CDF is monotone: bisection to float resolution needs no derivative and no starting guess.
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _t_cdf(mid, df) < target else (lo, mid)
    return (lo + hi) / 2


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: probability that k runs drawn without replacement all pass, C(c,k)/C(n,k) (tau-bench)."""
    if not 1 <= k <= n:
        raise ValueError(f'k must be in 1..{n}, got {k}')
    check_count(c, n, 'passed runs c')
    return math.comb(c, k) / math.comb(n, k)


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k: probability that at least one of k runs drawn without replacement passes, 1 - C(n-c,k)/C(n,k)."""
    if not 1 <= k <= n:
        raise ValueError(f'k must be in 1..{n}, got {k}')
    check_count(c, n, 'passed runs c')
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def pass_k_curves(n: int, c: int) -> tuple[list[float], list[float]]:
    """pass^k and pass@k for every k in 1..n at once, as running products:
    C(c,k)/C(n,k) = prod_{i<k} (c-i)/(n-i) and C(n-c,k)/C(n,k) = prod_{i<k} (n-c-i)/(n-i).

    O(n) floats where computing each k with `math.comb` would be O(n^2) big-integer work (seconds for a case of a few
    thousand runs). Every factor is in [0, 1], so the products never overflow; they reach 0 exactly once k passes c
    (or n - c)."""
    check_count(c, n, 'passed runs c')
    hat: list[float] = []
    at: list[float] = []
    all_pass = none_pass = 1.0
    for i in range(n):
        all_pass *= (c - i) / (n - i) if i < c else 0.0
        none_pass *= (n - c - i) / (n - i) if i < n - c else 0.0
        hat.append(all_pass)
        at.append(1 - none_pass)
    return hat, at


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


def _cluster_interval(clusters: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """95% interval of the pooled proportion of `(successes, n)` clusters (cases, each n > 0) as an estimate of the
    mean over a population of cases.

    The ratio estimator's cluster-robust (linearized) variance over the m cases; the design effect deff = that
    variance / the binomial one, floored at 1, shrinks N to N / deff. When deff > 1 the Wilson interval is taken on
    that effective N with Student's t over m - 1 degrees of freedom instead of z. When the pooled rate is 0 or 1 with
    m >= 2 the cases show no spread to estimate a variance from, and the runs of a case may still be alike: the
    interval is the Wilson interval over the m cases (each case all successes, or all failures), never the pooled
    runs as if independent. With no sign of clustering (deff <= 1) and for one case: the Wilson interval of the
    pooled runs."""
    total = sum(n for _, n in clusters)
    successes = sum(y for y, _ in clusters)
    m = len(clusters)
    if m < 2:
        return wilson(successes, total)
    if successes in (0, total):
        return wilson(m if successes else 0, m)
    p = successes / total
    var_cluster = m / (m - 1) * sum((y - p * n) ** 2 for y, n in clusters) / total**2
    if var_cluster > p * (1 - p) / total:
        # Runs of one case are more alike than independent draws: fewer effective runs, and a variance estimated
        # from m cases, hence t with m - 1 degrees of freedom.
        return _wilson(p, p * (1 - p) / var_cluster, t_critical(m - 1))
    # No sign of clustering (a design effect of at most 1): never narrower than the pooled interval.
    return wilson(successes, total)


class Rate(BaseModel):
    """A proportion with its sample size and 95% interval.

    Compared with a number (`==`, `<`, `>=`, ...), a Rate is its point estimate, and a Rate of no runs compares
    like NaN (every comparison false, `!=` true): n=0 proves nothing either way. Two Rates are equal when every
    field is (so reports compare exactly); they order by point estimate. A Rate is deliberately unhashable: it
    equals numbers whose hash differs from any hash of its fields.
    """

    value: float | None = Field(description='successes / n; null when n is 0')
    successes: int
    n: int
    low: float = Field(description='95% lower bound (see `interval`)')
    high: float = Field(description='95% upper bound (see `interval`)')
    interval: Literal['wilson', 'cluster-wilson', 'held-out', 'cluster-held-out'] = Field(
        default='wilson',
        description=(
            "'wilson': Wilson score interval over n independent runs; 'cluster-wilson': Wilson interval on the "
            "effective sample size of runs clustered by case, with Student's t over cases; 'held-out' and "
            "'cluster-held-out' (modal shares): the lower bound of that interval on `held_out` of n - 1 runs, the "
            'upper bound on the modal count (docs/statistics.md)'
        ),
    )
    held_out: int | None = Field(
        default=None,
        description='modal shares only: runs i >= 1 that took the most common value of runs 0..i-1, out of n - 1 '
        '(per architecture, summed over cases; out of n - cases). Its chance is at most the true share.',
    )
    suite_low: float | None = Field(
        default=None,
        description='per architecture: the 95% lower bound for the fixed suite of cases (pooled runs), where '
        '`low` is for the population of cases the suite samples',
    )
    suite_high: float | None = Field(default=None, description='per architecture: the fixed-suite upper bound')

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    @classmethod
    def of(cls, successes: int, n: int) -> Rate:
        """`successes` out of `n` independent runs, with the Wilson 95% interval."""
        low, high = wilson(successes, n)
        return cls(value=successes / n if n else None, successes=successes, n=n, low=low, high=high)

    @classmethod
    def modal(cls, top: int, n: int, held_out: int) -> Rate:
        """A modal share: `top` of `n` runs took the most common value, and `held_out` of runs 1..n-1 took the most
        common value of the runs before them (`sequential.agreement_with_predicted_mode`).

        The modal count is biased upward (it picks the largest count after seeing it), so no interval on it alone
        covers the true share d of the most probable value. The held-out count's chance is at most d at every run
        (the mode it is scored against is chosen before the run), so the Wilson lower bound of `held_out` of n - 1
        is a valid lower bound; the modal count is at least the count of the true mode, a Binomial(n, d), so its
        Wilson upper bound is a valid upper bound. Each side errs with about 2.5%: a 95% interval that holds
        whatever the runner-up values are. The interval always contains the point value."""
        check_count(top, n, 'modal runs')
        check_count(held_out, max(0, n - 1), 'held-out agreeing runs')
        if n == 0:
            return cls(value=None, successes=0, n=0, low=0.0, high=1.0, interval='held-out', held_out=0)
        value = top / n
        low = wilson(held_out, n - 1)[0] if n > 1 else 0.0
        high = wilson(top, n)[1]
        return cls(
            value=value,
            successes=top,
            n=n,
            low=min(low, value),
            high=max(high, value),
            interval='held-out',
            held_out=held_out,
        )

    @classmethod
    def clustered(cls, counts: Iterable[tuple[int, int]]) -> Rate:
        """The pooled proportion of `(successes, n)` clusters (cases), with an interval that accounts for runs of
        one case being more alike than runs of different cases (`_cluster_interval`); `suite_low`/`suite_high` are
        the Wilson interval of the pooled runs, for the fixed suite of cases."""
        clusters = [(y, n) for y, n in counts if n > 0]
        for y, n in clusters:
            check_count(y, n)
        total = sum(n for _, n in clusters)
        successes = sum(y for y, _ in clusters)
        if total == 0:
            return cls(value=None, successes=0, n=0, low=0.0, high=1.0, interval='cluster-wilson')
        low, high = _cluster_interval(clusters)
        suite_low, suite_high = wilson(successes, total)
        return cls(
            value=successes / total,
            successes=successes,
            n=total,
            low=low,
            high=high,
            interval='cluster-wilson',
            suite_low=suite_low,
            suite_high=suite_high,
        )

    @classmethod
    def clustered_modal(cls, rates: Iterable[Rate]) -> Rate:
        """Modal shares (`Rate.modal`) of several cases pooled: the pooled modal share, the population interval's
        lower bound from the held-out counts clustered by case, its upper bound from the modal counts clustered by
        case; the fixed-suite bounds from the same counts pooled."""
        cases = [r for r in rates if r.n > 0]
        if any(r.held_out is None for r in cases):
            raise ValueError('clustered_modal needs modal shares with their held-out counts (Rate.modal)')
        total = sum(r.n for r in cases)
        if total == 0:
            return cls(value=None, successes=0, n=0, low=0.0, high=1.0, interval='cluster-held-out', held_out=0)
        top = sum(r.successes for r in cases)
        held = [(r.held_out or 0, r.n - 1) for r in cases if r.n > 1]
        held_out = sum(h for h, _ in held)
        value = top / total
        low = _cluster_interval(held)[0] if held else 0.0
        high = _cluster_interval([(r.successes, r.n) for r in cases])[1]
        suite_low = wilson(held_out, sum(n for _, n in held))[0] if held else 0.0
        suite_high = wilson(top, total)[1]
        return cls(
            value=value,
            successes=top,
            n=total,
            low=min(low, value),
            high=max(high, value),
            interval='cluster-held-out',
            held_out=held_out,
            suite_low=min(suite_low, value),
            suite_high=max(suite_high, value),
        )

    def __str__(self) -> str:
        return 'n/a (n=0)' if self.value is None else f'{self.value:.0%} [{self.low:.0%}-{self.high:.0%}] n={self.n}'

    def __float__(self) -> float:
        """The point estimate; NaN when n is 0, so that every comparison with it is false."""
        return math.nan if self.value is None else self.value

    # `assert runs.determinism >= 0.95` compares the point estimate; use `.low` to compare the lower bound.
    def __eq__(self, other: object) -> bool:
        # Python derives `!=` from this, so both agree with the ordering operators on numbers.
        if isinstance(other, Rate):
            return super().__eq__(other)
        if isinstance(other, int | float) and not isinstance(other, bool):
            return float(self) == other
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        return float(self) >= _number(other)

    def __gt__(self, other: object) -> bool:
        return float(self) > _number(other)

    def __le__(self, other: object) -> bool:
        return float(self) <= _number(other)

    def __lt__(self, other: object) -> bool:
        return float(self) < _number(other)


class Score(BaseModel):
    """Mean of one numeric evaluator result over the runs that produced it, with a 95% interval."""

    mean: float
    std: float = Field(description='sample standard deviation of the runs (n - 1 denominator); 0 for one run')
    n: int = Field(description='runs that produced this score (runs that raised produce none)')
    low: float | None = Field(description='95% lower bound; null for a single run (no spread to measure)')
    high: float | None
    interval: Literal['t', 'cluster-t'] = Field(
        default='t',
        description=(
            "'t': Student's t interval over n runs; 'cluster-t': cluster-robust interval over the cases "
            '(never narrower than the t interval over runs; docs/statistics.md)'
        ),
    )

    @classmethod
    def of(cls, values: Sequence[float]) -> Score:
        """Mean and Student's t interval of independent values (at least one)."""
        n = len(values)
        if n == 0:
            raise ValueError('a score needs at least one value')
        mean = sum(values) / n
        if n == 1:
            return cls(mean=mean, std=0.0, n=1, low=None, high=None)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = t_critical(n - 1) * std / math.sqrt(n)
        return cls(mean=mean, std=std, n=n, low=mean - half, high=mean + half)

    @classmethod
    def clustered(cls, scores: Sequence[Score]) -> Score:
        """Pooled mean of per-case scores (weighted by their runs) with a cluster-robust interval.

        When the ratio estimator's cluster-robust variance over cases exceeds the plain variance of the mean of all
        runs, the interval uses it with Student's t over (cases - 1) degrees of freedom; otherwise (and for one
        case) it is the t interval over all runs.
        """
        if not scores:
            raise ValueError('a score needs at least one case')
        total = sum(s.n for s in scores)
        sums = [s.mean * s.n for s in scores]
        mean = sum(sums) / total
        squares = sum((s.n - 1) * s.std**2 + s.n * s.mean**2 for s in scores)
        m = len(scores)
        if total == 1:
            return cls(mean=mean, std=0.0, n=1, low=None, high=None, interval='cluster-t')
        std = math.sqrt(max(0.0, squares - total * mean * mean) / (total - 1))
        var_runs = std * std / total
        var_cluster = (
            m / (m - 1) * sum((t - mean * s.n) ** 2 for t, s in zip(sums, scores, strict=True)) / total**2
            if m > 1
            else 0.0
        )
        if var_cluster > var_runs:
            half = t_critical(m - 1) * math.sqrt(var_cluster)
        else:
            # No sign that runs of a case are more alike than independent runs: the t interval over all runs.
            half = t_critical(total - 1) * math.sqrt(var_runs)
        return cls(mean=mean, std=std, n=total, low=mean - half, high=mean + half, interval='cluster-t')

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return f'{self.mean:.3g} n={self.n}'
        return f'{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}] n={self.n}'


class Distribution(BaseModel):
    """Mean and percentiles of one per-run quantity."""

    mean: float | None
    p50: float | None
    p95: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """Mean, median and 95th percentile of `values`."""
        return cls(
            mean=sum(values) / len(values) if values else None,
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            n=len(values),
        )


class Totals(BaseModel):
    """What runs spent, summed over every run, errored and infrastructure failures included."""

    runs: int
    requests: int
    input_tokens: int
    output_tokens: int
    cost: float | None = Field(description='USD summed over the priced runs; null when no run was priced')
    unpriced_runs: int = Field(description='runs whose cost is unknown (not in `cost`)')
    retries: int = Field(default=0, description='model requests retried after an infrastructure failure')
    waited: float = Field(
        default=0.0, description="seconds runs spent waiting on the session's request limits and on retry back-off"
    )
    judge_requests: int = Field(default=0, description="evaluators' (judges') model requests, apart from the runs'")
    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    judge_cost: float | None = Field(
        default=None, description='USD the evaluators spent, summed over the priced runs; null when none was priced'
    )

    @classmethod
    def of(cls, records: Sequence[RunRecord]) -> Totals:
        """Sums over `records`."""
        costs = [r.cost for r in records if r.cost is not None]
        judge_costs = [r.judge_cost for r in records if r.judge_cost is not None]
        return cls(
            judge_requests=sum(r.judge_requests for r in records),
            judge_input_tokens=sum(r.judge_input_tokens for r in records),
            judge_output_tokens=sum(r.judge_output_tokens for r in records),
            judge_cost=math.fsum(judge_costs) if judge_costs else None,
            runs=len(records),
            requests=sum(r.requests for r in records),
            input_tokens=sum(r.input_tokens for r in records),
            output_tokens=sum(r.output_tokens for r in records),
            cost=sum(costs) if costs else None,
            unpriced_runs=len(records) - len(costs),
            retries=sum(r.retries for r in records),
            waited=math.fsum(r.waited for r in records),
        )

    @classmethod
    def sum(cls, parts: Iterable[Totals]) -> Totals:
        """Sums of sums."""
        parts = list(parts)
        costs = [p.cost for p in parts if p.cost is not None]
        judge_costs = [p.judge_cost for p in parts if p.judge_cost is not None]
        return cls(
            judge_requests=sum(p.judge_requests for p in parts),
            judge_input_tokens=sum(p.judge_input_tokens for p in parts),
            judge_output_tokens=sum(p.judge_output_tokens for p in parts),
            judge_cost=math.fsum(judge_costs) if judge_costs else None,
            runs=sum(p.runs for p in parts),
            requests=sum(p.requests for p in parts),
            input_tokens=sum(p.input_tokens for p in parts),
            output_tokens=sum(p.output_tokens for p in parts),
            cost=sum(costs) if costs else None,
            unpriced_runs=sum(p.unpriced_runs for p in parts),
            retries=sum(p.retries for p in parts),
            waited=math.fsum(p.waited for p in parts),
        )


class Variant(BaseModel):
    """One distinct canonical trajectory (or error) and how often it occurred."""

    trajectory: str = Field(description='the rendered trajectory, or `error: <ExceptionType>` for runs that raised')
    count: int
    example_run: int = Field(description='index of the first run with this trajectory')
    steps: list[list[str]] = Field(description='flattened unordered steps of tool names of that example run')
    error_type: str | None = Field(default=None, description='the exception type when this variant is an error')
    traceback: str | None = Field(
        default=None,
        description="when this variant is an error: the example run's traceback, the user's own frames shown and "
        'library frames folded, headed by `raised at file:line in function`',
    )


class FailedRun(BaseModel):
    """A run that did not pass, with what the failure message needs."""

    index: int
    error: str | None = Field(description='`Type: message` if the run raised or captured nothing')
    error_kind: Literal['behaviour', 'infrastructure'] | None = Field(
        default=None, description='infrastructure failures are shown but count in no rate'
    )
    failed_assertions: list[str] = Field(description='`name: reason` of each false assertion or evaluator error')
    tool_calls: list[str] = Field(description="the run's tool calls in start order")


class FaultStats(BaseModel):
    """What injected faults (`--agentarch-faults`) did to the runs they hit."""

    injected: dict[str, int] = Field(description='faults injected into model requests, by kind')
    runs_hit: int = Field(description='runs with at least one injected fault')
    recovered: int = Field(description='runs hit that passed: retries, fallbacks or the agent absorbed the faults')
    degraded: int = Field(description='runs hit that finished without raising but did not pass (a worse answer)')
    failed: int = Field(description='runs hit that raised, on behaviour or on infrastructure (retries exhausted)')
    pass_rate: Rate = Field(description='runs hit that passed, over the runs hit that were judged')

    @classmethod
    def of(cls, records: Sequence[RunRecord]) -> FaultStats | None:
        """The fault figures of `records` (the runs of one case); None when no fault was injected into any."""
        hit = [r for r in records if r.faults]
        if not hit:
            return None
        injected: Counter[str] = Counter()
        for r in hit:
            injected.update(r.faults)
        judged = [r for r in hit if not r.infrastructure and not r.unjudged]
        return cls(
            injected=dict(sorted(injected.items())),
            runs_hit=len(hit),
            recovered=sum(r.passed for r in hit),
            degraded=sum(not r.errored and not r.unjudged and not r.passed for r in hit),
            failed=sum(r.errored for r in hit),
            pass_rate=Rate.of(sum(r.passed for r in judged), len(judged)),
        )

    @classmethod
    def pooled(cls, parts: Iterable[FaultStats | None]) -> FaultStats | None:
        """The figures of several cases of one architecture (pass rate clustered by case); None when none has any."""
        found = [p for p in parts if p is not None]
        if not found:
            return None
        injected: Counter[str] = Counter()
        for p in found:
            injected.update(p.injected)
        return cls(
            injected=dict(sorted(injected.items())),
            runs_hit=sum(p.runs_hit for p in found),
            recovered=sum(p.recovered for p in found),
            degraded=sum(p.degraded for p in found),
            failed=sum(p.failed for p in found),
            pass_rate=Rate.clustered((p.pass_rate.successes, p.pass_rate.n) for p in found),
        )

    def __str__(self) -> str:
        kinds = ', '.join(f'{k} {v}' for k, v in self.injected.items())
        return (
            f'{sum(self.injected.values())} injected ({kinds}) in {self.runs_hit} runs: {self.recovered} recovered, '
            f'{self.degraded} degraded, {self.failed} failed'
        )


class CaseStats(BaseModel):
    """Statistics of one (architecture, case): N runs of the same inputs."""

    architecture: str
    model: str | None = Field(default=None, description='the model, in a session with several (else null)')
    case: str
    dataset: str | None = None
    runs: int = Field(description='every run, infrastructure failures included')
    errors: int = Field(description='runs that raised, timed out or captured nothing because of their behaviour')
    infra: int = Field(default=0, description='runs that failed on infrastructure: counted in no rate')
    unjudged: int = Field(
        default=0, description='runs whose evaluators could not reach their model (a judge): not in pass rate, pass^k'
    )
    evaluator_infra_errors: list[str] = Field(
        default_factory=list[str], description='the distinct messages of those evaluator failures (up to 5)'
    )
    error_types: dict[str, int] = Field(description='exception type -> runs, both kinds')
    level: Level = Field(default='steps', description='the level of `determinism` and `variants`')
    determinism: Rate = Field(
        description='share of counted runs (errors as their own variant) with the most common trajectory at `level`; '
        'runs that all raised the same exception make it 1: check `errors` (or `all_raised`) beside it'
    )
    all_raised: str | None = Field(
        default=None,
        description='when every counted run raised because of its behaviour, what to show instead of determinism, '
        'e.g. `all 20 runs raised KeyError`; else null',
    )
    determinism_by_level: dict[Level, Rate] = Field(description='the same share at each level: tools, steps, strict')
    variants: list[Variant] = Field(description='distinct trajectories at `level` (and errors), most common first')
    output_agreement: Rate = Field(
        description='share of counted runs whose compared output fields (or error type) equal the mode'
    )
    pass_rate: Rate = Field(
        description='runs that passed every outcome assertion, over counted runs that were judged (run.sides)'
    )
    path_conformance: Rate | None = Field(
        default=None,
        description='runs that passed every path assertion (trajectory evaluators), over counted runs that were '
        'judged; null when the case has no path evaluator',
    )
    faults: FaultStats | None = Field(default=None, description='injected faults; null when none was injected')
    pass_hat_k: list[float] = Field(description='pass^k for k = 1..judged runs')
    pass_at_k: list[float] = Field(description='pass@k for k = 1..judged runs')
    scores: dict[str, Score] = Field(default_factory=dict[str, Score], description='numeric evaluator results')
    labels: dict[str, dict[str, int]] = Field(
        default_factory=dict[str, dict[str, int]],
        description='string evaluator results: name -> label -> runs, most common first',
    )
    requests: Distribution
    input_tokens: Distribution
    output_tokens: Distribution
    tool_calls: Distribution
    cost: Distribution | None = Field(description='USD per counted run; null unless every counted run was priced')
    latency: Distribution = Field(description="wall seconds per counted run (in a replay: the replay's own)")
    recorded_latency: Distribution | None = Field(
        default=None,
        description="replay only: the recorded model's seconds per counted run (the sum of the recorded durations of "
        'its exchanges); null outside a replay and when the recording stored no durations',
    )
    metrics: dict[str, float] = Field(
        description='mean per counted run of each metric the architecture reported (increment_eval_metric)'
    )
    total: Totals = Field(description='spend of every run of the case, errors and infrastructure failures included')
    expected_steps: list[list[str]] | None = None
    failures: list[FailedRun] = Field(description='up to 10 runs that did not pass')


def _mode(keys: Sequence[str]) -> tuple[Rate, Counter[str]]:
    counts = Counter(keys)
    top = counts.most_common(1)[0][1] if counts else 0
    return Rate.modal(top, len(keys), agreement_with_predicted_mode(keys)), counts


def variant_key(record: RunRecord, level: Level) -> str:
    """What identifies the run's variant at `level`: its rendered trajectory, or `error: <type>` if it raised."""
    if record.errored:
        return f'error: {record.error_type}'
    key: str = getattr(record, _KEY_OF[level])
    return key


def _labels(counted: Sequence[RunRecord]) -> dict[str, dict[str, int]]:
    found: dict[str, Counter[str]] = {}
    for r in counted:
        for a in r.assertions:
            if isinstance(a.value, str):
                found.setdefault(a.name, Counter())[a.value] += 1
    return {
        name: dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) for name, counts in sorted(found.items())
    }


def _scores(counted: Sequence[RunRecord]) -> dict[str, Score]:
    found: dict[str, list[float]] = {}
    for r in counted:
        for a in r.assertions:
            if isinstance(a.value, int | float) and not isinstance(a.value, bool):
                found.setdefault(a.name, []).append(float(a.value))
    return {name: Score.of(values) for name, values in sorted(found.items())}


def _failed(r: RunRecord) -> FailedRun:
    return FailedRun(
        index=r.index,
        error=f'{r.error_type}: {r.error_message}' if r.errored else None,
        error_kind=(r.error_kind or 'behaviour') if r.errored else None,
        failed_assertions=[
            f'{"path " if a.side == "path" else ""}{a.name}: {a.reason or "false"}' for a in r.failed_assertions
        ]
        + r.evaluator_errors
        + [f'path {e}' for e in r.path_errors],
        tool_calls=[c.name + ('!' if c.failed else '') for c in r.tool_calls],
    )


def all_raised(counted: Sequence[RunRecord]) -> str | None:
    """`all 20 runs raised KeyError` when every run of `counted` (runs that count in determinism) raised, naming
    the exception types (`all 20 runs raised KeyError 12, ValueError 8`); None when one did not, or there are none.

    Such runs form one variant per exception type, so a single type reads as 100% determinism: this is what reports
    show in its place."""
    if not counted or not all(r.errored for r in counted):
        return None
    types = Counter(str(r.error_type) for r in counted).most_common()
    raised = types[0][0] if len(types) == 1 else ', '.join(f'{t} {c}' for t, c in types)
    return f'the only run raised {raised}' if len(counted) == 1 else f'all {len(counted)} runs raised {raised}'


def case_stats(
    records: Sequence[RunRecord],
    *,
    architecture: str,
    case: str,
    dataset: str | None = None,
    expected_steps: list[list[str]] | None = None,
    max_failures: int = 10,
    level: Level = 'steps',
    model: str | None = None,
) -> CaseStats:
    """Statistics of the runs of one case by one architecture; `level` picks the headline determinism."""
    records = sorted(records, key=lambda r: r.index)
    counted = [r for r in records if not r.infrastructure]
    n = len(counted)
    judged = [r for r in counted if not r.unjudged]
    j = len(judged)
    passed = sum(r.passed for r in judged)
    curves = pass_k_curves(j, passed)
    by_level = {lv: _mode([variant_key(r, lv) for r in counted])[0] for lv in LEVELS}
    _, counts = _mode([variant_key(r, level) for r in counted])
    agreement, _ = _mode([f'error: {r.error_type}' if r.errored else r.output_key or '' for r in counted])
    first: dict[str, RunRecord] = {}
    for r in counted:
        first.setdefault(variant_key(r, level), r)
    # Ties in count are ordered by first occurrence, which depends only on run indexes (reproducible).
    variants = [
        Variant(
            trajectory=t,
            count=c,
            example_run=first[t].index,
            steps=[] if first[t].errored else first[t].steps,
            error_type=first[t].error_type,
            traceback=first[t].error_traceback,
        )
        for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]].index))
    ]
    costs = [r.cost for r in counted]
    metric_names = sorted({k for r in counted for k in r.metrics})
    return CaseStats(
        architecture=architecture,
        model=model,
        case=case,
        dataset=dataset,
        runs=len(records),
        errors=sum(r.errored for r in counted),
        infra=len(records) - n,
        unjudged=n - j,
        evaluator_infra_errors=list(dict.fromkeys(e for r in counted for e in r.evaluator_infra_errors))[:5],
        error_types=dict(Counter(r.error_type for r in records if r.error_type)),
        level=level,
        determinism=by_level[level],
        all_raised=all_raised(counted),
        determinism_by_level=by_level,
        variants=variants,
        output_agreement=agreement,
        pass_rate=Rate.of(passed, j),
        path_conformance=(
            Rate.of(sum(r.conforms is True for r in judged), j) if any(r.path_checked for r in records) else None
        ),
        faults=FaultStats.of(records),
        pass_hat_k=curves[0],
        pass_at_k=curves[1],
        scores=_scores(counted),
        labels=_labels(counted),
        requests=Distribution.of([r.requests for r in counted]),
        input_tokens=Distribution.of([r.input_tokens for r in counted]),
        output_tokens=Distribution.of([r.output_tokens for r in counted]),
        tool_calls=Distribution.of([len(r.tool_calls) for r in counted]),
        cost=Distribution.of([c for c in costs if c is not None]) if costs and None not in costs else None,
        latency=Distribution.of([r.duration for r in counted]),
        recorded_latency=_recorded(counted),
        metrics={m: sum(r.metrics.get(m, 0.0) for r in counted) / n for m in metric_names},
        total=Totals.of(records),
        expected_steps=expected_steps,
        failures=[_failed(r) for r in records if not r.passed or r.conforms is False][:max_failures],
    )


class ArchitectureStats(BaseModel):
    """One architecture (on one model) over all its cases: pooled values with cluster-adjusted intervals, pass^k
    averaged. Cases of different models are never pooled."""

    architecture: str
    model: str | None = Field(default=None, description='the model, in a session with several (else null)')
    description: str = ''
    cases: int
    runs: int
    errors: int = Field(description='runs that raised because of their behaviour')
    infra: int = Field(default=0, description='runs that failed on infrastructure')
    unjudged: int = Field(default=0, description='runs whose evaluators could not reach their model')
    level: Level = Field(default='steps', description='the level of `determinism`')
    determinism: Rate = Field(description='pooled over cases at `level`: modal runs over counted runs')
    all_raised: str | None = Field(
        default=None,
        description='when every counted run of every case raised, what to show instead of determinism, e.g. '
        '`all 80 runs raised KeyError`; else null',
    )
    determinism_by_level: dict[Level, Rate]
    distinct_trajectories: float | None = Field(
        description='mean number of distinct trajectories (errors included) per case with counted runs'
    )
    output_agreement: Rate
    pass_rate: Rate = Field(description='pooled over cases: runs that passed every outcome assertion')
    path_conformance: Rate | None = Field(
        default=None, description='pooled over the cases with a path evaluator; null when none has one'
    )
    faults: FaultStats | None = Field(default=None, description='injected faults; null when none was injected')
    k: int = Field(description='the largest k of pass^k: the fewest counted runs of any case with counted runs')
    pass_hat_k: list[float] = Field(description='mean over cases of pass^k, k = 1..`k`')
    pass_at_k: list[float] = Field(description='mean over cases of pass@k, k = 1..`k`')
    scores: dict[str, Score] = Field(default_factory=dict[str, Score])
    labels: dict[str, dict[str, int]] = Field(default_factory=dict[str, dict[str, int]])
    input_tokens: float | None = Field(description='mean per counted run')
    output_tokens: float | None
    requests: float | None
    tool_calls: float | None
    cost: float | None = Field(description='mean USD per counted run; null unless every counted run was priced')
    latency_p50: float | None = Field(description="wall seconds per counted run (in a replay: the replay's own)")
    latency_p95: float | None
    recorded_latency_p50: float | None = Field(
        default=None,
        description="replay only: the recorded model's seconds per counted run (`CaseStats.recorded_latency`); null "
        'outside a replay and when the recording stored no durations',
    )
    recorded_latency_p95: float | None = None
    metrics: dict[str, float] = Field(
        default_factory=dict[str, float], description='mean per counted run of each reported metric'
    )
    total: Totals = Field(description='spend of every run, errors and infrastructure failures included')
    peak_memory: int | None = Field(
        default=None,
        description='largest per-run Python heap peak (tracemalloc) of its traced items, bytes',
    )


def _clustered(rates: Sequence[Rate]) -> Rate:
    if any(r.held_out is not None for r in rates):
        return Rate.clustered_modal(rates)
    return Rate.clustered((r.successes, r.n) for r in rates)


def _weighted(cases: Sequence[CaseStats], pick: str) -> float | None:
    dists: list[Distribution] = [getattr(c, pick) for c in cases]
    total = sum(d.n for d in dists)
    if not total:
        return None
    return sum((d.mean or 0.0) * d.n for d in dists) / total


def _merge_labels(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    found: dict[str, Counter[str]] = {}
    for part in parts:
        for name, counts in part.items():
            found.setdefault(name, Counter()).update(counts)
    return {
        name: dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) for name, counts in sorted(found.items())
    }


def _all_raised(observed: Sequence[CaseStats]) -> str | None:
    """`all_raised` over cases: every counted run of every case raised (its exception types counted over them)."""
    if not observed or any(c.all_raised is None for c in observed):
        return None
    types: Counter[str] = Counter()
    for c in observed:
        types.update({str(v.error_type): v.count for v in c.variants})
    counted = sum(types.values())
    ranked = types.most_common()
    raised = ranked[0][0] if len(ranked) == 1 else ', '.join(f'{t} {n}' for t, n in ranked)
    return f'the only run raised {raised}' if counted == 1 else f'all {counted} runs raised {raised}'


def _recorded(counted: Sequence[RunRecord]) -> Distribution | None:
    """The recorded latencies of the counted runs, when every one of them has one."""
    known = [r.recorded_latency for r in counted if r.recorded_latency is not None]
    return Distribution.of(known) if known and len(known) == len(counted) else None


def aggregate(
    cases: Sequence[CaseStats],
    *,
    description: str = '',
    latencies: Sequence[float] = (),
    recorded_latencies: Sequence[float] | None = None,
) -> ArchitectureStats:
    """Pool the cases of one architecture. `latencies` are its counted runs' wall times (for exact percentiles);
    `recorded_latencies`, in a replay, their recorded model latencies (None when any is unknown)."""
    if not cases:
        raise ValueError('aggregate needs at least one case')
    if len({(c.architecture, c.model) for c in cases}) > 1:
        raise ValueError('aggregate pools the cases of one architecture on one model only')
    levels = {c.level for c in cases}
    if len(levels) > 1:
        raise ValueError(f'cases of one architecture must share a determinism level, got {sorted(levels)}')
    level = cases[0].level
    # A case whose every run failed on infrastructure has no pass^k and no trajectories: it tells nothing.
    informative = [c for c in cases if c.pass_rate.n]
    # Counted runs (not failed on infrastructure) are determinism's n; the pass rate's leaves out unjudged runs too.
    observed = [c for c in cases if c.determinism.n]
    k = min((c.pass_rate.n for c in informative), default=0)
    costs = [c.cost for c in observed]
    cost_runs = sum(c.n for c in costs if c is not None)
    counted = sum(c.determinism.n for c in cases)
    metric_names = sorted({m for c in cases for m in c.metrics})
    score_names = sorted({s for c in cases for s in c.scores})
    by_level = {lv: _clustered([c.determinism_by_level[lv] for c in cases]) for lv in LEVELS}
    return ArchitectureStats(
        architecture=cases[0].architecture,
        model=cases[0].model,
        description=description,
        cases=len(cases),
        runs=sum(c.runs for c in cases),
        errors=sum(c.errors for c in cases),
        infra=sum(c.infra for c in cases),
        unjudged=sum(c.unjudged for c in cases),
        level=level,
        determinism=by_level[level],
        all_raised=_all_raised(observed),
        determinism_by_level=by_level,
        distinct_trajectories=(sum(len(c.variants) for c in observed) / len(observed) if observed else None),
        output_agreement=_clustered([c.output_agreement for c in cases]),
        pass_rate=_clustered([c.pass_rate for c in cases]),
        path_conformance=(
            _clustered(paths)
            if (paths := [c.path_conformance for c in cases if c.path_conformance is not None])
            else None
        ),
        faults=FaultStats.pooled(c.faults for c in cases),
        k=k,
        pass_hat_k=[sum(c.pass_hat_k[i] for c in informative) / len(informative) for i in range(k)],
        pass_at_k=[sum(c.pass_at_k[i] for c in informative) / len(informative) for i in range(k)],
        scores={s: Score.clustered([c.scores[s] for c in cases if s in c.scores]) for s in score_names},
        labels=_merge_labels(c.labels for c in cases),
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
        recorded_latency_p50=percentile(recorded_latencies, 50) if recorded_latencies else None,
        recorded_latency_p95=percentile(recorded_latencies, 95) if recorded_latencies else None,
        metrics={m: sum(c.metrics.get(m, 0.0) * c.determinism.n for c in cases) / counted for m in metric_names}
        if counted
        else {},
        total=Totals.sum(c.total for c in cases),
    )


def level_of(value: Any) -> Level:
    """`value` as a determinism level, or ValueError naming the three levels."""
    if value not in LEVELS:
        raise ValueError(f'determinism level must be one of {", ".join(LEVELS)}, got {value!r}')
    level: Level = value
    return level
