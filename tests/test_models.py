"""Model selection and the session's model settings."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from conftest import ONE_CASE
from pytest_agentarch.requests.settings import SessionSettingsModel, parse_model_settings
from pytest_agentarch.requests.specs import ModelSpecError, resolve_model


def test_settings_parse_with_their_types() -> None:
    assert parse_model_settings('temperature=0.7, seed=1,max_tokens=800,stop_sequences=["END", "x,y"]') == {
        'temperature': 0.7,
        'seed': 1,
        'max_tokens': 800,
        'stop_sequences': ['END', 'x,y'],
    }
    # An int where a float is expected is fine; the reverse is not.
    assert parse_model_settings('temperature=1') == {'temperature': 1.0}


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('temp=0.7', "unknown model setting 'temp'; pydantic-ai ModelSettings has: max_tokens, temperature,"),
        ('seed=1.5', 'model setting seed=1.5: Input should be a valid integer (expects int)'),
        ('temperature=hot', "model setting temperature='hot': Input should be a valid number"),
        ('temperature', "'temperature' is not key=value"),
    ],
)
def test_bad_settings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match='^' + message.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')):
        parse_model_settings(text)


def _seen_settings(model_settings: dict[str, Any], priority: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.update(info.model_settings or {})
        return ModelResponse(parts=[TextPart('ok')])

    model = SessionSettingsModel(FunctionModel(respond), model_settings, priority=priority)  # type: ignore[arg-type]
    agent = Agent(model, model_settings={'temperature': 0.1, 'max_tokens': 5})
    asyncio.run(agent.run('hi'))
    return seen


def test_session_settings_win_over_the_architectures_by_default() -> None:
    seen = _seen_settings({'temperature': 0.7, 'seed': 3}, 'session')
    assert (seen['temperature'], seen['seed'], seen['max_tokens']) == (0.7, 3, 5)


def test_architecture_settings_win_when_asked() -> None:
    seen = _seen_settings({'temperature': 0.7, 'seed': 3}, 'architecture')
    assert (seen['temperature'], seen['seed'], seen['max_tokens']) == (0.1, 3, 5)


def test_no_settings_no_wrapper() -> None:
    assert not isinstance(resolve_model('test'), SessionSettingsModel)
    wrapped = resolve_model('test', settings={'temperature': 0.0})
    assert isinstance(wrapped, SessionSettingsModel)
    assert wrapped.model_name == 'test'


ARCH = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)
"""


def test_bad_model_settings_are_usage_errors(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCH, cases=ONE_CASE)
    result = pytester.runpytest('--agentarch-model-settings', 'temperature=0.5,tempreature=1')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --agentarch-model-settings: unknown model setting 'tempreature'*"])


def test_bad_ini_model_settings_are_usage_errors(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCH, ini='agentarch_model_settings = seed=x', cases=ONE_CASE)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option agentarch_model_settings = 'seed=x': model setting seed='x'*"])


def test_a_missing_provider_package_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # `None` in sys.modules makes `import openai` fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, 'openai', None)
    with pytest.raises(ModelSpecError) as info:
        resolve_model('ollama:qwen2.5')
    assert str(info.value) == (
        "--agentarch-model 'ollama:qwen2.5' needs a provider package that is not installed: "
        'pip install "pytest-agentarch[openai]"'
    )
