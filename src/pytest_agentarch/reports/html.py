"""The HTML report: one self-contained file rendered from a `Report` (in the session with `--agentarch-html PATH`, or
afterwards from a JSON report with `agentarch html REPORT.json -o OUT.html`).

No script, no external resource: charts are inline SVG drawn here, and a Content-Security-Policy forbids loading
anything, so the file opens the same in an air-gapped CI artifact store. Every text that came from a model, a tool,
a dataset or the command line goes through `_e` (HTML-escaped, quotes included) before it reaches the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from ..core.divergence import Divergence, ExampleRun, ModelContext, TreeNode, shared_context
from ..core.stats import LEVELS, Rate, percentile
from .by_dataset import by_dataset_grid
from .formatting import fmt_latencies, fmt_percent, fmt_rate, fmt_seconds, latency_heads
from .report import ArchitectureReport, CaseReport, Report, capture_paths

__all__ = ('render_html', 'write_html')

_COLOURS = {'tools': '#8fb8de', 'steps': '#2f6fad', 'strict': '#173a5e'}
_WIDTH = 760
_LABEL = 170
_BAR = _WIDTH - _LABEL - 90


def _e(value: object) -> str:
    """Escaped text for element content and quoted attribute values."""
    return html.escape(str(value), quote=True)


_pct = fmt_percent


def _rate(rate: Rate) -> str:
    """A rate as `formatting.fmt_rate` writes it, its interval joined by an en dash."""
    return fmt_rate(rate, dash='\u2013')


def _secs(value: float | None) -> str:
    """Seconds as `formatting.fmt_seconds` writes them, a space before the unit."""
    return fmt_seconds(value, space=' ')


def _who(a: ArchitectureReport) -> str:
    s = a.summary
    return f'{s.architecture}@{s.model}' if s.model else s.architecture


def _x(fraction: float) -> float:
    return round(_LABEL + max(0.0, min(1.0, fraction)) * _BAR, 1)


def _axis(height: int, ticks: Sequence[tuple[float, str]]) -> str:
    parts = []
    for frac, label in ticks:
        x = _x(frac)
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height - 16}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{height - 3}" class="tick">{_e(label)}</text>')
    return ''.join(parts)


def _svg(name: str, title: str, height: int, body: str) -> str:
    return (
        f'<figure class="chart" data-chart="{_e(name)}"><figcaption>{_e(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img" aria-label="{_e(title)}">{body}</svg></figure>'
    )


def _percent_ticks() -> list[tuple[float, str]]:
    return [(t / 4, f'{t * 25}%') for t in range(5)]


def _rate_bar(y: float, height: float, rate: Rate, colour: str, attrs: str) -> str:
    if rate.value is None:
        return f'<text x="{_LABEL + 4}" y="{y + height - 2}" class="value" {attrs}>n/a (n=0)</text>'
    x0, x1 = _x(0), _x(rate.value)
    lo, hi = _x(rate.low), _x(rate.high)
    mid = round(y + height / 2, 1)
    return (
        f'<rect x="{x0}" y="{y}" width="{round(x1 - x0, 1)}" height="{height}" fill="{colour}"/>'
        f'<line x1="{lo}" y1="{mid}" x2="{hi}" y2="{mid}" class="ci"/>'
        f'<line x1="{lo}" y1="{y}" x2="{lo}" y2="{y + height}" class="ci"/>'
        f'<line x1="{hi}" y1="{y}" x2="{hi}" y2="{y + height}" class="ci"/>'
        f'<text x="{_x(1) + 6}" y="{y + height - 2}" class="value" {attrs}>{_pct(rate.value)}</text>'
    )


def _determinism_chart(report: Report) -> str:
    rows = []
    band = 3 * 13 + 10
    for i, a in enumerate(report.architectures):
        top = 8 + i * band
        rows.append(f'<text x="{_LABEL - 8}" y="{top + 24}" class="label">{_e(_who(a))}</text>')
        for j, level in enumerate(LEVELS):
            rate = a.summary.determinism_by_level[level]
            attrs = f'data-arch="{_e(_who(a))}" data-level="{level}"'
            rows.append(_rate_bar(top + j * 13, 11, rate, _COLOURS[level], attrs))
    height = 8 + band * len(report.architectures) + 22
    legend = ''.join(
        f'<rect x="{_LABEL + 110 * k}" y="{height + 5}" width="10" height="10" fill="{_COLOURS[lv]}"/>'
        f'<text x="{_LABEL + 14 + 110 * k}" y="{height + 14}" class="legend">{lv}</text>'
        for k, lv in enumerate(LEVELS)
    )
    return _svg(
        'determinism',
        'Determinism per architecture at each level (share of runs on the most common trajectory), '
        '95% interval as whiskers',
        height + 18,
        _axis(height, _percent_ticks()) + ''.join(rows) + legend,
    )


def _pass_chart(report: Report) -> str:
    rows = []
    for i, a in enumerate(report.architectures):
        top = 8 + i * 22
        rows.append(f'<text x="{_LABEL - 8}" y="{top + 12}" class="label">{_e(_who(a))}</text>')
        rows.append(_rate_bar(top, 14, a.summary.pass_rate, '#3d8b4f', f'data-arch="{_e(_who(a))}"'))
    height = 8 + 22 * len(report.architectures) + 20
    return _svg(
        'pass-rate',
        'Pass rate per architecture (runs whose every assertion held), 95% interval as whiskers',
        height,
        _axis(height, _percent_ticks()) + ''.join(rows),
    )


def _nice(top: float) -> float:
    """A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `top`."""
    if top <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(top))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= top)


def _usage_chart(report: Report) -> str:
    archs = report.architectures
    scale = _nice(max(((a.summary.input_tokens or 0) + (a.summary.output_tokens or 0) for a in archs), default=0))
    rows = []
    for i, a in enumerate(archs):
        s = a.summary
        top = 8 + i * 22
        tin, tout = s.input_tokens or 0.0, s.output_tokens or 0.0
        x0, x1, x2 = _x(0), _x(tin / scale), _x((tin + tout) / scale)
        cost = 'cost not priced' if s.cost is None else f'${s.cost:.5f}/run'
        rows.append(
            f'<text x="{_LABEL - 8}" y="{top + 12}" class="label">{_e(_who(a))}</text>'
            f'<rect x="{x0}" y="{top}" width="{round(x1 - x0, 1)}" height="14" fill="#c07a2c"/>'
            f'<rect x="{x1}" y="{top}" width="{round(x2 - x1, 1)}" height="14" fill="#e9c38f"/>'
            f'<text x="{_x(1) + 6}" y="{top + 12}" class="value" data-arch="{_e(_who(a))}">'
            f'{tin + tout:.0f} tok</text>'
            f'<title>{_e(_who(a))}: {tin:.0f} tokens in, {tout:.0f} out per run; {_e(cost)}</title>'
        )
    height = 8 + 22 * len(archs) + 20
    ticks = [(t / 4, f'{scale * t / 4:.0f}') for t in range(5)]
    costs = ', '.join(
        f'{_who(a)} {"not priced" if a.summary.cost is None else f"${a.summary.cost:.5f}"}' for a in archs
    )
    return _svg(
        'tokens',
        'Tokens per counted run: input (dark) and output (light); cost per run: ' + costs,
        height,
        _axis(height, ticks) + ''.join(rows),
    )


def _latency_chart(report: Report) -> str:
    durations = {
        _who(a): [r.duration for c in a.cases for r in c.run_results if r.error_kind != 'infrastructure']
        for a in report.architectures
    }
    recorded = {
        _who(a): [r.recorded_latency for c in a.cases for r in c.run_results if r.error_kind != 'infrastructure']
        for a in report.architectures
    }
    # A replay answers at once: its wall time is not the model's; the recorded latency is, when the recording has it.
    known = all(v is not None for values in recorded.values() for v in values)
    if report.replay_of and known:
        durations = {who: [v for v in values if v is not None] for who, values in recorded.items()}
    what = (
        ('Recorded model latency per run' if known else "The replay's own wall time per run (recorded latency unknown)")
        if report.replay_of
        else 'Wall time per run'
    )
    scale = _nice(max((max(d) for d in durations.values() if d), default=0.0))
    rows = []
    for i, (who, values) in enumerate(durations.items()):
        top = 8 + i * 24
        rows.append(f'<text x="{_LABEL - 8}" y="{top + 12}" class="label">{_e(who)}</text>')
        if not values:
            continue
        q = {p: percentile(values, p) or 0.0 for p in (0, 5, 25, 50, 75, 95, 100)}
        xs = {p: _x(v / scale) for p, v in q.items()}
        rows.append(
            f'<line x1="{xs[5]}" y1="{top + 8}" x2="{xs[95]}" y2="{top + 8}" class="whisker"/>'
            f'<rect x="{xs[25]}" y="{top + 1}" width="{round(xs[75] - xs[25], 1)}" height="14" class="box"/>'
            f'<line x1="{xs[50]}" y1="{top}" x2="{xs[50]}" y2="{top + 16}" class="median"/>'
            f'<circle cx="{xs[100]}" cy="{top + 8}" r="2.5" class="max"/>'
            f'<text x="{_x(1) + 6}" y="{top + 12}" class="value" data-arch="{_e(who)}">'
            f'p50 {_secs(q[50])}</text>'
            f'<title>{_e(who)}: p5 {_secs(q[5])}, p25 {_secs(q[25])}, p50 {_secs(q[50])}, p75 {_secs(q[75])}, '
            f'p95 {_secs(q[95])}, max {_secs(q[100])} over {len(values)} runs</title>'
        )
    height = 8 + 24 * len(durations) + 20
    ticks = [(t / 4, _secs(scale * t / 4)) for t in range(5)]
    return _svg(
        'latency',
        f'{what}: box p25\u2013p75, line at the median, whiskers p5\u2013p95, dot at the slowest',
        height,
        _axis(height, ticks) + ''.join(rows),
    )


def _summary_table(report: Report) -> str:
    """Two tables, so that each fits a 1280 px window without a scrollbar: rates first (what a reader compares),
    then usage, cost, latency and memory per architecture."""
    conformance = any(a.summary.path_conformance is not None for a in report.architectures)
    rates_head = (
        '<tr><th>architecture</th><th>cases</th><th>runs</th><th>err</th><th>infra</th>'
        + ''.join(f'<th>determinism({lv})</th>' for lv in LEVELS)
        + '<th>traj/case</th><th>pass rate</th>'
        + ('<th>path conformance</th>' if conformance else '')
        + '<th>pass^k</th></tr>'
    )
    usage_head = (
        '<tr><th>architecture</th><th>tok in</th><th>tok out</th><th>req</th><th>cost/run</th><th>spend</th>'
        + ''.join(f'<th>{head}</th>' for head in latency_heads(replay=report.replay_of is not None))
        + '<th>peak mem</th></tr>'
    )
    rates, usage = [], []
    for a in report.architectures:
        s = a.summary
        hat = f'{s.pass_hat_k[-1]:.2f} (k={s.k})' if s.pass_hat_k else '-'
        cells: list[object] = [
            _who(a),
            s.cases,
            s.runs,
            s.errors,
            s.infra,
            *(s.all_raised or _rate(s.determinism_by_level[lv]) for lv in LEVELS),
            '-' if s.distinct_trajectories is None else f'{s.distinct_trajectories:.1f}',
            _rate(s.pass_rate),
            *([_rate(s.path_conformance) if s.path_conformance is not None else '-'] if conformance else []),
            hat,
        ]
        rates.append(f'<tr data-arch="{_e(_who(a))}">' + ''.join(f'<td>{_e(c)}</td>' for c in cells) + '</tr>')
        spent: list[object] = [
            _who(a),
            '-' if s.input_tokens is None else f'{s.input_tokens:.0f}',
            '-' if s.output_tokens is None else f'{s.output_tokens:.0f}',
            '-' if s.requests is None else f'{s.requests:.1f}',
            '-' if s.cost is None else f'${s.cost:.5f}',
            '-' if s.total.cost is None else f'${s.total.cost:.5f}',
            *fmt_latencies(s, replay=report.replay_of is not None, fmt=_secs),
            '-' if s.peak_memory is None else f'{s.peak_memory / 2**20:.1f} MiB',
        ]
        usage.append(f'<tr data-arch="{_e(_who(a))}">' + ''.join(f'<td>{_e(c)}</td>' for c in spent) + '</tr>')
    return (
        f'<div class="wide"><table class="summary" data-table="rates">{rates_head}{"".join(rates)}</table></div>'
        f'<div class="wide"><table class="summary" data-table="usage">{usage_head}{"".join(usage)}</table></div>'
    )


def _by_dataset(report: Report) -> str:
    """In a session of several datasets, the rates per dataset and architecture (`by_dataset_grid`); empty in a
    session of one. Determinism at the headline level only and no `traj/case`: with the dataset's name beside the
    architecture's, more columns push the table past a 1280 px window (the summary above has them)."""
    grid = by_dataset_grid(report, _rate)
    if grid is None:
        return ''
    head = '<tr>' + ''.join(f'<th>{_e(h)}</th>' for h in grid.header) + '</tr>'
    rows = [
        f'<tr data-dataset="{_e(cells[0])}" data-arch="{_e(cells[1])}">'
        + ''.join(f'<td>{_e(c)}</td>' for c in cells)
        + '</tr>'
        for cells in grid.rows
    ]
    return (
        '<h2>By dataset</h2><p class="muted">Each row: the rates of the summary over the cases of that dataset only, '
        'with the same intervals.</p>'
        f'<div class="wide"><table class="summary" data-table="by-dataset">{head}{"".join(rows)}</table></div>'
    )


