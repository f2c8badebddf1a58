"""Dataset collection: pydantic-evals files become one pytest item per (case, architecture serving the dataset).

An item runs its case `--runs` times, computes the statistics, judges the gates and leaves its `ItemResult` in its
stash, from where the session module sends it to the controller on the test report.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai.models import Model
from pydantic_evals import Dataset
from pydantic_evals.evaluators import Evaluator

from .._compat import TerminalRepr, TracebackStyle
from ..core.gates import Miss, Thresholds, check, decide, final, gated, sequential_misses
from ..core.records import RunRecord
from ..core.sequential import GateDecision, SequentialItem
from ..core.shards import share
from ..core.stats import CaseStats, case_stats
from ..core.trajectory import render_steps
from ..reports.report import ItemResult
from ..reports.table import render_failure
from ..run import registry
from ..run.evaluators import TrajectorySteps
from ..run.memory import interpreter_gc, traced_heap
from ..run.runner import CaseSpec, RunSettings, run_case, run_once
from .evaluator_names import unknown_evaluator, unlisted
from .options import SETTINGS, Settings
from .progress import RUN_DONE
from .runtime import RUNTIME

__all__ = ('ITEM_RESULTS', 'DatasetFile', 'DatasetItem', 'DatasetLoadError', 'GateFailure', 'is_dataset_file')

ITEM_RESULTS = pytest.StashKey[list[ItemResult]]()
"""What a test's runs produced (a dataset item, or the `arch` fixture's repetitions), sent on its report."""


def is_dataset_file(config: pytest.Config, path: Path) -> bool:
    """Whether `path` matches one of the `agentarch_datasets` globs (relative to the rootdir, or by file name)."""
    if path.suffix not in ('.yaml', '.yml', '.json'):
        return False
    try:
        rel = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(path.name, g) for g in config.stash[SETTINGS].datasets)


def user_evaluator_types() -> list[type[Evaluator[Any, Any, Any]]]:
    """Evaluator classes defined outside pydantic-evals (conftest, plugins, this package), usable by name."""
    found: list[type[Evaluator[Any, Any, Any]]] = []
    stack: list[type[Any]] = [Evaluator]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if not sub.__module__.startswith('pydantic_evals') and not getattr(sub, '__abstractmethods__', None):
                found.append(sub)
    names: dict[str, type[Evaluator[Any, Any, Any]]] = {}
    for cls in found:
        names[cls.get_serialization_name()] = cls  # the newest definition of a name wins (re-imported conftest)
    return list(names.values())


def _describe(exc: BaseException) -> str:
    # pydantic-evals groups evaluator errors; the group's own text names none of them.
    if isinstance(exc, BaseExceptionGroup):
        return '; '.join(_describe(e) for e in exc.exceptions)
    return str(exc)


def _type_name(t: Any) -> str:
    """A type as a reader knows it: `datetime`, `Report | Escalation`, `dict[str, int]`."""
    if t is Any:
        return 'untyped'
    return t.__name__ if isinstance(t, type) and not getattr(t, '__args__', None) else repr(t).replace('typing.', '')


def _problem(error: Any, dataset: Dataset[Any, Any, Any]) -> str:
    """One pydantic error of a typed load, as `case 'name': field.path: message (input ...)`."""
    loc = tuple(error.get('loc', ()))
    where = '.'.join(map(str, loc)) or '(dataset)'
    if len(loc) >= 2 and loc[0] == 'cases' and isinstance(loc[1], int) and loc[1] < len(dataset.cases):
        field = '.'.join(map(str, loc[2:])) or '(case)'
        where = f'case {dataset.cases[loc[1]].name!r}: {field}'
    return f'{where}: {error.get("msg")} [{error.get("type")}] (input: {error.get("input")!r})'


class DatasetLoadError(Exception):
    """A dataset file that does not parse or validate."""


class GateFailure(Exception):
    """An item missed a threshold or had failing runs."""


class DatasetFile(pytest.File):
    """A pydantic-evals dataset file: one item per case and serving architecture."""

    def collect(self) -> Iterator[pytest.Item]:
        settings = self.config.stash[SETTINGS]
        evaluator_types = user_evaluator_types()
        try:
            dataset = Dataset[Any, Any, Any].from_file(self.path, custom_evaluator_types=evaluator_types)
        except Exception as exc:
            described = _describe(exc)
            # Only a schema that exists next to the file is advice a reader can follow (Dataset.to_file writes one).
            schema = self.path.with_name(f'{self.path.stem}_schema.json')
            advice = f' (its JSON schema: {schema.name})' if schema.is_file() else ''
            unknown = unknown_evaluator(described, unlisted(self.config, evaluator_types))
            raise DatasetLoadError(
                f'{self.path}: not a valid pydantic-evals dataset: {unknown or described}\n'
                f'Fix the file{advice} and run again.'
            ) from None
        runtime = self.config.stash[RUNTIME]
        if not runtime.selected:
            try:
                runtime.selected = registry.select(settings.arch_spec)
            except registry.RegistryError as exc:
                raise DatasetLoadError(f'{self.path}: {exc}') from None
        # pydantic-evals already rejects duplicate case names; unnamed cases it accepts, but they need a test id.
        unnamed = [i for i, case in enumerate(dataset.cases) if not case.name]
        if unnamed:
            raise DatasetLoadError(f'{self.path}: case #{unnamed[0] + 1} has no `name`; give every case a unique name')
        types = self._types(dataset.name, [a for a in runtime.selected if a.serves(dataset.name)])
        if types.typed:
            dataset = self._load_typed(types, dataset, evaluator_types)
        for index, case in enumerate(dataset.cases):
            spec = CaseSpec.from_dataset(case, dataset)
            for arch in runtime.selected:
                if not arch.serves(dataset.name):
                    continue
                for model in settings.model_specs:
                    label = model if settings.several_models else None
                    yield DatasetItem.from_parent(
                        self,
                        name=f'{case.name}[{arch.name}@{model}]' if label else f'{case.name}[{arch.name}]',
                        arch=arch,
                        model_label=label,
                        case=spec,
                        dataset_name=dataset.name,
                        traced=settings.memory == 'all' or (settings.memory == 'first-case' and index == 0),
                    )

    def _types(self, dataset_name: str, serving: Sequence[registry.Architecture]) -> registry.DatasetTypes:
        """The types the architectures serving the dataset declare; two that declare different ones are an error."""
        chosen: dict[str, tuple[str, Any]] = {}
        for arch in serving:
            try:
                declared = arch.dataset_types()
            except registry.RegistryError as exc:
                raise DatasetLoadError(f'{self.path}: {exc}') from None
            for part in ('inputs', 'output', 'metadata'):
                given = getattr(declared, part)
                if given is Any:
                    continue
                first = chosen.setdefault(part, (arch.name, given))
                if first[1] != given:
                    raise DatasetLoadError(
                        f'{self.path}: the architectures serving dataset {dataset_name!r} declare different {part} '
                        f'types: {first[0]!r} declares {_type_name(first[1])}, {arch.name!r} declares '
                        f'{_type_name(given)}. Give them the same type, or limit each to its own dataset with '
                        '@architecture(datasets=...)'
                    )
        return registry.DatasetTypes(**{part: t for part, (_, t) in chosen.items()})

    def _load_typed(
        self,
        types: registry.DatasetTypes,
        untyped: Dataset[Any, Any, Any],
        evaluator_types: Sequence[type[Evaluator[Any, Any, Any]]],
    ) -> Dataset[Any, Any, Any]:
        """The dataset loaded by pydantic-evals with the declared types, so that architectures and evaluators get
        exactly the values `Dataset[InputsT, OutputT, MetadataT].from_file` gives; a case that does not validate is
        a collection error naming the case and the field."""
        typed_dataset: Any = Dataset
        try:
            loaded: Dataset[Any, Any, Any] = typed_dataset[types.inputs, types.output, types.metadata].from_file(
                self.path, custom_evaluator_types=evaluator_types
            )
        except Exception as exc:
            cause = exc if isinstance(exc, ValidationError) else exc.__cause__
            if not isinstance(cause, ValidationError):
                raise DatasetLoadError(f'{self.path}: {_describe(exc)}') from None
            problems = [_problem(error, untyped) for error in cause.errors(include_url=False)]
            raise DatasetLoadError(
                f'{self.path}: {len(problems)} value(s) do not match the types the architectures declare '
                f'({_type_name(types.inputs)} inputs, {_type_name(types.output)} output, '
                f'{_type_name(types.metadata)} metadata):\n' + '\n'.join(f'  {p}' for p in problems)
            ) from None
        return loaded

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, DatasetLoadError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class DatasetItem(pytest.Item):
    """N runs of one case by one architecture."""

    def __init__(
        self,
        *,
        arch: registry.Architecture,
        model_label: str | None,
        case: CaseSpec,
        dataset_name: str,
        traced: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.model_label = model_label
        """The model this item runs on, in a session with several (None: the session's only model)."""
        self.case = case
        self.dataset_name = dataset_name
        self.traced = traced
        """Measure the Python heap peak of one run of this case with tracemalloc."""
        self.stats: CaseStats | None = None
        self.misses: list[Miss] = []
        self.finished: list[RunRecord] = []
        """Records of the runs judged so far (kept when the session is interrupted halfway)."""
        self.sequential: SequentialItem | None = None
        """How the item ran under `--agentarch-sequential`: runs used, and each gate's decision."""

    def runtest(self) -> None:
        settings = self.config.stash[SETTINGS]
        runtime = self.config.stash[RUNTIME]
        spec = self.model_label or settings.model_specs[0]
        model = runtime.models[spec]
        run = replace(runtime.run, model=spec, dataset=self.dataset_name)
        indexes = self.shard_share()
        planned = run.runs if indexes is None else len(indexes)
        if run.stop is not None and (reason := run.stop()) is not None:
            # Not one run of this item starts: say so on the report, not as a failure of the architecture.
            self.stash[ITEM_RESULTS] = [self.result([], peak=None, not_run=planned, stopped_by=reason)]
            pytest.skip(f'not run: {reason}')
        thresholds = settings.thresholds_for(self.arch.name, self.model_label)
        decisions: list[GateDecision] = []
        if settings.sequential and gated(thresholds):
            records, decisions, stopped = asyncio.run(self._sequential(model, run, thresholds, settings.alpha))
        else:
            records = asyncio.run(
                run_case(
                    self.arch, model, self.case, run, finished=self.finished, on_finish=self._done, indexes=indexes
                )
            )
            stopped = len(records) < planned
        if stopped:
            assert run.stop is not None
            reason = run.stop() or 'the session was stopped'
            self.stash[ITEM_RESULTS] = [
                self.result(records, peak=None, not_run=planned - len(records), stopped_by=reason)
            ]
            pytest.skip(f'{planned - len(records)} of {planned} runs not run: {reason}')
        # The memory probe belongs to the run 0 of the item, so one shard of a split session makes it.
        probe = self.traced and (indexes is None or 0 in indexes)
        peak = self._probe_memory(model, run) if probe else None
        self.stats = case_stats(
            records,
            architecture=self.arch.name,
            case=self.case.name,
            dataset=self.dataset_name,
            expected_steps=self.case.expected_steps,
            level=thresholds.level,
            model=self.model_label,
        )
        # A shard holds part of each item's runs: `agentarch merge` judges the gates on all of them.
        self.misses = check(self.stats, thresholds) if indexes is None else []
        if settings.sequential and gated(thresholds):
            self.misses = sequential_misses(self.stats, self.misses, decisions)
            self.sequential = _sequential_item(records, decisions, thresholds, run.runs, settings)
        self.stash[ITEM_RESULTS] = [self.result(records, peak=peak)]
        if self.misses:
            raise GateFailure('\n'.join(str(m) for m in self.misses))

    async def _sequential(
        self, model: Model, run: RunSettings, thresholds: Thresholds, alpha: float
    ) -> tuple[list[RunRecord], list[GateDecision], bool]:
        """Batches of runs until every rate gate is decided, one is decided missed, or `run.runs` is reached:
        (records, decisions, stopped).

        Decisions are taken after each whole batch on runs 0..k-1, so where the item stops depends on the runs'
        results alone, never on scheduling. A gate keeps the first decision it reaches (its stopping time); `stopped`
        says a batch lost runs to a budget or an interrupt."""
        batch = self.config.stash[SETTINGS].batch
        records: list[RunRecord] = []
        latched: dict[str, GateDecision] = {}
        current: list[GateDecision] = []
        start = 0
        while start < run.runs:
            size = min(batch, run.runs - start)
            got = await run_case(
                self.arch, model, self.case, run, finished=self.finished, on_finish=self._done, start=start, count=size
            )
            records.extend(got)
            start += size
            if len(got) < size:
                return records, current, True
            now = decide(records, thresholds, alpha)
            for d in now:
                if d.decision != 'undecided':
                    latched.setdefault(d.metric, d)
            current = [latched.get(d.metric, d) for d in now]
            if any(d.decision == 'missed' for d in current):
                # A missed gate fails the item whatever the others do, and stopping at a decision leaves its error
                # at most alpha (anytime-valid): the runs left would buy nothing. The others stay undecided.
                return records, current, False
            if not thresholds.min_scores and all(d.decision != 'undecided' for d in current):
                break
        # At the maximum, gates still undecided get the final test (`gates.final`); decided ones are kept.
        return records, final(records, current, thresholds, alpha, batch), False

    def _done(self, record: RunRecord) -> None:
        """A run of this item ended: the progress line counts it (`plugin.progress`)."""
        if (done := self.config.stash.get(RUN_DONE, None)) is not None:
            done(self, len(self.finished))

    def shard_share(self) -> list[int] | None:
        """The run indexes this item makes in a shard of a split session (`--agentarch-shard`); None unsharded."""
        settings = self.config.stash[SETTINGS]
        if settings.shard is None:
            return None
        return share(
            settings.shard,
            dataset=self.dataset_name,
            case=self.case.name,
            architecture=self.arch.name,
            model=self.model_label or settings.model_specs[0],
            runs=settings.run.runs,
        )

    def interrupted_result(self) -> ItemResult | None:
        """The runs that finished before an interrupt, as a result marked interrupted (None if none finished)."""
        if not self.finished or ITEM_RESULTS in self.stash:
            return None
        return self.result(list(self.finished), peak=None, interrupted=True)

    def _probe_memory(self, model: Model, run: RunSettings) -> int | None:
        """The heap peak of one more run of the case, alone and traced; it counts in no statistic.

        Tracing slows every allocation several times over, so it is kept off the N runs whose latency is reported.
        The probe runs after them, once imports and caches are warm, so one-off set-up is not counted as the run's.
        """
        with interpreter_gc(), traced_heap() as peak_of:
            asyncio.run(run_once(self.arch, model, self.case, 0, run))
        return peak_of()

    def result(
        self,
        records: list[RunRecord],
        *,
        peak: int | None,
        interrupted: bool = False,
        not_run: int = 0,
        stopped_by: str | None = None,
    ) -> ItemResult:
        """This item's runs as the plain data the controller aggregates."""
        return ItemResult(
            nodeid=self.nodeid,
            architecture=self.arch.name,
            model=self.model_label,
            description=self.arch.description,
            case=self.case.name,
            dataset=self.dataset_name,
            records=records,
            expected_steps=self.case.expected_steps,
            misses=[m.model_dump() for m in self.misses],
            peak_memory=peak,
            interrupted=interrupted,
            not_run=not_run,
            stopped_by=stopped_by,
            sequential=self.sequential.model_dump() if self.sequential is not None else None,
            # Only statistics of exactly these records (an interrupted or stopped item has none yet).
            stats=self.stats if self.stats is not None and self.stats.runs == len(records) else None,
        )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if not isinstance(excinfo.value, GateFailure) or self.stats is None:
            return super().repr_failure(excinfo)
        return render_failure(self.stats, self.misses, expected_calls(self.case.evaluators))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


def _sequential_item(
    records: list[RunRecord],
    decisions: list[GateDecision],
    thresholds: Thresholds,
    max_runs: int,
    settings: Settings,
) -> SequentialItem:
    """The sequential part of an item's result; tokens saved are the runs not made at this item's mean per run."""
    tokens = sum(r.input_tokens + r.output_tokens for r in records)
    saved_runs = max_runs - len(records)
    return SequentialItem(
        alpha=settings.alpha,
        batch=settings.batch,
        max_runs=max_runs,
        runs_used=len(records),
        decided=any(d.decision == 'missed' for d in decisions)
        or (not thresholds.min_scores and all(d.decision != 'undecided' for d in decisions)),
        gates=decisions,
        tokens_used=tokens,
        tokens_saved=round(saved_runs * tokens / len(records)) if records else 0,
    )


def expected_calls(evaluators: Sequence[Evaluator[Any, Any, Any]]) -> str | None:
    """The tool calls a case's trajectory evaluator expects, rendered for failure messages."""
    for ev in evaluators:
        if isinstance(ev, TrajectorySteps):
            return render_steps(ev.steps)
        for attr in ('expected_trajectory', 'expected_tools'):
            value = getattr(ev, attr, None)
            if isinstance(value, list):
                return ' > '.join(map(str, value))
    return None
