"""Gates: thresholds judged on each (architecture, case), as small check objects returning their misses."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, Field

from .records import RunRecord
from .sequential import (
    GateDecision,
    agreement_with_predicted_mode,
    decide_determinism,
    decide_rate,
    final_cutoff,
    log_e_value,
)
from .stats import LEVELS, Z95, CaseStats, Level, Rate, level_of, variant_key

__all__ = (
    'LEVELS',
    'Miss',
    'Thresholds',
    'check',
    'decide',
    'final',
    'gated',
    'infeasible',
    'parse_overrides',
    'parse_score_threshold',
    'pick',
    'runs_needed',
    'sequential_misses',
    'unit_interval',
)

_TOLERANCE = 1e-12
"""Thresholds are met within float rounding: 7/10 meets 0.7 although 7/10 < 0.7 in binary floating point."""


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """What an (architecture, case) must reach."""

    min_determinism: float | None = None
    """Minimum determinism at `level`; None means not gated."""
    min_pass_rate: float | None = None
    """Minimum pass rate; None means every counted run must pass (plain pytest semantics)."""
    min_path_conformance: float | None = None
    """Minimum path conformance of a case with path evaluators (`run.sides`); None means every counted run must
    conform, as for the pass rate. A case without path evaluators has no such gate."""
    lower_bound: bool = False
    """Judge set thresholds on the 95% lower bound (Wilson for rates, Student's t for scores) instead of the point
    estimate."""
    level: Level = 'steps'
    """The trajectory level `min_determinism` judges: `tools`, `steps` or `strict`."""
    min_scores: Mapping[str, float] = field(default_factory=dict[str, float])
    """Minimum mean of each named numeric evaluator result (score). An item without the score misses."""

    def __post_init__(self) -> None:
        # Frozen all the way down: a shared session threshold set must not change through its mapping. (So a
        # Thresholds is not hashable; nothing needs it to be.)
        object.__setattr__(self, 'min_scores', MappingProxyType(dict(self.min_scores)))


class Miss(BaseModel, frozen=True):
    """One missed threshold (also its form in the JSON report)."""

    architecture: str
    case: str
    model: str | None = Field(default=None, description='the model, in a session with several (else null)')
    metric: str = Field(
        description='`pass_rate`, `path_conformance`, `determinism:<level>` or `score:<evaluator name>`'
    )
    value: float | None = Field(description='the judged figure; null when there is none (no runs, no such score)')
    n: int
    threshold: float
    judged_on: Literal['value', 'wilson-low', 't-low', 'sequential', 'undecided'] = Field(
        description='the point estimate, the Wilson 95% lower bound (rates), the t 95% lower bound (scores), '
        '`sequential`: decided missed by the anytime-valid sequential test (`--agentarch-sequential`), or '
        '`undecided`: not decided met by the maximum, neither by the sequential test nor by its final test'
    )
    detail: str | None = Field(default=None, description='why there is no value, when there is none')

    def __str__(self) -> str:
        shown = 'n/a' if self.value is None else f'{self.value:.3f}'
        basis = {
            'value': '',
            'wilson-low': ' (Wilson 95% lower bound)',
            't-low': ' (t 95% lower bound)',
            'sequential': ' (decided missed by the sequential test)',
        }
        who = f'{self.architecture}@{self.model}' if self.model else self.architecture
        if self.judged_on == 'undecided':
            # Not "value < threshold": an undecided figure may well be above it, only not shown to be.
            text = (
                f'{who} {self.case}: {self.metric} undecided at the maximum of runs: {shown} (n={self.n}) not shown '
                f'to reach {self.threshold:g} by the sequential test at alpha'
            )
            return f'{text} ({self.detail})' if self.detail else text
        text = (
            f'{who} {self.case}: {self.metric} {shown}{basis[self.judged_on]} n={self.n} < threshold {self.threshold:g}'
        )
        return f'{text} ({self.detail})' if self.detail else text


def _judge(
    stats: CaseStats, metric: str, rate: Rate, threshold: float, lower_bound: bool, detail: str | None
) -> Miss | None:
    value = rate.low if lower_bound and rate.n else rate.value
    if value is not None and value >= threshold - _TOLERANCE:
        return None
    return Miss(
        architecture=stats.architecture,
        model=stats.model,
        case=stats.case,
        metric=metric,
        value=value,
        n=rate.n,
        threshold=threshold,
        judged_on='wilson-low' if lower_bound else 'value',
        detail=detail if value is None else None,
    )


def _judge_score(stats: CaseStats, name: str, threshold: float, lower_bound: bool) -> Miss | None:
    score = stats.scores.get(name)
    detail: str | None = None
    if score is None:
        value, n = None, 0
        if name in stats.labels:
            detail = f'{name!r} is a label (a string result), not a score'
        else:
            known = f'; scores here: {", ".join(stats.scores)}' if stats.scores else '; no run produced any score'
            detail = f'no run produced a score named {name!r}{known}'
    else:
        value, n = (score.low if lower_bound else score.mean), score.n
        if value is None:
            detail = 'one run has no interval: the lower bound needs at least 2 runs'
    if value is not None and value >= threshold - _TOLERANCE:
        return None
    return Miss(
        architecture=stats.architecture,
        model=stats.model,
        case=stats.case,
        metric=f'score:{name}',
        value=value,
        n=n,
        threshold=threshold,
        judged_on='t-low' if lower_bound else 'value',
        detail=detail,
    )


def check(stats: CaseStats, thresholds: Thresholds) -> list[Miss]:
    """Every threshold `stats` misses (empty when it passes)."""
    # A case whose every run failed on infrastructure has no rate to judge: it misses, and says why.
    no_runs = f'all {stats.infra} runs failed on infrastructure' if stats.infra and not stats.pass_rate.n else None
    if not stats.pass_rate.n and stats.unjudged:
        # Runs whose judge never answered have no verdict: a pass rate of no judged runs proves nothing either.
        no_runs = f'{stats.unjudged} run(s) could not be judged (an evaluator could not reach its model)' + (
            f', {stats.infra} failed on infrastructure' if stats.infra else ''
        )
    # Without a threshold, every run must pass (plain pytest semantics): judged on counts, never on a bound.
    pass_rate = (1.0, False) if thresholds.min_pass_rate is None else (thresholds.min_pass_rate, thresholds.lower_bound)
    judged = [_judge(stats, 'pass_rate', stats.pass_rate, *pass_rate, no_runs)]
    if stats.path_conformance is not None:
        path = (
            (1.0, False)
            if thresholds.min_path_conformance is None
            else (thresholds.min_path_conformance, thresholds.lower_bound)
        )
        judged.append(_judge(stats, 'path_conformance', stats.path_conformance, *path, no_runs))
    if thresholds.min_determinism is not None:
        level = thresholds.level
        judged.append(
            _judge(
                stats,
                f'determinism:{level}',
                stats.determinism_by_level[level],
                thresholds.min_determinism,
                thresholds.lower_bound,
                no_runs,
            )
        )
    for name, minimum in sorted(thresholds.min_scores.items()):
        judged.append(_judge_score(stats, name, minimum, thresholds.lower_bound))
    return [miss for miss in judged if miss is not None]


def _rate_gates(thresholds: Thresholds, *, path: bool = False) -> list[tuple[str, float]]:
    """The rate gates of `thresholds` a sequential test can decide, as (metric, threshold); `path` when the item has
    path evaluators. A pass-rate (or path-conformance) threshold of None (every run must pass) is the threshold 1:
    missed at the first failed run, never met before the maximum."""
    gates: list[tuple[str, float]] = []
    pass_rate = 1.0 if thresholds.min_pass_rate is None else thresholds.min_pass_rate
    if pass_rate > 0:
        gates.append(('pass_rate', pass_rate))
    conformance = 1.0 if thresholds.min_path_conformance is None else thresholds.min_path_conformance
    if path and conformance > 0:
        gates.append(('path_conformance', conformance))
    if thresholds.min_determinism:
        gates.append((f'determinism:{thresholds.level}', thresholds.min_determinism))
    return gates


def gated(thresholds: Thresholds) -> bool:
    """Whether an item has a gate to decide: a threshold above 0, or every run must pass. A threshold of 0 is met by
    any rate, so an item with only such gates is a measurement: it runs every --runs."""
    return bool(_rate_gates(thresholds)) or bool(thresholds.min_scores)


def decide(records: Sequence[RunRecord], thresholds: Thresholds, alpha: float) -> list[GateDecision]:
    """The sequential decision of each rate gate of `thresholds` on `records` (the runs of one item, indexes 0..k-1).

    Runs count as they count for the ordinary gates: infrastructure failures are left out of both, unjudged runs out
    of the pass rate, and a run that raised is its own trajectory variant. Score gates are not decided sequentially
    (an item with one runs to the maximum)."""
    ordered = sorted(records, key=lambda r: r.index)
    counted = [r for r in ordered if not r.infrastructure]
    judged = [r for r in counted if not r.unjudged]
    out: list[GateDecision] = []
    for metric, threshold in _rate_gates(thresholds, path=any(r.path_checked for r in ordered)):
        if metric in ('pass_rate', 'path_conformance'):
            successes = sum(r.passed if metric == 'pass_rate' else r.conforms is True for r in judged)
            n = len(judged)
            decision = decide_rate(successes, n, threshold, alpha)
            met_trials, met_successes, top = n, successes, successes
        else:
            keys = [variant_key(r, thresholds.level) for r in counted]
            n = len(keys)
            decision = decide_determinism(keys, threshold, alpha)
            met_trials, met_successes = max(0, n - 1), agreement_with_predicted_mode(keys)
            top = max((keys.count(k) for k in set(keys)), default=0)
        e_met = log_e_value(met_successes, met_trials, threshold, 'met')
        e_missed = log_e_value(top, n, threshold, 'missed')
        # Show the side that decided; while undecided, the side closer to deciding.
        by_missed = decision == 'missed' or (decision == 'undecided' and e_missed > e_met)
        out.append(
            GateDecision(
                metric=metric,
                threshold=threshold,
                decision=decision,
                at_run=len(ordered) if decision != 'undecided' else None,
                successes=top if by_missed else met_successes,
                trials=n if by_missed else met_trials,
                e_value=math.exp(min(e_missed if by_missed else e_met, 700.0)),
            )
        )
    return out


def _met_side(records: Sequence[RunRecord], metric: str, level: Level) -> tuple[int, int]:
    """The met test's (successes, trials) on `records`: passed of judged runs, or held-out agreement of counted - 1."""
    counted = [r for r in records if not r.infrastructure]
    if metric == 'pass_rate':
        judged = [r for r in counted if not r.unjudged]
        return sum(r.passed for r in judged), len(judged)
    keys = [variant_key(r, level) for r in counted]
    return agreement_with_predicted_mode(keys), max(0, len(keys) - 1)


def final(
    records: Sequence[RunRecord],
    decisions: Sequence[GateDecision],
    thresholds: Thresholds,
    alpha: float,
    batch: int,
) -> list[GateDecision]:
    """The decisions once an item has made its maximum runs: a gate still undecided whose threshold is below 1 is met
    when its met-side successes reach `sequential.final_cutoff` for the looks the item was checked at (after each
    `batch` runs), and stays undecided, a miss, otherwise. A threshold of 1 stays undecided here: no finite number of
    runs shows it, and the ordinary rule (every run) judges it."""
    ordered = sorted(records, key=lambda r: r.index)
    out: list[GateDecision] = []
    for d in decisions:
        if d.decision != 'undecided' or not 0 < d.threshold < 1:
            out.append(d)
            continue
        looks: list[int] = []
        for end in range(batch, len(ordered) + batch, batch):
            trials = _met_side(ordered[: min(end, len(ordered))], d.metric, thresholds.level)[1]
            if trials and (not looks or trials > looks[-1]):
                looks.append(trials)
        successes, trials = _met_side(ordered, d.metric, thresholds.level)
        if not looks or successes < final_cutoff(tuple(looks), d.threshold, alpha):
            out.append(d)
            continue
        out.append(
            d.model_copy(
                update={
                    'decision': 'met',
                    'at_run': len(ordered),
                    'successes': successes,
                    'trials': trials,
                    'e_value': math.exp(min(log_e_value(successes, trials, d.threshold, 'met'), 700.0)),
                    'final_test': True,
                }
            )
        )
    return out


def sequential_misses(stats: CaseStats, misses: list[Miss], decisions: Sequence[GateDecision]) -> list[Miss]:
    """The item's misses once its sequential decisions are in (`final` included): a gate decided met has no miss, one
    decided missed is a miss judged `sequential`, and one still undecided is a miss judged `undecided`, whatever the
    ordinary rule says of the final runs, so that a pass is always a decision with a wrong-pass rate of at most
    alpha. Gates with a threshold of 1 (every run must pass) when undecided, and score gates, keep the ordinary
    rule's verdict. Beside a gate decided missed, an undecided gate is no miss: the item stopped at that miss."""
    decided = {d.metric: d for d in decisions if d.decision != 'undecided' or d.threshold < 1}
    kept = [m for m in misses if m.metric not in decided]
    # An item stops at its first missed gate (`--agentarch-sequential`): the gates left undecided then were not
    # judged, so they are no misses; the missed gate fails the item.
    stopped = any(d.decision == 'missed' for d in decisions)
    for d in decided.values():
        if d.decision == 'missed' or (d.decision == 'undecided' and not stopped):
            kept.append(
                Miss(
                    architecture=stats.architecture,
                    model=stats.model,
                    case=stats.case,
                    metric=d.metric,
                    value=d.successes / d.trials if d.trials else None,
                    n=d.trials,
                    threshold=d.threshold,
                    judged_on='sequential' if d.decision == 'missed' else 'undecided',
                    detail=None if d.trials else 'no counted runs',
                )
            )
    order = {'pass_rate': 0, 'path_conformance': 0}
    return sorted(kept, key=lambda m: order.get(m.metric, 1 if m.metric.startswith('determinism') else 2))


def runs_needed(threshold: float, z: float = Z95) -> int | None:
    """The fewest runs whose Wilson 95% lower bound can reach `threshold` (all runs succeeding): the smallest n with
    n / (n + z^2) >= threshold. None when no number of runs can (a threshold of 1)."""
    if threshold >= 1:
        return None
    z2 = z * z
    n = max(1, math.ceil(threshold * z2 / (1 - threshold)))
    # The closed form can be off by one in floating point; settle it on the same comparison the gate makes.
    while n / (n + z2) < threshold - _TOLERANCE:
        n += 1
    while n > 1 and (n - 1) / (n - 1 + z2) >= threshold - _TOLERANCE:
        n -= 1
    return n


def infeasible(thresholds: Thresholds, runs: int, *, architecture: str | None = None) -> str | None:
    """Why `thresholds` cannot be met (or cannot mean anything) with `runs` runs per item; None when they can.

    A gate on the Wilson lower bound above n/(n+z^2), the lower bound of n successes out of n, fails every item
    however well it does (determinism's lower bound rests on n - 1 held-out runs); a determinism gate over one run is
    always met, since one run agrees with itself.
    """
    problems: list[str] = []
    z2 = Z95 * Z95
    # Determinism's lower bound rests on the held-out agreement of runs 1..n-1 (stats.Rate.modal): one trial fewer.
    gated = [
        ('min_pass_rate', thresholds.min_pass_rate, 0),
        ('min_path_conformance', thresholds.min_path_conformance, 0),
        ('min_determinism', thresholds.min_determinism, 1),
    ]
    for name, threshold, seed in gated:
        trials = max(0, runs - seed)
        best = trials / (trials + z2)
        if not thresholds.lower_bound or threshold is None or best >= threshold - _TOLERANCE:
            continue
        needed = runs_needed(threshold)
        remedy = (
            f'it needs at least {needed + seed} runs (--runs {needed + seed})'
            if needed is not None
            else 'no number of runs reaches 1: lower the threshold or judge the point estimate'
        )
        what = (
            f'even {runs} successes out of {runs}'
            if not seed
            else f'even {runs} runs of one trajectory ({trials} held-out agreements of {trials})'
        )
        problems.append(
            f'{name}={threshold:g} on the Wilson 95% lower bound cannot be met with {runs} run(s): {what} have a '
            f'lower bound of {best:.3f}; {remedy}'
        )
    if thresholds.min_determinism is not None and runs < 2:
        problems.append(
            f'min_determinism={thresholds.min_determinism:g} with {runs} run(s) is meaningless: one run always '
            'agrees with itself (100%); determinism needs at least 2 runs (--runs 2 or more; --runs is 1 unless '
            'given)'
        )
    if thresholds.lower_bound and thresholds.min_scores and runs < 2:
        names = ', '.join(f'min_score.{n}' for n in sorted(thresholds.min_scores))
        problems.append(
            f'{names} on the t 95% lower bound cannot be met with {runs} run(s): '
            'a score needs at least 2 runs for an interval'
        )
    if not problems:
        return None
    # One line, so that a caller can prefix where the thresholds came from.
    where = f'architecture {architecture}: ' if architecture else ''
    return where + '; '.join(problems)


def unit_interval(text: str, what: str) -> float:
    """Parse a threshold in [0, 1] or raise ValueError saying what was wrong."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'{what} must be a number between 0 and 1, got {text!r}') from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{what} must be between 0 and 1 (a share, e.g. 0.95), got {text!r}')
    return value


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f'{what} must be a number (a mean score, e.g. 0.8), got {text!r}')
    return value


def parse_score_threshold(text: str) -> tuple[str, float]:
    """`NAME=X` (a `--min-score` value): the evaluator name and the minimum mean score, any finite number."""
    name, eq, value = text.partition('=')
    if not eq or not name.strip():
        raise ValueError(f'expected NAME=X (an evaluator name and a minimum mean score), got {text!r}')
    return name.strip(), _finite(value, f'min score of {name.strip()}')


_KEYS = ('min_determinism', 'min_pass_rate', 'min_path_conformance', 'level', 'min_score.<name>')


def _apply(current: Thresholds, key: str, value: str, where: str) -> Thresholds:
    if key == 'min_determinism':
        return replace(current, min_determinism=unit_interval(value, f'{where} {key}'))
    if key == 'min_pass_rate':
        return replace(current, min_pass_rate=unit_interval(value, f'{where} {key}'))
    if key == 'min_path_conformance':
        return replace(current, min_path_conformance=unit_interval(value, f'{where} {key}'))
    if key == 'level':
        return replace(current, level=level_of(value))
    name = key.removeprefix('min_score.')
    return replace(current, min_scores={**current.min_scores, name: _finite(value, f'{where} {key}')})


def pick(base: Thresholds, overrides: Mapping[str, Thresholds], arch: str, model: str | None = None) -> Thresholds:
    """The thresholds that judge `arch`'s items on `model`: the most specific override wins (`arch@model`, then
    `@model`, then `arch`), else `base`."""
    keys = [f'{arch}@{model}', f'@{model}'] if model is not None else []
    for key in [*keys, arch]:
        if key in overrides:
            return overrides[key]
    return base


def parse_overrides(lines: list[str], base: Thresholds) -> Mapping[str, Thresholds]:
    """Per-architecture (and per-model) thresholds from ini lines like `single: min_determinism=0.6`.

    A line names an architecture (`single`), a model (`@openai:gpt-4o`) or both (`single@openai:gpt-4o`); since a
    model spec holds colons, the name ends at the first colon followed by a space (or at the first colon if none is).
    Keys: `min_determinism`, `min_pass_rate` and `min_path_conformance` (shares in [0, 1]), `level` (tools, steps
    or strict) and `min_score.<evaluator name>` (a minimum mean score). Each line starts from `base`.
    """
    out: dict[str, Thresholds] = {}
    for line in lines:
        cut = re.search(r':\s', line)
        name, sep, rest = (line[: cut.start()], ':', line[cut.end() :]) if cut else line.partition(':')
        where = name.strip()
        if not sep or not where:
            raise ValueError(
                f'agentarch_arch_thresholds line {line!r} must look like '
                "'<architecture>: min_determinism=0.9 min_pass_rate=0.8' (or '@<model>: ...', "
                "'<architecture>@<model>: ...')"
            )
        current = out.get(where, base)
        for pair in rest.replace(',', ' ').split():
            key, eq, value = pair.partition('=')
            known = key in _KEYS or (key.startswith('min_score.') and len(key) > len('min_score.'))
            if not eq or not known:
                raise ValueError(
                    f'agentarch_arch_thresholds line {line!r}: {pair!r} is not one of {", ".join(_KEYS)} '
                    'written as key=value'
                )
            try:
                current = _apply(current, key, value, where)
            except ValueError as exc:
                if key != 'level':
                    raise
                raise ValueError(f'agentarch_arch_thresholds line {line!r}: {exc}') from None
        out[where] = current
    return out
