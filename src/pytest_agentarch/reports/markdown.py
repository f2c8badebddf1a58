"""The report as Markdown (`--agentarch-md`, `$GITHUB_STEP_SUMMARY`) and each item's figures as JUnit properties.

Names of architectures, cases and models come from users' code and datasets: every cell is escaped, so a name
cannot break a table or inject HTML into a page that renders the Markdown.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.compare import BaselineComparison, ProportionChange
from ..core.stats import CaseStats
from .by_dataset import by_dataset_grid
from .formatting import fmt_latencies, fmt_number, fmt_rate, fmt_usd, latency_heads
from .report import Report, capture_paths

__all__ = ('append_markdown', 'junit_properties', 'render_markdown')


def _cell(value: object) -> str:
    """Text safe in a Markdown table cell: HTML escaped, pipes escaped, one line."""
    text = html.escape(str(value), quote=False)
    return ' '.join(text.replace('\\', '\\\\').replace('|', '\\|').replace('`', '\\`').split())


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, names: int = 1) -> list[str]:
    """A table whose first `names` columns (what a row is about) are left-aligned, the figures right-aligned."""
    return [
        '| ' + ' | '.join(_cell(h) for h in header) + ' |',
        '|' + '|'.join(' --- ' if i < names else ' ---: ' for i in range(len(header))) + '|',
        *('| ' + ' | '.join(_cell(c) for c in row) + ' |' for row in rows),
    ]


def _field_value(value: Any) -> str:
    """A field a `pytest_agentarch_report` hook added: text as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(', ', ': '), ensure_ascii=False)


def _who(architecture: str, model: str | None) -> str:
    return f'{architecture}@{model}' if model else architecture


def _change(c: ProportionChange) -> str:
    if c.change is None:
        return 'n/a'
    old = c.old_successes / c.old_n
    new = c.new_successes / c.new_n
    return f'{old:.0%} → {new:.0%} ({c.change:+.0%}, p={c.p_value:.3g}, adj. {c.p_adjusted:.3g})'


def _baseline(cmp: BaselineComparison) -> list[str]:
    lines = ['', '### Against the baseline', '']
    commit = f' (commit {cmp.baseline_commit[:12]})' if cmp.baseline_commit else ''
    lines.append(
        f'Baseline `{_cell(cmp.path)}`{commit}: {len(cmp.items)} items in both; {cmp.method}, '
        f'significant at {cmp.alpha:g}; determinism at level {cmp.level}.'
    )
    if cmp.fingerprints == 'changed':
        changed = [str(i.item) for i in cmp.items if i.case_changed]
        lines += ['', f'**Different dataset version**: {len(changed)} case(s) changed since the baseline: ']
        lines[-1] += ', '.join(_cell(c) for c in changed[:20]) + (' …' if len(changed) > 20 else '')
    elif cmp.fingerprints == 'unknown':
        lines += ['', 'The baseline has no case fingerprints: whether its cases are the same cannot be checked.']
    regressions = cmp.regressions()
    improvements = cmp.improvements()
    lines.append('')
    if regressions or improvements:
        rows = [
            [str(item), metric, kind, _change(change)]
            for kind, found in (('regression', regressions), ('improvement', improvements))
            for item, metric, change in found
        ]
        lines += _table(['item', 'metric', 'change', 'old → new (p, Holm-adjusted)'], rows)
    else:
        lines.append('No significant change.')
    for label, keys in (
        ('Only in the baseline', [str(k) for k in cmp.only_in_baseline]),
        ('Only in this session', [str(k) for k in cmp.only_in_session]),
    ):
        if keys:
            lines += ['', f'{label} ({len(keys)}): ' + ', '.join(_cell(k) for k in keys)]
    for label, names in (
        ('Architectures only in the baseline', cmp.architectures_only_in_baseline),
        ('Architectures only in this session', cmp.architectures_only_in_session),
    ):
        if names:
            lines += ['', f'{label}: ' + ', '.join(_cell(n) for n in names)]
    return lines


