"""Faults injected into model requests (`--agentarch-faults`), seeded by the run, so that retries, fallbacks and
graceful degradation are measured instead of claimed.

A spec such as `rate_limit=0.05,server_error=0.02,timeout=0.01,bad_args=0.02,truncated=0.01` gives the chance of
each fault per model request (at most one fault per request; the chances add up to at most 1):

| kind | what the architecture sees | counted as |
| --- | --- | --- |
| `rate_limit` | HTTP 429 with `Retry-After` (`retry_after=SECONDS` in the spec, default 0.05) | infrastructure |
| `server_error` | HTTP 500, no `Retry-After` (exponential back-off) | infrastructure |
| `timeout` | the provider's per-attempt timeout (`ModelTimeoutError`) | infrastructure |
| `bad_args` | the model's answer with its first tool call's arguments malformed (not JSON) | the agent's to handle |
| `truncated` | the answer cut off halfway through its first part (`finish_reason='length'`) | the agent's to handle |

The provider faults happen before the model is asked (the session's retries, `--agentarch-retries`, then retry them;
once retries are exhausted the run is an infrastructure failure). The answer faults change what the model answered:
`bad_args` applies only to an answer with a tool call (pydantic-ai asks the model to retry), `truncated` to any; an
answer a fault cannot apply to passes unchanged and no fault is counted.

Which request gets which fault depends only on the run's identity (`RunInfo.derive_seed`: session seed, case,
architecture, run index), what the request says (its messages without timestamps or call ids, and its tool names)
and how many times the run has sent that same request before: never on scheduling, timing, xdist or other runs. So
the same seed injects the same faults in the same runs, and a retried request gets a fresh draw.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_core import to_json, to_jsonable_python

from .._compat import injected_failure
from ..run.context import current_counters, current_run

__all__ = ('FAULT_KINDS', 'FaultKind', 'FaultPlan', 'FaultyModel', 'parse_faults')

FaultKind = Literal['rate_limit', 'server_error', 'timeout', 'bad_args', 'truncated']

FAULT_KINDS: tuple[FaultKind, ...] = ('rate_limit', 'server_error', 'timeout', 'bad_args', 'truncated')
"""Every fault, in the order their chances are laid out on [0, 1)."""

_EXAMPLE = 'rate_limit=0.05,server_error=0.02,timeout=0.01,bad_args=0.02,truncated=0.01'


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """The chance of each fault per model request, and the `Retry-After` a rate limit carries."""

    rates: Mapping[FaultKind, float] = field(default_factory=dict[FaultKind, float])
    retry_after: float = 0.05
    """Seconds an injected 429 asks the client to wait."""

    def draw(self, u: float) -> FaultKind | None:
        """The fault a uniform draw `u` in [0, 1) falls on: the chances laid out in `FAULT_KINDS` order."""
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += self.rates.get(kind, 0.0)
            # Rounded, so that 0.1 + 0.2 ends at 0.3 as written, not at 0.30000000000000004.
            if u < round(edge, 12):
                return kind
        return None

    def describe(self) -> str:
        """The plan as a spec `parse_faults` reads back."""
        parts = [f'{k}={self.rates[k]:g}' for k in FAULT_KINDS if k in self.rates]
        return ','.join([*parts, f'retry_after={self.retry_after:g}'])


def parse_faults(text: str) -> FaultPlan:
    """`KIND=RATE,...` (and optionally `retry_after=SECONDS`) as a `FaultPlan`, or ValueError saying what is wrong."""
    rates: dict[FaultKind, float] = {}
    retry_after = FaultPlan().retry_after
    for raw in text.split(','):
        item = raw.strip()
        if not item:
            continue
        key, eq, value = (s.strip() for s in item.partition('='))
        if not eq:
            raise ValueError(f'{item!r} is not KIND=RATE: write e.g. {_EXAMPLE}')
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f'{key}={value!r}: not a number') from None
        if key == 'retry_after':
            if not 0 <= number < math.inf:
                raise ValueError(f'retry_after={value}: seconds must be 0 or more')
            retry_after = number
            continue
        if key not in FAULT_KINDS:
            raise ValueError(
                f'unknown fault {key!r}: the faults are {", ".join(FAULT_KINDS)} (and retry_after=SECONDS)'
            )
        if not 0 <= number <= 1:
            raise ValueError(f'{key}={value}: a rate is a chance per model request, between 0 and 1')
        if key in rates:
            raise ValueError(f'{key} is given twice')
        rates[key] = number
    if not rates:
        raise ValueError(f'no fault given: write e.g. {_EXAMPLE}')
    total = math.fsum(rates.values())
    if total > 1 + 1e-12:
        raise ValueError(f'the rates add up to {total:g}: at most one fault per request, so they add up to at most 1')
    return FaultPlan(rates=rates, retry_after=retry_after)


def _content(messages: list[ModelMessage], params: ModelRequestParameters) -> str:
    """What a request says, without what varies between identical requests (timestamps, call ids, run ids)."""
    said: list[Any] = []
    for message in messages:
        parts: list[Any] = []
        for part in message.parts:
            data = to_jsonable_python(part, fallback=repr)
            if isinstance(data, dict):
                for key in ('timestamp', 'tool_call_id', 'id', 'provider_details', 'provider_response_id'):
                    data.pop(key, None)
            parts.append(data)
        kind = 'request' if isinstance(message, ModelRequest) else 'response'
        said.append([kind, parts])
    tools = sorted(t.name for t in (*params.function_tools, *params.output_tools))
    return hashlib.blake2b(to_json([said, tools]), digest_size=16).hexdigest()


def _malformed(response: ModelResponse) -> ModelResponse | None:
    """The response with its first tool call's arguments made invalid JSON; None without a tool call."""
    for i, part in enumerate(response.parts):
        if isinstance(part, ToolCallPart):
            broken = replace(part, args=part.args_as_json_str() + '}')
            return replace(response, parts=[*response.parts[:i], broken, *response.parts[i + 1 :]])
    return None


