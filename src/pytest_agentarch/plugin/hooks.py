"""pytest hooks, and nothing else: each one hands over to the module that holds the work.

| module | holds |
| --- | --- |
| `options` | every option and ini key (one table) and the session `Settings` |
| `collection` | dataset files -> items; an item's runs, statistics and gates |
| `fixture` | the `arch` fixture and which tests it parametrizes |
| `session` | results on reports across xdist, the controller's report, session-level gates, terminal summary |
| `writer` | the report written to JSON, HTML, Markdown |
| `hookspecs` | the hooks the plugin offers (`pytest_agentarch_report`) |
| `runtime` | what the session builds at its start: architectures, model stacks, judge, limits |
| `progress` | the progress line: runs counted as they finish (sent from xdist workers), drawn by the controller |
| `sharding` | `--agentarch-shard`: the tests and runs this shard of a split session makes |
| `remote` | xdist workers on other machines: refused with limits kept in files |
| `requests.stack` | the model-request layer: settings, record/replay, retries, limits, budgets |
| `backends.local` | the `llamacpp:` backend: one llama.cpp server per spec for the whole session |
"""

from __future__ import annotations

import signal
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from .. import _compat
from ..backends import local
from ..core.stats import case_stats
from ..reports.markdown import junit_properties
from ..reports.metadata import case_fingerprint
from ..reports.report import ItemResult
from ..reports.table import render_plan
from ..requests.errors import ModelSpecError
from ..requests.recording import RecordingError
from ..requests.specs import check_priced
from ..requests.stack import build_judge, build_model, no_live_judge
from ..requests.store import StoreError, open_limits, open_store, store_handle
from ..run import capture, capture_requests, registry, tracing
from ..run.capture import uninstall
from ..run.memory import settle, tune_gc, untune_gc
from . import evaluator_names, hookspecs
from .collection import ITEM_RESULTS, DatasetFile, DatasetItem, is_dataset_file
from .endings import conftest_registry_error, sequential_warnings
from .fixture import arch, parametrize_arch, uses_arch
from .options import SETTINGS, Settings, add_options, planned_gates
from .progress import WORKER_KEY, ProgressHooks, WorkerProgress
from .remote import check_remote_workers
from .runtime import RUNTIME, Runtime
from .session import COLLECTOR, STOPPED_BY, WIRE_KEY, Collector, is_controller, to_wire
from .sharding import ShardHooks

STORE_KEY = 'agentarch_store'
"""The key of the store's handle (its directory, or the session's name on Redis) in an xdist worker's `workerinput`."""
LOCAL_KEY = 'agentarch_llamacpp'
"""The key of the local llama.cpp servers' addresses (spec -> base URL) in an xdist worker's `workerinput`."""

