"""Plain text for the terminal: the session summary and the failure message of one item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.divergence import ModelContext, shared_context
from ..core.gates import Miss
from ..core.records import clip
from ..core.sequential import (
    GateDecision,
    SequentialTotals,
    fewest_runs_to_meet,
    fixed_n_exact,
    fixed_n_normal,
    fixed_n_power,
    plan,
    without_maximum,
)
from ..core.stats import LEVELS, CaseStats, Rate, Score, Totals
from .by_dataset import by_dataset_grid
from .formatting import fmt_latencies, fmt_number, fmt_rate, fmt_short_rate, fmt_usd, latency_heads
from .report import Report
from .sequential_notes import gate_tallies

__all__ = (
    'render_by_dataset',
    'render_cases',
    'render_comparisons',
    'render_divergence',
    'render_errors',
    'render_failure',
    'render_faults',
    'render_plan',
    'render_sequential',
    'render_session',
    'render_summary',
    'run_ranges',
)


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], *, names: int = 1) -> list[str]:
    """Columns padded to their widest cell: the first `names` (what a row is about) left-aligned, figures right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return '  '.join(
            str(c).ljust(w) if i < names else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), '  '.join('-' * w for w in widths), *(line(r) for r in rows)]


def _who(architecture: str, model: str | None) -> str:
    """A row's name: the architecture, and its model in a session with several."""
    return f'{architecture}@{model}' if model else architecture


def _simulated(spec: str) -> bool:
    """Whether a model spec names the embedded simulated model."""
    return spec.strip() == 'sim' or spec.strip().startswith('sim:')


def _spend(total: Totals) -> str:
    cost = fmt_usd(total.cost)
    return cost + (f' (+{total.unpriced_runs} unpriced)' if total.unpriced_runs and total.cost is not None else '')


def _has_paths(report: Report) -> bool:
    """Whether some architecture has path conformance (then the tables show it)."""
    return any(a.summary.path_conformance is not None for a in report.architectures)


def render_faults(report: Report) -> list[str]:
    """One row per architecture hit by injected faults (`--agentarch-faults`): what was injected, what became of the
    runs hit (recovered = passed, degraded = answered but did not pass, failed = raised), and the architecture's pass
    rate, pass rate of the runs hit and determinism in the session under faults."""
    hit = [a.summary for a in report.architectures if a.summary.faults is not None]
    if not hit:
        return []
    header = [
        'architecture',
        'faults injected',
        'runs hit',
        'recovered',
        'degraded',
        'failed',
        'pass rate (runs hit)',
        'pass rate (all)',
        f'determinism({report.level})',
    ]
    rows = []
    for s in hit:
        f = s.faults
        assert f is not None
        rows.append(
            [
                _who(s.architecture, s.model),
                ', '.join(f'{k} {v}' for k, v in f.injected.items()),
                str(f.runs_hit),
                str(f.recovered),
                str(f.degraded),
                str(f.failed),
                fmt_rate(f.pass_rate, width=6),
                fmt_rate(s.pass_rate, width=6),
                fmt_rate(s.determinism, width=6),
            ]
        )
    return ['', 'injected faults (--agentarch-faults):', *_grid(header, rows)]


def render_summary(report: Report) -> list[str]:
    """One row per architecture: counts, headline determinism, pass rate, pass^k, usage, spend, latency, memory.

    The pass^k column is headed with its k when every architecture has the same one; otherwise each cell names
    its own (k is the fewest counted runs of any case of the architecture)."""
    ks = {a.summary.k for a in report.architectures}
    same_k = len(ks) == 1
    paths = _has_paths(report)
    header = [
        'architecture',
        'cases',
        'runs',
        'err',
        'infra',
        f'determinism({report.level}) [95% CI]',
        'traj/case',
        'pass rate [95% CI]',
        *(['path conformance [95% CI]'] if paths else []),
        f'pass^{min(ks)}' if same_k else 'pass^k',
        'tok in',
        'tok out',
        'req',
        'cost/run',
        'spend',
        *latency_heads(replay=report.replay_of is not None),
        'peak mem',
    ]
    rows = []
    for a in report.architectures:
        s = a.summary
        hat = fmt_number(s.pass_hat_k[-1] if s.pass_hat_k else None, '{:.2f}')
        rows.append(
            [
                _who(s.architecture, s.model),
                str(s.cases),
                str(s.runs),
                str(s.errors),
                str(s.infra),
                s.all_raised or fmt_rate(s.determinism, width=6),
                fmt_number(s.distinct_trajectories, '{:.1f}'),
                fmt_rate(s.pass_rate, width=6),
                *([fmt_rate(s.path_conformance, width=6) if s.path_conformance is not None else '-'] if paths else []),
                hat if same_k or not s.pass_hat_k else f'{hat} (k={s.k})',
                fmt_number(s.input_tokens),
                fmt_number(s.output_tokens),
                fmt_number(s.requests, '{:.1f}'),
                fmt_usd(s.cost),
                _spend(s.total),
                *fmt_latencies(s, replay=report.replay_of is not None),
                '-' if s.peak_memory is None else f'{s.peak_memory / 2**20:.1f}MiB',
            ]
        )
    return _grid(header, rows)


