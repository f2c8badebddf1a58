"""xdist workers on other machines (`--tx ssh=...`, `--tx socket=...`): they share no file system with the controller,
so the session's limits and budget must live on a network store for every worker to see them."""

from __future__ import annotations

import pytest

from ..requests.store import is_redis

__all__ = ('check_remote_workers', 'remote_gateways')


def remote_gateways(config: pytest.Config) -> list[str]:
    """The `--tx` specs of this session that start workers on another machine (empty without xdist)."""
    try:
        specs = config.getoption('tx') or []
    except ValueError:  # xdist is not installed
        return []
    return [str(s) for s in specs if 'ssh=' in str(s) or 'socket=' in str(s)]


def check_remote_workers(config: pytest.Config, store: str) -> None:
    """Refuse, before any run, a session with limits on the file store whose xdist workers run on other machines."""
    if hasattr(config, 'workerinput') or is_redis(store):
        return
    if remote := remote_gateways(config):
        raise pytest.UsageError(
            f'xdist workers on other machines ({", ".join(remote)}) cannot share limits and budgets kept in files on '
            'this one: pass --agentarch-store redis://HOST:PORT/DB (a Redis server every machine reaches), or drop '
            'the limits'
        )
