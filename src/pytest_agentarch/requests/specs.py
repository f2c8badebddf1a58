"""Model selection: a pydantic-ai model string, `sim[:options]` for the embedded simulated model or
`llamacpp:...` for a local llama.cpp server, and the session's model settings applied to every request of that
model."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse, infer_model
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

__all__ = (
    'ModelSpecError',
    'SessionSettingsModel',
    'base_model',
    'parse_model_settings',
    'resolve_model',
    'split_model_specs',
)

SettingsPriority = Literal['session', 'architecture']


class ModelSpecError(ValueError):
    """The model spec or settings cannot be turned into a model; the message says how to fix it."""


_SETTING_TYPES: dict[str, Any] = typing.get_type_hints(ModelSettings)


def _split(text: str) -> list[str]:
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


_OPTION = re.compile(r'\s*[A-Za-z_][\w.-]*\s*=')
"""A `key=value` segment: an option of the model spec before it, not a model of its own."""


def split_model_specs(text: str) -> list[str]:
    """`--agentarch-model a,b`: the model specs, in order, each once.

    A model spec may carry its own comma-separated options (`sim:temperature=0.7,seed=3`), so a comma starts a new
    model only where the text after it is not `key=value`: `sim:temperature=0,openai:gpt-4o` is two models,
    `sim:temperature=0,seed=3` one. Raises ValueError for an empty spec or a model named twice.
    """
    specs: list[str] = []
    for part in _split(text):
        if specs and _OPTION.match(part) and ':' not in part.partition('=')[0]:
            specs[-1] = f'{specs[-1]},{part}'
        else:
            specs.append(part)
    if not specs:
        raise ValueError("expected one or more model specs separated by commas, e.g. 'sim' or 'sim,openai:gpt-4o'")
    seen: set[str] = set()
    for spec in specs:
        if spec in seen:
            raise ValueError(f'model {spec!r} is given twice; name each model once')
        seen.add(spec)
    return specs


def parse_model_settings(text: str) -> ModelSettings:
    """`temperature=0.7,seed=1,max_tokens=800` as pydantic-ai `ModelSettings`, each value checked against its type.

    Values are read as JSON where they parse (`0.7`, `true`, `["END"]`, `{"x": 1}`), else as text.
    Raises ValueError naming the key and what it expects.
    """
    raw: dict[str, Any] = {}
    for item in _split(text):
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


def resolve_model(spec: str, *, settings: ModelSettings | None = None, priority: SettingsPriority = 'session') -> Model:
    """The model for `--agentarch-model SPEC`, with `--agentarch-model-settings` applied when given."""
    model = base_model(spec)
    return SessionSettingsModel(model, settings, priority=priority) if settings else model


def base_model(spec: str) -> Model:
    """The model a spec names, nothing wrapped around it: `sim[:options]`, `llamacpp:WEIGHTS[,options]` (a local
    llama.cpp server, `local.py`) or a pydantic-ai model string."""
    spec = spec.strip()
    if spec.startswith('llamacpp:'):
        from ..backends.local import local_model

        return local_model(spec)  # LocalModelError is a ModelSpecError
    if spec == 'sim' or spec.startswith('sim:'):
        from ..backends.sim import SimulatedModel

        try:
            return SimulatedModel.from_spec(spec)
        except ValueError as exc:
            raise ModelSpecError(f'--agentarch-model {spec!r}: {exc}') from None
    try:
        return infer_model(spec)
    except ImportError as exc:
        # pydantic-ai's message names the pydantic-ai-slim extra; ours carry the same names (pyproject.toml).
        named = re.search(r'pydantic-ai-slim\[([\w-]+)\]', str(exc))
        extra = named.group(1) if named else spec.partition(':')[0]
        raise ModelSpecError(
            f'--agentarch-model {spec!r} needs a provider package that is not installed: '
            f'pip install "pytest-agentarch[{extra}]"'
        ) from None
    except Exception as exc:
        raise ModelSpecError(
            f'--agentarch-model {spec!r} is not a model this session can use: {exc}. '
            "Use 'sim' (embedded simulated model, e.g. 'sim:temperature=0') or a pydantic-ai model "
            "string such as 'openai:gpt-4o-mini' or 'test'."
        ) from None