def _sequential(report: Report) -> list[str]:
    """The sequential gates: per architecture and for the session, items decided and the runs and tokens saved."""
    rows = [(_who(a.summary.architecture, a.summary.model), a.sequential) for a in report.architectures if a.sequential]
    if report.sequential is not None:
        rows.append(('**session**', report.sequential))
    return [
        '',
        '### Sequential gates',
        '',
        'Each gated item stopped once every rate gate on it was decided met by an anytime-valid test '
        '(docs/statistics.md), at its first gate decided missed (the others left undecided), or at the maximum: '
        'there a gate still undecided was met only by the final test (wrong-pass rate at the threshold at most alpha '
        'overall) and failed otherwise; a threshold of 1 was judged on every run.',
        '',
        *_table(
            ['architecture', 'items', 'met', 'missed', 'undecided', 'runs used', 'runs saved', 'tokens saved (est.)'],
            [
                [
                    who,
                    t.items,
                    t.met,
                    t.missed,
                    t.undecided,
                    f'{t.runs_used} of {t.runs_max}',
                    f'{t.runs_saved} ({t.runs_saved / t.runs_max:.1%})' if t.runs_max else '0',
                    t.tokens_saved,
                ]
                for who, t in rows
            ],
        ),
    ]


def _by_dataset(report: Report) -> list[str]:
    """In a session of several datasets, the summary's figures per dataset and architecture (`by_dataset_grid`);
    nothing in a session of one."""
    grid = by_dataset_grid(report, lambda r: fmt_rate(r, suite=True))
    if grid is None:
        return []
    return [
        '',
        '### By dataset',
        '',
        "Each row: the table's figures over that dataset's cases only, with the same intervals.",
        '',
        *_table(grid.header, grid.rows, names=2),
    ]


def render_markdown(report: Report) -> str:
    """The session as Markdown: what ran, one row per architecture (and per dataset and architecture in a session of
    several datasets), the pairwise comparisons, the baseline comparison, gate misses and missing items."""
    models = ', '.join(report.models) or report.model
    lines = [
        '## agentarch: architecture comparison',
        '',
        f'Model {_cell(models)}, seed {report.seed}, {report.runs_done()} run(s) per case; determinism at level '
        f'`{report.level}`; 95% intervals for the population of cases this suite samples (cluster-adjusted over '
        'cases), and in brackets after "suite" for these cases only. A modal share (determinism) is biased upward: '
        'its interval rests on held-out agreement below and the modal count above (docs/statistics.md).',
    ]
    if report.metadata is not None:
        m = report.metadata
        commit = f', commit `{m.git_commit[:12]}`' if m.git_commit else ''
        lines.append(
            f'pytest-agentarch {m.plugin_version}, pydantic-ai {m.pydantic_ai_version}, {m.python}; started '
            f'{m.started_at}, {m.duration:.1f} s{commit}.'
        )
    if paths := capture_paths(r for a in report.architectures for c in a.cases for r in c.run_results):
        lines.append(f'Runs captured by {paths} (`requests`: the model-request layer; `spans`: instrumentation).')
    lines.append('')
    conformance = any(a.summary.path_conformance is not None for a in report.architectures)
    rows = []
    for a in report.architectures:
        s = a.summary
        rows.append(
            [
                _who(s.architecture, s.model),
                s.cases,
                s.runs,
                s.errors,
                s.all_raised or fmt_rate(s.determinism, suite=True),
                fmt_rate(s.pass_rate, suite=True),
                *(
                    [fmt_rate(s.path_conformance, suite=True) if s.path_conformance is not None else '-']
                    if conformance
                    else []
                ),
                fmt_number(s.pass_hat_k[-1] if s.pass_hat_k else None, '{:.2f}'),
                fmt_number(s.input_tokens),
                fmt_number(s.output_tokens),
                fmt_usd(s.cost),
                *fmt_latencies(s, replay=report.replay_of is not None, fmt=lambda v: fmt_number(v, '{:.2f}s')),
            ]
        )
    lines += _table(
        [
            'architecture',
            'cases',
            'runs',
            'err',
            f'determinism ({report.level})',
            'pass rate',
            *(['path conformance'] if conformance else []),
            'pass^k',
            'tok in',
            'tok out',
            'cost/run',
            *latency_heads(replay=report.replay_of is not None),
        ],
        rows,
    )
    lines += _by_dataset(report)
    faulted = [a.summary for a in report.architectures if a.summary.faults is not None]
    if faulted:
        lines += ['', '### Injected faults', '']
        lines += _table(
            ['architecture', 'injected', 'runs hit', 'recovered', 'degraded', 'failed', 'pass rate (runs hit)'],
            [
                [
                    _who(s.architecture, s.model),
                    _cell(', '.join(f'{k} {v}' for k, v in s.faults.injected.items())),
                    s.faults.runs_hit,
                    s.faults.recovered,
                    s.faults.degraded,
                    s.faults.failed,
                    fmt_rate(s.faults.pass_rate),
                ]
                for s in faulted
                if s.faults is not None
            ],
        )
    if report.comparisons:
        lines += ['', '### Which is more deterministic', '']
        lines.append(
            "Paired by case: one architecture's held-out agreement against the other's modal count (the modal share "
            'is biased upward), exact test stratified by case, Holm over the pairs; more = significant with the '
            '95% interval of the difference above 0; tied = that interval within ±5 points.'
        )
        lines.append('')
        lines += _table(
            ['verdict', 'difference [95%]', 'cases better', 'p (adj.)'],
            [
                [
                    p.sentence() + (f' on {p.model}' if p.model else ''),
                    f'{p.difference:+.1%} [{p.low:+.1%}, {p.high:+.1%}]',
                    f'{p.first_better} / {p.second_better} of {p.cases}',
                    f'{p.p_adjusted:.3g}',
                ]
                for p in report.comparisons
            ],
        )
    if report.baseline is not None:
        lines += _baseline(report.baseline)
    if report.sequential is not None:
        lines += _sequential(report)
    if report.gate_misses:
        lines += ['', f'### Gate misses ({len(report.gate_misses)})', '']
        lines += _table(
            ['architecture', 'case', 'metric', 'value', 'n', 'threshold'],
            [
                [
                    _who(m.architecture, m.model),
                    m.case,
                    # Undecided is not below the threshold: only not shown to reach it.
                    f'{m.metric} (undecided at the maximum)' if m.judged_on == 'undecided' else m.metric,
                    fmt_number(m.value, '{:.3f}'),
                    m.n,
                    f'{m.threshold:g}',
                ]
                for m in report.gate_misses
            ],
        )
    if report.missing:
        lines += ['', f'### Missing results ({len(report.missing)})', '']
        lines += [f'- {_cell(m.nodeid)}: {_cell(m.reason)}' for m in report.missing]
    if report.stopped_by:
        lines += ['', f'**Session stopped** by {_cell(report.stopped_by)}; {report.not_run} runs not run.']
    if report.extra:
        lines += ['', '### Added fields', '']
        lines += _table(['field', 'value'], [[name, _field_value(value)] for name, value in report.extra.items()])
    return '\n'.join(lines) + '\n'


