"""What an exchange is filed and found under: its item and run (`Key`), and the hash of the request, computed on
what of the request reaches the model, whitelisted field by field so that it is the same on every supported
pydantic-ai release (docs/recording-format.md, "What is hashed")."""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from pydantic_core import to_jsonable_python

from ...run.context import RunInfo, current_run
from .redaction import redact

__all__ = (
    'JUDGE',
    'Key',
    'RecordingError',
    'Request',
    'Role',
    'canonical',
    'canonical_messages',
    'canonical_parameters',
    'default_output_mode',
    'dump_messages',
    'hash_of',
    'normalized_parameters',
    'prepare',
    'slug',
    'stored_hash',
)

_NO_DATASET = '_no-dataset'
_OUTSIDE_RUNS = '_outside-runs'
JUDGE = '_judge'
"""The directory of the judging evaluators' requests, beside the models' own."""

Role = Literal['run', 'judge']
"""Whose requests a recording holds: the runs' own (`run`) or the judging evaluators' (`judge`)."""


class RecordingError(Exception):
    """A recording cannot be written or read: a missing directory, a file of an unknown version or a malformed
    one, or a request with nothing to file it under. The message says what and where."""


def _fallback(value: Any) -> str:
    """How a value pydantic cannot serialize is written: its repr, without memory addresses (never stable)."""
    return re.sub(r' at 0x[0-9a-fA-F]+', '', repr(value))


def dump_messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    """The messages in `ModelMessagesTypeAdapter` JSON form, as stored."""
    return typing.cast(
        list[dict[str, Any]], ModelMessagesTypeAdapter.dump_python(messages, mode='json', fallback=_fallback)
    )


# What of each part reaches the model, by part kind. Fields are named as in pydantic-ai's JSON form, so that a
# difference is shown at a path the stored request has too. Only these are hashed: a field a new pydantic-ai release
# adds (a `retry` on tool returns, a `state` on messages, provider ids...) changes no key.
_PART_FIELDS: dict[str, tuple[str, ...]] = {
    'system-prompt': ('content',),
    'user-prompt': ('content',),
    'tool-return': ('tool_name', 'tool_call_id', 'content'),
    'builtin-tool-return': ('tool_name', 'tool_call_id', 'content'),
    'retry-prompt': ('tool_name', 'tool_call_id', 'content'),
    'text': ('content',),
    'thinking': ('content',),
    'tool-call': ('tool_name', 'tool_call_id', 'args'),
    'builtin-tool-call': ('tool_name', 'tool_call_id', 'args'),
    'file': ('content',),
}
"""Part kinds whose content reaches the model, and the fields of each that do."""

_BOOKKEEPING_PARTS = frozenset(
    {
        'instruction',
        'instruction-delta',
        'instruction-digest',
        'instruction-baseline',
        'tool-availability-delta',
        'model-settings-delta',
    }
)
"""Request parts that record how a request was assembled: what of them reaches the model does so through the
request's `instructions`, its tools or its settings, never as a part of its own."""

_ANY_PART_FIELDS = ('tool_name', 'tool_call_id', 'content', 'args')
"""Of a part of a kind not listed above (a newer release's): the fields that carry what the model is shown."""

_ITEM_FIELDS = ('kind', 'content', 'url', 'data', 'media_type')
"""Of a multi-modal item of a user prompt or a file part: what reaches the model."""

_ERROR_FIELDS = ('type', 'loc', 'msg', 'input')
"""Of a validation error a retry prompt shows the model (pydantic adds a documentation `url` that varies)."""


def _item(value: Any) -> Any:
    """A user prompt's content item, or a file part's content: text as it is, other items by what reaches the model."""
    if isinstance(value, list):
        return [_item(v) for v in value]
    if isinstance(value, dict):
        return {k: value[k] for k in _ITEM_FIELDS if k in value}
    return value


def _args(args: Any) -> Any:
    """Tool call arguments as data: a JSON string (some providers, some releases) and its object are the same call."""
    if isinstance(args, str):
        try:
            return json.loads(args) if args.strip() else {}
        except ValueError:
            return args
    return args


