"""pytest hooks: options, dataset collection, the `arch` fixture, results across xdist, summary, JSON, gates."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fnmatch
import gc
import re
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models import Model
from pydantic_evals import Dataset
from pydantic_evals.evaluators import Evaluator

from . import registry
from .capture import ensure_instrumentation
from .evaluators import TrajectorySteps, expected_steps_of
from .gates import Thresholds, check, parse_overrides, unit_interval
from .models import ModelSpecError, resolve_model
from .records import RunRecord
from .report import ItemResult, Report, build_report, write_json
from .runner import CaseSpec, RunSettings, run_case, run_once
from .stats import CaseStats, case_stats
from .table import render_cases, render_summary
from .trajectory import render_steps

_WIRE_KEY = 'agentarch'


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive number of seconds, got {text!r}') from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be a positive number of seconds, got {text!r}')
    return value


def _share(text: str) -> float:
    try:
        return unit_interval(text, 'threshold')
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_MEMORY_MODES = ('first-case', 'all', 'off')


def _memory_mode(text: str) -> str:
    if text not in _MEMORY_MODES:
        raise argparse.ArgumentTypeError(f'expected one of {", ".join(_MEMORY_MODES)}, got {text!r}')
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup('agentarch', 'agent architecture determinism (pytest-agentarch)')
    group.addoption('--arch', default=None, help="architectures to run: 'all' (default) or a comma-separated list")
    group.addoption('--runs', type=_positive_int, default=None, help='runs per case and architecture (default 1)')
    group.addoption('--agentarch-model', default=None, help="'sim[:opt=value,...]' (default) or a pydantic-ai model")
    group.addoption('--agentarch-seed', type=_int, default=None, help='session seed (default 0)')
    group.addoption(
        '--agentarch-concurrency', type=_positive_int, default=None, help='runs of one case in flight (default 20)'
    )
    group.addoption('--agentarch-timeout', type=_positive_float, default=None, help='seconds per run (default none)')
    group.addoption('--min-determinism', type=_share, default=None, help='fail items below this determinism')
    group.addoption('--min-pass-rate', type=_share, default=None, help='fail items below this pass rate')
    group.addoption(
        '--gate-lower-bound',
        action='store_true',
        default=None,
        help='judge thresholds on the Wilson 95%% lower bound instead of the point estimate',
    )
    group.addoption('--agentarch-json', default=None, metavar='PATH', help='write the full report as JSON')
    group.addoption(
        '--agentarch-memory',
        type=_memory_mode,
        default=None,
        help="Python heap peak of one extra, traced and uncounted run: of each dataset's 'first-case' (default; "
        "the same case for every architecture), of 'all' items, or 'off'",
    )
    parser.addini('agentarch_arch', 'default for --arch', default='all')
    parser.addini('agentarch_runs', 'default for --runs', default='1')
    parser.addini('agentarch_model', 'default for --agentarch-model', default='sim')
    parser.addini('agentarch_seed', 'default for --agentarch-seed', default='0')
    parser.addini('agentarch_concurrency', 'default for --agentarch-concurrency', default='20')
    parser.addini('agentarch_timeout', 'default for --agentarch-timeout (seconds)', default='')
    parser.addini('agentarch_min_determinism', 'default for --min-determinism', default='')
    parser.addini('agentarch_min_pass_rate', 'default for --min-pass-rate', default='')
    parser.addini('agentarch_gate_lower_bound', 'default for --gate-lower-bound', type='bool', default=False)
    parser.addini('agentarch_json', 'default for --agentarch-json', default='')
    parser.addini('agentarch_memory', 'default for --agentarch-memory', default='first-case')
    parser.addini(
        'agentarch_arch_thresholds',
        "per-architecture thresholds, lines like 'single: min_determinism=0.6 min_pass_rate=0.8'",
        type='linelist',
        default=[],
    )
    parser.addini('agentarch_datasets', 'globs of pydantic-evals dataset files to collect', type='args', default=[])
    parser.addini(
        'agentarch_output_fields', 'output fields compared for output agreement (default all)', type='args', default=[]
    )
    parser.addini(
        'agentarch_arg_mask',
        'regexes of argument key paths masked in strict (level-2) trajectories',
        type='args',
        default=[],
    )


@dataclass(kw_only=True)
class Settings:
    """The session's resolved configuration."""

    arch_spec: str
    model_spec: str
    run: RunSettings
    thresholds: Thresholds
    overrides: dict[str, Thresholds]
    json_path: Path | None
    memory: str
    """'first-case', 'all' or 'off'."""
    datasets: list[str]
    selected: list[registry.Architecture] = field(default_factory=list[registry.Architecture])
    model: Model | None = None

    def thresholds_for(self, arch: str) -> Thresholds:
        return self.overrides.get(arch, self.thresholds)


