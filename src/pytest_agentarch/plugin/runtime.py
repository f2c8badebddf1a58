"""What a session builds from its settings when it starts, kept apart from the settings themselves.

`Settings` (options.py) is what the command line and ini file say, frozen once parsed. `Runtime` is what the session
made of it in `pytest_sessionstart` (hooks.py): the architectures it runs, one model stack per `--agentarch-model`
spec, the judge, the limits shared by its processes and the directory they share, and the run settings with what only
a running session knows (the budget that stops runs, the judge entered around them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydantic_ai.models import Model

from ..requests.limits import SessionLimits
from ..requests.store import Store
from ..run.registry import Architecture
from ..run.runner import RunSettings

__all__ = ('RUNTIME', 'Runtime')


@dataclass(kw_only=True)
class Runtime:
    """The session's built state (`config.stash[RUNTIME]`), in every process that runs items."""

    run: RunSettings
    """The settings' run settings, with the budget's `stop` and the session's `judge`."""
    selected: list[Architecture] = field(default_factory=list[Architecture])
    """The architectures this session runs; chosen at session start, or at collection when architectures register
    only then (a test module's `@architecture`)."""
    models: dict[str, Model] = field(default_factory=dict[str, Model])
    """The session's model stacks by spec, in the order given."""
    judge: Model | None = None
    """The default model of judging evaluators (`--agentarch-judge-model`, or the refusing one of a replay)."""
    limits: SessionLimits = field(default_factory=SessionLimits)
    """This process's view of the limits shared by the session's processes (none: `SessionLimits()`)."""
    store: Store | None = None
    """The directory those limits share (only when a limit or budget is set)."""


RUNTIME = pytest.StashKey[Runtime]()
"""Where the session's runtime lives (`config.stash[RUNTIME]`), from `pytest_sessionstart` on."""