def render_by_dataset(report: Report) -> list[str]:
    """In a session of several datasets, one row per (dataset, architecture) (`by_dataset_grid`); empty in a session
    of one dataset."""
    grid = by_dataset_grid(report, _compact)
    if grid is None:
        return []
    return [
        '',
        "by dataset (each row: the summary's figures over that dataset's cases only; rates: value [95% CI] in "
        'percent, intervals as above):',
        *_grid(grid.header, grid.rows, names=2),
    ]


REPLAY_LATENCY_NOTE = (
    "rec p50/p95: the recorded model's latency per run (the sum of the recorded durations of its exchanges); "
    "'unknown': the recording stored no durations (recorded before format version 2). The replay's own wall time "
    'per run is `latency` and `duration` in the JSON report.'
)
"""Under the summary table of a replay: what its latency columns hold."""


CASE_WIDTH = 120
"""Columns the per-case table keeps within: a row of figures, then an indented line with the rest."""


def _compact(rate: Rate) -> str:
    """A rate in the per-case table: `95% [84-99]` (percent signs once)."""
    if rate.value is None:
        return 'n/a'
    return f'{rate.value:.0%} [{rate.low * 100:.0f}-{rate.high * 100:.0f}]'


def render_cases(report: Report) -> list[str]:
    """One row per (architecture, case): the headline determinism, variants, pass rate, pass^k and output agreement
    at k = the case's counted runs; under it, indented, the determinism at the other levels, pass@k and the most
    common trajectory. Both lines fit `CASE_WIDTH` columns (long case names and trajectories are clipped)."""
    level = report.level
    header = [
        'architecture',
        'case',
        'runs',
        'err',
        'infra',
        f'determinism({level})',
        'var',
        'pass rate',
        'pass^k',
        'output agr',
    ]
    rows: list[list[str]] = []
    details: list[str] = []
    for a in report.architectures:
        for c in a.cases:
            top = c.all_raised or (c.variants[0].trajectory if c.variants else '-')
            k = len(c.pass_hat_k)
            rows.append(
                [
                    _who(c.architecture, c.model),
                    c.case,
                    str(c.runs),
                    str(c.errors),
                    str(c.infra),
                    'raised' if c.all_raised else _compact(c.determinism_by_level[level]),
                    str(len(c.variants)),
                    _compact(c.pass_rate),
                    fmt_number(c.pass_hat_k[-1] if c.pass_hat_k else None, '{:.2f}'),
                    _compact(c.output_agreement),
                ]
            )
            others = ', '.join(
                f'{lv} {"raised" if c.all_raised else _compact(c.determinism_by_level[lv])}'
                for lv in LEVELS
                if lv != level
            )
            at_k = f'; pass@{k} {c.pass_at_k[-1]:.2f}' if k else ''
            path = f'; path {_compact(c.path_conformance)}' if c.path_conformance is not None else ''
            details.append(clip(f'    {others}{at_k}{path}; top: {top}', CASE_WIDTH))
    # Names are what can be long: the case column gives up what the row needs to fit.
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    over = sum(widths) + 2 * (len(widths) - 1) - CASE_WIDTH
    if over > 0:
        keep = max(len('case'), widths[1] - over)
        for r in rows:
            r[1] = clip(r[1], keep)
    grid = _grid(header, rows)
    return [*grid[:2], *(line for row, detail in zip(grid[2:], details, strict=True) for line in (row, detail))]


