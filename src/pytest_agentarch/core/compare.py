"""Whether a difference is real: exact tests on two proportions, Holm's correction, the comparison of a session with
a baseline report and of architectures with each other on the same cases. No pytest here.

- Two proportions (one item, old against new): Fisher's exact test, two-sided (the tables as likely as the observed
  one or less, under fixed margins), computed on exact integers.
- Two architectures over the same cases: the exact conditional test stratified by case (the exact counterpart of
  the Cochran-Mantel-Haenszel test): the runs of each case form a 2x2 table, and the statistic is the first group's
  successes summed over cases, whose null distribution is the convolution of the cases' hypergeometric
  distributions. Pairing by case keeps easy cases from being compared with hard ones; with one case it is Fisher's
  test.
- Determinism is a modal share, not a binomial rate: the modal count is biased upward, more so the closer the
  runner-up values are. "A is more deterministic than B" is therefore tested one-sided on A's held-out agreement
  (runs that took the mode of the runs before them, n - 1 trials, success chance at most d_A at every run) against
  B's modal count (at least the count of B's true mode, a Binomial(n, d_B)). Both substitutions move the statistic
  against the claim, and the one-sided test is monotone in them, so under d_A <= d_B the claim is made with
  probability at most the test's level, whatever the runner-ups (`determinism_test`). Each direction gets half of
  alpha.
- Many tests at once: Holm's step-down correction, which holds the family-wise error rate under any dependence
  (determinism and pass rate of one item are dependent), so each significant line can be read on its own.

docs/statistics.md defines every figure and works an example of each test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from .stats import Z95, Level, check_count, t_critical

__all__ = (
    'ALPHA',
    'TIE_MARGIN',
    'BaselineComparison',
    'BaselineError',
    'ItemChange',
    'ItemKey',
    'Observed',
    'PairComparison',
    'ProportionChange',
    'compare_pairs',
    'compare_to_baseline',
    'determinism_interval',
    'determinism_test',
    'difference_interval',
    'fisher_exact',
    'holm',
    'observed_in_report',
    'stratified_exact',
    'stratified_exact_greater',
)

ALPHA = 0.05
"""Significance level of every comparison, after Holm's correction."""

TIE_MARGIN = 0.05
"""Two architectures are called tied when the 95% interval of their determinism difference lies within this margin
of zero (an equivalence margin: without one, "no significant difference" cannot be told from "too few runs")."""


# ------------------------------------------------------------------------------------------------ exact tests


def _hypergeometric_weights(first_n: int, second_n: int, successes: int) -> list[int]:
    """C(first_n, a) * C(second_n, successes - a) for every feasible a (successes of the first group), from the
    smallest a; the probability of a is its weight over C(first_n + second_n, successes)."""
    low = max(0, successes - second_n)
    high = min(first_n, successes)
    return [math.comb(first_n, a) * math.comb(second_n, successes - a) for a in range(low, high + 1)]


def _two_sided(weights: Sequence[int], observed: int) -> float:
    """The share of the total weight on outcomes no more likely than the observed one (exact integer comparison,
    so no tolerance for rounding is needed)."""
    limit = weights[observed]
    return sum(w for w in weights if w <= limit) / sum(weights)


def fisher_exact(first_successes: int, first_n: int, second_successes: int, second_n: int) -> float:
    """Two-sided p-value of Fisher's exact test that two groups share one success probability.

    The 2x2 table is (first_successes, first_n - first_successes; second_successes, second_n - second_successes).
    """
    return stratified_exact([(first_successes, first_n, second_successes, second_n)])


def _convolution(tables: Iterable[tuple[int, int, int, int]]) -> tuple[list[int], int]:
    """The null weights of the first group's summed successes, from its smallest possible value, and the observed
    sum's index in them."""
    weights = [1]
    offset = 0  # the smallest possible sum so far
    observed = 0
    for first_s, first_n, second_s, second_n in tables:
        for s, n in ((first_s, first_n), (second_s, second_n)):
            check_count(s, n)
        stratum = _hypergeometric_weights(first_n, second_n, first_s + second_s)
        low = max(0, first_s + second_s - second_n)
        convolved = [0] * (len(weights) + len(stratum) - 1)
        for i, w in enumerate(weights):
            if w:
                for j, v in enumerate(stratum):
                    convolved[i + j] += w * v
        weights = convolved
        offset += low
        observed += first_s
    return weights, observed - offset