def _truncated(response: ModelResponse) -> ModelResponse | None:
    """The response cut off halfway through its first part, as at a token limit; None when it has nothing to cut."""
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            text = part.args_as_json_str()
            cut: ToolCallPart | TextPart = replace(part, args=text[: len(text) // 2])
        elif isinstance(part, TextPart) and part.content:
            cut = replace(part, content=part.content[: len(part.content) // 2])
        else:
            continue
        return replace(response, parts=[cut], finish_reason='length')
    return None


class FaultyModel(WrapperModel):
    """`wrapped`, with faults injected into the requests of runs as `plan` says (see the module docstring).

    Requests outside a run (no `current_run()`) are never faulted. Each injected fault adds one to the run's
    `RunCounters.faults[kind]`, which the runner copies into the run's record.
    """

    def __init__(self, wrapped: Model, plan: FaultPlan) -> None:
        super().__init__(wrapped)
        self.plan = plan

    def _fault(self, messages: list[ModelMessage], params: ModelRequestParameters) -> FaultKind | None:
        info = current_run()
        counters = current_counters()
        if info is None or counters is None:
            return None
        content = _content(messages, params)
        occurrence = counters.requests_seen.get(content, 0)
        counters.requests_seen[content] = occurrence + 1
        u = info.derive_seed('faults', content, str(occurrence)) / 2**64
        return self.plan.draw(u)

    def _count(self, kind: FaultKind) -> None:
        counters = current_counters()
        if counters is not None:
            counters.faults[kind] = counters.faults.get(kind, 0) + 1

    def _raise(self, kind: FaultKind) -> None:
        name = self.model_name
        if kind in ('rate_limit', 'server_error', 'timeout'):
            self._count(kind)
            raise injected_failure(kind, name, retry_after=self.plan.retry_after)

    def _answer(self, kind: FaultKind | None, response: ModelResponse) -> ModelResponse:
        if kind not in ('bad_args', 'truncated'):
            return response
        faulty = _malformed(response) if kind == 'bad_args' else _truncated(response)
        if faulty is None:
            return response
        self._count(kind)
        return faulty

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        kind = self._fault(messages, model_request_parameters)
        if kind is not None:
            self._raise(kind)
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        return self._answer(kind, response)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        # A stream's parts reach the agent as they arrive, so only the provider faults (before it opens) apply.
        kind = self._fault(messages, model_request_parameters)
        if kind is not None:
            self._raise(kind)
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