def _seen(context: ModelContext | None) -> str:
    """What the model had just been shown, on one line."""
    if context is None:
        return 'no model context kept'
    parts = [f'request #{context.request}']
    if context.tool_results:
        parts.append('tool results ' + '; '.join(clip(r, 90) for r in context.tool_results))
    if context.prompt:
        parts.append('prompt ' + repr(clip(' '.join(context.prompt.split()), 80, tail=True)))
    return clip(', '.join(parts), 240)


def render_divergence(report: Report) -> list[str]:
    """For each case whose runs diverge: the first step at which they differ, the runs per branch with an example
    run, and what the model had just been shown in that run when it chose the branch."""
    found = [c for a in report.architectures for c in a.cases if c.divergence is not None]
    if not found:
        return []
    lines = ['', f'where runs diverge (level {report.level}):']
    for c in found:
        d = c.divergence
        assert d is not None
        after = ' > '.join(d.after) if d.after else '(the start)'
        branches = ', '.join(
            f'{b.count}x {"(run ended)" if b.step is None else b.step} (run {b.example_run})' for b in d.branches
        )
        lines.append(f'  {_who(c.architecture, c.model)}  {c.case}: step {d.step} after {clip(after, 80)}: {branches}')
        same = shared_context(d.branches)
        if same is not None:
            lines.append(f'    same context: the branches differ by sampling; each saw: {_seen(same)}')
        for b in d.branches:
            if same is None:
                lines.append(f'    run {b.example_run} saw: {_seen(b.context)}')
            who = '' if same is None else f'run {b.example_run}, '
            lines.extend(f'      {who}the model says: {clip(reason, 200)}' for reason in b.why)
    return lines


def _judged(scores: Mapping[str, Score], labels: Mapping[str, Mapping[str, int]]) -> str:
    parts = [f'{name} {score}' for name, score in scores.items()]
    parts += [f'{name}: ' + ', '.join(f'{label} {n}' for label, n in counts.items()) for name, counts in labels.items()]
    return '; '.join(parts)


def _scores_and_labels(report: Report, verbose: bool) -> list[str]:
    if not any(a.summary.scores or a.summary.labels for a in report.architectures):
        return []
    lines = [
        '',
        'scores (mean [95% interval] n: cluster-adjusted over cases, t over runs of one case) '
        'and labels (runs per label):',
    ]
    for a in report.architectures:
        s = a.summary
        if s.scores or s.labels:
            lines.append(f'  {_who(s.architecture, s.model)}: {_judged(s.scores, s.labels)}')
        if verbose:
            lines.extend(f'    {c.case}: {_judged(c.scores, c.labels)}' for c in a.cases if c.scores or c.labels)
    return lines


def _miss_row(m: Miss) -> str:
    value = 'n/a' if m.value is None else f'{m.value:.3f}'
    if m.judged_on == 'undecided':
        # An undecided figure may be above the threshold: "< threshold" would read as a failed comparison.
        row = f'  {_who(m.architecture, m.model)}  {m.case}  {m.metric} undecided at the maximum: {value}  n={m.n}'
        row += f'  not shown to reach {m.threshold:g}'
        return f'{row}  ({m.detail})' if m.detail else row
    basis = {
        'value': '',
        'wilson-low': ' wilson-low',
        't-low': ' t-low',
        'sequential': ' sequential',
    }[m.judged_on]
    row = f'  {_who(m.architecture, m.model)}  {m.case}  {m.metric}{basis} {value}  n={m.n}  < {m.threshold:g}'
    return f'{row}  ({m.detail})' if m.detail else row