def stratified_exact(tables: Iterable[tuple[int, int, int, int]]) -> float:
    """Two-sided p-value of the exact conditional test that two groups share one success probability within each
    stratum (the exact Cochran-Mantel-Haenszel test of a common odds ratio of 1).

    Each table is (first_successes, first_n, second_successes, second_n) of one stratum. Conditional on every
    stratum's margins, the first group's successes summed over strata has the convolution of the strata's
    hypergeometric distributions; the p-value sums the outcomes no more likely than the observed sum. Strata where a
    margin is zero (every run succeeded, or none did) carry no information and leave the result unchanged. With no
    informative stratum the p-value is 1.
    """
    weights, observed = _convolution(tables)
    return min(1.0, _two_sided(weights, observed))


def stratified_exact_greater(tables: Iterable[tuple[int, int, int, int]]) -> float:
    """One-sided p-value of the same stratified exact test against the alternative that the first group's success
    probability is the higher: the null probability of a summed first-group count at least the observed one."""
    weights, observed = _convolution(tables)
    return min(1.0, sum(weights[observed:]) / sum(weights))


def determinism_test(first: Sequence[tuple[int, int, int]], second: Sequence[tuple[int, int, int]]) -> float:
    """p-value for "the first is more deterministic than the second", paired by case: each element is one case's
    (held-out agreeing runs, modal runs, counted runs) of one side, `first[i]` and `second[i]` the same case.

    The one-sided stratified exact test of the first's held-out agreement (n - 1 trials) against the second's modal
    count (n trials), doubled: a verdict in the direction the data point to is then wrong with probability at most
    the level, whichever direction it is (module docstring)."""
    tables = [(h1, max(0, n1 - 1), t2, n2) for (h1, _, n1), (_, t2, n2) in zip(first, second, strict=True)]
    return min(1.0, 2 * stratified_exact_greater(tables))


def determinism_interval(
    first: Sequence[tuple[int, int, int]], second: Sequence[tuple[int, int, int]]
) -> tuple[float, float, float]:
    """Mean over cases of the modal-share difference (first - second) with a 95% interval valid for the difference of
    true determinism: (mean, low, high). Each element is one case's (held-out agreeing runs, modal runs, counted
    runs).

    The lower bound is `difference_interval`'s on the first's held-out agreement against the second's modal share
    (whose mean is at most d_first - d_second), the upper bound its mirror; the interval always contains the mean."""
    pairs = list(zip(first, second, strict=True))
    mean = sum(t1 / n1 - t2 / n2 for (_, t1, n1), (_, t2, n2) in pairs) / len(pairs) if pairs else 0.0
    low = difference_interval([(h1, max(1, n1 - 1), t2, n2) for (h1, _, n1), (_, t2, n2) in pairs])[1]
    high = difference_interval([(t1, n1, h2, max(1, n2 - 1)) for (_, t1, n1), (h2, _, n2) in pairs])[2]
    return mean, min(low, mean), max(high, mean)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p is multiplied by (m - i + 1), and
    each adjusted value is at least the one before it in that order (capped at 1)."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def difference_interval(pairs: Sequence[tuple[int, int, int, int]]) -> tuple[float, float, float]:
    """Mean over strata of (first rate - second rate), with a 95% interval: (mean, low, high).

    Each pair is (first_successes, first_n, second_successes, second_n) of one stratum with runs on both sides. The
    half-width is the larger of two: the within-stratum binomial variance, with Agresti and Caffo's one success and
    one failure added to each group (so 20/20 against 20/20 is not an interval of width zero), times z; and, over two
    strata or more, the variance of the per-stratum differences over strata, times Student's t with m - 1 degrees of
    freedom (strata, not runs, are then the sample).
    """
    m = len(pairs)
    if m == 0:
        raise ValueError('no strata with runs on both sides')
    for a, n, b, k in pairs:
        check_count(a, n)
        check_count(b, k)
        if not n or not k:
            raise ValueError(f'every stratum needs runs on both sides, got {a} of {n} against {b} of {k}')
    diffs = [a / n - b / k for a, n, b, k in pairs]
    mean = sum(diffs) / m
    within = sum(_agresti_caffo_var(a, n) + _agresti_caffo_var(b, k) for a, n, b, k in pairs) / (m * m)
    half = Z95 * math.sqrt(within)
    if m > 1:
        between = sum((d - mean) ** 2 for d in diffs) / (m - 1) / m
        half = max(half, t_critical(m - 1) * math.sqrt(between))
    return mean, max(-1.0, mean - half), min(1.0, mean + half)


