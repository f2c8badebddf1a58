"""The session's model-request layer: every request of an architecture's agents passes through it.

From the outside in, a session model is

| layer | what it does | built on |
| --- | --- | --- |
| `SessionSettingsModel` | the session's model settings on every request | pydantic-ai `WrapperModel` |
| `RecordingModel` | stores each exchange (`--agentarch-record`) | `ModelMessagesTypeAdapter` |
| `RetryingModel` | retries infrastructure failures, honours `Retry-After`, counts attempts | `WrapperModel` |
| `MeteredModel` | requests/tokens per minute, budget spend, time waited | `limits.RateLimiter`, `BudgetLedger` |
| `ConcurrencyLimitedModel` | requests in flight across the session | pydantic-ai's + `FileConcurrencyLimiter` |
| the model | `sim`, or a pydantic-ai model (provider, HTTP client) | `infer_model` |

`--agentarch-replay` replaces the three inner layers and the model with a `ReplayModel`: no limit, retry or network.
The judge of `--agentarch-judge-model` gets the same layers but the settings one (`build_judge`): judging shares the
session's limits and budget, and its requests are recorded and replayed apart from the runs' own.
Everything sits at the model-request layer, never around a run or a tool: waiting delays a request, it never changes
what the model is asked or answers, so the limits cannot change a trajectory. The limits hold for the whole session:
their state lives in a `SessionStore` directory every process of the session opens (xdist workers get its path).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai.concurrency import AbstractConcurrencyLimiter
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.concurrency import ConcurrencyLimitedModel
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from ..run.context import current_counters
from .limits import BudgetLedger, RateLimiter, SessionLimits, SessionStore
from .recording import RecordingError, RecordingModel, ReplayModel, Role
from .retries import RetryingModel
from .specs import ModelSpecError, SessionSettingsModel, SettingsPriority, base_model

__all__ = ('MeteredModel', 'SessionServices', 'build_judge', 'build_model', 'no_live_judge', 'price_of')


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


class _CountingLimiter(AbstractConcurrencyLimiter):
    """The session-wide cap on requests in flight, adding the time a request waited for a slot to its run."""

    def __init__(self, inner: AbstractConcurrencyLimiter) -> None:
        self.inner = inner

    async def acquire(self, source: str) -> None:
        t0 = time.monotonic()
        await self.inner.acquire(source)
        _add_wait(time.monotonic() - t0)

    def release(self) -> None:
        self.inner.release()


class MeteredModel(WrapperModel):
    """Waits for the session's requests- and tokens-per-minute limits before a request, charges tokens and spend
    after it, and adds the time waited to the run's counters."""

    def __init__(self, wrapped: Model, *, rate: RateLimiter | None, ledger: BudgetLedger | None) -> None:
        super().__init__(wrapped)
        self.rate = rate
        self.ledger = ledger

    async def _before(self) -> None:
        if self.rate is not None:
            _add_wait(await self.rate.before_request())

    def _after(self, response: ModelResponse) -> None:
        if self.rate is not None:
            self.rate.after_response(_tokens(response))
        if self.ledger is not None:
            self.ledger.charge(_tokens(response), price_of(response))

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        await self._before()
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self._after(response)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        await self._before()
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
        self._after(stream.get())


@dataclass(kw_only=True)
class SessionServices:
    """What one process of the session builds its models over: the limits shared through the session's store
    (None where no limit asks for them)."""

    limiter: AbstractConcurrencyLimiter | None = None
    rate: RateLimiter | None = None
    ledger: BudgetLedger | None = None

    @classmethod
    def open(
        cls,
        store: SessionStore | None,
        *,
        max_requests: int | None,
        rpm: float | None,
        tpm: float | None,
        budget_tokens: int | None,
        budget_usd: float | None,
    ) -> SessionServices:
        """The limits over `store` (a session without a store has no limit)."""
        if store is None:
            return cls()
        limits = SessionLimits.open(
            store, max_requests=max_requests, rpm=rpm, tpm=tpm, max_tokens=budget_tokens, max_usd=budget_usd
        )
        return cls(
            limiter=_CountingLimiter(limits.limiter) if limits.limiter is not None else None,
            rate=limits.rate_limiter,
            ledger=limits.ledger,
        )