def render_session(report: Report, *, verbose: bool) -> list[str]:
    """The body of the terminal summary section: what was run, the summary table, the session's spend, in a session
    of several datasets the same figures per dataset, with `verbose` the case table, then scores and labels,
    reported metrics, gate misses, interrupted and missing items."""
    level = report.level
    lines = [
        f'{"models" if len(report.models) > 1 else "model"} {", ".join(report.models) or report.model}, '
        f'seed {report.seed}, {report.runs_done()} run(s) per case; '
        f'determinism({level}) = share of runs with the most common trajectory at level {level} '
        '(a run that raised is its own variant; infrastructure failures are left out)'
        + (f'; every model response replayed from {report.replay_of}' if report.replay_of else '')
    ]
    if report.architectures:
        lines.extend(render_summary(report))
        if report.replay_of:
            lines.append(REPLAY_LATENCY_NOTE)
        t = report.total
        judging = (
            f'; evaluation (judge {report.judge_model or "default"}): {t.judge_requests} requests, '
            f'{t.judge_input_tokens} tokens in, {t.judge_output_tokens} tokens out, {fmt_usd(t.judge_cost)}'
            if t.judge_requests
            else ''
        )
        lines.append(
            f'session spend: {t.runs} runs, {t.requests} requests, {t.input_tokens} tokens in, '
            f'{t.output_tokens} tokens out, {_spend(t)}{judging}'
        )
        lines.append(
            '95% CI: for the population of cases this suite samples (cluster-adjusted over cases; determinism: '
            'held-out agreement below, modal count above, as the modal share is biased upward); the interval for '
            'these cases only is in the JSON (suite_low, suite_high) and the Markdown report (docs/statistics.md)'
        )
        if report.judge_model is not None and _simulated(report.judge_model):
            lines.append(
                f'judge model {report.judge_model} is the simulated model: its verdicts are simulated, '
                'not an LLM judgement'
            )
        if t.waited or t.retries:
            lines.append(
                'waiting on request limits and retry back-off: '
                + ', '.join(
                    f'{_who(a.summary.architecture, a.summary.model)} {a.summary.total.waited:.1f}s '
                    f'({a.summary.total.retries} retries)'
                    for a in report.architectures
                )
            )
        lines.extend(render_by_dataset(report))
    if verbose and report.architectures:
        lines.append('')
        lines.extend(render_cases(report))
        lines.extend(render_divergence(report))
        lines.extend(render_errors(report))
    lines.extend(render_faults(report))
    lines.extend(render_sequential(report, verbose=verbose))
    lines.extend(_scores_and_labels(report, verbose))
    reported = [(_who(a.summary.architecture, a.summary.model), a.summary.metrics) for a in report.architectures]
    if any(metrics for _, metrics in reported):
        lines.append('')
        lines.append('metrics the architectures reported (mean per counted run):')
        for name, metrics in reported:
            if metrics:
                lines.append(f'  {name}: ' + ', '.join(f'{k} {v:.3g}' for k, v in metrics.items()))
    unjudged = [c for a in report.architectures for c in a.cases if c.unjudged]
    if unjudged:
        lines.append('')
        lines.append(
            f'evaluator infrastructure errors ({sum(c.unjudged for c in unjudged)} runs could not be judged; '
            'left out of pass rate and pass^k, not failed):'
        )
        lines.extend(f'  {c.nodeid}: {c.unjudged} run(s): {"; ".join(c.evaluator_infra_errors)}' for c in unjudged)
    if report.gate_misses:
        lines.append('')
        lines.append(f'gate misses ({len(report.gate_misses)}):')
        lines.extend(_miss_row(m) for m in report.gate_misses)
    stopped = [c for a in report.architectures for c in a.cases if c.not_run]
    if stopped:
        lines.append('')
        lines.append(f'runs not run ({report.not_run}), the session stopped by {report.stopped_by}:')
        lines.extend(f'  {c.nodeid}: {c.not_run} of {report.runs_per_case} runs not run' for c in stopped)
    interrupted = [c for a in report.architectures for c in a.cases if c.interrupted]
    if interrupted:
        lines.append('')
        lines.append(f'interrupted items ({len(interrupted)}), their finished runs kept:')
        lines.extend(f'  {c.nodeid}: {c.runs} of {report.runs_per_case} runs' for c in interrupted)
    if report.missing:
        lines.append('')
        lines.append(f'missing results ({len(report.missing)} items):')
        lines.extend(f'  {miss.nodeid}: {miss.reason}' for miss in report.missing)
    return lines


def _saved(totals: SequentialTotals) -> str:
    share = totals.runs_saved / totals.runs_max if totals.runs_max else 0.0
    return (
        f'runs {totals.runs_used} of {totals.runs_max} (saved {totals.runs_saved}, {share:.1%}), tokens '
        f'{totals.tokens_used} (saved ~{totals.tokens_saved})'
    )


def _gate(d: GateDecision, *, stopped: bool) -> str:
    if d.decision == 'undecided':
        # `stopped`: another gate was decided missed and the item stopped there, before this one could be decided.
        at = ' at the stop' if stopped else ''
        return f'{d.metric} undecided{at} (e={d.e_value:.3g}, {d.successes}/{d.trials})'
    if d.final_test:
        return f'{d.metric} met at the maximum by the final test ({d.successes}/{d.trials})'
    return f'{d.metric} {d.decision} at run {d.at_run} (e={d.e_value:.3g}, {d.successes}/{d.trials})'