__all__ = ('arch',)  # the fixture must be visible in this plugin module for pytest to find it


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    evaluator_names.add_option(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # A registration mistake in a conftest (a sync `def` architecture) raises RegistryError on import; pytest would
    # wrap it in "ImportError while loading conftest" with a traceback through its own import machinery.
    try:
        return (yield)
    except Exception as exc:
        if (message := conftest_registry_error(exc)) is not None:
            raise pytest.UsageError(message) from None
        raise


def pytest_exception_interact(call: pytest.CallInfo[Any], report: pytest.CollectReport | pytest.TestReport) -> None:
    # A conftest.py below the initial ones (tests/sub/conftest.py) is imported while its directory is collected: the
    # same mistake is then that directory's collection error, said as itself rather than as an import traceback.
    if call.excinfo is not None and (message := conftest_registry_error(call.excinfo.value)) is not None:
        report.longrepr = message


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    # --agentarch-plan prints and exits before the session starts, as --collect-only stops before runs: nothing is
    # collected, no model is built, no run is made.
    if not config.getoption('plan') and not config.getini('agentarch_plan'):
        return None
    settings = Settings.from_config(config)
    print(
        '\n'.join(
            render_plan(planned_gates(settings), runs=settings.run.runs, batch=settings.batch, alpha=settings.alpha)
        )
    )
    return 0


def pytest_report_header(config: pytest.Config) -> list[str]:
    # Said before any run: a sequential gate that cannot stop an item early makes every item run to --runs.
    return [f'agentarch: {line}' for line in sequential_warnings(config.stash[SETTINGS])]


def pytest_configure(config: pytest.Config) -> None:
    settings = config.stash[SETTINGS] = Settings.from_config(config)
    evaluator_names.import_evaluator_modules(config)
    if settings.limits.shared:
        check_remote_workers(config, settings.store)
    if served := getattr(config, 'workerinput', {}).get(LOCAL_KEY):
        local.attach(served)
    if settings.shard is not None:
        config.pluginmanager.register(ShardHooks(settings.shard), 'agentarch-shard')
    if is_controller(config):
        collector = config.stash[COLLECTOR] = Collector(config)
        config.pluginmanager.register(_ControllerHooks(collector), 'agentarch-controller')
        config.pluginmanager.register(ProgressHooks(collector), 'agentarch-progress')
        _catch_sigterm(config)
    elif getattr(config, 'workerinput', {}).get(WORKER_KEY):  # a worker whose controller draws the line
        config.pluginmanager.register(WorkerProgress(config), 'agentarch-progress')
    if config.pluginmanager.hasplugin('xdist'):
        config.pluginmanager.register(_XdistHooks(config), 'agentarch-xdist')


def _catch_sigterm(config: pytest.Config) -> None:
    """End a session that CI cancels (SIGTERM) the way Ctrl-C does: finished runs kept, the report written.

    Only where nothing else handles SIGTERM already; the previous handler comes back at the end of the session."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        config.stash[STOPPED_BY] = 'SIGTERM: the session was terminated'
        raise KeyboardInterrupt('SIGTERM')

    try:
        signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: leave signals alone
        return

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    config.add_cleanup(restore)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash[SETTINGS]
    try:
        config.stash[RUNTIME] = _start(config, settings)
    except (registry.RegistryError, ModelSpecError, RecordingError, tracing.TracingError, StoreError) as exc:
        raise pytest.UsageError(str(exc)) from None


def _start(config: pytest.Config, settings: Settings) -> Runtime:
    """The session's runtime, built from its settings: architectures, limits, model stacks, judge, tracing."""
    registry.load_entry_points()
    runtime = Runtime(run=settings.run)
    # With the plugin installed, every pytest session in the environment comes here: one that registers no
    # architecture and asks for none must run as if the plugin were absent. Dataset files still complain.
    if registry.registered() or settings.arch_given:
        runtime.selected = registry.select(settings.arch_spec)
    limits = settings.limits
    if limits.budget_usd is not None:
        for spec in settings.model_specs:
            check_priced(spec)
    # A session that only collects runs nothing: it checks a llamacpp: spec but starts no server for it.
    collect_only = bool(config.option.collectonly)
    unused = [s for s in settings.model_specs if collect_only and local.is_local(s)]
    for spec in unused:
        local.LocalSpec.parse(spec)
    if is_controller(config) and settings.replay_dir is None and not collect_only:
        _serve_local_models(config, settings.model_specs)
    if limits.shared:
        runtime.store = open_store(settings.store, getattr(config, 'workerinput', {}).get(STORE_KEY))
        if is_controller(config):
            config.add_cleanup(runtime.store.remove)
        runtime.limits = open_limits(
            runtime.store,
            max_requests=limits.max_requests,
            rpm=limits.rpm,
            tpm=limits.tpm,
            max_tokens=limits.budget_tokens,
            max_usd=limits.budget_usd,
        )
    runtime.models = {
        spec: build_model(
            spec,
            limits=runtime.limits,
            retries=limits.retries,
            settings=settings.model_settings,
            priority=settings.model_settings_priority,
            record=settings.record_dir,
            replay=settings.replay_dir,
            resume=settings.resume,
            faults=settings.faults,
        )
        for spec in settings.model_specs
        if spec not in unused
    }
    if settings.judge_spec is not None:
        runtime.judge = build_judge(
            settings.judge_spec,
            limits=runtime.limits,
            retries=limits.retries,
            record=settings.record_dir,
            replay=settings.replay_dir,
            resume=settings.resume,
        )
    elif settings.replay_dir is not None:
        # A replay sends nothing to a model: pydantic-evals' own default judge would.
        runtime.judge = no_live_judge()
    if runtime.judge is not None:
        # Wrapped for the model-request layer, which records a judge's requests as it records the runs'.
        runtime.judge = capture_requests.wrap(runtime.judge)
        # pydantic-evals' default judge for the session; the previous one comes back at its end.
        config.add_cleanup(_compat.set_judge_model(runtime.judge))
    ledger = runtime.limits.ledger
    runtime.run = replace(settings.run, stop=ledger.exhausted if ledger is not None else None, judge=runtime.judge)
    # Spans go where the environment says (tracing.destination), configured in every process that runs items;
    # a tracer provider someone configured already is left as it is.
    if runtime.selected and not collect_only and tracing.destination() and not capture.exporting():
        config.add_cleanup(tracing.configure())
    return runtime


def _serve_local_models(config: pytest.Config, specs: list[str]) -> None:
    """Start one llama.cpp server per `llamacpp:` spec here, in the controller, before xdist starts its workers:
    they get the addresses (`pytest_configure_node`), so the session loads each model once. Stopped when the
    session ends, however it ends (cleanups run on Ctrl-C and on errors too)."""
    if any(local.is_local(spec) for spec in specs):
        config.add_cleanup(local.stop_all)
        for spec in specs:
            if local.is_local(spec):
                local.serve(spec)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_dataset_file(parent.config, file_path):
        return DatasetFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_arch(metafunc)


def pytest_collection_finish(session: pytest.Session) -> None:
    ours = [i for i in session.items if isinstance(i, DatasetItem) or uses_arch(i)]
    if ours and not session.config.option.collectonly:
        # Only a session that runs our items changes the collector setting; capture installs itself on the first
        # run (runner.run_once) and is undone at the end of the session.
        tune_gc()
    collector = session.config.stash.get(COLLECTOR, None)
    # A collection error (a dataset that does not load) stops the session before any item runs, unless
    # --continue-on-collection-errors: its items are then not missing results, and the error is said once, by pytest.
    interrupted = session.testsfailed > 0 and not session.config.option.continue_on_collection_errors
    if collector is not None and not interrupted:
        collector.expect(i.nodeid for i in ours if isinstance(i, DatasetItem))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except KeyboardInterrupt:
        # pytest makes no report for an interrupted item: hand the finished runs to the collector directly.
        collector = item.config.stash.get(COLLECTOR, None)
        if collector is not None and isinstance(item, DatasetItem) and (partial := item.interrupted_result()):
            _fingerprint(item, [partial])
            collector.add(partial)
        raise


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if isinstance(item, DatasetItem) or uses_arch(item):
        settle()  # the item's garbage collected, what it keeps frozen (run/memory.py)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == 'call' and (results := item.stash.get(ITEM_RESULTS, None)):
        _fingerprint(item, results)
        # The results themselves: made plain data only if the report leaves this process (to_serializable below);
        # a session without xdist hands them to its collector as they are.
        setattr(report, WIRE_KEY, results)
        # JUnit properties: the call report and (junitxml reads them there) the teardown report, which copies them
        # from the item; both travel under xdist.
        settings = item.config.stash[SETTINGS]
        # A dataset item's one result already has its statistics (its gates were judged on them): not again.
        judged = getattr(item, 'stats', None) if len(results) == 1 else None
        for index, result in enumerate(results):
            stats = judged or case_stats(
                result.records,
                architecture=result.architecture,
                case=result.case,
                level=settings.thresholds_for(result.architecture, result.model).level,
                model=result.model,
            )
            prefix = 'agentarch' if len(results) == 1 else f'agentarch[{index}]'
            properties = junit_properties(stats, prefix)
            item.user_properties.extend(properties)
            report.user_properties.extend(properties)
    return report


def _fingerprint(item: pytest.Item, results: list[ItemResult]) -> None:
    """Mark a dataset item's results with its case's fingerprint (inputs, expected output, evaluators)."""
    if isinstance(item, DatasetItem):
        fingerprint = case_fingerprint(item.case.inputs, item.case.expected_output, item.case.evaluators)
        for result in results:
            result.fingerprint = fingerprint


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    report: pytest.CollectReport | pytest.TestReport,
) -> Generator[None, Any, Any]:
    data = yield
    if data is not None and hasattr(report, WIRE_KEY):
        data[WIRE_KEY] = [to_wire(r) for r in getattr(report, WIRE_KEY)]
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(data: dict[str, Any]) -> Generator[None, Any, Any]:
    report = yield
    if report is not None and WIRE_KEY in data:
        setattr(report, WIRE_KEY, data[WIRE_KEY])
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    result = yield
    # Every item has run (under xdist, every worker is done): the controller builds the report and judges the
    # session-level gates. Each miss fails the session as pytest-cov's threshold does: bumped here, the exit status
    # counts it.
    collector = session.config.stash.get(COLLECTOR, None)
    if collector is not None:
        runtime = session.config.stash.get(RUNTIME, None)
        ledger = runtime.limits.ledger if runtime is not None else None
        budget = ledger.exhausted() if ledger is not None else None
        if budget is not None:
            session.config.stash[STOPPED_BY] = budget
        collector.build()
        session.testsfailed += len(collector.gate_misses(budget=budget))
    return result


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    untune_gc()
    uninstall()
    collector = session.config.stash.get(COLLECTOR, None)
    if collector is not None:
        if collector.report is None:
            # An interrupted session never finished its run loop: its report holds the runs that finished.
            collector.build()
        collector.write()
        # An output asked for and not written fails the session (the others were written first): CI must not pass
        # on a report nobody can read.
        if collector.unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.stash.get(COLLECTOR, None)
    if collector is not None:
        collector.summary(terminalreporter)


class _ControllerHooks:
    """Hooks of the aggregating process (registered only there)."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.receive(report)


class _XdistHooks:
    """Hooks that exist only with pytest-xdist (registered when it is installed)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        runtime = self.config.stash.get(RUNTIME, None)
        if runtime is not None and runtime.store is not None:
            node.workerinput[STORE_KEY] = store_handle(runtime.store)
        if served := local.served():
            node.workerinput[LOCAL_KEY] = served

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        collector = self.config.stash.get(COLLECTOR, None)
        if collector is not None:
            collector.expect(
                i for i in ids if '::' in i and is_dataset_file(self.config, self.config.rootpath / i.split('::')[0])
            )
