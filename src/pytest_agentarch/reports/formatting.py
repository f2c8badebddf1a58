"""How every writer shows a number: rates with their interval and n, counts, seconds, dollars.

One module, so that the terminal table, the Markdown summary and the HTML report say the same figure the same way;
each writer only chooses the separators its medium reads best with (an en dash in HTML, padding in a terminal).
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.stats import ArchitectureStats, Rate

__all__ = (
    'fmt_latencies',
    'fmt_number',
    'fmt_percent',
    'fmt_rate',
    'fmt_seconds',
    'fmt_short_rate',
    'fmt_usd',
    'latency_heads',
)

NONE = '-'
"""What a missing figure is shown as."""


def fmt_rate(rate: Rate, *, width: int = 0, dash: str = '-', suite: bool = False) -> str:
    """`93.3% [70%-99%] n=15`: the share, its 95% interval and its n; `n/a (n=0)` without runs.

    `width` pads the share (a terminal column lines up), `dash` joins the interval's ends; with `suite`, an
    architecture's fixed-suite interval follows its population one: `93.3% [70%-99%] suite [85%-97%] n=15`.
    """
    if rate.value is None:
        return 'n/a (n=0)'
    fixed = (
        f' suite [{rate.suite_low:.0%}{dash}{rate.suite_high:.0%}]'
        if suite and rate.suite_low is not None and rate.suite_high is not None
        else ''
    )
    return f'{rate.value:{width}.1%} [{rate.low:.0%}{dash}{rate.high:.0%}]{fixed} n={rate.n}'


def fmt_short_rate(rate: Rate) -> str:
    """`93% [70%-99%]`: a rate whose n is shown elsewhere on the row; `n/a` without runs."""
    if rate.value is None:
        return 'n/a'
    return f'{rate.value:.0%} [{rate.low:.0%}-{rate.high:.0%}]'


def fmt_percent(value: float | None) -> str:
    """`93.3%`, or `n/a`."""
    return 'n/a' if value is None else f'{value:.1%}'


def fmt_number(value: float | None, fmt: str = '{:.0f}') -> str:
    """`value` through `fmt` (whole by default), or `-`."""
    return NONE if value is None else fmt.format(value)


def fmt_seconds(value: float | None, *, space: str = '') -> str:
    """`850ms` below a second, `1.25s` from one on (`space` goes before the unit), or `-`."""
    if value is None:
        return NONE
    return f'{value * 1000:.0f}{space}ms' if value < 1 else f'{value:.2f}{space}s'


def fmt_usd(value: float | None) -> str:
    """`$0.00123` (five decimals: a run of a small model costs fractions of a cent), or `-`."""
    return NONE if value is None else f'${value:.5f}'


def latency_heads(*, replay: bool) -> tuple[str, str]:
    """The headings of the p50 and p95 columns: of wall time, or in a replay of the recorded model's latency."""
    return ('rec p50', 'rec p95') if replay else ('p50', 'p95')


def fmt_latencies(
    stats: ArchitectureStats, *, replay: bool, fmt: Callable[[float | None], str] = fmt_seconds
) -> tuple[str, str]:
    """An architecture's p50 and p95 cells: its runs' wall time, or in a replay the recorded model's latency, and
    `unknown` when the recording stored no durations (a replay's own wall time is not the model's: it is in the
    JSON report, apart)."""
    if not replay:
        return fmt(stats.latency_p50), fmt(stats.latency_p95)
    if stats.recorded_latency_p50 is None:
        return 'unknown', 'unknown'
    return fmt(stats.recorded_latency_p50), fmt(stats.recorded_latency_p95)
