"""Which backend the tools read: the process-wide choice, a `PrometheusBackend` or the committed fixture data.

Apart from `backend.py` so that the interface and the fixture implementation depend on no backend built on them:
`prometheus.py` builds on `backend.py`, and this module chooses between the two.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from architectures.telemetry.backend import FixtureBackend, TelemetryBackend
from architectures.telemetry.prometheus import PrometheusBackend

__all__ = ('PROMETHEUS_URL_VARIABLE', 'get_backend', 'use_backend')

_lock = threading.Lock()
_backend: TelemetryBackend | None = None


PROMETHEUS_URL_VARIABLE = 'K8S_PROMETHEUS_URL'
"""Set to a Prometheus server's URL, it makes the tools read CPU and memory series from it (`PrometheusBackend`)."""


def get_backend() -> TelemetryBackend:
    """The process-wide backend the tools use unless replaced (`use_backend`): a `PrometheusBackend` when the
    environment variable `K8S_PROMETHEUS_URL` names a server, else a `FixtureBackend` over the committed data."""
    global _backend
    with _lock:
        if _backend is None:
            url = os.environ.get(PROMETHEUS_URL_VARIABLE, '').strip()
            _backend = PrometheusBackend(url) if url else FixtureBackend()
        return _backend


@contextmanager
def use_backend(backend: TelemetryBackend) -> Iterator[TelemetryBackend]:
    """Make `backend` the one the tools use inside the `with` block (process-wide), then restore the previous."""
    global _backend
    with _lock:
        previous, _backend = _backend, backend
    try:
        yield backend
    finally:
        with _lock:
            _backend = previous
