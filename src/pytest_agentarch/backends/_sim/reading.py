"""What one request holds: the task text, the calls made so far and what they returned, the JSON objects seen."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,  # pyright: ignore[reportDeprecated]
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters

from ..._compat import return_retry
from .text import count_tokens


@dataclass(kw_only=True)
class Call:
    """One tool call the model made earlier, and how it ended."""

    name: str
    """Tool name."""
    args: dict[str, Any]
    """Arguments as sent."""
    key: str
    """Canonical JSON of the arguments (what 'the same call' means)."""
    status: str = 'pending'
    """'pending' (no return seen), 'ok', 'retry' or 'failed'."""
    result: Any = None
    """The return value (success) or the retry message."""
    attempt: int | None = None
    """For a retry: which retry of this tool it was, when the framework says."""
    max_retries: int | None = None
    """For a retry: the tool's retry budget, when the framework says."""
    step: int = 0
    """Index of the model response that made the call (calls of one response were made together)."""


@dataclass(kw_only=True)
class Conversation:
    """Everything the simulated model reads from one request."""

    instructions: str
    """Instructions and system prompts, joined."""
    prompt: str
    """User prompts, joined."""
    calls: list[Call] = field(default_factory=list[Call])
    """Earlier tool calls in order, output tools included."""
    objects: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """JSON objects from successful tool returns and from JSON embedded in the prompt and instructions, in order."""
    masked: str = ''
    """`text` with embedded JSON blanked out (same length): where values are looked for in prose."""
    input_tokens: int = 0
    """Tokens of the messages (tool definitions are counted by the caller)."""
    fingerprint: str = ''
    """Stable digest of the request content: never ids or timestamps."""

    @property
    def text(self) -> str:
        """Instructions and prompt together: what the task is about."""
        return f'{self.instructions}\n{self.prompt}'


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(',', ':'))


def _decode(content: Any) -> Any:
    if isinstance(content, str):
        stripped = content.strip()
        if stripped[:1] in ('{', '['):
            try:
                return json.loads(stripped)
            except ValueError:
                return content
        return content
    if isinstance(content, (dict, list, int, float, bool)) or content is None:
        return content
    dump = getattr(content, 'model_dump', None)
    if callable(dump):
        return dump(mode='json')
    return str(content)


