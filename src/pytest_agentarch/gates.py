"""Gates: thresholds judged on each (architecture, case), as small check objects returning their misses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import BaseModel, Field

from .stats import CaseStats, Rate

__all__ = ('Miss', 'Thresholds', 'check', 'parse_overrides')


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """What an (architecture, case) must reach."""

    min_determinism: float | None = None
    """Minimum determinism; None means not gated."""
    min_pass_rate: float | None = None
    """Minimum pass rate; None means every run must pass (plain pytest semantics)."""
    lower_bound: bool = False
    """Judge set thresholds on the Wilson 95% lower bound instead of the point estimate."""
    level: Literal['tools', 'steps', 'strict'] = 'steps'
    min_scores: Mapping[str, float] = field(default_factory=dict[str, float])


LEVELS = ('tools', 'steps', 'strict')


def parse_score_threshold(text: str) -> tuple[str, float]:
    name, eq, value = text.partition('=')
    if not eq or not name.strip():
        raise ValueError(f'expected NAME=X, got {text!r}')
    return name.strip(), unit_interval(value, name)


def infeasible(thresholds: Thresholds, runs: int) -> str | None:
    return None


class Miss(BaseModel, frozen=True):
    """One missed threshold (also its form in the JSON report)."""

    architecture: str
    case: str
    metric: str
    value: float | None
    n: int
    threshold: float
    judged_on: str = Field(description='`value` or `wilson-low`')

    def __str__(self) -> str:
        shown = 'n/a' if self.value is None else f'{self.value:.3f}'
        basis = ' (Wilson 95% lower bound)' if self.judged_on == 'wilson-low' else ''
        return (
            f'{self.architecture} {self.case}: {self.metric} {shown}{basis} n={self.n} < threshold {self.threshold:g}'
        )


def _judge(stats: CaseStats, metric: str, rate: Rate, threshold: float, lower_bound: bool) -> Miss | None:
    value = rate.low if lower_bound and rate.n else rate.value
    if value is not None and value >= threshold - 1e-12:
        return None
    return Miss(
        architecture=stats.architecture,
        case=stats.case,
        metric=metric,
        value=value,
        n=rate.n,
        threshold=threshold,
        judged_on='wilson-low' if lower_bound else 'value',
    )


def check(stats: CaseStats, thresholds: Thresholds) -> list[Miss]:
    """Every threshold `stats` misses (empty when it passes)."""
    # Without a threshold, every run must pass (plain pytest semantics): judged on counts, never on a bound.
    pass_rate = (1.0, False) if thresholds.min_pass_rate is None else (thresholds.min_pass_rate, thresholds.lower_bound)
    judged = [_judge(stats, 'pass_rate', stats.pass_rate, *pass_rate)]
    if thresholds.min_determinism is not None:
        judged.append(
            _judge(stats, 'determinism', stats.determinism, thresholds.min_determinism, thresholds.lower_bound)
        )
    return [miss for miss in judged if miss is not None]


_KEYS = {'min_determinism', 'min_pass_rate'}


def unit_interval(text: str, what: str) -> float:
    """Parse a threshold in [0, 1] or raise ValueError saying what was wrong."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'{what} must be a number between 0 and 1, got {text!r}') from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{what} must be between 0 and 1 (a share, e.g. 0.95), got {text!r}')
    return value


def parse_overrides(lines: list[str], base: Thresholds) -> Mapping[str, Thresholds]:
    """Per-architecture thresholds from ini lines like `single: min_determinism=0.6 min_pass_rate=0.8`."""
    out: dict[str, Thresholds] = {}
    for line in lines:
        name, sep, rest = line.partition(':')
        if not sep or not name.strip():
            raise ValueError(
                f'agentarch_arch_thresholds line {line!r} must look like '
                "'<architecture>: min_determinism=0.9 min_pass_rate=0.8'"
            )
        current = out.get(name.strip(), base)
        for pair in rest.replace(',', ' ').split():
            key, eq, value = pair.partition('=')
            if not eq or key not in _KEYS:
                raise ValueError(
                    f'agentarch_arch_thresholds line {line!r}: {pair!r} is not one of '
                    f'{", ".join(sorted(_KEYS))} written as key=value'
                )
            current = replace(current, **{key: unit_interval(value, f'{name.strip()} {key}')})
        out[name.strip()] = current
    return out