def _tree(nodes: Sequence[TreeNode], total: int) -> str:
    if not nodes:
        return ''
    items = []
    for n in nodes:
        share = n.count / total if total else 0.0
        ends = f' <span class="ends">{n.ends} ended here</span>' if n.ends and n.children else ''
        variants = (
            ' <span class="variants">variant ' + ', '.join(f'#{v + 1}' for v in n.variants) + '</span>'
            if n.variants
            else ''
        )
        error = ' error' if n.step.startswith('error: ') else ''
        items.append(
            f'<li><span class="step{error}">{_e(n.step)}</span> '
            f'<span class="count" data-count="{n.count}">{n.count}\u00d7</span> '
            f'<span class="bar"><span style="width:{share * 100:.0f}%"></span></span>{ends}{variants}'
            f'{_tree(n.children, total)}</li>'
        )
    return '<ul class="tree">' + ''.join(items) + '</ul>'


def _context(context: ModelContext | None) -> str:
    if context is None:
        return '<p class="muted">no model context kept (no model request, or content not captured)</p>'
    parts = [f'<dt>request</dt><dd>#{context.request} of the run</dd>']
    if context.instructions:
        parts.append(f'<dt>instructions (tail)</dt><dd><pre>{_e(context.instructions)}</pre></dd>')
    if context.prompt:
        parts.append(f'<dt>prompt (tail)</dt><dd><pre>{_e(context.prompt)}</pre></dd>')
    if context.tool_results:
        parts.append(
            '<dt>tool results just shown</dt><dd>'
            + ''.join(f'<pre>{_e(r)}</pre>' for r in context.tool_results)
            + '</dd>'
        )
    return '<dl class="context">' + ''.join(parts) + '</dl>'