def embedded_objects(text: str, spans: list[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """JSON objects written inside a text (balanced braces that parse); their spans go to `spans`."""
    found: list[dict[str, Any]] = []
    start = text.find('{')
    while start != -1:
        depth = 0
        end = -1
        for i in range(start, len(text)):
            ch = text[i]
            if ch == '{':
                depth += 1
            elif ch == '}':
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
        if end == -1:
            break
        try:
            value = json.loads(text[start:end])
        except ValueError:
            start = text.find('{', start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)  # pyright: ignore[reportUnknownArgumentType]
            if spans is not None:
                spans.append((start, end))
        start = text.find('{', end)
    return found


def _prompt_text(part: UserPromptPart) -> str:
    if isinstance(part.content, str):
        return part.content
    return '\n'.join(
        item if isinstance(item, str) else getattr(item, 'content', '')
        for item in part.content
        if isinstance(item, str) or isinstance(getattr(item, 'content', None), str)
    )


def read(messages: list[ModelMessage], params: ModelRequestParameters) -> Conversation:
    """Read a request's messages into a `Conversation`."""
    instructions: list[str] = []
    if params.instruction_parts:
        instructions.extend(part.content for part in params.instruction_parts)
    else:
        latest = next(
            (m.instructions for m in reversed(messages) if isinstance(m, ModelRequest) and m.instructions), None
        )
        if latest:
            instructions.append(latest)
    prompts: list[str] = []
    calls: list[Call] = []
    by_id: dict[str, Call] = {}
    returns: list[Any] = []
    digest = hashlib.blake2b(digest_size=16)
    tokens = 0
    step = 0
    for message in messages:
        if isinstance(message, ModelResponse):
            step += 1
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    seen = _call_part(part)
                    call = Call(name=part.tool_name, args=seen.args, key=seen.key, step=step)
                    calls.append(call)
                    by_id[part.tool_call_id] = call
                    digest.update(seen.digest)
                    tokens += seen.tokens
                elif isinstance(part, TextPart):
                    digest.update(f'\x1etext\x1f{part.content}'.encode())
                    tokens += count_tokens(part.content)
            continue
        for rpart in message.parts:
            if isinstance(rpart, SystemPromptPart):
                instructions.append(rpart.content)
            elif isinstance(rpart, UserPromptPart):
                prompts.append(_prompt_text(rpart))
            elif isinstance(rpart, ToolReturnPart):
                returned = by_id.get(rpart.tool_call_id)
                back = _return_part(rpart)
                digest.update(back.digest)
                tokens += back.tokens
                if returned is None:
                    continue
                if rpart.outcome == 'success':
                    returned.status, returned.result = 'ok', back.content
                    returns.extend(back.objects)
                elif rpart.outcome == 'retried':
                    returned.status, returned.result = 'retry', back.rendered
                    if (retry := return_retry(rpart)) is not None:
                        returned.attempt, returned.max_retries = retry.attempt, retry.max_retries
                else:
                    returned.status, returned.result = 'failed', back.rendered
            elif isinstance(rpart, RetryPromptPart):  # pyright: ignore[reportDeprecated]
                rendered = rpart.model_response()
                digest.update(f'\x1eretry\x1f{rpart.tool_name}\x1f{rendered}'.encode())
                tokens += count_tokens(rendered)
                returned = by_id.get(rpart.tool_call_id)
                if returned is not None:
                    returned.status, returned.result = 'retry', rendered
    instructions_text = '\n'.join(instructions)
    prompt_text = '\n'.join(prompts)
    digest.update(f'\x1einstr\x1f{instructions_text}\x1eprompt\x1f{prompt_text}'.encode())
    tokens += count_tokens(instructions_text) + count_tokens(prompt_text)
    embedded, masked = _embedded(f'{instructions_text}\n{prompt_text}')
    objects = [*embedded, *returns]
    return Conversation(
        instructions=instructions_text,
        prompt=prompt_text,
        calls=calls,
        objects=objects,
        masked=masked,
        input_tokens=tokens,
        fingerprint=digest.hexdigest(),
    )


def _embedded(text: str) -> tuple[list[dict[str, Any]], str]:
    """The JSON objects written in `text`, freshly decoded for this request, and `text` with them blanked out."""
    sources, masked = _embedded_sources(text)
    return [json.loads(source) for source in sources], masked


@lru_cache(maxsize=512)
def _embedded_sources(text: str) -> tuple[tuple[str, ...], str]:
    """The JSON source of each object written in `text`, and `text` with them blanked out (cached: the task text
    repeats across requests and runs).

    Sources, not decoded objects: the cache is shared by every run of the process, and objects it handed out would
    be shared mutable state, so one run changing a value it was given (an answer built from it, say) would change
    what later requests with the same text read, making a run depend on which runs came before it in the process.
    """
    spans: list[tuple[int, int]] = []
    embedded_objects(text, spans)
    masked = text
    for start, end in spans:
        masked = masked[:start] + ' ' * (end - start) + masked[end:]
    return tuple(text[start:end] for start, end in spans), masked


@dataclass(frozen=True, kw_only=True)
class _SeenCall:
    args: dict[str, Any]
    key: str
    digest: bytes
    tokens: int


@dataclass(frozen=True, kw_only=True)
class _SeenReturn:
    content: Any
    rendered: str
    objects: tuple[dict[str, Any], ...]
    digest: bytes
    tokens: int


_PARTS_CACHED = 8192
_parts: dict[int, tuple[Any, Any, Any]] = {}
"""What was read from a message part, by the part's identity: a run re-sends the same part objects on every request.
Each entry keeps its part (and the part's content) alive, so an id is never reused while it is cached."""


def _cached(part: Any, content: Any) -> Any:
    known = _parts.get(id(part))
    return known[2] if known is not None and known[0] is part and known[1] is content else None


def _remember(part: Any, content: Any, seen: Any) -> None:
    if len(_parts) >= _PARTS_CACHED:
        _parts.clear()
    _parts[id(part)] = (part, content, seen)


def _call_part(part: ToolCallPart) -> _SeenCall:
    seen: _SeenCall | None = _cached(part, part.args)
    if seen is None:
        args = part.args_as_dict()
        key = _canonical(args)
        seen = _SeenCall(
            args=args,
            key=key,
            digest=f'\x1ecall\x1f{part.tool_name}\x1f{key}'.encode(),
            tokens=count_tokens(part.tool_name) + count_tokens(key),
        )
        _remember(part, part.args, seen)
    return seen


def _return_part(part: ToolReturnPart) -> _SeenReturn:
    seen: _SeenReturn | None = _cached(part, part.content)
    if seen is None:
        content = _decode(part.content)
        rendered = content if isinstance(content, str) else _canonical(content)
        objects: list[dict[str, Any]] = []
        _collect_objects(content, objects)
        seen = _SeenReturn(
            content=content,
            rendered=rendered,
            objects=tuple(objects),
            digest=f'\x1ereturn\x1f{part.tool_name}\x1f{part.outcome}\x1f{rendered}'.encode(),
            tokens=count_tokens(rendered),
        )
        _remember(part, part.content, seen)
    return seen


def _collect_objects(value: Any, into: list[dict[str, Any]]) -> None:
    if isinstance(value, dict):
        into.append(value)  # pyright: ignore[reportUnknownArgumentType]
        for item in value.values():  # pyright: ignore[reportUnknownVariableType]
            if isinstance(item, (dict, list)):
                _collect_objects(item, into)
    elif isinstance(value, list):
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            _collect_objects(item, into)
