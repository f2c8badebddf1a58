"""Sequential, anytime-valid gates: decide "is the rate at least the threshold?" after each batch of runs, with an
error rate that holds whenever the runs stop. Pure functions and plain models; no pytest here.

Each rate gate is two one-sided mixture sequential probability ratio tests (mixture SPRTs) on the runs ordered by
index. For a threshold t:

- **met** rejects "p < t". Its e-process is a mixture, over alternatives q in (t, 1], of the likelihood ratios
  prod (q/t)^x ((1-q)/(1-t))^(1-x). For any p <= t each ratio's expected factor is p q/t + (1-p)(1-q)/(1-t) <= 1, so
  the mixture is a nonnegative supermartingale and, by Ville's inequality, reaches 1/alpha with probability at most
  alpha, however long it is watched.
- **missed** rejects "p >= t": the same mixture over alternatives q in [0, t).

At most one of the two nulls is true, so the chance of a wrong decision (met when p < t, missed when p >= t) is at
most alpha, at every stopping time. A rate exactly at the threshold is never reliably decided: it runs to the maximum.

**At the maximum** (`final_cutoff`): a gate still undecided after the last batch is met only when its met-side
successes reach a cutoff chosen so that, for a Bernoulli(t) stream checked at the same looks, the chance of crossing
the met boundary at any look or reaching the cutoff at the last one is at most alpha (computed exactly). That event
only grows with the successes, so its chance is at most alpha for every p <= t, and for determinism's held-out stream,
whose chance of success is at most d at every run. Otherwise the gate stays undecided and fails: a pass is always a
decision whose wrong-pass rate at the threshold is at most alpha overall, early stops included. Most of the unspent
alpha of the e-process is used there, so rates just above the threshold that the mixture is too slow to decide within
the maximum are met at the maximum nearly as often as by a fixed-N exact test of the same runs.

The mixing distributions (`alternatives`). missed puts half its weight on q = 0, where runs that all fail are decided
soonest, and spreads the other half evenly over q = t j / 10, j = 1..9. met puts 0.45 on q = 1 and the rest on five
alternatives q = t + (1 - t) u, u = 0.2 to 0.85, most of it near the threshold. It replaced a mixture shaped like
missed's (1/2 on q = 1, 1/18 on each of u = 0.1..0.9), which wasted weight on q = 1 for every stream with a failure and
on u = 0.1, a rate a practical number of runs never decides: without a maximum, at t = 0.9 in batches of 5, a rate of
0.95 is met after 227 runs on average instead of 239, 0.94 after 375 instead of 403 (computed exactly,
`benchmarks/sequential.py efficiency`); it needs one success more than the old one at a few early looks (33 and 74
trials at t = 0.9), which delays some near-perfect streams with an early failure by a batch. An all-success stream
at t = 0.9 is decided met after 34 runs (33 before, so batches of 5 stop it at 35 as before; the best any valid test
can do is 29: the likelihood ratio of p = 1 against p = 0.9 is (1/0.9)^n, and (1/0.9)^29 = 21.2 is the first power
above 20 = 1/0.05). No mixture does much better: a single alternative at the true rate, which no test knows, needs
187 runs on average at 0.95, and mixtures that spend less on q = 1 gain a few runs at 0.95 for several on every
perfect stream.

Determinism is not a Bernoulli mean: the modal trajectory is itself estimated from the runs. With d the probability of
the modal trajectory and pi_v that of trajectory v (d = max pi_v):

- **met** (d >= t): run i (i >= 1) scores 1 when its trajectory equals the most common one among runs 0..i-1 (ties to
  the earliest), a candidate fixed before run i is seen. Its conditional success probability is pi_candidate <= d, so
  under d < t every factor of the met mixture still has expectation <= 1: the e-process stays a supermartingale and
  the error bound holds. Run 0 only seeds the candidate: met needs one run more than a Bernoulli stream.
- **missed** (d < t): for any fixed trajectory v, the indicators "run i took v" are Bernoulli(pi_v); the missed test
  on the count of v rejects "pi_v >= t". Declaring missed requires it to reject for every v, which (the test being
  monotone in the count) is the same as rejecting for the most common one. If d >= t, a wrong missed needs the test of
  the true mode, a single fixed trajectory, to reject: probability at most alpha. No multiplicity correction is
  needed because one true null has to fall.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, Field

__all__ = (
    'DEFAULT_ALPHA',
    'Decision',
    'GateDecision',
    'Plan',
    'SequentialItem',
    'SequentialTotals',
    'agreement_with_predicted_mode',
    'alternatives',
    'decide_determinism',
    'decide_rate',
    'e_value',
    'fewest_runs_to_meet',
    'final_cutoff',
    'fixed_n_exact',
    'fixed_n_normal',
    'fixed_n_power',
    'log_e_value',
    'plan',
    'without_maximum',
)

DEFAULT_ALPHA = 0.05
"""The default error rate of a sequential decision (`--agentarch-alpha`)."""

Decision = Literal['met', 'missed', 'undecided']
Side = Literal['met', 'missed']

_INTERIOR = 9
"""The missed test's alternatives spread evenly between 0 and the threshold (besides q = 0 itself)."""
_EXTREME_WEIGHT = 0.5
"""The missed test's weight on q = 0."""
_MET_MIXTURE = ((0.2, 0.15), (0.35, 0.12), (0.5, 0.12), (0.7, 0.10), (0.85, 0.06), (1.0, 0.45))
"""The met test's mixture: (u, weight) for the alternative q = t + (1 - t) u. Chosen by `benchmarks/sequential.py
efficiency` among mixtures that still decide a perfect stream at t = 0.9 within 34 runs (so batches of 5 stop a
perfect item at 35 runs, as before): no weight below u = 0.2, where rates need thousands of runs and a weight is
wasted at any practical maximum, and 0.45 on q = 1, the least that keeps the perfect stream at 34."""