def _agresti_caffo_var(successes: int, n: int) -> float:
    p = (successes + 1) / (n + 2)
    return p * (1 - p) / (n + 2)


# ------------------------------------------------------------------------------------------------ what is compared


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What a comparison needs of one (architecture, case[, model]) item of a report."""

    architecture: str
    model: str | None
    dataset: str | None
    case: str
    determinism: tuple[int, int]
    """(runs with the most common trajectory, counted runs) at the compared level."""
    pass_rate: tuple[int, int]
    """(runs that passed, judged runs)."""
    fingerprint: str | None = None
    """The case's fingerprint (inputs, expected output, evaluators); None when the report has none."""
    top: str | None = None
    """The most common trajectory at the compared level."""
    held_out: int | None = None
    """Runs i >= 1 that took the most common trajectory of runs 0..i-1, out of `determinism[1] - 1`; None when the
    report does not carry it (schema < 6): then determinism is not tested."""

    def __post_init__(self) -> None:
        check_count(*self.determinism, f'{self.key}: modal runs')
        check_count(*self.pass_rate, f'{self.key}: passed runs')
        if self.held_out is not None:
            check_count(self.held_out, max(0, self.determinism[1] - 1), f'{self.key}: held-out agreeing runs')

    @property
    def modal(self) -> tuple[int, int, int] | None:
        """(held-out agreeing runs, modal runs, counted runs), what the determinism test needs; None without the
        held-out count."""
        return None if self.held_out is None else (self.held_out, *self.determinism)

    @property
    def key(self) -> ItemKey:
        """Where the item sits: architecture, model, dataset, case."""
        return ItemKey(architecture=self.architecture, model=self.model, dataset=self.dataset, case=self.case)


class ItemKey(BaseModel, frozen=True):
    """An (architecture, case[, model]) item, by name."""

    architecture: str
    model: str | None = None
    dataset: str | None = None
    case: str

    def __str__(self) -> str:
        who = f'{self.architecture}@{self.model}' if self.model else self.architecture
        case = f'{self.dataset}::{self.case}' if self.dataset else self.case
        return f'{who} {case}'


class BaselineError(ValueError):
    """A baseline file that is not a pytest-agentarch report this version can read."""


def _pair(rate: Any, where: str) -> tuple[int, int]:
    if (
        not isinstance(rate, Mapping)
        or not isinstance(rate.get('successes'), int)
        or not isinstance(rate.get('n'), int)
    ):
        raise BaselineError(f'{where}: expected a rate with integer `successes` and `n`')
    return rate['successes'], rate['n']


