"""Whether the tools attach their rule-based assessment, chosen per case instead of per process.

`K8S_TOOL_ASSESSMENT` (read by `rules.assessments_enabled`) sets it for a whole process; a case whose request says
`tool_assessments: false` runs its tools without assessments whatever the variable says, so one session measures
both settings side by side (the `k8s_anomaly_raw` dataset). A context variable, so concurrent runs of different
cases in one event loop never see each other's setting, and the tasks a run starts inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ('CHOSEN', 'tool_assessments')

CHOSEN: ContextVar[bool | None] = ContextVar('k8s_tool_assessments', default=None)
"""The setting chosen for the current run; None leaves it to `K8S_TOOL_ASSESSMENT`."""


@contextmanager
def tool_assessments(enabled: bool | None) -> Iterator[None]:
    """Within the block (and the tasks started in it), tools attach assessments when `enabled` is true and leave
    them out when it is false; None changes nothing."""
    token = CHOSEN.set(enabled)
    try:
        yield
    finally:
        CHOSEN.reset(token)