def alternatives(threshold: float, side: Side) -> list[tuple[float, float]]:
    """The mixture of the `side` test at `threshold`: (alternative q, weight) pairs, weights summing to 1.

    met: q = 1 with weight 0.45, and q = t + (1 - t) u for u = 0.2, 0.35, 0.5, 0.7, 0.85 with weights 0.15, 0.12,
    0.12, 0.10, 0.06; missed: q = 0 with weight 1/2, and q = t j / 10 for j = 1..9 with weight 1/18 each."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f'threshold must be between 0 and 1, got {threshold!r}')
    if side == 'met':
        return [(1.0 if u == 1.0 else threshold + (1 - threshold) * u, weight) for u, weight in _MET_MIXTURE]
    steps = _INTERIOR + 1
    share = (1 - _EXTREME_WEIGHT) / _INTERIOR
    return [(0.0, _EXTREME_WEIGHT), *((threshold * j / steps, share) for j in range(1, steps))]


def _log_factor(q: float, t: float, x: int) -> float:
    """log of one run's likelihood ratio q-vs-t for an outcome x (1 success, 0 failure); -inf/inf at the edges."""
    num, den = (q, t) if x else (1 - q, 1 - t)
    if num <= 0:
        return -math.inf
    if den <= 0:
        return math.inf
    return math.log(num / den)


def log_e_value(successes: int, n: int, threshold: float, side: Side) -> float:
    """log of the mixture e-value of `side` after `successes` of `n` runs (0 for no runs: e = 1)."""
    if not 0 <= successes <= n:
        raise ValueError(f'successes must be in 0..n, got {successes} of {n}')
    if n == 0:
        return 0.0
    terms: list[float] = []
    for q, weight in alternatives(threshold, side):
        parts = [count * _log_factor(q, threshold, x) for count, x in ((successes, 1), (n - successes, 0)) if count]
        # An outcome the alternative cannot produce zeroes its component, even where the null cannot produce another
        # outcome either (q = 0 against t = 1): that component is no evidence.
        terms.append(-math.inf if -math.inf in parts else math.log(weight) + math.fsum(parts))
    top = max(terms)
    if top in (-math.inf, math.inf):
        return top
    return top + math.log(math.fsum(math.exp(t - top) for t in terms))


def e_value(successes: int, n: int, threshold: float, side: Side) -> float:
    """The mixture e-value of `side` ('met' or 'missed') after `successes` of `n` runs; `side` is decided once it
    reaches 1/alpha."""
    return math.exp(min(log_e_value(successes, n, threshold, side), 700.0))


def _decide(met_successes: int, met_n: int, top: int, n: int, threshold: float, alpha: float) -> Decision:
    """met on (met_successes of met_n), missed on (top of n): the two tests of one gate."""
    bar = math.log(1 / alpha)
    if threshold <= 0:
        return 'met'  # every rate is at least 0: nothing to decide
    if met_n and log_e_value(met_successes, met_n, threshold, 'met') >= bar:
        return 'met'
    if n and log_e_value(top, n, threshold, 'missed') >= bar:
        return 'missed'
    return 'undecided'


