"""Plain-text tables for the terminal summary."""

from __future__ import annotations

from collections.abc import Sequence

from .report import Report
from .stats import Rate

__all__ = ('render_cases', 'render_summary')


def _rate(rate: Rate) -> str:
    if rate.value is None:
        return 'n/a (n=0)'
    return f'{rate.value:6.1%} [{rate.low:.0%}-{rate.high:.0%}] n={rate.n}'


def _num(value: float | None, fmt: str = '{:.0f}') -> str:
    return '-' if value is None else fmt.format(value)


def _secs(value: float | None) -> str:
    if value is None:
        return '-'
    return f'{value * 1000:.0f}ms' if value < 1 else f'{value:.2f}s'


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: '  '.join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return [line(header), '  '.join('-' * w for w in widths), *(line(r) for r in rows)]


def render_summary(report: Report) -> list[str]:
    """One row per architecture."""
    n = report.runs_per_case
    header = [
        'architecture',
        'cases',
        'runs',
        'err',
        'determinism [95% CI]',
        'traj/case',
        'pass rate [95% CI]',
        f'pass^{n}',
        'tok in',
        'tok out',
        'req',
        'cost/run',
        'p50',
        'p95',
        'peak mem',
    ]
    rows = []
    for a in report.architectures:
        s = a.summary
        rows.append(
            [
                s.architecture,
                str(s.cases),
                str(s.runs),
                str(s.errors),
                _rate(s.determinism),
                f'{s.distinct_trajectories:.1f}',
                _rate(s.pass_rate),
                _num(s.pass_hat_k[-1] if s.pass_hat_k else None, '{:.2f}'),
                _num(s.input_tokens),
                _num(s.output_tokens),
                _num(s.requests, '{:.1f}'),
                '-' if s.cost is None else f'${s.cost:.5f}',
                _secs(s.latency_p50),
                _secs(s.latency_p95),
                '-' if s.peak_memory is None else f'{s.peak_memory / 2**20:.1f}MiB',
            ]
        )
    return _grid(header, rows)


def render_cases(report: Report) -> list[str]:
    """One row per (architecture, case), with the most common trajectory."""
    header = [
        'architecture',
        'case',
        'runs',
        'err',
        'determinism',
        'variants',
        'pass rate',
        'output agreement',
        'top trajectory',
    ]
    rows = []
    for a in report.architectures:
        for c in a.cases:
            top = c.variants[0].trajectory if c.variants else '-'
            rows.append(
                [
                    c.architecture,
                    c.case,
                    str(c.runs),
                    str(c.errors),
                    _rate(c.determinism),
                    str(len(c.variants)),
                    _rate(c.pass_rate),
                    _rate(c.output_agreement),
                    top if len(top) <= 90 else top[:87] + '...',
                ]
            )
    return _grid(header, rows)
