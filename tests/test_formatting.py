"""One formatting module for every writer: the figures below are worked out by hand."""

from __future__ import annotations

from pytest_agentarch.core.stats import Rate
from pytest_agentarch.reports.formatting import (
    fmt_number,
    fmt_percent,
    fmt_rate,
    fmt_seconds,
    fmt_short_rate,
    fmt_usd,
)

# 14 of 15 runs: 0.9333..., Wilson 95% interval [0.7018, 0.9881] (z = 1.96).
FOURTEEN_OF_FIFTEEN = Rate(value=14 / 15, successes=14, n=15, low=0.7018, high=0.9881)
NO_RUNS = Rate(value=None, successes=0, n=0, low=0.0, high=1.0)


def test_a_rate_shows_its_share_interval_and_n_in_every_medium() -> None:
    assert fmt_rate(FOURTEEN_OF_FIFTEEN) == '93.3% [70%-99%] n=15'
    assert fmt_rate(FOURTEEN_OF_FIFTEEN, width=6) == ' 93.3% [70%-99%] n=15'
    assert fmt_rate(FOURTEEN_OF_FIFTEEN, dash='\u2013') == '93.3% [70%\u201399%] n=15'
    assert fmt_short_rate(FOURTEEN_OF_FIFTEEN) == '93% [70%-99%]'
    assert fmt_rate(NO_RUNS) == 'n/a (n=0)'
    assert fmt_short_rate(NO_RUNS) == 'n/a'


def test_numbers_seconds_dollars_and_missing_figures() -> None:
    assert fmt_number(1234.5) == '1234'  # round half to even
    assert fmt_number(2.5, '{:.1f}') == '2.5'
    assert fmt_number(None) == '-'
    assert fmt_percent(0.5) == '50.0%'
    assert fmt_percent(None) == 'n/a'
    assert fmt_seconds(0.85) == '850ms'
    assert fmt_seconds(0.85, space=' ') == '850 ms'
    assert fmt_seconds(1.254) == '1.25s'
    assert fmt_seconds(None) == '-'
    assert fmt_usd(0.00123) == '$0.00123'
    assert fmt_usd(None) == '-'