def _met_boundary(trials: int, threshold: float, alpha: float) -> int:
    """The fewest successes of `trials` at which the met e-value reaches 1/alpha (trials + 1 when none does); the
    e-value grows with the successes, so a bisection finds it."""
    bar = math.log(1 / alpha)
    lo, hi = 0, trials + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if log_e_value(mid, trials, threshold, 'met') >= bar:
            hi = mid
        else:
            lo = mid + 1
    return lo


@lru_cache(maxsize=1024)
def final_cutoff(looks: tuple[int, ...], threshold: float, alpha: float = DEFAULT_ALPHA) -> int:
    """The fewest met-side successes at the last of `looks` that pass a gate still undecided there.

    `looks` are the met side's trials at each check, increasing, the last at the maximum. Computed exactly on a
    Bernoulli(`threshold`) stream: the chance of crossing the met boundary at an earlier look, plus that of reaching
    the cutoff at the last, is at most `alpha` (module docstring). The last look's e-value boundary is never below
    the cutoff. `looks[-1] + 1` when no cutoff keeps alpha (nothing passes at the maximum)."""
    if not looks or looks[0] < 1 or any(b <= a for a, b in itertools.pairwise(looks)):
        raise ValueError(f'looks must be increasing trial counts of at least 1, got {looks}')
    if not 0.0 < threshold < 1.0:
        raise ValueError(f'a final cutoff needs a threshold strictly between 0 and 1, got {threshold!r}')
    alive: dict[int, float] = {0: 1.0}
    crossed = 0.0
    previous = 0
    for i, n in enumerate(looks):
        pmf = _binomial_pmf(n - previous, threshold)
        previous = n
        grown: dict[int, float] = {}
        for s, weight in alive.items():
            for k, pk in enumerate(pmf):
                grown[s + k] = grown.get(s + k, 0.0) + weight * pk
        alive = grown
        if i < len(looks) - 1:
            bound = _met_boundary(n, threshold, alpha)
            crossed += math.fsum(w for s, w in alive.items() if s >= bound)
            alive = {s: w for s, w in alive.items() if s < bound}
    cutoff = looks[-1] + 1
    tail = crossed
    for s in range(looks[-1], -1, -1):
        tail += alive.get(s, 0.0)
        if tail > alpha * (1 + 1e-9):
            break
        cutoff = s
    return cutoff


def decide_rate(successes: int, n: int, threshold: float, alpha: float = DEFAULT_ALPHA) -> Decision:
    """Whether a Bernoulli rate (pass rate) of `successes` in `n` runs is decided at least `threshold` ('met'),
    below it ('missed'), or not yet ('undecided'), with a wrong decision at most `alpha` whenever the runs stop."""
    return _decide(successes, n, successes, n, threshold, alpha)


