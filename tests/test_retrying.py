"""RetryingModel against pydantic-ai's real `openai-chat` model and the scripted server: what is retried, how long
it waits, what reaches the server, and what the run's counters say."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from openai_server import Reply, ScriptedOpenAIServer, failure, rate_limited, text
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelConnectionError, ModelHTTPError, ModelTimeoutError
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from pytest_agentarch.requests.retries import RetryingModel
from pytest_agentarch.run.context import RunCounters, RunInfo, run_scope
from pytest_agentarch.run.errors import classify
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case

pytest_plugins = ['openai_server']

FAST = 0.01
"""base_delay of the tests: back-off waits of at most a few hundredths of a second."""


@asynccontextmanager
async def retrying(
    server: ScriptedOpenAIServer, *, settings: ModelSettings | None = None, **options: Any
) -> AsyncIterator[RetryingModel]:
    """A RetryingModel around a real `openai-chat` model talking to `server`, entered so its client gets closed."""
    chat = OpenAIChatModel(
        'm', provider=OpenAIProvider(base_url=server.base_url, api_key='test-key'), settings=settings
    )
    async with RetryingModel(chat, **{'base_delay': FAST, **options}) as model:
        yield model


@contextmanager
def counted() -> Iterator[RunCounters]:
    """Counters of a run, current inside the block."""
    counters = RunCounters()
    with run_scope(RunInfo(session_seed=0, case='c', architecture='a', index=0), counters):
        yield counters


async def run_agent(server: ScriptedOpenAIServer, **options: Any) -> tuple[str, RunCounters]:
    async with retrying(server, **options) as model:
        with counted() as counters:
            return (await Agent(model).run('hi')).output, counters


def sdk_retry_counts(server: ScriptedOpenAIServer) -> set[str | None]:
    """What the OpenAI SDK says each request was (`x-stainless-retry-count`): {'0'} when it never retried."""
    return {r.headers.get('x-stainless-retry-count') for r in server.requests}


def test_a_429_waits_what_retry_after_says_then_succeeds(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [rate_limited(retry_after=1), text('ok')]
    output, counters = asyncio.run(run_agent(openai_server))
    assert output == 'ok'
    assert (counters.attempts, counters.retries) == (2, 1)
    assert counters.waited >= 1.0
    first, second = openai_server.requests  # exactly two: the SDK did not retry on its own
    assert second.arrival - first.arrival >= 1.0
    assert first.body == second.body
    assert sdk_retry_counts(openai_server) == {'0'}


def test_server_errors_are_retried_with_back_off(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [failure(500), failure(503), text('ok')]
    output, counters = asyncio.run(run_agent(openai_server))
    assert output == 'ok'
    assert (counters.attempts, counters.retries) == (3, 2)
    assert counters.waited >= 0
    assert len(openai_server.requests) == 3
    assert sdk_retry_counts(openai_server) == {'0'}


def test_after_the_last_retry_the_original_error_propagates_as_infrastructure(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script = [failure(500, 'still down')]
    with pytest.raises(ModelHTTPError) as raised:
        asyncio.run(run_agent(openai_server, retries=2))
    assert raised.value.status_code == 500
    assert classify(raised.value) == 'infrastructure'
    assert len(openai_server.requests) == 3


def test_a_failed_run_counts_its_attempts_and_is_an_infrastructure_error_for_the_runner(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script = [failure(502)]
    seen: list[RunCounters] = []

    async def arch(inputs: Any, model: Any) -> str:
        with counted() as counters:
            seen.append(counters)
            return (await Agent(model).run(str(inputs))).output

    async def go() -> list[Any]:
        async with retrying(openai_server, retries=1) as model:
            case = CaseSpec(name='c', inputs='hi')
            return await run_case(Architecture(name='a', description='', func=arch), model, case, RunSettings(runs=2))

    records = asyncio.run(go())
    assert [(r.error_type, r.error_kind) for r in records] == [('ModelServerError', 'infrastructure')] * 2
    assert [(c.attempts, c.retries) for c in seen] == [(2, 1), (2, 1)]
    assert len(openai_server.requests) == 4


def test_a_400_is_behaviour_and_is_not_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [failure(400, 'bad request'), text('ok')]
    with counted() as counters, pytest.raises(ModelHTTPError) as raised:
        asyncio.run(run_agent_in_context(openai_server))
    assert raised.value.status_code == 400
    assert classify(raised.value) == 'behaviour'
    assert len(openai_server.requests) == 1
    assert (counters.attempts, counters.retries, counters.waited) == (1, 0, 0.0)


async def run_agent_in_context(server: ScriptedOpenAIServer, **options: Any) -> str:
    """An agent run in the caller's context (its counters, if any)."""
    async with retrying(server, **options) as model:
        return (await Agent(model).run('hi')).output