def render_sequential(report: Report, *, verbose: bool) -> list[str]:
    """The sequential gates' lines: the session's decisions, runs and tokens saved, one line per architecture, and
    with `verbose` one per item (runs used, each gate's decision and the e-value that made it)."""
    totals = report.sequential
    first = next((c.sequential for a in report.architectures for c in a.cases if c.sequential), None)
    if totals is None or first is None:
        return []
    lines = [
        '',
        f'sequential gates (alpha {first.alpha:g}, batches of {first.batch}, at most {report.runs_per_case} runs; a '
        'gate is decided when its e-value reaches 1/alpha): '
        f'{totals.items} items, {totals.decided} decided ({totals.met} met, {totals.missed} missed), '
        f'{totals.undecided} undecided (an undecided gate fails; a threshold of 1 is judged on every run); '
        f'{_saved(totals)}',
        # An item is decided when every gate is; each gate's own decisions are what -v lists item by item.
        '  gates: ' + gate_tallies([c.sequential for a in report.architectures for c in a.cases if c.sequential]),
    ]
    for a in report.architectures:
        if a.sequential is not None:
            s = a.sequential
            lines.append(
                f'  {_who(a.summary.architecture, a.summary.model)}: {s.decided} of {s.items} decided '
                f'({s.met} met, {s.missed} missed); {_saved(s)}'
            )
    if verbose:
        for a in report.architectures:
            for c in a.cases:
                if c.sequential is not None:
                    q = c.sequential
                    gates = '; '.join(_gate(d, stopped=q.stopped_on_miss) for d in q.gates)
                    lines.append(f'    {c.nodeid}: {q.runs_used} of {q.max_runs} runs: {gates}')
    return lines


def _plan_rates(threshold: float) -> list[float]:
    """True rates the planner shows for a threshold: from the threshold to 1 (a fifth, half and four fifths of the
    way, and 1), and 0.05, 0.1 and 0.2 below (inside [0, 1])."""
    above = {round(threshold + (1 - threshold) * f, 4) for f in (0.2, 0.5, 0.8, 1.0)}
    rates = above | {round(threshold - d, 4) for d in (0.05, 0.1, 0.2)}
    return sorted((r for r in rates if 0.0 <= r <= 1.0 and r != threshold), reverse=True)


NO_MAXIMUM_HORIZON = 5000
"""Runs up to which the planner follows the sequential design with no maximum."""