_SETTINGS = pytest.StashKey[Settings]()
_COLLECTOR = pytest.StashKey['Collector']()
_ITEM_RESULT = pytest.StashKey[list[ItemResult]]()
_GC_THRESHOLDS = pytest.StashKey[tuple[int, ...]]()


def _option(config: pytest.Config, name: str, ini: str, parse: Any) -> Any:
    value = config.getoption(name)
    if value is not None:
        return value
    raw = config.getini(ini)
    if raw in ('', None):
        return None
    if isinstance(raw, bool):
        return raw
    try:
        return parse(str(raw))
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f'ini option {ini} = {raw!r}: {exc}') from None


def _settings(config: pytest.Config) -> Settings:
    thresholds = Thresholds(
        min_determinism=_option(config, 'min_determinism', 'agentarch_min_determinism', _share),
        min_pass_rate=_option(config, 'min_pass_rate', 'agentarch_min_pass_rate', _share),
        lower_bound=bool(_option(config, 'gate_lower_bound', 'agentarch_gate_lower_bound', bool)),
    )
    try:
        overrides = dict(parse_overrides(config.getini('agentarch_arch_thresholds'), thresholds))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    masks = []
    for pattern in config.getini('agentarch_arg_mask'):
        try:
            masks.append(re.compile(pattern))
        except re.error as exc:
            raise pytest.UsageError(f'agentarch_arg_mask: {pattern!r} is not a valid regex ({exc})') from None
    json_path = _option(config, 'agentarch_json', 'agentarch_json', str)
    return Settings(
        arch_spec=config.getoption('arch') or config.getini('agentarch_arch') or 'all',
        model_spec=config.getoption('agentarch_model') or config.getini('agentarch_model') or 'sim',
        run=RunSettings(
            runs=_option(config, 'runs', 'agentarch_runs', _positive_int),
            concurrency=_option(config, 'agentarch_concurrency', 'agentarch_concurrency', _positive_int),
            timeout=_option(config, 'agentarch_timeout', 'agentarch_timeout', _positive_float),
            seed=_option(config, 'agentarch_seed', 'agentarch_seed', _int),
            arg_mask=masks,
            output_fields=list(config.getini('agentarch_output_fields')),
        ),
        thresholds=thresholds,
        overrides=overrides,
        json_path=Path(json_path) if json_path else None,
        memory=_option(config, 'agentarch_memory', 'agentarch_memory', _memory_mode) or 'first-case',
        datasets=list(config.getini('agentarch_datasets')),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SETTINGS] = _settings(config)
    if not hasattr(config, 'workerinput'):
        collector = Collector(config)
        config.stash[_COLLECTOR] = collector
        config.pluginmanager.register(collector, 'agentarch-collector')


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    settings = session.config.stash[_SETTINGS]
    try:
        registry.load_entry_points()
        # With the plugin installed, every pytest session in the environment comes here: one that registers no
        # architecture and asks for none must run as if the plugin were absent. Dataset files still complain.
        if registry.registered() or session.config.getoption('arch') is not None:
            settings.selected = registry.select(settings.arch_spec)
        settings.model = resolve_model(settings.model_spec)
    except (registry.RegistryError, ModelSpecError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.selected:
        ensure_instrumentation()


_RUN_GC_THRESHOLD = 10_000
"""Allocations between young-generation collections while items run; CPython's default is 700."""


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.stash[_SETTINGS].selected and session.items:
        # Agent runs allocate and drop objects by the hundred thousand; at CPython's default threshold the cyclic
        # collector runs every 700 net allocations. The K8s suite's items take 0.89x the time with this one, at the
        # same heap peak (benchmarks/gc_threshold.py): garbage waits a little longer and stays bounded.
        # Only the young generation's threshold is raised; 0 (automatic collection off) is left alone.
        thresholds = gc.get_threshold()
        session.config.stash[_GC_THRESHOLDS] = thresholds
        if thresholds[0]:
            gc.set_threshold(max(thresholds[0], _RUN_GC_THRESHOLD), *thresholds[1:])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    thresholds = session.config.stash.get(_GC_THRESHOLDS, None)
    if thresholds is not None:
        gc.set_threshold(*thresholds)


@contextmanager
def _default_gc(config: pytest.Config) -> Iterator[None]:
    """The interpreter's own collector settings inside the block (memory probes measure what an app would see)."""
    tuned = gc.get_threshold()
    gc.set_threshold(*config.stash.get(_GC_THRESHOLDS, tuned))
    try:
        yield
    finally:
        gc.set_threshold(*tuned)


# ---------------------------------------------------------------------------------------------- dataset items


def _user_evaluator_types() -> list[type[Evaluator[Any, Any, Any]]]:
    """Evaluator classes defined outside pydantic-evals (conftest, plugins, this package), usable by name."""
    found: list[type[Evaluator[Any, Any, Any]]] = []
    stack: list[type[Any]] = [Evaluator]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if not sub.__module__.startswith('pydantic_evals') and not getattr(sub, '__abstractmethods__', None):
                found.append(sub)
    names: dict[str, type[Any]] = {}
    for cls in found:
        names[cls.get_serialization_name()] = cls  # the newest definition of a name wins (re-imported conftest)
    return list(names.values())


def _matches(config: pytest.Config, path: Path, globs: list[str]) -> bool:
    try:
        rel = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(path.name, g) for g in globs)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    settings = parent.config.stash[_SETTINGS]
    if file_path.suffix in ('.yaml', '.yml', '.json') and _matches(parent.config, file_path, settings.datasets):
        return DatasetFile.from_parent(parent, path=file_path)
    return None