def observed_in_report(data: Mapping[str, Any], level: Level) -> list[Observed]:
    """The items of a JSON report (as parsed, any schema version from 2 on), determinism at `level`.

    Raises BaselineError naming what is missing when `data` is not such a report."""
    architectures = data.get('architectures')
    if not isinstance(architectures, list):
        raise BaselineError('not a pytest-agentarch JSON report: it has no `architectures` list')
    found: list[Observed] = []
    for a, arch in enumerate(architectures):
        cases = arch.get('cases') if isinstance(arch, Mapping) else None
        if not isinstance(cases, list):
            raise BaselineError(f'architectures[{a}] has no `cases` list')
        for c, case in enumerate(cases):
            where = f'architectures[{a}].cases[{c}]'
            if not isinstance(case, Mapping) or not isinstance(case.get('case'), str):
                raise BaselineError(f'{where}: expected a case with a `case` name')
            by_level = case.get('determinism_by_level')
            if not isinstance(by_level, Mapping) or level not in by_level:
                raise BaselineError(f'{where}: no determinism at level {level!r} (`determinism_by_level`)')
            held = by_level[level].get('held_out') if isinstance(by_level[level], Mapping) else None
            variants = case.get('variants') or []
            same_level = case.get('level', 'steps') == level
            top = (
                variants[0].get('trajectory') if same_level and variants and isinstance(variants[0], Mapping) else None
            )
            try:
                observed = Observed(
                    architecture=str(case.get('architecture', arch.get('summary', {}).get('architecture', ''))),
                    model=case.get('model'),
                    dataset=case.get('dataset'),
                    case=case['case'],
                    determinism=_pair(by_level[level], f'{where}.determinism_by_level.{level}'),
                    pass_rate=_pair(case.get('pass_rate'), f'{where}.pass_rate'),
                    fingerprint=case.get('fingerprint'),
                    top=top,
                    held_out=held if isinstance(held, int) else None,
                )
            except ValueError as exc:
                raise BaselineError(f'{where}: {exc}') from None
            found.append(observed)
    return found


# ------------------------------------------------------------------------------------------------ against a baseline


class ProportionChange(BaseModel):
    """One rate of one item, in the baseline and now, with Fisher's exact test on the two."""

    old_successes: int
    old_n: int
    new_successes: int
    new_n: int
    change: float | None = Field(description='new rate - old rate; null when a side has no runs')
    p_value: float | None = Field(
        description="pass rate: Fisher's exact test, two-sided; determinism: `determinism_test` in the direction of "
        'the change; null when a side has no runs (or, for determinism, a baseline report without held-out counts)'
    )
    p_adjusted: float | None = Field(description='Holm-adjusted over every test of the comparison')
    significant: bool = Field(description='p_adjusted < alpha')

    @property
    def dropped(self) -> bool:
        """A significant drop: a regression."""
        return self.significant and self.change is not None and self.change < 0


class ItemChange(BaseModel):
    """One item present in both reports."""

    item: ItemKey
    determinism: ProportionChange
    pass_rate: ProportionChange
    case_changed: bool | None = Field(
        description="the case's fingerprint differs from the baseline's (inputs, expected output or evaluators "
        'changed); null when either report has no fingerprint'
    )
    top_changed: bool = Field(
        default=False, description='the most common trajectory differs from the baseline one (at the same level)'
    )


class BaselineComparison(BaseModel):
    """This session against a baseline report (`--agentarch-baseline`)."""

    path: str = Field(description='the baseline report as given')
    level: Level = Field(description='the trajectory level of the determinism compared')
    alpha: float = ALPHA
    method: str = (
        "pass rate: Fisher's exact test per item, two-sided; determinism: the one-sided exact test of the higher "
        "side's held-out agreement against the lower side's modal count, doubled; Holm's correction over every test"
    )
    baseline_model: str | None = None
    baseline_commit: str | None = Field(default=None, description="the baseline's git commit, when it recorded one")
    items: list[ItemChange]
    only_in_baseline: list[ItemKey] = Field(description='items the baseline has and this session does not')
    only_in_session: list[ItemKey] = Field(description='items this session has and the baseline does not')
    architectures_only_in_baseline: list[str]
    architectures_only_in_session: list[str]
    fingerprints: Literal['same', 'changed', 'unknown'] = Field(
        description="'changed': some case's inputs, expected output or evaluators differ from the baseline's (a "
        "different dataset version); 'unknown': a report without fingerprints (schema version < 5)"
    )

    def regressions(self) -> list[tuple[ItemKey, str, ProportionChange]]:
        """Significant drops: (item, metric, change), metric `determinism` or `pass_rate`."""
        found: list[tuple[ItemKey, str, ProportionChange]] = []
        for item in self.items:
            for metric in ('determinism', 'pass_rate'):
                change: ProportionChange = getattr(item, metric)
                if change.dropped:
                    found.append((item.item, metric, change))
        return found

    def improvements(self) -> list[tuple[ItemKey, str, ProportionChange]]:
        """Significant rises: (item, metric, change)."""
        found: list[tuple[ItemKey, str, ProportionChange]] = []
        for item in self.items:
            for metric in ('determinism', 'pass_rate'):
                change: ProportionChange = getattr(item, metric)
                if change.significant and change.change is not None and change.change > 0:
                    found.append((item.item, metric, change))
        return found