def build_model(
    spec: str,
    *,
    services: SessionServices,
    retries: int,
    settings: ModelSettings | None = None,
    priority: SettingsPriority = 'session',
    record: Path | None = None,
    replay: Path | None = None,
    role: Role = 'run',
    resume: bool = False,
) -> Model:
    """The session model for one `--agentarch-model` spec, every layer in place (see the module docstring).

    `role='judge'` builds the judge of `--agentarch-judge-model`: the same layers, so its requests share the
    session's limits and budget and are retried, recorded and replayed, filed apart from the runs' own.
    """
    model: Model
    if replay is not None:
        model = ReplayModel(replay, model_label=spec, role=role)
    else:
        model = base_model(spec)
        if services.limiter is not None:
            model = ConcurrencyLimitedModel(model, services.limiter)
        if services.rate is not None or services.ledger is not None:
            model = MeteredModel(model, rate=services.rate, ledger=services.ledger)
        # The simulated model never fails on infrastructure: retrying it would only add a layer to every request.
        if retries and model.system != 'sim':
            model = RetryingModel(model, retries=retries)
        if record is not None:
            model = RecordingModel(
                model, record, model_label=spec if role == 'judge' else None, role=role, resume=resume
            )
    return SessionSettingsModel(model, settings, priority=priority) if settings else model


def build_judge(
    spec: str,
    *,
    services: SessionServices,
    retries: int,
    record: Path | None = None,
    replay: Path | None = None,
    resume: bool = False,
) -> Model:
    """The judge model of `--agentarch-judge-model`: `build_model` with `role='judge'`, and without the session's
    model settings (a judging evaluator passes its own)."""
    try:
        return build_model(
            spec, services=services, retries=retries, record=record, replay=replay, role='judge', resume=resume
        )
    except ModelSpecError as exc:
        raise ModelSpecError(str(exc).replace('--agentarch-model ', '--agentarch-judge-model ', 1)) from None
    except RecordingError as exc:
        if replay is None:
            raise
        raise RecordingError(
            f'--agentarch-judge-model {spec}: {exc}. A replayed session replays its judge too: give the judge model '
            'the session was recorded with, or leave --agentarch-judge-model out if it had none'
        ) from None


def _refuse_live_judge(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise RecordingError(
        "a judging evaluator called pydantic-evals' default judge model during --agentarch-replay, which sends "
        'nothing to any model. Record with --agentarch-judge-model SPEC and replay with the same '
        '--agentarch-judge-model SPEC: the judge is then replayed from the recording.'
    )


def no_live_judge() -> Model:
    """The default judge of a replayed session without `--agentarch-judge-model`: every request raises
    `RecordingError` saying how to replay a judge, so a replay never reaches pydantic-evals' default model."""
    return FunctionModel(_refuse_live_judge, model_name='no-live-judge-in-replay')


def check_priced(spec: str) -> None:
    """A USD budget needs prices: raise ModelSpecError when genai-prices cannot price `spec`'s model."""
    from genai_prices import Usage, calc_price

    provider, _, name = spec.partition(':')
    if not name:
        raise ModelSpecError(
            f'--agentarch-budget-usd: {spec!r} has no price (genai-prices knows no such model); '
            'use --agentarch-budget-tokens instead'
        )
    try:
        calc_price(Usage(input_tokens=1000, output_tokens=1000), name, provider_id=provider.split('-')[0])
    except LookupError:
        raise ModelSpecError(
            f'--agentarch-budget-usd: genai-prices has no price for {spec!r}, so spend cannot be counted; '
            'use --agentarch-budget-tokens instead'
        ) from None
