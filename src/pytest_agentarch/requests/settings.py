"""The session's model settings (`--agentarch-model-settings`): parsed once, applied to every request by
`SessionSettingsModel`, the outermost layer of the stack."""

from __future__ import annotations

import json
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

__all__ = ('SessionSettingsModel', 'SettingsPriority', 'parse_model_settings', 'split_top_level')

SettingsPriority = Literal['session', 'architecture']
"""On a key both set: the session's setting wins (`session`) or the architecture's agents' one."""

_SETTING_TYPES: dict[str, Any] = typing.get_type_hints(ModelSettings)


def split_top_level(text: str) -> list[str]:
    """Split `a=1,b=[2,3]` on the commas that are not inside brackets, braces or quotes."""
    parts: list[str] = []
    depth, quote, start = 0, '', 0
    for i, ch in enumerate(text):
        if quote:
            quote = '' if ch == quote else quote
        elif ch in '"\'':
            quote = ch
        elif ch in '[{':
            depth += 1
        elif ch in ']}':
            depth -= 1
        elif ch == ',' and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_model_settings(text: str) -> ModelSettings:
    """`temperature=0.7,seed=1,max_tokens=800` as pydantic-ai `ModelSettings`, each value checked against its type.

    Values are read as JSON where they parse (`0.7`, `true`, `["END"]`, `{"x": 1}`), else as text.
    Raises ValueError naming the key and what it expects.
    """
    raw: dict[str, Any] = {}
    for item in split_top_level(text):
        key, eq, value = item.partition('=')
        key = key.strip()
        if not eq or not key:
            raise ValueError(f'{item!r} is not key=value (e.g. temperature=0.7,seed=1,max_tokens=800)')
        if key not in _SETTING_TYPES:
            raise ValueError(
                f'unknown model setting {key!r}; pydantic-ai ModelSettings has: {", ".join(_SETTING_TYPES)}'
            )
        try:
            raw[key] = json.loads(value)
        except ValueError:
            raw[key] = value.strip()
    for key, value in raw.items():
        try:
            raw[key] = TypeAdapter(_SETTING_TYPES[key]).validate_python(value, strict=not isinstance(value, int))
        except ValidationError as exc:
            expected = getattr(_SETTING_TYPES[key], '__name__', str(_SETTING_TYPES[key]))
            problem = exc.errors()[0]['msg']
            raise ValueError(f'model setting {key}={value!r}: {problem} (expects {expected})') from None
    return typing.cast(ModelSettings, raw)


class SessionSettingsModel(WrapperModel):
    """The session's model with the session's settings applied to every request.

    With priority `session` (the default) the session's settings replace what the architecture's agents ask for
    on the same keys (the point of the option is to measure every architecture under the same temperature and seed);
    with priority `architecture` they only fill the keys the architecture leaves unset.
    """

    def __init__(self, wrapped: Model, settings: ModelSettings, *, priority: SettingsPriority = 'session') -> None:
        super().__init__(wrapped)
        self.session_settings = settings
        self.priority = priority

    def merged(self, requested: ModelSettings | None) -> ModelSettings:
        """The settings a request is sent with."""
        first, last = (requested or {}, self.session_settings)
        if self.priority == 'architecture':
            first, last = last, first
        return typing.cast(ModelSettings, {**first, **last})

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        return await self.wrapped.request(messages, self.merged(model_settings), model_request_parameters)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        async with self.wrapped.request_stream(
            messages, self.merged(model_settings), model_request_parameters, run_context
        ) as response:
            yield response