def _describe(exc: BaseException) -> str:
    # pydantic-evals groups evaluator errors; the group's own text names none of them.
    if isinstance(exc, BaseExceptionGroup):
        return '; '.join(_describe(e) for e in exc.exceptions)
    return str(exc)


class DatasetLoadError(Exception):
    """A dataset file that does not parse or validate."""


class DatasetFile(pytest.File):
    """A pydantic-evals dataset file: one item per case and serving architecture."""

    def collect(self) -> Iterator[pytest.Item]:
        settings = self.config.stash[_SETTINGS]
        try:
            dataset = Dataset[Any, Any, Any].from_file(self.path, custom_evaluator_types=_user_evaluator_types())
        except Exception as exc:
            raise DatasetLoadError(
                f'{self.path}: not a valid pydantic-evals dataset: {_describe(exc)}\n'
                'Fix the file (see the JSON schema written next to it by Dataset.to_file) and run again.'
            ) from None
        if not settings.selected:
            try:
                registry.select(settings.arch_spec)
            except registry.RegistryError as exc:
                raise DatasetLoadError(f'{self.path}: {exc}') from None
        # pydantic-evals already rejects duplicate case names; unnamed cases it accepts, but they need a test id.
        unnamed = [i for i, case in enumerate(dataset.cases) if not case.name]
        if unnamed:
            raise DatasetLoadError(f'{self.path}: case #{unnamed[0] + 1} has no `name`; give every case a unique name')
        for index, case in enumerate(dataset.cases):
            spec = CaseSpec.from_dataset(case, dataset)
            for arch in settings.selected:
                if arch.serves(dataset.name):
                    yield DatasetItem.from_parent(
                        self,
                        name=f'{case.name}[{arch.name}]',
                        arch=arch,
                        case=spec,
                        dataset_name=dataset.name,
                        traced=settings.memory == 'all' or (settings.memory == 'first-case' and index == 0),
                    )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, DatasetLoadError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[return-value]


