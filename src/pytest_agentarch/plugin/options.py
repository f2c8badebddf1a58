"""Every command-line option and ini key, declared once, and the session settings built from them.

`OPTIONS` is the one table: `add_options` builds the parser group and the ini keys from it, and `Settings.from_config`
resolves each entry (command line, then ini, then default) through the same parser. A bad command-line value is an
argparse error (exit 4, naming the option); a bad ini value is a usage error naming the ini key.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic_ai.settings import ModelSettings

from ..core.compare import BaselineError
from ..core.gates import LEVELS, Thresholds, infeasible, parse_overrides, parse_score_threshold, pick, unit_interval
from ..core.shards import Shard, ShardError, parse_shard
from ..reports.report import Baseline
from ..requests.faults import FaultPlan, parse_faults
from ..requests.settings import SettingsPriority, parse_model_settings
from ..requests.specs import split_model_specs
from ..run.runner import RunSettings

__all__ = ('OPTIONS', 'SETTINGS', 'Limits', 'Option', 'Settings', 'add_options', 'planned_gates')


# ------------------------------------------------------------------------------------------------ value parsers
# Each raises argparse.ArgumentTypeError with a message that says what was expected.


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def whole_number(text: str) -> int:
    """Any whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 0, got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be at least 0, got {value}')
    return value


def positive_number(text: str) -> float:
    """A positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive number, got {text!r}') from None
    if not 0 < value < float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text!r}')
    return value


def positive_seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive number of seconds, got {text!r}') from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be a positive number of seconds, got {text!r}')
    return value


def share(text: str) -> float:
    """A threshold between 0 and 1."""
    try:
        return unit_interval(text, 'threshold')
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def choice(*allowed: str) -> Callable[[str], str]:
    """One of `allowed`."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(f'expected one of {", ".join(allowed)}, got {text!r}')
        return text

    parse.__name__ = 'one of ' + '|'.join(allowed)
    return parse