def _change(old: tuple[int, int], new: tuple[int, int]) -> tuple[float | None, float | None]:
    if old[1] == 0 or new[1] == 0:
        return None, None
    return new[0] / new[1] - old[0] / old[1], fisher_exact(old[0], old[1], new[0], new[1])


def _determinism_change(old: Observed, new: Observed) -> tuple[float | None, float | None]:
    """The change in modal share, and the determinism test in the direction of the change (`determinism_test`);
    no p-value when either side lacks runs or held-out counts."""
    change, _ = _change(old.determinism, new.determinism)
    if change is None or old.modal is None or new.modal is None:
        return change, None
    if change == 0:
        return change, 1.0
    higher, lower = (new.modal, old.modal) if change > 0 else (old.modal, new.modal)
    return change, determinism_test([higher], [lower])


def compare_to_baseline(
    current: Sequence[Observed],
    baseline: Sequence[Observed],
    *,
    path: str,
    level: Level,
    baseline_model: str | None = None,
    baseline_commit: str | None = None,
    alpha: float = ALPHA,
) -> BaselineComparison:
    """Each item of both reports: the change in determinism and in pass rate, each with Fisher's exact test, Holm's
    correction over all of them. Items and architectures on one side only are listed, never dropped."""
    old = {o.key: o for o in baseline}
    new = {o.key: o for o in current}
    shared = [k for k in new if k in old]
    raw: list[tuple[float | None, float | None]] = []
    for key in shared:
        raw.append(_determinism_change(old[key], new[key]))
        raw.append(_change(old[key].pass_rate, new[key].pass_rate))
    tested = {i: p for i, (_, p) in enumerate(raw) if p is not None}
    adjusted = dict(zip(tested, holm(list(tested.values())), strict=True))

    def proportion(i: int, o: tuple[int, int], n: tuple[int, int]) -> ProportionChange:
        change, p = raw[i]
        p_adj = adjusted.get(i)
        return ProportionChange(
            old_successes=o[0],
            old_n=o[1],
            new_successes=n[0],
            new_n=n[1],
            change=change,
            p_value=p,
            p_adjusted=p_adj,
            significant=p_adj is not None and p_adj < alpha,
        )

    items: list[ItemChange] = []
    for j, key in enumerate(shared):
        was, now = old[key], new[key]
        known = was.fingerprint is not None and now.fingerprint is not None
        items.append(
            ItemChange(
                item=key,
                determinism=proportion(2 * j, was.determinism, now.determinism),
                pass_rate=proportion(2 * j + 1, was.pass_rate, now.pass_rate),
                case_changed=was.fingerprint != now.fingerprint if known else None,
                top_changed=was.top is not None and now.top is not None and was.top != now.top,
            )
        )
    changed = [i.case_changed for i in items]
    old_archs = {(k.architecture, k.model) for k in old}
    new_archs = {(k.architecture, k.model) for k in new}

    def names(keys: Iterable[tuple[str, str | None]]) -> list[str]:
        return sorted(f'{a}@{m}' if m else a for a, m in keys)

    return BaselineComparison(
        path=path,
        level=level,
        alpha=alpha,
        baseline_model=baseline_model,
        baseline_commit=baseline_commit,
        items=items,
        only_in_baseline=[k for k in old if k not in new],
        only_in_session=[k for k in new if k not in old],
        architectures_only_in_baseline=names(old_archs - new_archs),
        architectures_only_in_session=names(new_archs - old_archs),
        fingerprints='changed' if any(changed) else 'unknown' if None in changed or not items else 'same',
    )


# ------------------------------------------------------------------------------------------------ within a session


