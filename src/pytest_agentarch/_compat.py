"""Every private name of pydantic-ai, pydantic-evals and pytest this package uses, in one place.

No other module reaches into a library's private names: each use below says what it needs and why the public API
does not give it, and `tests/test_compat.py` exercises exactly that behaviour and fails with a clear message when an
upgrade changes it. An upgrade that breaks one is then fixed here, once.

pydantic-evals has no public way to give a run the task-run scope that `increment_eval_metric` and
`set_eval_attribute` write into (only `Dataset.evaluate` opens one), to collect the real spans of a run into a
`SpanTree`, to compute the metrics it derives from spans, to build an `EvaluatorContext` with a span tree (its field
is `_span_tree`), or to read the default judge model (it can only be set, with `set_default_judge_model`; the session
puts the previous one back when it ends). pydantic-ai does not say publicly what `Agent.instrument_all()` set
(`Agent._instrument_default`) or which settings a model ignores (it warns about them from
`Model._unsupported_settings`), nor export the `JsonSchema` type its schema transformers take. pytest does not show
which fixture definitions a test sees (`Metafunc._arg2fixturedefs`), nor export the types of `Item.repr_failure`'s
signature, nor let a plugin colour its closing line: the colour comes from the stats keys pytest knows (red only for
failed tests and errors), so a session failed by a gate of a plugin ends on a yellow or green line unless the
reporter's `build_summary_stats_line` (which its `summary_stats` looks up on the instance) says red.

It also holds what differs between the pydantic-ai / pydantic-evals releases the package supports (2.50 and later),
each difference pinned by `tests/test_versions.py`:
- pydantic-ai 2.59 sorted provider failures into categories (`ModelRateLimitError`, `ModelServerError`,
  `ModelUnavailableError`, `ModelConnectionError`) and parses `Retry-After` into `ModelAPIError.retry_after`.
  Before it, a failed request is a `ModelHTTPError` (with its status code and headers) or a bare `ModelAPIError`
  raised from the SDK's error, itself raised from the HTTP transport's (`httpx2.TransportError`).
- pydantic-ai 2.58 added the `max_retries` model setting and per-model `unsupported_settings`. Before it the
  provider SDK's own retries (the openai client's two, for instance) cannot be switched off per request: they
  happen inside each attempt `RetryingModel` counts.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx2  # pydantic-ai-slim's HTTP client, required by every release it supports
import pytest
from _pytest._code.code import TerminalRepr, TracebackStyle
from pydantic_ai import Agent, exceptions, models
from pydantic_ai._json_schema import JsonSchema  # pyright: ignore[reportPrivateUsage]
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.settings import ModelSettings
from pydantic_evals import _task_run  # pyright: ignore[reportPrivateUsage]
from pydantic_evals.evaluators import EvaluatorContext, llm_as_a_judge
from pydantic_evals.otel import SpanTree, SpanTreeRecordingError
from pydantic_evals.otel._context_subtree import context_subtree  # pyright: ignore[reportPrivateUsage]

if TYPE_CHECKING:
    from pydantic_ai.messages import RetryInfo  # 2.51 and later; only named in annotations here

__all__ = (
    'FAILURE_CATEGORIES',
    'INFRASTRUCTURE_ERRORS',
    'MAX_RETRIES_SETTING',
    'JsonSchema',
    'Reported',
    'TerminalRepr',
    'TracebackStyle',
    'derived_metrics',
    'evaluator_context',
    'fixture_functions',
    'injected_failure',
    'instrument_default',
    'red_last_line',
    'reported',
    'retry_after',
    'return_retry',
    'set_judge_model',
    'span_tree_scope',
    'unsupported_settings',
)

FAILURE_CATEGORIES: bool = hasattr(exceptions, 'ModelConnectionError')
"""Whether pydantic-ai sorts provider failures into categories (2.59 and later)."""

MAX_RETRIES_SETTING: bool = 'max_retries' in ModelSettings.__annotations__
"""Whether pydantic-ai has the `max_retries` model setting, and models declare the settings they ignore
(`unsupported_settings`): both arrived in 2.58."""

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    tuple(
        getattr(exceptions, name)
        for name in ('ModelRateLimitError', 'ModelUnavailableError', 'ModelServerError', 'ModelConnectionError')
    )
    if FAILURE_CATEGORIES
    else (httpx2.TransportError,)
)
"""The failures that are the provider's or the network's doing: pydantic-ai's categories of them from 2.59 on.
Before, a rate limit or a 5xx is a `ModelHTTPError` with that status code, and a dropped or refused connection or a
client timeout a bare `ModelAPIError` raised from the SDK's error, itself raised from the HTTP transport's
(`httpx2.TransportError`, which every provider SDK pydantic-ai uses raises)."""


@dataclass(kw_only=True)
class Reported:
    """What code inside a run reported through `increment_eval_metric` / `set_eval_attribute`."""

    metrics: dict[str, int | float] = field(default_factory=dict[str, int | float])
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])


@contextmanager
def reported() -> Iterator[Reported]:
    """Collect what the code inside the block reports with `increment_eval_metric` and `set_eval_attribute`.

    Only what the code reports: unlike pydantic-evals' own task-run scope, nothing derived from spans is mixed in,
    so a user's metric named `requests` or `cost` is kept as the user reported it.
    """
    task_run = _task_run.TaskRun()
    token = _task_run.CURRENT_TASK_RUN.set(task_run)
    out = Reported(metrics=task_run.metrics, attributes=task_run.attributes)
    try:
        yield out
    finally:
        _task_run.CURRENT_TASK_RUN.reset(token)


@contextmanager
def span_tree_scope() -> Iterator[SpanTree | SpanTreeRecordingError]:
    """The real spans ended inside the block, as a `SpanTree` filled when the block exits (or the reason there is
    none: no SDK tracer provider)."""
    with context_subtree() as tree:
        yield tree


def derived_metrics(tree: SpanTree) -> dict[str, int | float]:
    """The metrics pydantic-evals derives from a run's spans (`requests`, `input_tokens`, `output_tokens`, `cost`...)
    and adds to `ctx.metrics` in `Dataset.evaluate`."""
    task_run = _task_run.TaskRun()
    _task_run.extract_span_tree_metrics(task_run, tree)
    return dict(task_run.metrics)


def set_judge_model(model: models.Model) -> Callable[[], None]:
    """Make `model` the default judge (`set_default_judge_model`); returns what puts the previous one back."""
    previous = llm_as_a_judge._default_model  # pyright: ignore[reportPrivateUsage]
    llm_as_a_judge.set_default_judge_model(model)

    def restore() -> None:
        llm_as_a_judge.set_default_judge_model(previous)

    return restore


def evaluator_context(
    *,
    name: str,
    inputs: Any,
    metadata: Any,
    expected_output: Any,
    output: Any,
    duration: float,
    span_tree: SpanTree | SpanTreeRecordingError,
    attributes: dict[str, Any],
    metrics: dict[str, int | float],
) -> EvaluatorContext[Any, Any, Any]:
    """The context `Dataset.evaluate` gives evaluators, with `span_tree` as what `ctx.span_tree` returns (the
    dataclass field behind that property is `_span_tree`)."""
    return EvaluatorContext[Any, Any, Any](
        name=name,
        inputs=inputs,
        metadata=metadata,
        expected_output=expected_output,
        output=output,
        duration=duration,
        _span_tree=span_tree,
        attributes=attributes,
        metrics=metrics,
    )


def return_retry(part: ToolReturnPart) -> RetryInfo[Any] | None:
    """The retry a tool return stands for (its attempt, limit and cause), or None.

    `ToolReturnPart.retry` arrived after pydantic-ai 2.50; before it, a retried call comes back as a `RetryPromptPart`
    only, so a tool return never stands for a retry there.
    """
    retry: RetryInfo[Any] | None = getattr(part, 'retry', None)
    return retry


def injected_failure(
    kind: Literal['rate_limit', 'server_error', 'timeout'], model_name: str, *, retry_after: float = 0.0
) -> exceptions.ModelAPIError:
    """The error a provider raises for a rate limit (429 with its wait), a server error (500) or a timeout.

    From pydantic-ai 2.59 on, each is its category (`ModelRateLimitError`, `ModelServerError`,
    `ModelTimeoutError`); before, the first two are `ModelHTTPError`s with that status code and headers, and a
    timeout a bare `ModelAPIError` raised from the HTTP client's timeout, as the SDKs raise them.
    """
    note = '(injected by --agentarch-faults)'
    if kind == 'rate_limit':
        body: object = {'error': f'rate limit {note}'}
        headers = {'retry-after-ms': str(round(retry_after * 1000))}
        if FAILURE_CATEGORIES:
            return exceptions.ModelHTTPError.for_category(
                exceptions.ModelRateLimitError,
                status_code=429,
                model_name=model_name,
                body=body,
                headers=headers,
                retry_after=retry_after,
            )
        return exceptions.ModelHTTPError(429, model_name, body, headers=headers)
    if kind == 'server_error':
        body = {'error': f'internal server error {note}'}
        if FAILURE_CATEGORIES:
            return exceptions.ModelHTTPError.for_category(
                exceptions.ModelServerError, status_code=500, model_name=model_name, body=body
            )
        return exceptions.ModelHTTPError(500, model_name, body)
    message = f'request timed out {note}'
    if FAILURE_CATEGORIES:
        return exceptions.ModelTimeoutError(model_name, message, phase='read')
    error = exceptions.ModelAPIError(model_name, message)
    error.__cause__ = httpx2.ReadTimeout(message)
    return error


def unsupported_settings(model: models.Model) -> frozenset[str]:
    """The model settings `model` ignores and warns about on every request (`Model.prepare_request` warns with
    this set: the class's `unsupported_settings` plus what its profile adds). Before pydantic-ai 2.58 no model
    declares any: the empty set."""
    if not MAX_RETRIES_SETTING:
        return frozenset()
    return frozenset(model._unsupported_settings())  # pyright: ignore[reportPrivateUsage]


def fixture_functions(metafunc: pytest.Metafunc, name: str) -> Sequence[Callable[..., Any]]:
    """The functions of the fixture definitions named `name` the test of `metafunc` sees, nearest last (empty when
    pytest no longer keeps them where this looks)."""
    defs = getattr(metafunc, '_arg2fixturedefs', {}).get(name) or ()
    return [d.func for d in defs]


def instrument_default() -> InstrumentationSettings | bool:
    """What `Agent.instrument_all()` last set for every agent without its own `instrument=` (False: nothing)."""
    return Agent._instrument_default  # pyright: ignore[reportPrivateUsage]


def red_last_line(terminalreporter: Any, keys: Collection[str]) -> None:
    """Make pytest's closing line red, as failed tests make it, with the parts counting `keys` of its stats (e.g.
    `regression`) red and bold too: the session fails for them."""
    build = terminalreporter.build_summary_stats_line

    def red() -> tuple[list[tuple[str, dict[str, bool]]], str]:
        parts, _ = build()
        coloured = [
            (text, {'red': True, 'bold': True}) if text.split(' ', 1)[-1] in keys else (text, markup)
            for text, markup in parts
        ]
        return coloured, 'red'

    terminalreporter.build_summary_stats_line = red


def retry_after(exc: exceptions.ModelAPIError) -> float | None:
    """How many seconds the provider asked to wait before a retry, or None when it did not say.

    pydantic-ai 2.59 and later parse it into `exc.retry_after`; before, a `ModelHTTPError` only keeps the response's
    headers (lowercased), from which `retry-after-ms` (OpenAI, Anthropic) or `Retry-After` (seconds or an HTTP date)
    are read here.
    """
    if FAILURE_CATEGORIES:
        return exc.retry_after
    headers: Mapping[str, str] | None = getattr(exc, 'headers', None)
    return _retry_after_header(headers) if headers is not None else None


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    if (raw_ms := headers.get('retry-after-ms')) is not None and (ms := _finite(raw_ms)) is not None and ms >= 0:
        return ms / 1000
    if (raw := headers.get('retry-after')) is None:
        return None
    if (seconds := _finite(raw)) is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    # An HTTP date without a zone is GMT by RFC 9110; a date already past means: retry now.
    return max(0.0, when.timestamp() - time.time()) if when.tzinfo is not None else None


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