def render_plan(
    gates: Sequence[tuple[str, str, float]], *, runs: int, batch: int, alpha: float, power: float = 0.8
) -> list[str]:
    """The planner's table: for each gate (who it applies to, metric, threshold), at a range of true rates, the runs
    a fixed-N design needs (exact one-sided binomial test at level `alpha`, decided with probability `power`) and
    what the sequential design does with at most `runs` runs in batches of `batch` (mean runs, chances of each
    outcome), computed exactly, before any run; beside the fixed-N runs, the sequential design's mean runs with no
    maximum (`sequential.without_maximum`), the like-for-like comparison."""
    lines = [
        f'agentarch plan: sequential gates at alpha {alpha:g}, batches of {batch}, at most {runs} runs per item '
        f'(--runs); fixed-N = the fewest runs for an exact one-sided binomial test at level {alpha:g} to decide the '
        f"item with probability {power:g}; no maximum: the sequential design's mean runs to a decision without "
        f'--runs (">=" when more than 1% are still undecided after {NO_MAXIMUM_HORIZON}); fixed {runs}: the chance '
        f'that test meets the gate on {runs} runs; met '
        'includes the final test at the maximum; a gate still undecided there fails, so the chance of a wrong pass '
        f'at the threshold is at most {alpha:g}'
    ]
    for who, metric, threshold in gates:
        determinism = metric.startswith('determinism')
        lines.append('')
        if threshold >= 1:
            lines.append(
                f'{metric} >= {threshold:g} ({who}): every run must count; the sequential test decides missed at the '
                'first run that does not and never decides met before the maximum'
            )
            continue
        lines.append(f'{metric} >= {threshold:g} ({who}):')
        header = [
            'true rate',
            'fixed-N runs',
            'no maximum: mean runs',
            f'fixed {runs}: met',
            'sequential mean runs',
            'met',
            'at the maximum',
            'missed',
            f'undecided at {runs} (fails)',
        ]
        rows = []
        trials = runs - 1 if determinism else runs
        for rate in _plan_rates(threshold):
            fixed = fixed_n_exact(threshold, rate, alpha, power)
            p = plan(threshold, rate, max_runs=runs, batch=batch, alpha=alpha, determinism=determinism)
            free = without_maximum(
                threshold, rate, batch=batch, alpha=alpha, determinism=determinism, horizon=NO_MAXIMUM_HORIZON
            )
            rows.append(
                [
                    f'{rate:.2f}',
                    '-' if fixed is None else str(fixed),
                    f'{">=" if free.undecided > 0.01 else ""}{free.expected_runs:.0f}',
                    f'{fixed_n_power(threshold, rate, trials, alpha):.1%}' if trials else '-',
                    f'{p.expected_runs:.1f}',
                    f'{p.met:.1%}',
                    f'{p.met_at_maximum:.1%}',
                    f'{p.missed:.1%}',
                    f'{p.undecided:.1%}',
                ]
            )
        lines.extend('  ' + line for line in _grid(header, rows))
        fewest = fewest_runs_to_meet(threshold, alpha, determinism=determinism)
        below = round(threshold - 0.1, 4)
        tell = ''
        if below > 0:
            exact, normal = (
                fixed_n_exact(threshold, below, alpha, power),
                fixed_n_normal(threshold, below, alpha, power),
            )
            tell = (
                f'; to tell {threshold:g} from {below:g} a fixed-N design needs {exact} runs '
                f'(normal approximation {normal})'
            )
        lines.append(f'  a stream that never fails is decided met after {fewest} runs{tell}')
    if not gates:
        lines.append('no rate gate is in force (--min-determinism, --min-pass-rate, agentarch_arch_thresholds)')
    return lines


def render_failure(stats: CaseStats, misses: Sequence[Miss], expected_calls: str | None) -> str:
    """The failure message of one item: its gate misses, its figures, its failed runs with expected and actual
    tools, and its trajectory variants."""
    lines = [f'gate missed: {m}' for m in misses]
    infra = f' infra={stats.infra}' if stats.infra else ''
    shown = stats.all_raised or f'determinism({stats.level}) {stats.determinism}'
    path = f'path conformance {stats.path_conformance} ' if stats.path_conformance is not None else ''
    lines.append(f'runs={stats.runs} errors={stats.errors}{infra} pass rate {stats.pass_rate} {path}{shown}')
    if stats.faults is not None:
        lines.append(f'injected faults: {stats.faults}')
    if stats.all_raised is None:
        lines.append(
            'determinism by level: '
            + ', '.join(f'{lv} {fmt_short_rate(stats.determinism_by_level[lv])}' for lv in LEVELS)
            + f' (n={stats.pass_rate.n})'
        )
    if stats.scores:
        lines.append('scores: ' + '; '.join(f'{name} {score}' for name, score in stats.scores.items()))
    if stats.labels:
        lines.append('labels: ' + _judged({}, stats.labels))
    # Runs that failed alike are one block: ten identical blocks hide the one run that failed differently.
    blocks: dict[tuple[str, ...], list[int]] = {}
    for f in stats.failures:
        block: list[str] = []
        if f.error:
            kind = ' (infrastructure: not counted)' if f.error_kind == 'infrastructure' else ''
            block.append(f'  error{kind}: {f.error}')
        block.extend(f'  assertion failed: {a}' for a in f.failed_assertions)
        if expected_calls:
            block.append(f'  expected tools: {expected_calls}')
        block.append(f'  actual tools:   {" > ".join(f.tool_calls) or "(none)"}')
        blocks.setdefault(tuple(block), []).append(f.index)
    for alike, indexes in blocks.items():
        lines.append(
            f'run {indexes[0]}:' if len(indexes) == 1 else f'runs {run_ranges(indexes)} ({len(indexes)} runs):'
        )
        lines.extend(alike)
    if len(stats.variants) > 1:
        lines.append(f'trajectory variants ({stats.level}):')
        lines.extend(f'  {v.count:>4}x  {v.trajectory}' for v in stats.variants[:5])
    lines.extend(_tracebacks(stats, indent=''))
    return '\n'.join(lines)