def agreement_with_predicted_mode(keys: Sequence[str]) -> int:
    """How many runs i >= 1 took the most common trajectory of runs 0..i-1 (ties to the one seen first): the met
    test's successes for determinism, out of len(keys) - 1."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    mode: str | None = None
    agreed = 0
    for i, key in enumerate(keys):
        if mode is not None and key == mode:
            agreed += 1
        counts[key] += 1
        first.setdefault(key, i)
        if mode is None or (counts[key], -first[key]) > (counts[mode], -first[mode]):
            mode = key
    return agreed


def decide_determinism(keys: Sequence[str], threshold: float, alpha: float = DEFAULT_ALPHA) -> Decision:
    """Whether the share of runs with the modal trajectory is decided at least `threshold`, below it, or not yet.

    `keys` are the runs' trajectory keys (errors as their own variant) in run-index order. met counts agreement with
    the predictably chosen mode (`agreement_with_predicted_mode`, n - 1 trials); missed tests the modal count over all
    n runs. See the module docstring for why both keep the error at most alpha."""
    n = len(keys)
    top = max(Counter(keys).values(), default=0)
    agreed = agreement_with_predicted_mode(keys)
    return _decide(agreed, max(0, n - 1), top, n, threshold, alpha)


# ------------------------------------------------------------------------------------------------ report models


class GateDecision(BaseModel):
    """How one rate gate of an item was decided by the sequential test."""

    metric: str = Field(description='`pass_rate`, `path_conformance` or `determinism:<level>`')
    threshold: float
    decision: Decision
    at_run: int | None = Field(description='the runs used when it was decided; null when undecided')
    successes: int = Field(description="the deciding test's successes: passed runs, or runs agreeing with the mode")
    trials: int = Field(description="the deciding test's trials (determinism's met test has one fewer than its runs)")
    e_value: float = Field(
        description='the e-value of the side that decided (met, or missed; for undecided the larger); a decision '
        'needs e >= 1/alpha'
    )
    final_test: bool = Field(
        default=False,
        description='met at the maximum by the final test (`final_cutoff`), not by the e-value reaching 1/alpha',
    )


class SequentialItem(BaseModel):
    """The sequential run of one item: runs used out of the maximum, and how each gate was decided."""

    alpha: float
    batch: int = Field(description='runs per batch; decisions are taken after each whole batch')
    max_runs: int = Field(description='--runs, the most the item could use')
    runs_used: int
    decided: bool = Field(
        description='every gate decided before or at the maximum, or one decided missed (the item stops there: the '
        'others are left undecided at the stop); an undecided gate fails, unless its threshold is 1'
    )
    gates: list[GateDecision]
    tokens_used: int = Field(description='input + output tokens of the runs made')
    tokens_saved: int = Field(
        description='runs not made x the mean tokens per run of the runs made (an estimate: those runs never ran)'
    )

    @property
    def runs_saved(self) -> int:
        """Runs of the maximum that were not needed."""
        return self.max_runs - self.runs_used

    @property
    def stopped_on_miss(self) -> bool:
        """A gate was decided missed: the item stopped there, its undecided gates left undecided at the stop."""
        return any(g.decision == 'missed' for g in self.gates)


class SequentialTotals(BaseModel):
    """Sequential runs summed over items (an architecture's, or the session's)."""

    items: int = Field(description='items run sequentially')
    decided: int = Field(description='items whose every gate was decided')
    undecided: int = Field(
        description='items with a gate undecided at the maximum: it fails (a threshold of 1: judged on every run)'
    )
    met: int = Field(description='items whose every gate was decided met')
    missed: int = Field(description='decided items with a gate decided missed (met + missed = decided)')
    runs_used: int
    runs_max: int = Field(description='runs a fixed design of --runs per item would have made')
    runs_saved: int
    tokens_used: int
    tokens_saved: int = Field(description='estimated from each item mean tokens per run')

    @classmethod
    def of(cls, items: Iterable[SequentialItem]) -> SequentialTotals:
        """Sums over `items`."""
        items = list(items)
        return cls(
            items=len(items),
            decided=sum(i.decided for i in items),
            undecided=sum(not i.decided for i in items),
            met=sum(i.decided and all(g.decision == 'met' for g in i.gates) for i in items),
            missed=sum(i.decided and any(g.decision == 'missed' for g in i.gates) for i in items),
            runs_used=sum(i.runs_used for i in items),
            runs_max=sum(i.max_runs for i in items),
            runs_saved=sum(i.runs_saved for i in items),
            tokens_used=sum(i.tokens_used for i in items),
            tokens_saved=sum(i.tokens_saved for i in items),
        )


# ------------------------------------------------------------------------------------------------ the planner


def fixed_n_normal(threshold: float, rate: float, alpha: float = DEFAULT_ALPHA, power: float = 0.8) -> int:
    """Runs a fixed-N one-sided test at level `alpha` needs to decide a true `rate` against `threshold` with
    probability `power`, by the normal approximation: ((z_(1-alpha) sqrt(t(1-t)) + z_power sqrt(p(1-p))) / |p - t|)^2,
    rounded up."""
    _check_rates(threshold, rate)
    if rate == threshold:
        raise ValueError('a rate equal to the threshold cannot be told from it by any number of runs')
    z = NormalDist()
    spread = z.inv_cdf(1 - alpha) * math.sqrt(threshold * (1 - threshold)) + z.inv_cdf(power) * math.sqrt(
        rate * (1 - rate)
    )
    return max(1, math.ceil((spread / abs(rate - threshold)) ** 2 - 1e-9))


def _check_rates(threshold: float, rate: float) -> None:
    for name, value in (('threshold', threshold), ('true rate', rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'the {name} must be between 0 and 1, got {value!r}')


def _binomial_pmf(n: int, p: float) -> list[float]:
    if p <= 0:
        return [1.0] + [0.0] * n
    if p >= 1:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    return [
        math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
        for k in range(n + 1)
    ]


def fixed_n_exact(
    threshold: float, rate: float, alpha: float = DEFAULT_ALPHA, power: float = 0.8, limit: int = 5000
) -> int | None:
    """The fewest runs N for which an exact one-sided binomial test at level `alpha` decides a true `rate` against
    `threshold` with probability at least `power`: for rate > t, some c has P(X >= c | t) <= alpha and
    P(X >= c | rate) >= power (mirrored for rate < t). None when no N up to `limit` does (a rate at the threshold)."""
    _check_rates(threshold, rate)
    if rate == threshold:
        return None
    above = rate > threshold
    for n in range(1, limit + 1):
        null, alt = _binomial_pmf(n, threshold), _binomial_pmf(n, rate)
        if not above:
            null, alt = null[::-1], alt[::-1]  # count failures: the same test mirrored
        tail_null = tail_alt = 0.0
        for k in range(n, -1, -1):
            tail_null += null[k]
            tail_alt += alt[k]
            if tail_null > alpha + 1e-12:
                break
            if tail_alt >= power - 1e-12:
                return n
    return None


def fixed_n_power(threshold: float, rate: float, n: int, alpha: float = DEFAULT_ALPHA) -> float:
    """The chance that a fixed design of `n` trials, met by an exact one-sided binomial test at level `alpha` (the
    fewest successes c with P(X >= c | threshold) <= alpha), is met when the true rate is `rate`."""
    _check_rates(threshold, rate)
    if n < 1:
        raise ValueError(f'a fixed design needs at least 1 trial, got {n}')
    null, alt = _binomial_pmf(n, threshold), _binomial_pmf(n, rate)
    tail_null = power = 0.0
    for k in range(n, -1, -1):
        tail_null += null[k]
        if tail_null > alpha * (1 + 1e-9):
            break
        power += alt[k]
    return power


def fewest_runs_to_meet(threshold: float, alpha: float = DEFAULT_ALPHA, *, determinism: bool = False) -> int | None:
    """The fewest runs after which a stream that never fails (or always agrees) is decided met; None for a threshold
    of 1, which no finite number of runs can show. Determinism needs one run more (run 0 seeds the mode)."""
    if threshold >= 1:
        return None
    n = 1
    while log_e_value(n, n, threshold, 'met') < math.log(1 / alpha):
        n += 1
    return n + 1 if determinism else n


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the sequential design does on a Bernoulli stream of true rate `rate` (the planner's row)."""

    rate: float
    expected_runs: float
    """Mean runs used, the maximum included for streams still undecided there."""
    met: float
    """Probability of stopping with met."""
    missed: float
    undecided: float
    """Probability of reaching the maximum undecided: the gate fails."""
    met_at_maximum: float = 0.0
    """Probability of being met at the maximum by the final test (part of `met`)."""