class PairComparison(BaseModel):
    """Two architectures of one session on the cases both ran: which is more deterministic, paired by case."""

    first: str = Field(description='the architecture with the higher determinism over the shared cases')
    second: str
    model: str | None = Field(default=None, description='the model both ran on, in a session with several')
    level: Level
    cases: int = Field(description='cases both ran with counted runs: the strata of the test')
    first_better: int = Field(description='cases where the first is more deterministic (point values)')
    second_better: int
    first_determinism: float = Field(description='modal runs over counted runs, pooled over the shared cases')
    second_determinism: float
    difference: float = Field(description='mean over the shared cases of first - second determinism')
    low: float = Field(
        description='95% interval of the difference in true determinism: held-out agreement against modal share '
        '(`determinism_interval`, docs/statistics.md)'
    )
    high: float
    p_value: float = Field(
        description="one-sided exact test stratified by case of the first's held-out agreement against the second's "
        'modal count, doubled (`determinism_test`)'
    )
    p_adjusted: float = Field(description='Holm-adjusted over every pair of the session')
    verdict: Literal['more', 'tied', 'unclear'] = Field(
        description="'more': the first is significantly more deterministic (the test, and the interval above 0); "
        "'tied': the interval of the difference "
        "lies within the tie margin; 'unclear': neither, not enough runs to tell"
    )

    def sentence(self) -> str:
        """The verdict in words."""
        if self.verdict == 'more':
            return f'{self.first} significantly more deterministic than {self.second}'
        if self.verdict == 'tied':
            return f'{self.first} and {self.second} tied (within {TIE_MARGIN:.0%})'
        return f'{self.first} vs {self.second}: not enough runs to tell'


def compare_pairs(
    items: Sequence[Observed], *, level: Level, alpha: float = ALPHA, margin: float = TIE_MARGIN
) -> list[PairComparison]:
    """Every pair of architectures on the same model, over the cases both ran with counted runs, determinism at
    `level`: the determinism test paired by case (`determinism_test`) in the direction of the pooled modal shares,
    Holm over the pairs, the interval of `determinism_interval`, and the verdict. Items without held-out counts are
    left out."""
    by_arch: dict[tuple[str, str | None], dict[tuple[str | None, str], tuple[int, int, int]]] = {}
    for o in items:
        if o.determinism[1] and o.modal is not None:
            by_arch.setdefault((o.architecture, o.model), {})[o.dataset, o.case] = o.modal
    pending: list[tuple[str, str, str | None, list[tuple[int, int, int]], list[tuple[int, int, int]]]] = []
    names = sorted(by_arch, key=lambda k: (k[1] or '', k[0]))
    for i, (a, model) in enumerate(names):
        for b, other_model in names[i + 1 :]:
            if other_model != model:
                continue
            shared = sorted(set(by_arch[a, model]) & set(by_arch[b, model]), key=lambda k: (k[0] or '', k[1]))
            if not shared:
                continue
            first = [by_arch[a, model][k] for k in shared]
            second = [by_arch[b, model][k] for k in shared]
            if sum(t for _, t, _ in second) * sum(n for *_, n in first) > sum(t for _, t, _ in first) * sum(
                n for *_, n in second
            ):
                a, b, first, second = b, a, second, first
            pending.append((a, b, model, first, second))
    p_values = [determinism_test(first, second) for *_, first, second in pending]
    adjusted = holm(p_values)
    pairs: list[PairComparison] = []
    for (a, b, model, first, second), p, p_adj in zip(pending, p_values, adjusted, strict=True):
        diff, low, high = determinism_interval(first, second)
        # "more" needs the test and the interval to agree, so the interval shown never crosses 0 beside it.
        verdict: Literal['more', 'tied', 'unclear'] = (
            'more' if p_adj < alpha and low > 0 else 'tied' if -margin <= low and high <= margin else 'unclear'
        )
        pairs.append(
            PairComparison(
                first=a,
                second=b,
                model=model,
                level=level,
                cases=len(first),
                first_better=sum(t1 * n2 > t2 * n1 for (_, t1, n1), (_, t2, n2) in zip(first, second, strict=True)),
                second_better=sum(t1 * n2 < t2 * n1 for (_, t1, n1), (_, t2, n2) in zip(first, second, strict=True)),
                first_determinism=sum(t for _, t, _ in first) / sum(n for *_, n in first),
                second_determinism=sum(t for _, t, _ in second) / sum(n for *_, n in second),
                difference=diff,
                low=low,
                high=high,
                p_value=p,
                p_adjusted=p_adj,
                verdict=verdict,
            )
        )
    return pairs