@contextmanager
def _traced_heap() -> Iterator[Callable[[], int | None]]:
    """Trace the Python heap inside the block; yields a getter of the peak (bytes) above the level at entry.

    When someone else is already tracing, their peak is theirs to keep: nothing is reset and nothing is measured.
    """
    if tracemalloc.is_tracing():
        yield lambda: None
        return
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    peak = 0
    try:
        yield lambda: peak
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()


class GateFailure(Exception):
    """An item missed a threshold or had failing runs."""


class DatasetItem(pytest.Item):
    """N runs of one case by one architecture."""

    def __init__(
        self, *, arch: registry.Architecture, case: CaseSpec, dataset_name: str, traced: bool, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.case = case
        self.dataset_name = dataset_name
        self.traced = traced
        """Measure the Python heap peak of one run of this case with tracemalloc."""
        self.stats: CaseStats | None = None

    def runtest(self) -> None:
        settings = self.config.stash[_SETTINGS]
        assert settings.model is not None
        peak: int | None = None
        finished: list[RunRecord] = []
        try:
            records = asyncio.run(run_case(self.arch, settings.model, self.case, settings.run, finished=finished))
            if self.traced:
                peak = self._probe_memory(settings.model, settings.run)
        except KeyboardInterrupt:
            # pytest makes no report for an interrupted item: hand the finished runs to the collector directly.
            collector = self.config.stash.get(_COLLECTOR, None)
            if collector is not None and finished:
                collector.add(self._result(finished, misses=[], peak=None, interrupted=True))
            raise
        self.stats = case_stats(
            records,
            architecture=self.arch.name,
            case=self.case.name,
            dataset=self.dataset_name,
            expected_steps=self.case.expected_steps,
        )
        misses = check(self.stats, settings.thresholds_for(self.arch.name))
        self.stash[_ITEM_RESULT] = [self._result(records, misses=misses, peak=peak, interrupted=False)]
        if misses:
            raise GateFailure('\n'.join(str(m) for m in misses))

    def _probe_memory(self, model: Model, run: RunSettings) -> int | None:
        """The heap peak of one more run of the case, alone and traced; it counts in no statistic.

        Tracing slows every allocation several times over, so it is kept off the N runs whose latency is reported.
        The probe runs after them, once imports and caches are warm, so one-off set-up is not counted as the run's.
        """
        with _default_gc(self.config), _traced_heap() as peak_of:
            asyncio.run(run_once(self.arch, model, self.case, 0, run))
        return peak_of()

    def _result(
        self, records: list[RunRecord], *, misses: list[Any], peak: int | None, interrupted: bool
    ) -> ItemResult:
        return ItemResult(
            nodeid=self.nodeid,
            architecture=self.arch.name,
            description=self.arch.description,
            case=self.case.name,
            dataset=self.dataset_name,
            records=records,
            expected_steps=self.case.expected_steps,
            misses=[m.model_dump() for m in misses],
            peak_memory=peak,
            interrupted=interrupted,
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if not isinstance(excinfo.value, GateFailure) or self.stats is None:
            return super().repr_failure(excinfo)  # type: ignore[return-value]
        return _failure_text(str(excinfo.value), self.stats, self.case)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f'{self.case.name}[{self.arch.name}]'


def _failure_text(misses: str, stats: CaseStats, case: CaseSpec) -> str:
    lines = [f'gate missed: {line}' for line in misses.splitlines()]
    lines.append(f'runs={stats.runs} errors={stats.errors} pass rate {stats.pass_rate} determinism {stats.determinism}')
    expected = _expected_calls(case)
    for f in stats.failures:
        lines.append(f'run {f.index}:')
        if f.error:
            lines.append(f'  error: {f.error}')
        for a in f.failed_assertions:
            lines.append(f'  assertion failed: {a}')
        if expected:
            lines.append(f'  expected tools: {expected}')
        lines.append(f'  actual tools:   {" > ".join(f.tool_calls) or "(none)"}')
    if len(stats.variants) > 1:
        lines.append('trajectory variants:')
        lines.extend(f'  {v.count:>4}x  {v.trajectory}' for v in stats.variants[:5])
    return '\n'.join(lines)


def _mean_metrics(cases: list[Any]) -> dict[str, float]:
    """Per-case metric means pooled over an architecture's cases, weighted by completed runs."""
    completed = {id(c): c.runs - c.errors for c in cases}
    total = sum(completed.values())
    names = sorted({k for c in cases for k in c.metrics})
    return {k: sum(c.metrics.get(k, 0.0) * completed[id(c)] for c in cases) / total for k in names} if total else {}


def _expected_calls(case: CaseSpec) -> str | None:
    for ev in case.evaluators:
        if isinstance(ev, TrajectorySteps):
            return render_steps(ev.steps)
        for attr in ('expected_trajectory', 'expected_tools'):
            value = getattr(ev, attr, None)
            if isinstance(value, list):
                return ' > '.join(map(str, value))
    return None


# ---------------------------------------------------------------------------------------------- arch fixture


class BoundArchitecture:
    """An architecture bound to the session's model: what the `arch` fixture gives a test."""

    def __init__(self, arch: registry.Architecture, model: Model, settings: Settings, node: pytest.Item) -> None:
        self.architecture = arch
        self.model = model
        self._settings = settings
        self._node = node

    @property
    def name(self) -> str:
        return self.architecture.name

    @property
    def description(self) -> str:
        return self.architecture.description

    async def run(self, inputs: Any) -> Any:
        """Run once with the session's model."""
        return await self.architecture.func(inputs, self.model)

    async def arepeat(
        self,
        inputs: Any,
        *,
        runs: int | None = None,
        case: str | None = None,
        evaluators: list[Evaluator[Any, Any, Any]] | tuple[Evaluator[Any, Any, Any], ...] = (),
        expected_output: Any = None,
    ) -> CaseStats:
        """Run `inputs` `runs` times (default `--runs`) concurrently; return their statistics.

        The runs are captured and judged like dataset cases, and appear in the terminal summary and JSON report.
        """
        spec = CaseSpec(
            name=case or self._node.name,
            inputs=inputs,
            expected_output=expected_output,
            evaluators=list(evaluators),
            expected_steps=expected_steps_of(evaluators),
        )
        settings = self._settings.run
        if runs is not None:
            if not isinstance(runs, int) or runs < 1:
                raise ValueError(f'runs must be a whole number >= 1, got {runs!r}')
            settings = dataclasses.replace(settings, runs=runs)
        records: list[RunRecord] = await run_case(self.architecture, self.model, spec, settings)
        stats = case_stats(records, architecture=self.name, case=spec.name, expected_steps=spec.expected_steps)
        self._node.stash.setdefault(_ITEM_RESULT, []).append(
            ItemResult(
                nodeid=self._node.nodeid,
                architecture=self.name,
                description=self.description,
                case=spec.name,
                dataset=None,
                records=records,
                expected_steps=spec.expected_steps,
            )
        )
        return stats

    def repeat(self, inputs: Any, **kwargs: Any) -> CaseStats:
        """`arepeat` for synchronous tests (runs its own event loop)."""
        return asyncio.run(self.arepeat(inputs, **kwargs))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if 'arch' in metafunc.fixturenames:
        selected = metafunc.config.stash[_SETTINGS].selected
        metafunc.parametrize('arch', selected, ids=[a.name for a in selected], indirect=True)


@pytest.fixture
def arch(request: pytest.FixtureRequest) -> BoundArchitecture:
    """The architecture under test, bound to the session's model (parametrized over `--arch`)."""
    settings = request.config.stash[_SETTINGS]
    assert settings.model is not None
    return BoundArchitecture(request.param, settings.model, settings, request.node)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- results transport


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if call.when == 'call':
        results = item.stash.get(_ITEM_RESULT, None)
        if results:
            report.agentarch = [r.to_wire() for r in results]  # type: ignore[attr-defined]
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(report: pytest.CollectReport | pytest.TestReport) -> Iterator[None]:
    data = yield
    if data is not None and hasattr(report, _WIRE_KEY):
        data[_WIRE_KEY] = report.agentarch  # type: ignore[union-attr]
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(data: dict[str, Any]) -> Iterator[None]:
    report = yield
    if report is not None and _WIRE_KEY in data:
        report.agentarch = data[_WIRE_KEY]
    return report


class Collector:
    """Controller side: gathers item results from reports (with or without xdist) and writes the outputs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, list[ItemResult]] = {}
        self.expected: set[str] = set()
        self.crashed: dict[str, str] = {}
        self.report: Report | None = None

    def _is_dataset_item(self, nodeid: str) -> bool:
        path = self.config.rootpath / nodeid.split('::', 1)[0]
        return '::' in nodeid and _matches(self.config, path, self.config.stash[_SETTINGS].datasets)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.expected.update(i.nodeid for i in session.items if isinstance(i, DatasetItem))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.expected.update(i for i in ids if self._is_dataset_item(i))

    def add(self, result: ItemResult) -> None:
        """Results that reached the controller without a report (an item interrupted in this process)."""
        self.results.setdefault(result.nodeid, []).append(result)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, _WIRE_KEY, None)
        if data is not None:
            self.results[report.nodeid] = [ItemResult.from_wire(d) for d in data]
        elif report.failed:
            # xdist reports an item whose worker died with when='???': keep the first reason an item gives.
            lines = report.longreprtext.strip().splitlines()
            self.crashed.setdefault(report.nodeid, lines[-1] if lines else 'failed without results')

    def build(self) -> Report:
        settings = self.config.stash[_SETTINGS]
        missing = {
            nodeid: self.crashed.get(nodeid, 'did not report (not run, interrupted, or its worker died)')
            for nodeid in self.expected - set(self.results)
        }
        self.report = build_report(
            [r for rs in self.results.values() for r in rs],
            model=settings.model_spec,
            seed=settings.run.seed,
            runs=settings.run.runs,
            missing=missing,
        )
        return self.report

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        settings = self.config.stash[_SETTINGS]
        if self.config.option.collectonly or (not self.results and not self.expected):
            return
        report = self.build()
        if settings.json_path is not None:
            write_json(report, settings.json_path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = self.report
        if report is None:
            return
        tr = terminalreporter
        tr.section('agentarch: architecture comparison')
        tr.write_line(
            f'model {report.model}, seed {report.seed}, {report.runs_per_case} run(s) per case; '
            'determinism = share of completed runs with the most common tool-call trajectory'
        )
        if report.architectures:
            for line in render_summary(report):
                tr.write_line(line)
        if self.config.getoption('verbose') > 0 and report.architectures:
            tr.write_line('')
            for line in render_cases(report):
                tr.write_line(line)
        reported = [(a.summary.architecture, _mean_metrics(a.cases)) for a in report.architectures]
        if any(metrics for _, metrics in reported):
            tr.write_line('')
            tr.write_line('metrics the architectures reported (mean per completed run):')
            for name, metrics in reported:
                if metrics:
                    tr.write_line(f'  {name}: ' + ', '.join(f'{k} {v:.3g}' for k, v in metrics.items()))
        if report.gate_misses:
            tr.write_line('')
            tr.write_line(f'gate misses ({len(report.gate_misses)}):', red=True)
            for m in report.gate_misses:
                value = 'n/a' if m.value is None else f'{m.value:.3f}'
                basis = ' wilson-low' if m.judged_on == 'wilson-low' else ''
                tr.write_line(f'  {m.architecture}  {m.case}  {m.metric}{basis} {value}  n={m.n}  < {m.threshold:g}')
        interrupted = [c for a in report.architectures for c in a.cases if c.interrupted]
        if interrupted:
            tr.write_line('')
            tr.write_line(f'interrupted items ({len(interrupted)}), their finished runs kept:', yellow=True)
            for c in interrupted:
                tr.write_line(f'  {c.nodeid}: {c.runs} of {report.runs_per_case} runs')
        if report.missing:
            tr.write_line('')
            tr.write_line(f'missing results ({len(report.missing)} items):', yellow=True)
            for miss in report.missing:
                tr.write_line(f'  {miss.nodeid}: {miss.reason}')
        if self.config.stash[_SETTINGS].json_path is not None:
            tr.write_line(f'report written to {self.config.stash[_SETTINGS].json_path}')
