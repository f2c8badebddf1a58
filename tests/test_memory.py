"""The collector settings items run under (run/memory.py): what is frozen, what is collected, what is given back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pytest_agentarch.run import memory


class Node:
    """A container the collector tracks."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def interpreter_settings() -> Iterator[tuple[int, ...]]:
    threshold = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    yield threshold
    memory.untune_gc()
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_an_items_garbage_is_collected_and_what_it_keeps_is_frozen(interpreter_settings: tuple[int, ...]) -> None:
    memory.tune_gc()
    assert gc.get_threshold()[0] == max(interpreter_settings[0], memory.RUN_GC_THRESHOLD)
    frozen_at_start = gc.get_freeze_count()
    assert frozen_at_start > 0  # what existed when items started
    # What an item leaves: a reference cycle nobody holds (garbage), and a node the session keeps.
    cycle = Node()
    cycle.other = Node()
    cycle.other.other = cycle
    dropped = weakref.ref(cycle)
    del cycle
    kept = Node()
    memory.settle()
    assert dropped() is None  # collected before the freeze, not kept frozen
    assert gc.get_freeze_count() > frozen_at_start
    assert not any(o is kept for o in gc.get_objects())  # frozen objects are out of every generation
    memory.untune_gc()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == interpreter_settings
    assert any(o is kept for o in gc.get_objects())


def test_objects_someone_else_froze_stay_theirs(interpreter_settings: tuple[int, ...]) -> None:
    gc.freeze()
    theirs = gc.get_freeze_count()
    memory.tune_gc()
    Node()
    memory.settle()
    assert gc.get_freeze_count() == theirs  # nothing frozen on top of theirs...
    memory.untune_gc()
    assert gc.get_freeze_count() == theirs  # ...and nothing of theirs thawed


def test_nothing_is_frozen_outside_items(interpreter_settings: tuple[int, ...]) -> None:
    memory.settle()  # collector not tuned: no item of ours is running
    assert gc.get_freeze_count() == 0
