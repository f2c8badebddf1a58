"""pytest hooks, and nothing else: each one hands over to the module that holds the work.

| module | holds |
| --- | --- |
| `options` | every option and ini key (one table) and the session `Settings` |
| `collection` | dataset files -> items; an item's runs, statistics and gates |
| `fixture` | the `arch` fixture and which tests it parametrizes |
| `session` | results on reports across xdist, the controller's report, JSON and terminal summary |
| `memory` | the heap probe and the collector setting while items run |
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import registry
from .capture import uninstall
from .collection import ITEM_RESULTS, DatasetFile, DatasetItem, is_dataset_file
from .fixture import arch, parametrize_arch, uses_arch
from .memory import tune_gc, untune_gc
from .models import ModelSpecError, resolve_model
from .options import SETTINGS, Settings, add_options
from .session import COLLECTOR, WIRE_KEY, Collector, is_controller

__all__ = ('arch',)  # the fixture must be visible in this plugin module for pytest to find it


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = Settings.from_config(config)
    if is_controller(config):
        collector = config.stash[COLLECTOR] = Collector(config)
        config.pluginmanager.register(_ControllerHooks(collector), 'agentarch-controller')
    if config.pluginmanager.hasplugin('xdist'):
        config.pluginmanager.register(_XdistHooks(config), 'agentarch-xdist')


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    settings = session.config.stash[SETTINGS]
    try:
        registry.load_entry_points()
        # With the plugin installed, every pytest session in the environment comes here: one that registers no
        # architecture and asks for none must run as if the plugin were absent. Dataset files still complain.
        if registry.registered() or settings.arch_given:
            settings.selected = registry.select(settings.arch_spec)
        settings.models = {
            spec: resolve_model(spec, settings=settings.model_settings, priority=settings.model_settings_priority)
            for spec in settings.model_specs
        }
    except (registry.RegistryError, ModelSpecError) as exc:
        raise pytest.UsageError(str(exc)) from None


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
    if collector is not None:
        collector.expect(i.nodeid for i in ours if isinstance(i, DatasetItem))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except KeyboardInterrupt:
        # pytest makes no report for an interrupted item: hand the finished runs to the collector directly.
        collector = item.config.stash.get(COLLECTOR, None)
        if collector is not None and isinstance(item, DatasetItem) and (partial := item.interrupted_result()):
            collector.add(partial)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == 'call' and (results := item.stash.get(ITEM_RESULTS, None)):
        setattr(report, WIRE_KEY, [r.to_wire() for r in results])
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    report: pytest.CollectReport | pytest.TestReport,
) -> Generator[None, Any, Any]:
    data = yield
    if data is not None and hasattr(report, WIRE_KEY):
        data[WIRE_KEY] = getattr(report, WIRE_KEY)
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(data: dict[str, Any]) -> Generator[None, Any, Any]:
    report = yield
    if report is not None and WIRE_KEY in data:
        setattr(report, WIRE_KEY, data[WIRE_KEY])
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    untune_gc()
    uninstall()
    collector = session.config.stash.get(COLLECTOR, None)
    if collector is not None:
        collector.build()


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
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        collector = self.config.stash.get(COLLECTOR, None)
        if collector is not None:
            collector.expect(
                i for i in ids if '::' in i and is_dataset_file(self.config, self.config.rootpath / i.split('::')[0])
            )
