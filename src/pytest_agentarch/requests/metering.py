"""What the session's limits do to one request: wait for the requests- and tokens-per-minute limits, charge the
budget, and add every wait (for a rate or a slot in flight) to the run's counters."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_ai.concurrency import AbstractConcurrencyLimiter
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from ..run.context import current_counters
from .store import Budget, HoldingRate, RequestRate, ReservingBudget

if TYPE_CHECKING:
    from .redis_store import Admission

__all__ = ('CountingLimiter', 'MeteredModel', 'price_of')


def price_of(response: ModelResponse) -> float | None:
    """The response's cost in USD from genai-prices, or None when its model is not priced."""
    try:
        return float(response.cost().total_price)
    except (LookupError, ValueError, AssertionError):
        return None


def _tokens(response: ModelResponse) -> int:
    return response.usage.input_tokens + response.usage.output_tokens


def _add_wait(seconds: float) -> None:
    if (counters := current_counters()) is not None:
        counters.waited += seconds


class CountingLimiter(AbstractConcurrencyLimiter):
    """The session-wide cap on requests in flight, adding the time a request waited for a slot to its run."""

    def __init__(self, inner: AbstractConcurrencyLimiter) -> None:
        self.inner = inner

    async def acquire(self, source: str) -> None:
        t0 = time.monotonic()
        await self.inner.acquire(source)
        _add_wait(time.monotonic() - t0)

    def release(self) -> None:
        self.inner.release()


@dataclass(frozen=True, kw_only=True)
class _Ticket:
    """What `_before` took for one request and `_after` or `_failed` gives back."""

    admission: Admission | None
    reservation: str | None


class MeteredModel(WrapperModel):
    """Waits for the session's requests- and tokens-per-minute limits before a request, charges tokens and spend
    after it, and adds the time waited to the run's counters."""

    def __init__(self, wrapped: Model, *, rate: RequestRate | HoldingRate | None, ledger: Budget | None) -> None:
        super().__init__(wrapped)
        self.rate = rate
        self.ledger = ledger

    async def _before(self) -> _Ticket:
        """Wait for the rates (a rate that holds counts the request until `_after` or `_failed`); a budget that
        reserves sets the request's likely spend aside (the reservation)."""
        admission = None
        if isinstance(self.rate, HoldingRate):
            admission = await self.rate.admit()
            _add_wait(admission.waited)
        elif self.rate is not None:
            _add_wait(await self.rate.before_request())
        try:
            reservation = self.ledger.reserve() if isinstance(self.ledger, ReservingBudget) else None
        except BaseException:
            if admission is not None and isinstance(self.rate, HoldingRate):
                self.rate.finish(admission, None)
            raise
        return _Ticket(admission=admission, reservation=reservation)

    def _after(self, response: ModelResponse, ticket: _Ticket) -> None:
        if isinstance(self.rate, HoldingRate):
            if ticket.admission is not None:
                self.rate.finish(ticket.admission, _tokens(response))
        elif self.rate is not None:
            self.rate.after_response(_tokens(response))
        if isinstance(self.ledger, ReservingBudget):
            self.ledger.settle(ticket.reservation, _tokens(response), price_of(response))
        elif self.ledger is not None:
            self.ledger.charge(_tokens(response), price_of(response))

    def _failed(self, ticket: _Ticket) -> None:
        if ticket.admission is not None and isinstance(self.rate, HoldingRate):
            self.rate.finish(ticket.admission, None)
        if isinstance(self.ledger, ReservingBudget):
            self.ledger.release(ticket.reservation)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        ticket = await self._before()
        try:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        except BaseException:
            self._failed(ticket)
            raise
        self._after(response, ticket)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        ticket = await self._before()
        try:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
        except BaseException:
            self._failed(ticket)
            raise
        self._after(stream.get(), ticket)
