"""`--agentarch-shard i/N`: this session keeps the tests it owns and makes only its share of each item's runs.

A dataset item stays in every shard that owns at least one of its runs (`DatasetItem.shard_share`) and makes only
those runs; any other test runs whole in the one shard its node id hashes to. The decision depends only on what is
collected, so the controller and every xdist worker take the same one. The shard's JSON report keeps every record it
made (`Report.shard`); `agentarch merge` judges the gates.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..core.shards import Shard, owner_of_test
from .collection import DatasetItem

__all__ = ('ShardHooks',)


class ShardHooks:
    """Registered only in a sharded session."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            if isinstance(item, DatasetItem):
                owned = bool(item.shard_share())
            else:
                owned = owner_of_test(item.nodeid, self.shard.count) == self.shard.index
            (kept if owned else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_report_header(self) -> str:
        return (
            f'agentarch: shard {self.shard} of a split session: its share of the runs; gates are judged by '
            '`agentarch merge`'
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f'agentarch: shard {self.shard}: no gate judged here; merge every shard with '
            '`agentarch merge SHARD.json... -o report.json`'
        )
