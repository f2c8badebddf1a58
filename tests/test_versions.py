"""What differs between the pydantic-ai / pydantic-evals releases the package supports (2.50 and later), pinned.

Each difference is adapted in `pytest_agentarch._compat`; these tests say which release behaves which way, and that
the behaviour a user relies on (which failures are infrastructure, how long a retry waits) is the same on all of them.
The compatibility jobs (`scripts/compat.sh`) run this file on the oldest and the newest supported releases.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from importlib.metadata import version

import pytest
from openai_server import Reply, ScriptedOpenAIServer, rate_limited
from pydantic_ai import Agent, exceptions
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError

from pytest_agentarch import _compat
from pytest_agentarch.run.errors import classify

pytest_plugins = ['openai_server']

RELEASE = tuple(int(part) for part in version('pydantic-ai-slim').split('.')[:2])
"""The installed pydantic-ai's (major, minor)."""


def test_pydantic_evals_and_pydantic_ai_are_one_release() -> None:
    # pydantic-evals pins pydantic-ai-slim to its own version: the range in pyproject.toml relies on it.
    assert version('pydantic-evals') == version('pydantic-ai-slim')
    assert (2, 50) <= RELEASE < (3, 0)


def test_failure_categories_arrive_in_2_59() -> None:
    names = {'ModelRateLimitError', 'ModelUnavailableError', 'ModelServerError', 'ModelConnectionError'}
    present = {name for name in names if hasattr(exceptions, name)}
    assert _compat.FAILURE_CATEGORIES is (RELEASE >= (2, 59))
    assert present == (names if RELEASE >= (2, 59) else set())
    assert {t.__name__ for t in _compat.INFRASTRUCTURE_ERRORS} == (
        present if RELEASE >= (2, 59) else {'TransportError'}
    )


@pytest.mark.parametrize(('status', 'kind'), [(429, 'infrastructure'), (503, 'infrastructure'), (400, 'behaviour')])
def test_http_failures_are_classified_alike_on_every_release(status: int, kind: str) -> None:
    assert classify(ModelHTTPError(status, 'm')) == kind


def test_a_bare_api_error_from_the_transport_is_infrastructure_only_before_the_categories() -> None:
    # Before 2.59 pydantic-ai raised a bare ModelAPIError from the transport's exception; from 2.59 on it raises
    # ModelConnectionError, and a bare ModelAPIError is a failure the categories do not cover (behaviour).
    try:
        try:
            raise ConnectionRefusedError(111, 'Connection refused')
        except ConnectionRefusedError as cause:
            raise ModelAPIError('m', 'Connection error.') from cause
    except ModelAPIError as raised:
        error = raised
    assert classify(error) == ('behaviour' if _compat.FAILURE_CATEGORIES else 'infrastructure')
    assert classify(ModelAPIError('m', 'something else')) == 'behaviour'


def test_the_max_retries_setting_arrives_in_2_58_and_is_sent_only_where_it_exists() -> None:
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.settings import ModelSettings

    from pytest_agentarch.requests.retries import RetryingModel

    assert _compat.MAX_RETRIES_SETTING is (RELEASE >= (2, 58))
    assert ('max_retries' in ModelSettings.__annotations__) is (RELEASE >= (2, 58))
    sent = RetryingModel(TestModel()).request_settings({'temperature': 0.5})
    assert sent == ({'temperature': 0.5, 'max_retries': 0} if RELEASE >= (2, 58) else {'temperature': 0.5})
    if RELEASE < (2, 58):
        assert _compat.unsupported_settings(TestModel()) == frozenset()


def test_retry_after_is_read_alike_on_every_release() -> None:
    def waited(headers: dict[str, str]) -> float | None:
        return _compat.retry_after(ModelHTTPError(429, 'm', headers=headers))

    assert waited({'Retry-After': '7'}) == 7.0
    assert waited({'retry-after-ms': '1500', 'Retry-After': '7'}) == 1.5
    assert waited({}) is None
    assert waited({'Retry-After': 'soon'}) is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = waited({'Retry-After': in_a_minute})
    assert wait is not None
    assert 55 <= wait <= 60


def test_the_header_parser_used_before_2_59_reads_what_providers_send() -> None:
    # On 2.59 and later pydantic-ai parses the header itself; the fallback is tested directly so that it is tested
    # whichever release is installed.
    parse = _compat._retry_after_header
    assert parse({'retry-after': '2.5'}) == 2.5
    assert parse({'retry-after-ms': '250'}) == 0.25
    assert parse({'retry-after-ms': 'nan', 'retry-after': '3'}) == 3.0
    assert parse({'retry-after': '-1'}) is None
    assert parse({'retry-after': 'inf'}) is None
    assert parse({'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT'}) == 0.0  # long past: retry now
    assert parse({'retry-after': 'Wed, 21 Oct 2015 07:28:00'}) is None  # no zone: not an HTTP date
    assert parse({}) is None


def failed_run(server: ScriptedOpenAIServer, reply: Reply) -> ModelAPIError:
    """What one agent run with pydantic-ai's `openai-chat` model raises when `server` answers `reply` (the SDK's own
    retries off)."""
    openai = pytest.importorskip('openai', reason='needs the openai extra (pydantic-ai-slim[openai])')
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key='test-key', max_retries=0) as client:
            await Agent(OpenAIChatModel('m', provider=OpenAIProvider(openai_client=client))).run('hi')

    server.script = [reply]
    with pytest.raises(ModelAPIError) as raised:
        asyncio.run(run())
    return raised.value


def test_a_dropped_connection_is_infrastructure_on_every_release(openai_server: ScriptedOpenAIServer) -> None:
    error = failed_run(openai_server, Reply(drop=True))
    assert classify(error) == 'infrastructure'
    assert type(error).__name__ == ('ModelConnectionError' if _compat.FAILURE_CATEGORIES else 'ModelAPIError')


def test_a_rate_limit_says_how_long_to_wait_on_every_release(openai_server: ScriptedOpenAIServer) -> None:
    error = failed_run(openai_server, rate_limited(retry_after=3))
    assert classify(error) == 'infrastructure'
    assert _compat.retry_after(error) == 3.0


def test_a_tool_return_stands_for_a_retry_only_where_the_release_says_so() -> None:
    from pydantic_ai.messages import ToolReturnPart

    from pytest_agentarch._compat import return_retry

    part = ToolReturnPart(tool_name='t', content='ok', tool_call_id='c1')
    # A plain successful return carries no retry on any release; before `ToolReturnPart.retry` existed (2.50) the
    # attribute is absent and the answer is the same, rather than an AttributeError.
    assert return_retry(part) is None
    del_part = type('OldToolReturnPart', (), {})()
    assert return_retry(del_part) is None  # type: ignore[arg-type]