def score_threshold(text: str) -> tuple[str, float]:
    """`NAME=X`: the evaluator name and the minimum mean score."""
    try:
        return parse_score_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def model_settings(text: str) -> ModelSettings:
    """`key=value,...` pydantic-ai model settings."""
    try:
        return parse_model_settings(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def baseline_report(text: str) -> Baseline:
    """A JSON report written by --agentarch-json, read now so that a bad file stops the session before any run."""
    try:
        return Baseline.read(Path(text))
    except BaselineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _unwritable(path: Path) -> str | None:
    """Why a report could not be written to `path` at the end of the session, checked before any run (nothing is
    created here), or None."""
    if path.is_dir():
        return 'it is a directory'
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f'{ancestor} is a file, not a directory'
    if not os.access(ancestor, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return 'permission denied'
    return None


def error_rate(text: str) -> float:
    """A probability strictly between 0 and 1 (an error rate such as 0.05)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an error rate between 0 and 1, e.g. 0.05, got {text!r}') from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f'must be strictly between 0 and 1 (e.g. 0.05), got {text!r}')
    return value


def shard(text: str) -> Shard:
    """`i/N`: this session's share of the runs."""
    try:
        return parse_shard(text)
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def store_url(text: str) -> str:
    """`file` or `redis://HOST:PORT/DB`."""
    from ..requests.store import StoreError, check_url

    try:
        return check_url(text)
    except StoreError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fault_plan(text: str) -> FaultPlan:
    """`KIND=RATE,...`: faults to inject into model requests."""
    try:
        return parse_faults(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def text(value: str) -> str:
    """Any non-empty text."""
    return value


MEMORY_MODES = ('first-case', 'all', 'off')


# ------------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True, kw_only=True)
class Option:
    """One setting: its command-line flag (if any), its ini key, how its text is parsed, and its default."""

    dest: str
    """Attribute name in the resolved values."""
    ini: str
    """The ini key (`[tool.pytest.ini_options]` / `pytest.ini`)."""
    help: str
    flag: str | None = None
    """The command-line flag; None for ini-only settings."""
    parse: Callable[[str], Any] = text
    """Turns one text value into the setting's value (raises argparse.ArgumentTypeError)."""
    default: Any = None
    """The value when neither the command line nor the ini file sets it."""
    kind: Literal['value', 'flag', 'list', 'lines'] = 'value'
    """`value`: one value; `flag`: a boolean switch; `list`: repeatable flag / whitespace-separated ini list;
    `lines`: ini only, one entry per line."""
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option(
        dest='arch',
        flag='--arch',
        ini='agentarch_arch',
        default='all',
        metavar='all|a,b',
        help="architectures to run: 'all' (default) or a comma-separated list of registered names",
    ),
    Option(
        dest='runs',
        flag='--runs',
        ini='agentarch_runs',
        parse=positive_int,
        default=1,
        metavar='N',
        help='runs per (architecture, case) (default 1)',
    ),
    Option(
        dest='model',
        flag='--agentarch-model',
        ini='agentarch_model',
        default='sim',
        metavar='SPEC[,SPEC...]',
        help="'sim[:option=value,...]' (the embedded simulated model, default) or a pydantic-ai model string; "
        'several, comma-separated, make the model an axis beside the architecture',
    ),
    Option(
        dest='judge_model',
        flag='--agentarch-judge-model',
        ini='agentarch_judge_model',
        metavar='SPEC',
        help="the model LLMJudge and other model-using evaluators use by default: 'sim', 'test' or a pydantic-ai "
        "model string (pydantic-evals' set_default_judge_model); its spend is counted apart from the runs'",
    ),
    Option(
        dest='model_settings',
        flag='--agentarch-model-settings',
        ini='agentarch_model_settings',
        parse=model_settings,
        metavar='KEY=VALUE,...',
        help='pydantic-ai model settings for every request of the session model, e.g. '
        "'temperature=0.7,seed=1,max_tokens=800'",
    ),
    Option(
        dest='model_settings_priority',
        flag='--agentarch-model-settings-priority',
        ini='agentarch_model_settings_priority',
        parse=choice('session', 'architecture'),
        default='session',
        metavar='session|architecture',
        help="on a key both set: the session's setting wins ('session', default) or the architecture's agents' one",
    ),
    Option(
        dest='max_requests',
        flag='--agentarch-max-requests',
        ini='agentarch_max_requests',
        parse=positive_int,
        metavar='N',
        help='model requests in flight at once across the whole session, xdist workers included (default: no cap)',
    ),
    Option(
        dest='rpm',
        flag='--agentarch-rpm',
        ini='agentarch_rpm',
        parse=positive_number,
        metavar='N',
        help='model requests per minute for the whole session, spaced evenly (default: no limit)',
    ),
    Option(
        dest='tpm',
        flag='--agentarch-tpm',
        ini='agentarch_tpm',
        parse=positive_number,
        metavar='N',
        help='tokens (in + out) per minute for the whole session (default: no limit)',
    ),
    Option(
        dest='retries',
        flag='--agentarch-retries',
        ini='agentarch_retries',
        parse=non_negative_int,
        default=3,
        metavar='N',
        help='retries of a model request that failed on infrastructure (HTTP 429 honouring Retry-After, 5xx, '
        'connection, provider timeout), with exponential back-off and jitter (default 3; 0 turns them off)',
    ),
    Option(
        dest='budget_tokens',
        flag='--agentarch-budget-tokens',
        ini='agentarch_budget_tokens',
        parse=positive_int,
        metavar='N',
        help='stop starting runs once the session has used N tokens (in + out); the report marks the rest not run',
    ),
    Option(
        dest='budget_usd',
        flag='--agentarch-budget-usd',
        ini='agentarch_budget_usd',
        parse=positive_number,
        metavar='X',
        help='stop starting runs once the session has spent X US dollars (priced with genai-prices)',
    ),
    Option(
        dest='record',
        flag='--agentarch-record',
        ini='agentarch_record',
        metavar='DIR',
        help='store every model request and response of the session in DIR (JSON lines, one file per item)',
    ),
    Option(
        dest='resume',
        flag='--agentarch-resume',
        ini='agentarch_resume',
        kind='flag',
        default=False,
        help='with --agentarch-record: keep what DIR holds; requests it answers are replayed from it, the others '
        'are sent and added (resumes an interrupted or budget-stopped recording)',
    ),
    Option(
        dest='replay',
        flag='--agentarch-replay',
        ini='agentarch_replay',
        metavar='DIR',
        help='answer every model request from the recording in DIR: no model, no network',
    ),
    Option(
        dest='faults',
        flag='--agentarch-faults',
        ini='agentarch_faults',
        parse=fault_plan,
        metavar='KIND=RATE,...',
        help='inject faults into model requests at these chances per request, seeded by the run: rate_limit (HTTP '
        '429 with Retry-After; retry_after=SECONDS sets it), server_error (500), timeout, bad_args (malformed '
        'tool-call arguments), truncated (output cut off), e.g. rate_limit=0.05,bad_args=0.02',
    ),
    Option(
        dest='seed',
        flag='--agentarch-seed',
        ini='agentarch_seed',
        parse=whole_number,
        default=0,
        metavar='N',
        help='session seed (default 0)',
    ),
    Option(
        dest='concurrency',
        flag='--agentarch-concurrency',
        ini='agentarch_concurrency',
        parse=positive_int,
        default=20,
        metavar='N',
        help='runs of one case in flight at once (default 20)',
    ),
    Option(
        dest='timeout',
        flag='--agentarch-timeout',
        ini='agentarch_timeout',
        parse=positive_seconds,
        metavar='SECONDS',
        help='seconds per run; a run past it fails (default: no limit)',
    ),
    Option(
        dest='min_determinism',
        flag='--min-determinism',
        ini='agentarch_min_determinism',
        parse=share,
        metavar='X',
        help='fail an item whose determinism (at --determinism-level) is below X',
    ),
    Option(
        dest='min_pass_rate',
        flag='--min-pass-rate',
        ini='agentarch_min_pass_rate',
        parse=share,
        metavar='X',
        help='fail an item whose pass rate (outcome evaluators) is below X (default: every run must pass)',
    ),
    Option(
        dest='min_path_conformance',
        flag='--min-path-conformance',
        ini='agentarch_min_path_conformance',
        parse=share,
        metavar='X',
        help='fail an item whose path conformance (trajectory evaluators) is below X (default: every run must '
        'conform; items without a trajectory evaluator have no such gate)',
    ),
    Option(
        dest='min_scores',
        flag='--min-score',
        ini='agentarch_min_scores',
        parse=score_threshold,
        kind='list',
        default=(),
        metavar='NAME=X',
        help='fail an item whose mean score of evaluator NAME is below X (repeatable)',
    ),
    Option(
        dest='determinism_level',
        flag='--determinism-level',
        ini='agentarch_determinism_level',
        parse=choice(*LEVELS),
        default='steps',
        metavar='|'.join(LEVELS),
        help="what 'the same trajectory' means for determinism and its gate: 'tools' (the multiset of tool names), "
        "'steps' (ordered steps of concurrent calls, default) or 'strict' (steps with normalized arguments)",
    ),
    Option(
        dest='gate_lower_bound',
        flag='--gate-lower-bound',
        ini='agentarch_gate_lower_bound',
        kind='flag',
        default=False,
        help='judge rate thresholds on the Wilson 95%% lower bound instead of the point estimate',
    ),
    Option(
        dest='json',
        flag='--agentarch-json',
        ini='agentarch_json',
        metavar='PATH',
        help='write the full report as JSON (atomically)',
    ),
    Option(
        dest='memory',
        flag='--agentarch-memory',
        ini='agentarch_memory',
        parse=choice(*MEMORY_MODES),
        default='first-case',
        metavar='|'.join(MEMORY_MODES),
        help="Python heap peak of one extra, traced and uncounted run: of each dataset's 'first-case' (default; "
        "the same case for every architecture), of 'all' items, or 'off'",
    ),
    Option(
        dest='baseline',
        flag='--agentarch-baseline',
        ini='agentarch_baseline',
        parse=baseline_report,
        metavar='OLD.json',
        help='compare determinism and pass rate of every item with this earlier JSON report (exact tests, Holm)',
    ),
    Option(
        dest='fail_on_regression',
        flag='--fail-on-regression',
        ini='agentarch_fail_on_regression',
        kind='flag',
        default=False,
        help='fail the session when an item is significantly worse than in --agentarch-baseline',
    ),
    Option(
        dest='markdown',
        flag='--agentarch-md',
        ini='agentarch_md',
        metavar='PATH',
        help='write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when it is set)',
    ),
    Option(
        dest='arch_thresholds',
        ini='agentarch_arch_thresholds',
        kind='lines',
        default=(),
        help="per-architecture thresholds, lines like 'single: min_determinism=0.6 min_pass_rate=0.8'",
    ),
    Option(
        dest='datasets',
        ini='agentarch_datasets',
        kind='list',
        default=(),
        help='globs of pydantic-evals dataset files to collect',
    ),
    Option(
        dest='output_fields',
        ini='agentarch_output_fields',
        kind='list',
        default=(),
        help='output fields compared for output agreement (default: the whole output)',
    ),
    Option(
        dest='arg_mask',
        ini='agentarch_arg_mask',
        kind='list',
        default=(),
        help="regexes of argument key paths masked in 'strict' trajectories",
    ),
    Option(
        dest='html',
        flag='--agentarch-html',
        ini='agentarch_html',
        metavar='PATH',
        help='write the report as one self-contained HTML file: charts, trajectory trees, where runs diverge',
    ),
    Option(
        dest='sequential',
        flag='--agentarch-sequential',
        ini='agentarch_sequential',
        kind='flag',
        default=False,
        help='run each gated item in batches, up to --runs, and stop once every rate gate on it is decided met or '
        'missed by an anytime-valid sequential test (error rate --agentarch-alpha)',
    ),
    Option(
        dest='alpha',
        flag='--agentarch-alpha',
        ini='agentarch_alpha',
        parse=error_rate,
        default=0.05,
        metavar='A',
        help='the chance of a wrong sequential decision, whenever the runs stop (default 0.05)',
    ),
    Option(
        dest='batch',
        flag='--agentarch-batch',
        ini='agentarch_batch',
        parse=positive_int,
        default=5,
        metavar='N',
        help='runs per batch of a sequential item; gates are decided after each whole batch (default 5)',
    ),
    Option(
        dest='shard',
        flag='--agentarch-shard',
        ini='agentarch_shard',
        parse=shard,
        metavar='i/N',
        help='make only shard i of N of the runs (every item spreads over the shards); the JSON report keeps the '
        "runs' records for `agentarch merge`, which judges the gates (docs/scaling.md)",
    ),
    Option(
        dest='store',
        flag='--agentarch-store',
        ini='agentarch_store',
        parse=store_url,
        default='file',
        metavar='file|redis://HOST:PORT/DB',
        help="where the session's limits and budgets live: 'file' (default: locked files, one machine) or a Redis "
        'server every machine of the session reaches (docs/scaling.md)',
    ),
    Option(
        dest='plan',
        flag='--agentarch-plan',
        ini='agentarch_plan',
        kind='flag',
        default=False,
        help='print, for the gates in force, the runs a fixed-N design and the sequential design need at a range '
        'of true rates, and exit without running anything',
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """The `agentarch` option group and ini keys, from `OPTIONS`."""
    group = parser.getgroup('agentarch', 'agent architecture determinism (pytest-agentarch)')
    for opt in OPTIONS:
        if opt.flag is not None:
            if opt.kind == 'flag':
                group.addoption(opt.flag, dest=opt.dest, action='store_true', default=None, help=opt.help)
            elif opt.kind == 'list':
                group.addoption(
                    opt.flag,
                    dest=opt.dest,
                    action='append',
                    type=opt.parse,
                    default=None,
                    metavar=opt.metavar,
                    help=opt.help,
                )
            else:
                group.addoption(
                    opt.flag, dest=opt.dest, type=opt.parse, default=None, metavar=opt.metavar, help=opt.help
                )
        ini_help = opt.help if opt.flag is None else f'default for {opt.flag}'
        if opt.kind == 'flag':
            parser.addini(opt.ini, ini_help, type='bool', default=opt.default)
        elif opt.kind == 'list':
            parser.addini(opt.ini, ini_help, type='args', default=[])
        elif opt.kind == 'lines':
            parser.addini(opt.ini, ini_help, type='linelist', default=[])
        else:
            parser.addini(opt.ini, ini_help, default='')


def _ini_value(config: pytest.Config, opt: Option) -> Any:
    raw = config.getini(opt.ini)
    try:
        if opt.kind == 'flag':
            return bool(raw)
        if opt.kind in ('list', 'lines'):
            return [opt.parse(str(v)) for v in raw] if raw else None
        return opt.parse(str(raw)) if raw not in ('', None) else None
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f'ini option {opt.ini} = {raw!r}: {exc}') from None


def resolve(config: pytest.Config) -> dict[str, Any]:
    """Every option's value: the command line's, else the ini file's, else the default."""
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        cli = config.getoption(opt.dest) if opt.flag is not None else None
        if opt.kind == 'list' and opt.flag is not None:
            # A repeatable flag adds to what the ini file lists (a later NAME=X replaces an earlier one).
            ini = _ini_value(config, opt) or []
            values[opt.dest] = [*ini, *(cli or [])] or opt.default
            continue
        if cli is not None:
            values[opt.dest] = cli
            continue
        ini = _ini_value(config, opt)
        values[opt.dest] = opt.default if ini is None else ini
    return values


# ------------------------------------------------------------------------------------------------ settings


@dataclass(kw_only=True, frozen=True)
class Limits:
    """What the session's model requests may do: how many at once, how fast, how often retried, how much spent."""

    max_requests: int | None = None
    """Model requests in flight at once across the session."""
    rpm: float | None = None
    """Model requests per minute across the session."""
    tpm: float | None = None
    """Tokens (in + out) per minute across the session."""
    retries: int = 3
    """Retries of a request that failed on infrastructure."""
    budget_tokens: int | None = None
    """No run starts once the session has used this many tokens."""
    budget_usd: float | None = None
    """No run starts once the session has spent this many US dollars."""

    @property
    def shared(self) -> bool:
        """Whether any limit needs state shared by every process of the session."""
        return any(v is not None for v in (self.max_requests, self.rpm, self.tpm, self.budget_tokens, self.budget_usd))


@dataclass(kw_only=True, frozen=True)
class Settings:
    """The session's resolved configuration, as the command line and ini file give it; frozen once parsed (what the
    session builds from it is its `Runtime`, runtime.py)."""

    arch_spec: str
    """`--arch` as given: `all` or a comma-separated list."""
    model_spec: str
    """`--agentarch-model` as given."""
    model_specs: list[str]
    """The session's models, in the order given (one spec per model)."""
    model_settings: ModelSettings | None
    """`--agentarch-model-settings`, applied to every request of the session's model."""
    model_settings_priority: SettingsPriority
    judge_spec: str | None
    """`--agentarch-judge-model`: the default model of judging evaluators (None: pydantic-evals' own default)."""
    run: RunSettings
    """How runs execute (`--runs`, `--agentarch-concurrency`...); the session's runtime adds its budget and judge."""
    thresholds: Thresholds
    overrides: Mapping[str, Thresholds]
    """Per-architecture thresholds (`agentarch_arch_thresholds`)."""
    limits: Limits
    """Request limits, retries and budgets of the session's model requests."""
    record_dir: Path | None
    """`--agentarch-record`: where every model exchange is stored."""
    resume: bool
    """`--agentarch-resume`: recording keeps what `record_dir` holds and adds what it lacks."""
    replay_dir: Path | None
    """`--agentarch-replay`: the recording that answers every model request."""
    json_path: Path | None
    memory: str
    """'first-case', 'all' or 'off'."""
    datasets: list[str]
    arch_given: bool = False
    """`--arch` was given on the command line (then a session without registered architectures is an error)."""
    html_path: Path | None = None
    """`--agentarch-html`: where the HTML report goes."""
    baseline: Baseline | None = None
    """`--agentarch-baseline`: the earlier report the session is compared with."""
    fail_on_regression: bool = False
    """`--fail-on-regression`: a significant drop against the baseline fails the session."""
    markdown_path: Path | None = None
    """`--agentarch-md`: where the Markdown summary goes."""
    options: dict[str, Any] = field(default_factory=dict[str, Any])
    """Every option's resolved value, for the report's metadata."""
    sequential: bool = False
    """`--agentarch-sequential`: gated items run in batches and stop once their rate gates are decided."""
    alpha: float = 0.05
    """`--agentarch-alpha`: the error rate of a sequential decision."""
    batch: int = 5
    """`--agentarch-batch`: runs per batch of a sequential item."""
    plan: bool = False
    """`--agentarch-plan`: print the planner's table and run nothing."""
    shard: Shard | None = None
    """`--agentarch-shard`: the share of the runs this session makes (None: all of them)."""
    store: str = 'file'
    """`--agentarch-store`: where the limits and budgets live, `file` or a `redis://` URL."""
    faults: FaultPlan | None = None
    """`--agentarch-faults`: faults injected into the session model's requests."""

    @property
    def several_models(self) -> bool:
        """The model is an axis of the session (item ids and report rows name it)."""
        return len(self.model_specs) > 1

    def thresholds_for(self, arch: str, model: str | None = None) -> Thresholds:
        """The thresholds that judge `arch`'s items on `model`: the most specific line of `agentarch_arch_thresholds`
        wins (`arch@model`, then `@model`, then `arch`), else the session's."""
        return pick(self.thresholds, self.overrides, arch, model)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        """Resolve every option; a value that cannot work is a usage error that says how to fix it."""
        v = resolve(config)
        thresholds = Thresholds(
            min_determinism=v['min_determinism'],
            min_pass_rate=v['min_pass_rate'],
            min_path_conformance=v['min_path_conformance'],
            lower_bound=v['gate_lower_bound'],
            level=v['determinism_level'],
            min_scores=dict(v['min_scores']),
        )
        try:
            overrides = dict(parse_overrides(list(v['arch_thresholds']), thresholds))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        masks: list[re.Pattern[str]] = []
        for pattern in v['arg_mask']:
            try:
                masks.append(re.compile(pattern))
            except re.error as exc:
                raise pytest.UsageError(f'agentarch_arg_mask: {pattern!r} is not a valid regex ({exc})') from None
        try:
            model_specs = split_model_specs(v['model'])
        except ValueError as exc:
            raise pytest.UsageError(f'--agentarch-model {v["model"]!r}: {exc}') from None
        settings = cls(
            arch_spec=v['arch'],
            model_spec=v['model'],
            model_specs=model_specs,
            model_settings=v['model_settings'],
            model_settings_priority=v['model_settings_priority'],
            judge_spec=v['judge_model'],
            run=RunSettings(
                runs=v['runs'],
                concurrency=v['concurrency'],
                timeout=v['timeout'],
                seed=v['seed'],
                arg_mask=masks,
                output_fields=list(v['output_fields']),
            ),
            thresholds=thresholds,
            overrides=overrides,
            limits=Limits(
                max_requests=v['max_requests'],
                rpm=v['rpm'],
                tpm=v['tpm'],
                retries=v['retries'],
                budget_tokens=v['budget_tokens'],
                budget_usd=v['budget_usd'],
            ),
            record_dir=Path(v['record']) if v['record'] else None,
            resume=v['resume'],
            replay_dir=Path(v['replay']) if v['replay'] else None,
            json_path=Path(v['json']) if v['json'] else None,
            memory=v['memory'],
            datasets=list(v['datasets']),
            arch_given=config.getoption('arch') is not None,
            html_path=Path(v['html']) if v['html'] else None,
            baseline=v['baseline'],
            fail_on_regression=v['fail_on_regression'],
            markdown_path=Path(v['markdown']) if v['markdown'] else None,
            options={
                k: (val.path if isinstance(val, Baseline) else val.describe() if isinstance(val, FaultPlan) else val)
                for k, val in v.items()
            },
            sequential=v['sequential'],
            alpha=v['alpha'],
            batch=v['batch'],
            plan=v['plan'],
            shard=v['shard'],
            store=v['store'],
            faults=v['faults'],
        )
        settings.check_gates()
        if settings.fail_on_regression and settings.baseline is None:
            raise pytest.UsageError(
                '--fail-on-regression needs a report to compare with: add --agentarch-baseline OLD.json '
                '(a report an earlier session wrote with --agentarch-json)'
            )
        if settings.record_dir is not None and settings.replay_dir is not None:
            raise pytest.UsageError(
                '--agentarch-record and --agentarch-replay exclude each other: replay answers from a recording, '
                'record makes one; pass one of them'
            )
        for flag, path in (
            ('--agentarch-json', settings.json_path),
            ('--agentarch-html', settings.html_path),
            ('--agentarch-md', settings.markdown_path),
        ):
            if path is not None and (problem := _unwritable(path)) is not None:
                raise pytest.UsageError(f'{flag} {path}: {problem}; choose a path the session can write to')
        if settings.shard is not None and settings.sequential:
            raise pytest.UsageError(
                f'--agentarch-shard {settings.shard} and --agentarch-sequential exclude each other: sequential gates '
                "stop an item on its runs 0..k-1 in order, and a shard holds only some of an item's runs. Shard a "
                'fixed-N session (agentarch merge judges its gates), or run the sequential session unsharded'
            )
        if settings.shard is not None and settings.json_path is None:
            raise pytest.UsageError(
                f'--agentarch-shard {settings.shard} keeps its runs for `agentarch merge` in the JSON report: add '
                f'--agentarch-json PATH (e.g. shard-{settings.shard.index}.json)'
            )
        if settings.faults is not None and settings.replay_dir is not None:
            raise pytest.UsageError(
                '--agentarch-faults and --agentarch-replay exclude each other: a replay answers each request from '
                'its recording, and a faulted run sends requests the recording never saw; drop one of them'
            )
        if settings.resume and settings.record_dir is None:
            raise pytest.UsageError(
                '--agentarch-resume continues a recording: pass it with --agentarch-record DIR (to answer every '
                'request from a recording, use --agentarch-replay DIR)'
            )
        return settings

    def check_gates(self) -> None:
        """A gate that no outcome of `--runs` runs could meet (or that every outcome meets) is a usage error."""
        judged: list[tuple[str | None, Thresholds]] = [(None, self.thresholds), *self.overrides.items()]
        problems = [
            message
            for architecture, thresholds in judged
            if (message := infeasible(thresholds, self.run.runs, architecture=architecture)) is not None
        ]
        if problems:
            raise pytest.UsageError('\n'.join(problems))


def planned_gates(settings: Settings, *, default_path: bool = False) -> list[tuple[str, str, float]]:
    """The rate gates in force, as (who they apply to, metric, threshold), each distinct gate once: the session's, then
    each `agentarch_arch_thresholds` line's that differs. A threshold of 0 is no gate; a pass rate of None (every run
    must pass) is the threshold 1. With `default_path`, an unset path-conformance threshold is the gate of 1 it is for
    items with path evaluators (the planner leaves it out: it holds only for those items)."""
    found: dict[tuple[str, float], list[str]] = {}
    for who, thresholds in [('session', settings.thresholds), *settings.overrides.items()]:
        pass_rate = 1.0 if thresholds.min_pass_rate is None else thresholds.min_pass_rate
        gates = [('pass_rate', pass_rate)]
        if thresholds.min_path_conformance is not None:
            gates.append(('path_conformance', thresholds.min_path_conformance))
        elif default_path:
            gates.append(('path_conformance', 1.0))
        if thresholds.min_determinism is not None:
            gates.append((f'determinism:{thresholds.level}', thresholds.min_determinism))
        for metric, threshold in gates:
            if threshold > 0:
                found.setdefault((metric, threshold), []).append(who)
    return [(', '.join(who), metric, threshold) for (metric, threshold), who in found.items()]


SETTINGS = pytest.StashKey[Settings]()
"""Where the session's settings live (`config.stash[SETTINGS]`)."""