def plan(
    threshold: float,
    rate: float,
    *,
    max_runs: int,
    batch: int,
    alpha: float = DEFAULT_ALPHA,
    determinism: bool = False,
) -> Plan:
    """The sequential design on a Bernoulli stream of true `rate`, computed exactly (no simulation) by following the
    distribution of successes batch by batch and removing the paths that stop.

    With `determinism`, the stream is the share of runs taking one trajectory (probability `rate`) against runs that
    each take another: the met test then has one trial fewer than the runs (an approximation when the other runs
    share trajectories among themselves, which makes missed a little slower). Streams still undecided at `max_runs`
    are met when they pass the final test (`final_cutoff`), and fail otherwise (`undecided`)."""
    if max_runs < 1 or batch < 1:
        raise ValueError('max_runs and batch must be at least 1')
    _check_rates(threshold, rate)
    looks = [min(k, max_runs) for k in range(batch, max_runs + batch, batch)]
    # The met side's trials at each look: determinism's first run only seeds the mode.
    met_looks = tuple(n - 1 if determinism else n for n in looks if (n - 1 if determinism else n) > 0)
    cutoff = final_cutoff(met_looks, threshold, alpha) if met_looks and 0.0 < threshold < 1.0 else None
    alive: dict[int, float] = {0: 1.0}
    n = 0
    expected = met = missed = 0.0
    for previous, n in zip([0, *looks], looks, strict=False):
        grown: dict[int, float] = {}
        pmf = _binomial_pmf(n - previous, rate)
        for s, weight in alive.items():
            for k, pk in enumerate(pmf):
                if pk:
                    grown[s + k] = grown.get(s + k, 0.0) + weight * pk
        alive = {}
        for s, weight in grown.items():
            if determinism:
                # The mode is the modal trajectory once it leads; run 0 seeds it, so met sees s - 1 of n - 1 when the
                # first run took it and is charged as if it always did (the common case for a rate well above 1/2).
                decision = _decide(max(0, s - 1), n - 1, s, n, threshold, alpha)
            else:
                decision = decide_rate(s, n, threshold, alpha)
            if decision == 'undecided':
                alive[s] = weight
                continue
            expected += weight * n
            if decision == 'met':
                met += weight
            else:
                missed += weight
        if not alive:
            break
    # At the maximum: the final test passes the undecided streams whose met-side successes reach the cutoff.
    at_maximum = (
        math.fsum(w for s, w in alive.items() if (max(0, s - 1) if determinism else s) >= cutoff)
        if cutoff is not None and n == max_runs
        else 0.0
    )
    undecided = math.fsum(alive.values())
    return Plan(
        rate=rate,
        expected_runs=expected + undecided * n,
        met=met + at_maximum,
        missed=missed,
        undecided=undecided - at_maximum,
        met_at_maximum=at_maximum,
    )