def test_a_response_slower_than_the_client_timeout_is_infrastructure_and_retried(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script = [text('late', delay=5), text('ok')]
    output, counters = asyncio.run(run_agent(openai_server, settings={'timeout': 0.3}))
    assert output == 'ok'
    assert (counters.attempts, counters.retries) == (2, 1)
    assert len(openai_server.requests) == 2

    openai_server.clear()
    openai_server.script = [text('late', delay=5)]
    with pytest.raises(ModelTimeoutError) as raised:
        asyncio.run(run_agent(openai_server, retries=0, settings={'timeout': 0.3}))
    assert classify(raised.value) == 'infrastructure'
    assert len(openai_server.requests) == 1


def test_a_dropped_connection_is_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [Reply(drop=True), text('ok')]
    output, counters = asyncio.run(run_agent(openai_server))
    assert output == 'ok'
    assert (counters.attempts, counters.retries) == (2, 1)

    openai_server.script = [Reply(drop=True)]
    with pytest.raises(ModelConnectionError) as raised:
        asyncio.run(run_agent(openai_server, retries=1))
    assert classify(raised.value) == 'infrastructure'


def test_an_explicit_max_retries_is_left_to_the_sdk_and_uncounted(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [failure(500)]
    with counted() as counters, pytest.raises(ModelHTTPError):
        asyncio.run(run_agent_in_context(openai_server, retries=0, settings={'max_retries': 1}))
    assert counters.attempts == 1
    assert len(openai_server.requests) == 2  # the SDK's own retry, inside our one attempt
    assert sdk_retry_counts(openai_server) == {'0', '1'}


def unused(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise NotImplementedError('never asked')


async def stream_text(model: RetryingModel) -> str:
    messages: list[ModelMessage] = [ModelRequest.user_text_prompt('hi')]
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        async for _ in stream:
            pass
    response = stream.get()
    return ''.join(p.content for p in response.parts if isinstance(p, TextPart))


def test_a_stream_that_fails_before_it_starts_is_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [failure(503), rate_limited(retry_after=0), text('streamed')]

    async def go() -> str:
        async with retrying(openai_server) as model:
            return await stream_text(model)

    with counted() as counters:
        assert asyncio.run(go()) == 'streamed'
    assert (counters.attempts, counters.retries) == (3, 2)
    assert [r.stream for r in openai_server.requests] == [True, True, True]


def test_a_stream_that_breaks_after_it_started_is_not_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [text('never finished', cut_after=2), text('ok')]

    async def go() -> str:
        async with retrying(openai_server) as model:
            return await stream_text(model)

    with counted() as counters, pytest.raises(Exception) as raised:
        asyncio.run(go())
    assert classify(raised.value) == 'infrastructure'  # the run is still an infrastructure failure
    assert counters.attempts == 1
    assert len(openai_server.requests) == 1


def test_back_off_is_jittered_within_its_bound_capped_and_leaves_global_random_alone() -> None:
    model = RetryingModel(FunctionModel(unused), base_delay=0.5, max_delay=3.0)
    server_error = ModelHTTPError(500, 'm')
    state = random.getstate()
    delays = [[model.delay(server_error, retry) for _ in range(200)] for retry in range(5)]
    assert random.getstate() == state  # jitter never moves the RNG an architecture may use
    for retry, ds in enumerate(delays):
        bound = min(3.0, 0.5 * 2**retry)
        assert all(0 <= d <= bound for d in ds)
        assert len(set(ds)) > 1  # full jitter, not a fixed delay
    assert model.delay(ModelHTTPError(429, 'm', headers={'Retry-After': '2'}), 0) == 2.0
    assert model.delay(ModelHTTPError(429, 'm', headers={'Retry-After': '30'}), 0) == 3.0  # capped at max_delay
    assert model.delay(ModelHTTPError(429, 'm', headers={'retry-after-ms': '250'}), 4) == 0.25


def test_max_retries_is_only_added_where_it_is_not_set_already() -> None:
    model = RetryingModel(FunctionModel(unused))
    assert model.request_settings(None) == {'max_retries': 0}
    assert model.request_settings({'temperature': 0.0}) == {'temperature': 0.0, 'max_retries': 0}
    assert model.request_settings({'max_retries': 4}) == {'max_retries': 4}
    own = RetryingModel(FunctionModel(unused, settings={'max_retries': 2}))
    assert own.request_settings({'seed': 1}) == {'seed': 1}


def test_outside_a_run_nothing_is_counted_and_retries_still_happen(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script = [failure(500), text('ok')]
    assert asyncio.run(run_agent_in_context(openai_server)) == 'ok'
    assert len(openai_server.requests) == 2


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match='retries'):
        RetryingModel(FunctionModel(unused), retries=-1)
    with pytest.raises(ValueError, match='delays'):
        RetryingModel(FunctionModel(unused), base_delay=-1)