def _divergence(d: Divergence | None, runs: int) -> str:
    if d is None:
        return ''
    after = ' > '.join(d.after) if d.after else '(the start)'
    same = shared_context(d.branches)
    branches = []
    for b in d.branches:
        step = '(run ended)' if b.step is None else b.step
        head = (
            f'<p><span class="step">{_e(step)}</span> <span class="count" data-count="{b.count}">{b.count} of {runs} '
            f'runs</span>, e.g. run {b.example_run}'
        )
        shown = '</p>' if same is not None else f'; what the model had just been shown:</p>{_context(b.context)}'
        branches.append(f'<div class="branch">{head}{shown}</div>')
    if same is not None:
        branches.append(
            '<div class="same-context"><p><b>same context: the branches differ by sampling</b>; what every branch '
            f'had just been shown:</p>{_context(same)}</div>'
        )
    return (
        f'<section class="divergence" data-step="{d.step}"><h4>Where runs diverge: step {d.step}</h4>'
        f'<p>after <code>{_e(after)}</code></p>{"".join(branches)}</section>'
    )


def _example(example: ExampleRun, trajectory: str, count: int) -> str:
    verdict = 'passed' if example.passed else 'failed'
    rows = ''.join(
        f'<tr{" class=failed" if c.failed else ""}><td>{"" if c.step is None else c.step}</td><td>{_e(c.name)}</td>'
        f'<td><code>{_e(c.args)}</code></td><td><code>{_e("-" if c.result is None else c.result)}</code></td></tr>'
        for c in example.calls
    )
    calls = (
        f'<table class="calls"><tr><th>step</th><th>tool</th><th>arguments</th><th>result</th></tr>{rows}</table>'
        if rows
        else '<p class="muted">no tool calls</p>'
    )
    failures = ''.join(f'<li>{_e(f)}</li>' for f in example.failed_assertions)
    return (
        f'<details class="example"><summary>variant #{example.variant + 1}: {count}\u00d7 '
        f'<code>{_e(trajectory)}</code> \u2014 run {example.index}, {verdict}</summary>'
        + calls
        + (f'<p class="error">{_e(example.error)}</p>' if example.error else '')
        + (f'<ul class="failures">{failures}</ul>' if failures else '')
        + (f'<p>output</p><pre>{_e(example.output)}</pre>' if example.output is not None else '')
        + '</details>'
    )