def _retry_content(content: Any) -> Any:
    if isinstance(content, list):
        return [{k: e[k] for k in _ERROR_FIELDS if k in e} if isinstance(e, dict) else e for e in content]
    return content


def _canonical_part(part: dict[str, Any], ids: dict[str, str]) -> dict[str, Any] | None:
    kind = str(part.get('part_kind'))
    if kind in _BOOKKEEPING_PARTS:
        return None
    # A retry asked of the model is one thing however a release files it: a retry prompt (2.50), or a tool return
    # marked as retried (later releases) or retry feedback (later releases, no tool).
    if (kind == 'tool-return' and (part.get('outcome') == 'retried' or part.get('retry') is not None)) or (
        kind == 'retry-feedback'
    ):
        kind = 'retry-prompt'
    out: dict[str, Any] = {'part_kind': kind}
    for name in _PART_FIELDS.get(kind, _ANY_PART_FIELDS):
        if name not in part or (name == 'tool_name' and part[name] is None):
            continue
        if name == 'tool_call_id' and part.get('tool_name') is None:
            continue  # a retry that answers no tool call reaches the model as a user message, without the id
        value = part[name]
        if name == 'tool_call_id' and isinstance(value, str):
            # generated by the framework or the provider: kept only as the pairing of a call with its return
            value = ids.setdefault(value, f'call-{len(ids)}')
        elif name == 'args':
            value = _args(value)
        elif name == 'content' and kind in ('user-prompt', 'file'):
            value = _item(value)
        elif name == 'content' and kind == 'retry-prompt':
            value = _retry_content(value)
        out[name] = value
    return out


