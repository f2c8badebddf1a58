"""Tracing export: the spans of every run sent to Logfire or to an OTLP/HTTP endpoint, when the environment asks.

| environment | spans go to |
| --- | --- |
| `LOGFIRE_TOKEN` | Logfire (and, with `OTEL_EXPORTER_OTLP_*` too, to that endpoint as well) |
| `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | that OTLP/HTTP endpoint |
| neither | nowhere: no tracer provider is configured and runs build no OpenTelemetry spans |

Logfire's SDK does the exporting (`logfire.configure`, which reads the standard `OTEL_EXPORTER_OTLP_*` variables
itself); it is the `tracing` extra. A session where someone already configured a tracer provider (a conftest calling
`logfire.configure()`, an OTel SDK set-up) is left as it is: its spans already go where that provider sends them.
Logfire's own pytest plugin (`--logfire`) traces tests with a local instance of its own, so the two do not clash.

Each run's spans hang under one root span, `agentarch run`, whose attributes say which run it was
(`RUN_ATTRIBUTES`); the runner opens it whenever runs build real spans.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from .context import RunInfo

__all__ = ('RUN_ATTRIBUTES', 'TracingError', 'configure', 'destination', 'run_span')

_OTLP_VARIABLES = ('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT')

RUN_ATTRIBUTES = (
    'agentarch.architecture',
    'agentarch.case',
    'agentarch.dataset',
    'agentarch.run_index',
    'agentarch.model',
    'agentarch.seed',
)
"""The attributes of a run's root span."""


class TracingError(Exception):
    """Tracing export was asked for and cannot be set up (the message says how to fix it)."""


def destination(environ: Mapping[str, str] | None = None) -> str | None:
    """Where the environment asks spans to go: 'logfire', 'otlp', or None (nowhere)."""
    env = os.environ if environ is None else environ
    if env.get('LOGFIRE_TOKEN', '').strip():
        return 'logfire'
    if any(env.get(name, '').strip() for name in _OTLP_VARIABLES):
        return 'otlp'
    return None


def configure(service_name: str = 'pytest-agentarch') -> Callable[[], None]:
    """Configure Logfire's SDK as the global tracer provider, exporting as the environment says; returns what
    flushes the spans still buffered (call it before the process ends)."""
    try:
        import logfire
    except ImportError:
        raise TracingError(
            f'{" or ".join(("LOGFIRE_TOKEN", *_OTLP_VARIABLES))} is set, so run spans should be exported, but '
            "logfire is not installed: pip install 'pytest-agentarch[tracing]' (or unset the variable)"
        ) from None
    instance = logfire.configure(
        send_to_logfire='if-token-present',
        service_name=service_name,
        console=False,
        metrics=False,
        inspect_arguments=False,
    )

    def flush() -> None:
        instance.force_flush()

    return flush


@contextmanager
def run_span(info: RunInfo) -> Iterator[Any]:
    """The root span of one run, current for the code inside the block (the run's spans become its children)."""
    values: tuple[str | int, ...] = (
        info.architecture,
        info.case,
        info.dataset or '',
        info.index,
        info.model,
        info.session_seed,
    )
    attributes: dict[str, str | int] = dict(zip(RUN_ATTRIBUTES, values, strict=True))
    tracer = trace.get_tracer('pytest-agentarch')
    with tracer.start_as_current_span('agentarch run', attributes=attributes) as span:
        yield span