def _case(c: CaseReport) -> str:
    who = f'{c.architecture}@{c.model}' if c.model else c.architecture
    variants = {v.trajectory: v.count for v in c.variants}
    examples = ''.join(_example(e, c.variants[e.variant].trajectory, c.variants[e.variant].count) for e in c.examples)
    determinism = c.all_raised or f'determinism({c.level}) {_rate(c.determinism)}'
    path = f'path conformance {_rate(c.path_conformance)}; ' if c.path_conformance is not None else ''
    faults = f'; injected faults: {c.faults}' if c.faults is not None else ''
    figures = (
        f'{determinism}; pass rate {_rate(c.pass_rate)}; {path}'
        f'{len(variants)} variant(s); {c.runs} runs, {c.errors} errors, {c.infra} infra{faults}'
    )
    if paths := capture_paths(c.run_results):
        figures += f'; captured by {paths}'

    counted = c.determinism.n
    errors = ''.join(
        f'<div class="raised" data-error="{_e(v.error_type)}"><p class="error">{_e(v.error_type)}: {v.count} run(s), '
        f'first in run {v.example_run}</p><pre class="traceback">'
        f'{_e(v.traceback or "no traceback: the error was not raised by code (see its message)")}</pre></div>'
        for v in c.variants
        if v.error_type is not None
    )
    return (
        f'<details class="case" data-arch="{_e(who)}" data-case="{_e(c.case)}"'
        f'{" open" if c.divergence is not None else ""}>'
        f'<summary><b>{_e(who)}</b> \u00b7 {_e(c.case)} <span class="muted">{_e(figures)}</span></summary>'
        f'<h4>Trajectory tree ({_e(c.level)} level; counts are runs)</h4>{_tree(c.tree, counted)}'
        f'{_divergence(c.divergence, counted)}'
        + (f'<h4>Errors (first traceback of each, library frames folded)</h4>{errors}' if errors else '')
        + f'<h4>One run per variant</h4>{examples}</details>'
    )


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#1d2733;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d5dde6}h4{margin:12px 0 4px}
.muted{color:#6a7785}.meta{color:#44515f}code,pre{font:12px/1.35 ui-monospace,monospace}
pre{white-space:pre-wrap;word-break:break-word;background:#f4f6f8;padding:4px 6px;margin:2px 0}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d5dde6;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}.wide{overflow-x:auto}table.summary{font-size:12px;white-space:nowrap}

table.calls td{text-align:left;vertical-align:top;max-width:420px}tr.failed td{background:#fbe9e7}
.chart{margin:10px 0}.chart figcaption{font-weight:600;margin-bottom:2px}
svg text{font:11px system-ui,sans-serif;fill:#1d2733}svg .label{text-anchor:end}
svg .tick{text-anchor:middle;fill:#6a7785}svg .grid{stroke:#e3e8ee}svg .ci{stroke:#111;stroke-width:1.2}
svg .box{fill:#b9d3ea;stroke:#2f6fad}svg .median{stroke:#173a5e;stroke-width:2}svg .whisker{stroke:#2f6fad}
svg .max{fill:#173a5e}details.case{border:1px solid #d5dde6;border-radius:4px;margin:6px 0;padding:4px 10px}
details.case>summary{cursor:pointer}
ul.tree{list-style:none;padding-left:18px;border-left:1px dashed #b5c2cf;margin:2px 0}ul.tree li{margin:2px 0}
.step{font-family:ui-monospace,monospace;background:#eef3f8;padding:0 4px}.step.error{background:#fbe3df}
.count{font-weight:600}.ends,.variants{color:#6a7785;font-size:12px}
.bar{display:inline-block;width:80px;height:7px;background:#e3e8ee;vertical-align:middle}
.bar span{display:block;height:7px;background:#2f6fad}
.divergence{background:#fffaf0;border:1px solid #f0d9a8;padding:4px 10px}.branch{margin:6px 0 10px}
.context dt{font-weight:600;font-size:12px}.context dd{margin:0 0 4px 12px}.error{color:#a3271b}
.example{margin:4px 0}.misses li{color:#a3271b}
"""


def _metadata(report: Report) -> str:
    """Where the report came from: versions, start, duration, git commit (empty for a report without metadata)."""
    m = report.metadata
    if m is None:
        return ''
    commit = f', commit {m.git_commit[:12]}' if m.git_commit else ''
    return (
        f'<p class="meta">pytest-agentarch {_e(m.plugin_version)}, pydantic-ai {_e(m.pydantic_ai_version)}, '
        f'pydantic-evals {_e(m.pydantic_evals_version)}, {_e(m.python)}; started {_e(m.started_at)}, '
        f'{m.duration:.1f} s{_e(commit)}</p>'
    )


def _comparisons(report: Report) -> str:
    """Which architecture is more deterministic on the same cases (paired by case, Holm over the pairs)."""
    if not report.comparisons:
        return ''
    rows = ''.join(
        f'<tr><td>{_e(p.sentence() + (f" on {p.model}" if p.model else ""))}</td>'
        f'<td>{p.difference:+.1%} [{p.low:+.1%}, {p.high:+.1%}]</td>'
        f'<td>{p.first_better} / {p.second_better} of {p.cases}</td><td>{p.p_adjusted:.3g}</td></tr>'
        for p in report.comparisons
    )
    return (
        '<h2>Which is more deterministic</h2><p class="muted">Paired by case: one architecture\'s held-out agreement '
        "against the other's modal count, exact test stratified by case, Holm over the pairs; more = significant "
        'with the 95% interval of the difference above 0; tied = that interval within \u00b15 points '
        '(docs/statistics.md).</p>'
        '<table class="comparisons"><thead><tr><th>verdict</th><th>difference [95%]</th><th>cases better</th>'
        f'<th>p (adj.)</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _sequential(report: Report) -> str:
    """The sequential gates: per architecture and for the session, items decided and the runs and tokens saved;
    per item, the runs used and each gate's decision (empty without --agentarch-sequential)."""
    if report.sequential is None:
        return ''
    rows = [(_who(a), a.sequential) for a in report.architectures if a.sequential is not None]
    rows.append(('session', report.sequential))
    body = ''.join(
        f'<tr><td>{_e(who)}</td><td>{t.items}</td><td>{t.met}</td><td>{t.missed}</td><td>{t.undecided}</td>'
        f'<td>{t.runs_used} of {t.runs_max}</td><td>{t.runs_saved}</td><td>{t.tokens_saved}</td></tr>'
        for who, t in rows
    )
    items = ''.join(
        f'<li>{_e(c.nodeid)}: {c.sequential.runs_used} of {c.sequential.max_runs} runs; '
        + '; '.join(
            f'{_e(d.metric)} {_e(d.decision)}'
            + (f' at run {d.at_run}' if d.at_run is not None else '')
            + (' by the final test' if d.final_test else '')
            # Another gate decided missed stopped the item before this one was decided (as -v says).
            + (' at the stop' if d.decision == 'undecided' and c.sequential.stopped_on_miss else '')
            + f' (e={d.e_value:.3g}, {d.successes}/{d.trials})'
            for d in c.sequential.gates
        )
        + '</li>'
        for a in report.architectures
        for c in a.cases
        if c.sequential is not None
    )
    return (
        '<h2>Sequential gates</h2><p class="muted">A gate still undecided at the maximum was met only by the final '
        'test (wrong-pass rate at the threshold at most alpha overall) and failed otherwise; a threshold of 1 was '
        'judged on every run (docs/statistics.md).</p>'
        '<table class="sequential"><thead><tr><th>architecture</th><th>items</th>'
        '<th>met</th><th>missed</th><th>undecided</th><th>runs used</th><th>runs saved</th>'
        f'<th>tokens saved (est.)</th></tr></thead><tbody>{body}</tbody></table>'
        f'<details><summary>per item</summary><ul>{items}</ul></details>'
    )


def _faults(report: Report) -> str:
    hit = [a for a in report.architectures if a.summary.faults is not None]
    if not hit:
        return ''
    rows = []
    for a in hit:
        f = a.summary.faults
        assert f is not None
        cells = [
            _who(a),
            ', '.join(f'{k} {v}' for k, v in f.injected.items()),
            f.runs_hit,
            f.recovered,
            f.degraded,
            f.failed,
            _rate(f.pass_rate),
            _rate(a.summary.determinism),
        ]
        rows.append('<tr>' + ''.join(f'<td>{_e(c)}</td>' for c in cells) + '</tr>')
    head = (
        '<tr><th>architecture</th><th>injected</th><th>runs hit</th><th>recovered</th><th>degraded</th>'
        f'<th>failed</th><th>pass rate (runs hit)</th><th>determinism({_e(report.level)})</th></tr>'
    )
    return (
        '<h2>Injected faults</h2><p class="muted">recovered = runs hit that passed; degraded = answered but did not '
        f'pass; failed = raised</p><div class="wide"><table class="summary">{head}{"".join(rows)}</table></div>'
    )


def render_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    models = ', '.join(report.models) or report.model
    meta = (
        f'model {models}, seed {report.seed}, {report.runs_done()} run(s) per case, headline level '
        f'{report.level}, schema v{report.schema_version}'
        + (f'; replayed from {report.replay_of}' if report.replay_of else '')
        + (f'; judge {report.judge_model}' if report.judge_model else '')
    )
    t = report.total
    spend = f'{t.runs} runs, {t.requests} requests, {t.input_tokens} tokens in, {t.output_tokens} tokens out, ' + (
        'cost not priced' if t.cost is None else f'${t.cost:.5f}'
    )
    misses = ''.join(
        f'<li>{_e(m.architecture)} \u00b7 {_e(m.case)}: {_e(m.metric)} '
        # An undecided figure may be above the threshold: "<" would read as a failed comparison.
        + ('undecided at the maximum: ' if m.judged_on == 'undecided' else '')
        + f'{"n/a" if m.value is None else f"{m.value:.3f}"} (n={m.n}) '
        + (f'not shown to reach {m.threshold:g}' if m.judged_on == 'undecided' else f'&lt; {m.threshold:g}')
        + '</li>'
        for m in report.gate_misses
    )
    missing = ''.join(f'<li>{_e(m.nodeid)}: {_e(m.reason)}</li>' for m in report.missing)
    charts = (
        _determinism_chart(report) + _pass_chart(report) + _usage_chart(report) + _latency_chart(report)
        if report.architectures
        else '<p class="muted">no architecture reported</p>'
    )
    cases = ''.join(_case(c) for a in report.architectures for c in a.cases)
    diverging = sum(1 for a in report.architectures for c in a.cases if c.divergence is not None)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>pytest-agentarch report</title><style>{_CSS}</style></head><body>'
        f'<h1>pytest-agentarch: architecture comparison</h1><p class="meta">{_e(meta)}</p>'
        f'<p class="meta">session spend: {_e(spend)}</p>'
        + _metadata(report)
        + f'<h2>Summary</h2>{_summary_table(report)}'
        + _by_dataset(report)
        + _faults(report)
        + _comparisons(report)
        + (f'<h2>Gate misses ({len(report.gate_misses)})</h2><ul class="misses">{misses}</ul>' if misses else '')
        + (f'<h2>Missing results ({len(report.missing)})</h2><ul>{missing}</ul>' if missing else '')
        + _sequential(report)
        + f'<h2>Charts</h2>{charts}'
        f'<h2>Cases</h2><p class="muted">{diverging} case(s) whose runs diverge are open; each tree merges the '
        'step sequences of the counted runs (calls made concurrently are one step in braces).</p>'
        f'{cases}</body></html>\n'
    )


def write_html(report: Report, path: Path) -> None:
    """Write the HTML report to `path` (parents created), replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(render_html(report), encoding='utf-8')
    tmp.replace(path)
