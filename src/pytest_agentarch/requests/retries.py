"""Retry a model request that failed on infrastructure, the way the provider asks, counting every attempt.

A run that hits a rate limit or a provider's 5xx says nothing about the architecture; retried after a wait, it can
still be measured. `RetryingModel` retries at the model layer, around one model request, so that each attempt and
each wait is known and charged to the run that made it (`context.current_counters()`): the report can then show how
much of a session went into retrying, instead of hiding it in latency.

Why not `pydantic_ai.retries`: its tenacity-based `AsyncHTTPX2TenacityTransport` retries below the provider SDK, at
the HTTP transport, shared by every run using the client, where an attempt cannot be told apart from a request or
charged to a run; its `wait_retry_after` needs a transport-level response too. It also needs the optional `tenacity`
and `httpx` packages (pydantic-ai-slim's `retries` extra), which this package does not depend on. What is needed
here is small: classify the failure (`errors.classify`), read `ModelAPIError.retry_after` (pydantic-ai parses
`retry-after-ms` and `Retry-After` into it), wait, try again.
"""

from __future__ import annotations

import asyncio
import random
import time
import typing
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import KnownModelName, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from .. import _compat
from .._compat import unsupported_settings
from ..run.context import current_counters
from ..run.errors import classify

__all__ = ('RetryingModel',)


class RetryingModel(WrapperModel):
    """`wrapped`, with each request that fails on infrastructure retried up to `retries` times after a wait.

    Infrastructure failures are what `errors.classify` calls so: HTTP 429, provider 5xx and unavailability,
    connection failures and the provider's per-attempt timeouts (`ModelSettings['timeout']`). Anything else (HTTP
    400, authentication, output that fails validation, the run's own timeout, `ModelSettings['request_timeout']`,
    which is a deadline over all attempts) is the run's behaviour and propagates at once. After the last retry the
    original exception propagates, so the runner counts the run as an infrastructure failure.

    Waits: when the provider says how long (`ModelAPIError.retry_after`, from `Retry-After` or `retry-after-ms`, as
    on a 429 or 503), that long, capped at `max_delay`; otherwise exponential back-off with full jitter,
    `uniform(0, min(max_delay, base_delay * 2**retry))` for the 0-based retry. The jitter comes from a generator of
    this model's own, never the `random` module's global state, so it changes timing and never a trajectory.

    Counting: inside a run whose counters exist (`context.current_counters()`), each attempt sent adds one to
    `attempts`, each retry one to `retries`, and the seconds slept before retries go to `waited`.

    The provider SDK's own retries are switched off (`ModelSettings['max_retries'] = 0` on each request) so that
    every attempt is one this model made and counted; the OpenAI, Anthropic and Groq clients honour it per request.
    If you set `max_retries` yourself, in the request's settings or on the wrapped model, it is kept: those SDK
    retries are yours, happen inside one of this model's attempts, and are not counted. So are the retries of a
    client whose model does not take `max_retries` (Bedrock's botocore, Hugging Face), and of every client on
    pydantic-ai before 2.58, which has no `max_retries` setting: configure those off on the client for exact counts.

    Streams (`request_stream`) are retried only when they fail before yielding the response, i.e. before anything of
    it could be consumed; a failure while reading the stream propagates.

    Put this model inside any wrapper that merges settings into requests (such as `settings.SessionSettingsModel`), so
    the settings it sees are the ones the request is sent with.
    """

    def __init__(
        self,
        wrapped: Model | KnownModelName,
        *,
        retries: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        super().__init__(wrapped)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f'retries must be a whole number >= 0, got {retries!r}')
        if base_delay < 0 or max_delay < 0:
            raise ValueError(f'delays must be >= 0, got base_delay={base_delay!r}, max_delay={max_delay!r}')
        self.retries = retries
        """Retries after the first attempt: at most `retries + 1` attempts per request."""
        self.base_delay = base_delay
        """Seconds of the first back-off's upper bound; it doubles with each retry."""
        self.max_delay = max_delay
        """Cap on any one wait, the provider's `retry_after` included."""
        self._jitter = random.Random()

    def request_settings(self, model_settings: ModelSettings | None) -> ModelSettings:
        """The settings each attempt is sent with: `max_retries=0` added unless it was set explicitly (or the model
        does not take it)."""
        explicit = 'max_retries' in (model_settings or {}) or 'max_retries' in (self.settings or {})
        if explicit or not _takes_max_retries(self.wrapped):
            return model_settings or {}
        return typing.cast(ModelSettings, {**(model_settings or {}), 'max_retries': 0})

    def delay(self, exc: BaseException, retry: int) -> float:
        """Seconds to wait before the 0-based `retry` after `exc`."""
        asked = _retry_after(exc)
        if asked is not None:
            return min(self.max_delay, asked)
        return self._jitter.uniform(0, min(self.max_delay, self.base_delay * 2**retry))

    def _should_retry(self, exc: BaseException, retry: int) -> bool:
        return retry < self.retries and classify(exc) == 'infrastructure'

    async def _wait(self, exc: BaseException, retry: int) -> None:
        counters = current_counters()
        if counters is not None:
            counters.retries += 1
        start = time.monotonic()
        deadline = start + self.delay(exc, retry)
        try:
            # A timer may fire a hair early; a provider's Retry-After is a minimum, so sleep until it has passed.
            while (remaining := deadline - time.monotonic()) > 0:
                await asyncio.sleep(remaining)
        finally:
            # Measured rather than nominal, and kept if the run is cancelled mid-wait.
            if counters is not None:
                counters.waited += time.monotonic() - start

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        settings = self.request_settings(model_settings)
        retry = 0
        while True:
            _count_attempt()
            try:
                return await self.wrapped.request(messages, settings, model_request_parameters)
            except Exception as exc:
                if not self._should_retry(exc, retry):
                    raise
                await self._wait(exc, retry)
                retry += 1

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        settings = self.request_settings(model_settings)
        retry = 0
        while True:
            _count_attempt()
            stack = AsyncExitStack()
            try:
                response = await stack.enter_async_context(
                    self.wrapped.request_stream(messages, settings, model_request_parameters, run_context)
                )
            except Exception as exc:
                if not self._should_retry(exc, retry):
                    raise
                await self._wait(exc, retry)
                retry += 1
                continue
            break
        # Past this point the consumer may have read part of the response: a failure is not retried.
        async with stack:
            yield response


def _takes_max_retries(model: Model) -> bool:
    """Whether the model that sends the request takes `max_retries`.

    One that declares it unsupported (Bedrock, Hugging Face) would warn about it on every request, an error under
    `filterwarnings = error`; its client's own retry configuration applies instead.
    """
    if not _compat.MAX_RETRIES_SETTING:  # pydantic-ai before 2.58 has no such setting: nothing would take it
        return False
    while isinstance(model, WrapperModel):
        model = model.wrapped
    # The set `Model.prepare_request` warns with: the class's `unsupported_settings` plus what its profile adds.
    return 'max_retries' not in unsupported_settings(model)


def _count_attempt() -> None:
    counters = current_counters()
    if counters is not None:
        counters.attempts += 1


def _retry_after(exc: BaseException) -> float | None:
    """What the provider asked to wait, from the first `ModelAPIError` in the chain that says."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModelAPIError) and (wait := _compat.retry_after(current)) is not None:
            return max(0.0, wait)
        current = current.__cause__ or current.__context__
    return None