def canonical_messages(dumped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What of the messages `dumped` (`ModelMessagesTypeAdapter` JSON form) reaches the model, the same on every
    supported pydantic-ai release: each message's kind and parts, a request's instructions, and of each part the
    fields of `_PART_FIELDS`. Tool call ids become their order of first appearance, so a call still pairs with its
    return. Redacted, like the stored request, so that a key can be computed again from a stored request."""
    ids: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in dumped:
        kind = message.get('kind')
        kept: dict[str, Any] = {'kind': kind}
        if kind == 'request':
            kept['instructions'] = message.get('instructions')
        parts = message.get('parts')
        kept['parts'] = [
            c
            for p in (parts if isinstance(parts, list) else [])
            if isinstance(p, dict) and (c := _canonical_part(p, ids)) is not None
        ]
        out.append(kept)
    return typing.cast(list[dict[str, Any]], redact(out))


_TOOL_FIELDS = ('name', 'description', 'parameters_json_schema', 'strict')
"""Of a tool definition: what reaches the model."""

_OUTPUT_OBJECT_FIELDS = ('name', 'description', 'json_schema', 'strict')
"""Of the output object of native and prompted output: what reaches the model."""


def default_output_mode(profile: Mapping[str, Any] | None) -> str:
    """The structured output mode a model with `profile` (a model profile, or its stored JSON form) uses for `auto`."""
    mode = profile.get('default_structured_output_mode') if profile is not None else None
    return mode if isinstance(mode, str) else 'tool'


def canonical_parameters(stored: dict[str, Any], *, default_mode: str = 'tool') -> dict[str, Any]:
    """What of the request parameters (as stored, `normalized_parameters`) reaches the model: the function and output
    tools (name, description, argument schema, strictness), the output mode and object, whether text or image output
    is allowed, the prompted output template, and the native tools' kinds.

    As the model prepares them before sending: an `auto` output mode is the model's `default_mode` (older releases
    hand it to the model unresolved, newer ones resolve it first), and only what the mode uses is kept (output tools
    for `tool`, the output object for `native` and `prompted`, the template for `prompted` and `native`)."""

    def tools(key: str) -> list[dict[str, Any]]:
        found = stored.get(key)
        listed = found if isinstance(found, list) else []
        return [{k: t.get(k) for k in _TOOL_FIELDS} for t in listed if isinstance(t, dict)]

    mode = stored.get('output_mode')
    allow_text = stored.get('allow_text_output')
    if mode == 'auto':
        mode, allow_text = default_mode, default_mode in ('native', 'prompted')
    output_object = stored.get('output_object')
    structured = mode in ('native', 'prompted')
    return typing.cast(
        dict[str, Any],
        redact(
            {
                'function_tools': tools('function_tools'),
                'output_tools': tools('output_tools') if mode == 'tool' else [],
                'output_mode': mode,
                'output_object': (
                    {k: output_object.get(k) for k in _OUTPUT_OBJECT_FIELDS}
                    if structured and isinstance(output_object, dict)
                    else None
                ),
                'allow_text_output': allow_text,
                'allow_image_output': stored.get('allow_image_output'),
                'prompted_output_template': stored.get('prompted_output_template') if structured else None,
                'native_tools': stored.get('native_tools') or [],
            }
        ),
    )


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {
        'name': tool.name,
        'description': tool.description,
        'parameters_json_schema': tool.parameters_json_schema,
        'return_schema': tool.return_schema,
        'strict': tool.strict,
        'kind': tool.kind,
        'defer_loading': tool.defer_loading,
    }


def normalized_parameters(params: ModelRequestParameters) -> dict[str, Any]:
    """The request parameters as stored: tool definitions and output mode (names and JSON schemas); what of them is
    hashed is `canonical_parameters`."""
    data = {
        'function_tools': [_tool(t) for t in params.function_tools],
        'output_tools': [_tool(t) for t in params.output_tools],
        'output_mode': params.output_mode,
        'output_object': params.output_object,
        'allow_text_output': params.allow_text_output,
        'allow_image_output': params.allow_image_output,
        'prompted_output_template': params.prompted_output_template,
        'native_tools': [str(getattr(t, 'kind', type(t).__name__)) for t in params.native_tools],
    }
    return typing.cast(dict[str, Any], to_jsonable_python(data, fallback=_fallback))


def canonical(data: Any) -> str:
    """JSON with sorted keys and no spaces: equal data, equal text."""
    return json.dumps(data, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def hash_of(messages: list[dict[str, Any]], parameters: dict[str, Any]) -> str:
    """The request's hash: of its canonical messages and parameters (`canonical_messages`, `canonical_parameters`),
    as canonical JSON."""
    material = canonical({'messages': messages, 'parameters': parameters})
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


def stored_hash(messages: list[dict[str, Any]], parameters: dict[str, Any], *, default_mode: str = 'tool') -> str:
    """The hash of a request as a recording stores it (its `request` and `parameters`), to a model whose default
    structured output mode is `default_mode` (`default_output_mode`): the key it is found by."""
    return hash_of(canonical_messages(messages), canonical_parameters(parameters, default_mode=default_mode))


def _settings_json(settings: ModelSettings | None) -> dict[str, Any] | None:
    """The settings as stored: JSON, without headers (never stored), redacted."""
    if settings is None:
        return None
    kept = {k: v for k, v in settings.items() if k not in ('extra_headers', 'headers')}
    return typing.cast(dict[str, Any], redact(to_jsonable_python(kept, fallback=_fallback)))


_PLAIN_NAME = re.compile(r'[a-z0-9][a-z0-9._-]{0,79}')
_WINDOWS_RESERVED = frozenset(
    {'con', 'prn', 'aux', 'nul', *(f'com{i}' for i in range(1, 10)), *(f'lpt{i}' for i in range(1, 10))}
)


def slug(name: str) -> str:
    """A file-name-safe name for `name`: itself when plain, else cleaned with a short hash suffix (never shared)."""
    if _PLAIN_NAME.fullmatch(name) and not name.endswith('.') and name.split('.')[0] not in _WINDOWS_RESERVED:
        return name
    cleaned = re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('.-_')[:60].rstrip('.-_') or 'x'
    return f'{cleaned}~{hashlib.blake2b(name.encode(), digest_size=4).hexdigest()}'


def _current_test() -> str | None:
    """The node id of the pytest test running in this process, or None outside any test."""
    value = os.environ.get('PYTEST_CURRENT_TEST')
    if not value:
        return None
    nodeid, sep, phase = value.rpartition(' (')
    return nodeid if sep and phase.endswith(')') else value


@dataclass(frozen=True, kw_only=True)
class Key:
    """Where an exchange is filed: its item (one file) and its run within the item."""

    model: str
    """Model label."""
    dataset: str | None
    """Dataset of the case; None for a Python test's repetitions and outside runs."""
    architecture: str | None
    """Architecture; None outside runs."""
    case: str | None
    """Case; None outside runs."""
    index: int | None
    """Run index among the case's repetitions; None outside runs."""
    test: str | None
    """pytest node id, for a request outside any run; None inside one."""
    role: Role = 'run'
    """Whose request: the run's own or a judging evaluator's (filed apart, under `_judge/`)."""

    @classmethod
    def of(cls, model: str, run: RunInfo | None, role: Role = 'run') -> Key:
        """The key of a request of `run` (None: outside any run, filed under the running pytest test)."""
        if run is not None:
            return cls(
                model=model,
                dataset=run.dataset,
                architecture=run.architecture,
                case=run.case,
                index=run.index,
                test=None,
                role=role,
            )
        test = _current_test()
        if test is None:
            raise RecordingError(
                'a model request outside any agentarch run and outside any pytest test cannot be recorded or '
                'replayed: there is no run or test to file it under. Send it from inside a run '
                '(pytest_agentarch.run.context.run_scope) or a test.'
            )
        return cls(model=model, dataset=None, architecture=None, case=None, index=None, test=test, role=role)

    def path(self, directory: Path) -> Path:
        """The item's plain file under the recording `directory`."""
        root = (directory / JUDGE if self.role == 'judge' else directory) / slug(self.model)
        if self.test is not None:
            return root / _OUTSIDE_RUNS / f'{slug(self.test)}.jsonl'
        assert self.architecture is not None and self.case is not None
        dataset = _NO_DATASET if self.dataset is None else slug(self.dataset)
        return root / dataset / slug(self.architecture) / f'{slug(self.case)}.jsonl'

    def item(self) -> dict[str, Any]:
        """The header fields that say which item a file holds."""
        return {
            'model': self.model,
            'dataset': self.dataset,
            'architecture': self.architecture,
            'case': self.case,
            'test': self.test,
            'role': self.role,
        }

    def describe(self) -> str:
        """The run (or test) in words, for error messages."""
        whose = 'judge model' if self.role == 'judge' else 'model'
        if self.test is not None:
            return f'{whose} {self.model!r}, outside any run, in test {self.test!r}'
        dataset = '' if self.dataset is None else f'dataset {self.dataset!r}, '
        judged = 'judging ' if self.role == 'judge' else ''
        return (
            f'{judged}architecture {self.architecture!r}, case {self.case!r}, run index {self.index}, '
            f'{dataset}{whose} {self.model!r}'
        )


@dataclass(kw_only=True)
class Request:
    """A request on its way to the model, as it will be stored."""

    key: Key
    """Where it is filed."""
    digest: str
    """Hash of the canonical request (`stored_hash`)."""
    messages: list[dict[str, Any]]
    """The request messages in `ModelMessagesTypeAdapter` JSON form, unredacted."""
    parameters: dict[str, Any]
    """What was hashed of the request parameters."""
    settings: dict[str, Any] | None
    """The request's model settings, as stored."""
    stream: bool
    """Whether the request was streamed."""


def prepare(
    label: str,
    messages: list[ModelMessage],
    settings: ModelSettings | None,
    params: ModelRequestParameters,
    *,
    stream: bool,
    role: Role,
    default_mode: str = 'tool',
) -> Request:
    """A request of the current run (or test) to the model labelled `label`, keyed and hashed, as it will be stored."""
    key = Key.of(label, current_run(), role)
    dumped = dump_messages(messages)
    parameters = normalized_parameters(params)
    return Request(
        key=key,
        digest=stored_hash(dumped, parameters, default_mode=default_mode),
        messages=dumped,
        parameters=parameters,
        settings=_settings_json(settings),
        stream=stream,
    )
