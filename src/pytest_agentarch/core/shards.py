"""Shards: which runs of a session one of N sessions makes (`--agentarch-shard i/N`), so that the N together make every
run once and `agentarch merge` gives back the report one session would have written.

A run's identity is (dataset, case, architecture, model, run index), and its randomness depends on nothing else
(`RunInfo.derive_seed`), so which session makes a run cannot change what the run does. The split is by run, not by
item, so one large item spreads over every shard: the runs of an item go round the shards in index order from an
offset hashed from the item's identity, so each shard gets `runs // N` or one more of every item, and the extra runs
land on different shards for different items. Tests that are not dataset items (a test using the `arch` fixture, any
plain test) cannot be split: each runs whole in the one shard its node id hashes to. No pytest here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ('Shard', 'ShardError', 'item_offset', 'owner_of_test', 'parse_shard', 'run_owner', 'share')


class ShardError(ValueError):
    """A shard given in a form that cannot work (`i/N` with 1 <= i <= N expected)."""


@dataclass(frozen=True, kw_only=True)
class Shard:
    """One of `count` shards of a session."""

    index: int
    """1-based: 1..count."""
    count: int
    """How many shards the session is split into."""

    def __str__(self) -> str:
        return f'{self.index}/{self.count}'


def parse_shard(text: str) -> Shard:
    """`i/N` (1 <= i <= N) as a `Shard`; raises ShardError saying what was expected."""
    index_text, slash, count_text = text.strip().partition('/')
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index = count = 0
    if not slash or count < 1:
        raise ShardError(f"expected 'i/N' with whole numbers, 1 <= i <= N (e.g. 2/3), got {text!r}")
    if not 1 <= index <= count:
        raise ShardError(f'shard {index} of {count} does not exist: i in i/N counts from 1 to N, got {text!r}')
    return Shard(index=index, count=count)


def _hash(*parts: str) -> int:
    material = '\x1f'.join(parts)
    return int.from_bytes(hashlib.blake2b(material.encode(), digest_size=8).digest(), 'big')


def item_offset(*, dataset: str | None, case: str, architecture: str, model: str, count: int) -> int:
    """The shard (0-based) that makes run 0 of the item; run r goes to `(offset + r) % count`."""
    return _hash(dataset or '', case, architecture, model) % count


def run_owner(*, dataset: str | None, case: str, architecture: str, model: str, index: int, count: int) -> int:
    """The shard (1-based) that makes run `index` of the item."""
    offset = item_offset(dataset=dataset, case=case, architecture=architecture, model=model, count=count)
    return (offset + index) % count + 1


def share(shard: Shard, *, dataset: str | None, case: str, architecture: str, model: str, runs: int) -> list[int]:
    """The run indexes (of 0..runs-1) of an item that `shard` makes, in order (none when runs < count leaves it
    none)."""
    offset = item_offset(dataset=dataset, case=case, architecture=architecture, model=model, count=shard.count)
    first = (shard.index - 1 - offset) % shard.count
    return list(range(first, runs, shard.count))


def owner_of_test(nodeid: str, count: int) -> int:
    """The shard (1-based) that runs a test that is not a dataset item, whole."""
    return _hash('test', nodeid) % count + 1
