"""What an exchange is filed and found under: its item and run (`Key`), and the hash of the request, computed on
the request without what changes from one execution to the next (docs/recording-format.md, "What is hashed")."""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing
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
    'dump_messages',
    'hash_of',
    'normalized_messages',
    'normalized_parameters',
    'prepare',
    'slug',
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


_VOLATILE_MESSAGE_FIELDS = frozenset(
    {
        'timestamp',
        'run_id',
        'conversation_id',
        'metadata',
        'usage',
        'provider_response_id',
        'provider_details',
        'provider_url',
        'workspace_ref',
        'history_digest',
        'failed_attempts',
    }
)
"""Message fields left out of the hash: they change from one execution to the next, or never reach the model."""

_VOLATILE_PART_FIELDS = frozenset({'timestamp', 'metadata'})
"""Part fields left out of the hash."""


def _fallback(value: Any) -> str:
    """How a value pydantic cannot serialize is written: its repr, without memory addresses (never stable)."""
    return re.sub(r' at 0x[0-9a-fA-F]+', '', repr(value))


def dump_messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    """The messages in `ModelMessagesTypeAdapter` JSON form, as stored."""
    return typing.cast(
        list[dict[str, Any]], ModelMessagesTypeAdapter.dump_python(messages, mode='json', fallback=_fallback)
    )


def normalized_messages(dumped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What of `dumped` is hashed: the messages without their volatile fields, tool call ids by first appearance."""
    ids: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in dumped:
        kept = {k: v for k, v in message.items() if k not in _VOLATILE_MESSAGE_FIELDS}
        parts = message.get('parts')
        if isinstance(parts, list):
            kept['parts'] = [_normalized_part(p, ids) for p in parts]
        out.append(kept)
    return out


def _normalized_part(part: Any, ids: dict[str, str]) -> Any:
    if not isinstance(part, dict):
        return part
    kept = {k: v for k, v in part.items() if k not in _VOLATILE_PART_FIELDS}
    call_id = kept.get('tool_call_id')
    if isinstance(call_id, str):
        kept['tool_call_id'] = ids.setdefault(call_id, f'call-{len(ids)}')
    return kept


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
    """What of the request parameters is hashed: tool definitions and output mode (names and JSON schemas)."""
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
    """The request's hash: of its normalized messages and parameters, as canonical JSON."""
    material = canonical({'messages': messages, 'parameters': parameters})
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


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
    """Hash of the normalized request."""
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
) -> Request:
    """A request of the current run (or test) to the model labelled `label`, keyed and hashed, as it will be stored."""
    key = Key.of(label, current_run(), role)
    dumped = dump_messages(messages)
    parameters = normalized_parameters(params)
    return Request(
        key=key,
        digest=hash_of(normalized_messages(dumped), parameters),
        messages=dumped,
        parameters=parameters,
        settings=_settings_json(settings),
        stream=stream,
    )