def run_ranges(indexes: Sequence[int]) -> str:
    """Run indexes as runs of consecutive numbers, e.g. `0, 3, 5-9` for 0, 3, 5, 6, 7, 8, 9."""
    parts: list[str] = []
    ordered = sorted(set(indexes))
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            first, last = ordered[start], ordered[i - 1]
            parts.append(str(first) if first == last else f'{first}-{last}')
            start = i
    return ', '.join(parts)


def _tracebacks(stats: CaseStats, *, indent: str) -> list[str]:
    """The first traceback of each error variant of a case (the run that raised it first)."""
    lines: list[str] = []
    for v in stats.variants:
        if v.error_type is not None:
            runs = f'{v.count} run{"s" if v.count > 1 else ""}'
            lines.append(f'{indent}{v.error_type} ({runs}), first raised in run {v.example_run}:')
            text = v.traceback or 'no traceback: the error was not raised by code (see its message above)'
            lines.extend(f'{indent}  {line}' for line in text.splitlines())
    return lines


def render_errors(report: Report) -> list[str]:
    """For each case with runs that raised: the first traceback of each exception type (`-v`)."""
    lines: list[str] = []
    for a in report.architectures:
        for c in a.cases:
            if any(v.error_type is not None for v in c.variants):
                lines.append(f'  {_who(c.architecture, c.model)}  {c.case}:')
                lines.extend(_tracebacks(c, indent='    '))
    return ['', 'errors (the first traceback of each exception type, library frames folded):', *lines] if lines else []


def render_comparisons(report: Report, *, verbose: bool) -> list[str]:
    """With `verbose`, which architecture is more deterministic than which (paired by case); with a baseline, what
    was compared and what is on one side only (the regressions themselves are listed by the caller)."""
    lines: list[str] = []
    if verbose and report.comparisons:
        lines += [
            '',
            f'pairwise determinism({report.level}), paired by case (held-out agreement against the modal count, '
            'exact test stratified by case, Holm):',
        ]
        for p in report.comparisons:
            model = f' on {p.model}' if p.model else ''
            lines.append(
                f'  {p.sentence()}{model}: {p.first_determinism:.1%} vs {p.second_determinism:.1%}, difference '
                f'{p.difference:+.1%} [{p.low:+.1%}, {p.high:+.1%}], better on {p.first_better}/{p.second_better} '
                f'of {p.cases} cases, p={p.p_adjusted:.3g}'
            )
    cmp = report.baseline
    if cmp is None:
        return lines
    commit = f', commit {cmp.baseline_commit[:12]}' if cmp.baseline_commit else ''
    tests = sum(c.p_value is not None for i in cmp.items for c in (i.determinism, i.pass_rate))
    lines += [
        '',
        f'baseline {cmp.path}{commit}: {len(cmp.items)} items compared at level {cmp.level}, '
        f'{len(cmp.regressions())} significant drop(s), {len(cmp.improvements())} significant rise(s) '
        f"(pass rate: Fisher's exact test; determinism: held-out agreement against the modal count; Holm over "
        f'{tests} tests, alpha {cmp.alpha:g})',
    ]
    if cmp.fingerprints == 'changed':
        changed = [str(i.item) for i in cmp.items if i.case_changed]
        lines.append(
            f'  different dataset version: {len(changed)} case(s) changed since the baseline: '
            + ', '.join(changed[:10])
            + (' ...' if len(changed) > 10 else '')
        )
    elif cmp.fingerprints == 'unknown':
        lines.append('  the baseline has no case fingerprints: whether its cases are the same cannot be checked')
    if cmp.baseline_model is not None and cmp.baseline_model != report.model:
        lines.append(f'  the baseline ran on model {cmp.baseline_model}, this session on {report.model}')
    for label, keys in (('only in the baseline', cmp.only_in_baseline), ('only in this session', cmp.only_in_session)):
        if keys:
            lines.append(f'  {label} ({len(keys)}): ' + ', '.join(str(k) for k in keys))
    for label, names in (
        ('architectures only in the baseline', cmp.architectures_only_in_baseline),
        ('architectures only in this session', cmp.architectures_only_in_session),
    ):
        if names:
            lines.append(f'  {label}: ' + ', '.join(names))
    return lines