def _first(decided: Callable[[int, int], bool], n: int, guess: int, lo: int) -> int:
    """The least s in lo..n with `decided(s, n)`, for a predicate false below some point and true from it on; n + 1
    when none. Starts at `guess` (the previous look's answer), so successive looks cost a few evaluations each."""
    s = min(max(guess, lo), n + 1)
    if s <= n and decided(s, n):
        while s > lo and decided(s - 1, n):
            s -= 1
        return s
    while s <= n and not decided(s, n):
        s += 1
    return s


def without_maximum(
    threshold: float,
    rate: float,
    *,
    batch: int,
    alpha: float = DEFAULT_ALPHA,
    determinism: bool = False,
    horizon: int = 5000,
) -> Plan:
    """The sequential design on a Bernoulli stream of true `rate` with no maximum, computed exactly up to `horizon`
    runs: what to set beside a fixed-N design, which has no maximum either. `undecided` is the chance of being still
    undecided at `horizon`, counted as `horizon` runs in `expected_runs` (a lower bound of the mean when it is not 0).
    The stream is modelled as in `plan`; there is no final test."""
    if batch < 1 or horizon < 1:
        raise ValueError('batch and horizon must be at least 1')
    _check_rates(threshold, rate)
    if threshold <= 0:
        return Plan(rate=rate, expected_runs=float(min(batch, horizon)), met=1.0, missed=0.0, undecided=0.0)
    bar = math.log(1 / alpha)
    seed = 1 if determinism else 0  # determinism's met side sees s - 1 of n - 1

    def met_decided(s: int, n: int) -> bool:
        return log_e_value(s - seed, n - seed, threshold, 'met') >= bar

    def missed_not_decided(s: int, n: int) -> bool:
        return log_e_value(s, n, threshold, 'missed') < bar

    # The chances of the undecided streams' successes, lowest..: a contiguous range between the two boundaries.
    low, alive = 0, [1.0]
    expected = met = missed = 0.0
    met_bound = missed_bound = 0
    previous = n = 0
    pmf = _binomial_pmf(batch, rate)
    while alive and n < horizon:
        n = min(previous + batch, horizon)
        step = pmf if n - previous == batch else _binomial_pmf(n - previous, rate)
        previous = n
        grown = [0.0] * (len(alive) + len(step) - 1)
        for k, pk in enumerate(step):
            if pk:
                for i, weight in enumerate(alive):
                    grown[i + k] += weight * pk
        # Met from the fewest successes whose met e-value reaches 1/alpha; missed below the fewest whose missed one
        # does not.
        met_bound = _first(met_decided, n, met_bound, seed) if n > seed else n + 1
        missed_bound = _first(missed_not_decided, n, missed_bound, 0)
        stopped_met = math.fsum(grown[max(0, met_bound - low) :])
        # met is checked first (as in `_decide`), should the two boundaries ever overlap
        stopped_missed = math.fsum(grown[: max(0, min(missed_bound, met_bound) - low)])
        met += stopped_met
        missed += stopped_missed
        expected += (stopped_met + stopped_missed) * n
        alive = grown[max(0, missed_bound - low) : max(0, met_bound - low)]
        low = max(low, missed_bound)
        # Tails too unlikely to matter are dropped (each below 1e-15), so the range stays narrow.
        while alive and alive[0] < 1e-15:
            alive.pop(0)
            low += 1
        while alive and alive[-1] < 1e-15:
            alive.pop()
    undecided = math.fsum(alive)
    return Plan(rate=rate, expected_runs=expected + undecided * n, met=met, missed=missed, undecided=undecided)
