"""The Python heap peak of one run (tracemalloc), and the collector setting used while items run."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ('RUN_GC_THRESHOLD', 'interpreter_gc', 'settle', 'traced_heap', 'tune_gc', 'untune_gc')

RUN_GC_THRESHOLD = 10_000
"""Allocations between young-generation collections while items run; CPython's default is 700."""

_saved: tuple[int, ...] | None = None
_froze = False
"""Whether `tune_gc` froze the heap (and `untune_gc` must thaw it): never when someone else had frozen objects."""


def tune_gc() -> None:
    """Raise the young generation's collection threshold while items run, and freeze what exists already (undone by
    `untune_gc`).

    Agent runs allocate and drop objects by the hundred thousand; at CPython's default threshold the cyclic collector
    runs every 700 net allocations. The K8s suite's items take 0.89x the time with this one, at the same heap peak
    (benchmarks/gc_threshold.py): garbage waits a little longer and stays bounded. Only the young generation's
    threshold is raised; 0 (automatic collection off) is left alone.

    What exists when items start (imported modules, pytest, the collected items) outlives every run; frozen
    (`gc.freeze`), it is left out of the oldest generation's collections, which otherwise walk all of it again each
    time the runs' survivors have grown that generation by a quarter. Nothing is frozen when something else froze
    objects already (their owner decides when to thaw them).
    """
    global _saved, _froze
    if _saved is not None:
        return
    _saved = gc.get_threshold()
    if _saved[0]:
        gc.set_threshold(max(_saved[0], RUN_GC_THRESHOLD), *_saved[1:])
        if gc.get_freeze_count() == 0:
            gc.freeze()
            _froze = True


def settle() -> None:
    """After an item, while the collector is tuned: collect the garbage its runs left, then freeze what it keeps.

    A session keeps every item's records to the end; unfrozen, they would be walked again by every later collection
    of the oldest generation, and the main job's session spent 15% of its CPU in the collector so (45.6 of 299.8 s).
    This collection walks only what is not frozen yet, the item's own objects, so each object is walked about once.
    Only garbage is collected before the freeze, so nothing the item dropped is kept frozen; what is frozen and dies
    later is freed as usual unless it is in a reference cycle, which waits for `untune_gc`.
    """
    if _froze:
        gc.collect()
        gc.freeze()


def untune_gc() -> None:
    """Give the interpreter its own collector settings back, the frozen objects included."""
    global _saved, _froze
    if _saved is not None:
        if _froze:
            gc.unfreeze()
            _froze = False
        gc.set_threshold(*_saved)
        _saved = None


@contextmanager
def interpreter_gc() -> Iterator[None]:
    """The interpreter's own collector settings inside the block (memory probes measure what an app would see)."""
    tuned = gc.get_threshold()
    gc.set_threshold(*(_saved or tuned))
    try:
        yield
    finally:
        gc.set_threshold(*tuned)


@contextmanager
def traced_heap() -> Iterator[Callable[[], int | None]]:
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