def append_markdown(text: str, path: Path, *, append: bool) -> None:
    """Write (or, for `$GITHUB_STEP_SUMMARY`, which other steps share, append) the Markdown to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('a' if append else 'w', encoding='utf-8') as f:
        f.write(text)


def junit_properties(stats: CaseStats, prefix: str = 'agentarch') -> list[tuple[str, object]]:
    """An item's figures as JUnit `<property>` name/value pairs (pytest's `user_properties`); a figure without a
    value (no counted runs, an unpriced model) is `n/a`."""

    def num(value: float | None, fmt: str) -> str:
        return 'n/a' if value is None else fmt.format(value)

    props: list[tuple[str, object]] = [
        ('agentarch.determinism', num(stats.determinism.value, '{:.4f}')),
        ('agentarch.determinism_level', stats.level),
        ('agentarch.determinism_low', f'{stats.determinism.low:.4f}'),
        ('agentarch.determinism_high', f'{stats.determinism.high:.4f}'),
        ('agentarch.pass_rate', num(stats.pass_rate.value, '{:.4f}')),
        ('agentarch.pass_rate_low', f'{stats.pass_rate.low:.4f}'),
        ('agentarch.pass_rate_high', f'{stats.pass_rate.high:.4f}'),
    ]
    if stats.path_conformance is not None:
        props += [
            ('agentarch.path_conformance', num(stats.path_conformance.value, '{:.4f}')),
            ('agentarch.path_conformance_low', f'{stats.path_conformance.low:.4f}'),
            ('agentarch.path_conformance_high', f'{stats.path_conformance.high:.4f}'),
        ]
    props += [
        ('agentarch.n', stats.determinism.n),
        ('agentarch.runs', stats.runs),
        ('agentarch.variants', len(stats.variants)),
        ('agentarch.input_tokens', num(stats.input_tokens.mean, '{:.1f}')),
        ('agentarch.output_tokens', num(stats.output_tokens.mean, '{:.1f}')),
        ('agentarch.cost', num(stats.cost.mean if stats.cost is not None else None, '{:.6f}')),
    ]
    if stats.faults is not None:
        props += [
            ('agentarch.faults_injected', sum(stats.faults.injected.values())),
            ('agentarch.faults_runs_hit', stats.faults.runs_hit),
            ('agentarch.faults_recovered', stats.faults.recovered),
            ('agentarch.faults_degraded', stats.faults.degraded),
            ('agentarch.faults_failed', stats.faults.failed),
        ]
    return [(prefix + name.removeprefix('agentarch'), value) for name, value in props]
