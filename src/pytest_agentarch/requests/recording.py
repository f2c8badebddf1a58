"""Record every model request and response of a session, and replay them later with no model.

Real-model runs cost money. `RecordingModel` wraps the session's model and writes down what each request sent and
what came back; `ReplayModel` answers the same requests from those files, with no network and no model, so a
session can be judged again with new evaluators, levels or gates, and a failing run reproduced exactly.

Layout and format (version 1, `FORMAT_VERSION`)
    One JSON Lines file per item (model label, dataset, architecture, case)::

        DIR/<model>/<dataset>/<architecture>/<case>.jsonl
        DIR/<model>/_no-dataset/<architecture>/<case>.jsonl     # a Python test's repetitions (dataset None)
        DIR/<model>/_outside-runs/<pytest node id>.jsonl        # requests made outside any run (see below)
        DIR/_judge/<judge model>/<dataset>/<architecture>/<case>.jsonl   # the judging evaluators' requests

    Each name is used as it is when it is a plain lowercase file name (`[a-z0-9][a-z0-9._-]*`, 80 characters at
    most); any other name is cleaned to file-name-safe characters and gets `~` and 8 hex digits of its hash, so two
    names never share a file (`openai:gpt-4o` becomes `openai-gpt-4o~<hash>`; names differing only in case differ
    on case-insensitive file systems too). Directory names starting with `_` are this format's own. The first line
    of a file is a header: `version`, `format`, what the file holds (`model`, `dataset`, `architecture`, `case`,
    `test`) and the recorded model (`model_name`, `system`, `base_url`, and the JSON-safe part of its `profile`,
    which decides how pydantic-ai prepares messages and output modes, so that a replay prepares them the same way),
    and `role`: `run` for the runs' own requests, `judge` for those of the evaluators that judged them (a judge's
    requests are keyed by the run they judged, like the run's own).
    Every later line is one exchange: the key (`model`, `dataset`, `architecture`, `case`, `index`, `test`),
    `hash`, `occurrence`, `stream`, `request` (the messages sent, in `ModelMessagesTypeAdapter` JSON form),
    `parameters` (what was hashed of the request parameters), `settings`, `response_model` and `response` (in
    `ModelMessagesTypeAdapter` JSON form). A session that records an item starts its file afresh (the first write
    of a `RecordingModel` to a file truncates it), so a file never mixes two sessions; use one `RecordingModel`
    per session. With `resume=True` (`--agentarch-resume`) it keeps the file instead: a request the file answers
    (same key, hash and occurrence) is answered from it without reaching the model, and the others are sent and
    appended after it, with occurrences following the kept ones; a last line cut short is dropped first. A
    recording stopped by a budget, an interrupt or a crash is so completed over several sessions, request by
    request, and a replay of it is the same as one of a recording made at once.

Packed files
    A recording is kept plain while it is written (a resumed session appends to it). To keep it small in a
    repository, `agentarch recording pack DIR` replaces every `<case>.jsonl` under DIR by
    `<case>.jsonl.gz`: the same bytes, gzip-compressed (level 9, no time stamp, so packing the same file twice gives
    the same bytes; the exchanges of one run repeat each other's messages, so they compress about twentyfold).
    `ReplayModel` reads either form; a resumed recording unpacks the item's file before appending to it, and a
    fresh one replaces it. `unpack DIR` turns every packed file plain again. Do not pack a directory a session is
    recording into. An item held both plain and packed is an error for replay and resume, and for `pack` and
    `unpack` when the two differ (they then change nothing): which one is the recording is not for this module to
    guess. Held both ways with the same lines (a command stopped halfway), `pack` keeps the packed file and `unpack`
    the plain one.

Key
    An exchange is found again by the model label, dataset, architecture, case and run index of the run that sent
    it (`pytest_agentarch.run.context.current_run()`; `RecordingModel` takes the label from `RunInfo.model`,
    `ReplayModel` from its own `model_label`), the hash of the request, and its occurrence: how many identical
    requests (same hash) the same run had already recorded. Concurrent sub-agents of one run often send identical
    requests, in an order that depends on scheduling; a plain arrival ordinal of all requests would then hand a
    replayed request the answer recorded for another one. With occurrences, identical requests of a run share
    their recorded answers among themselves, each used once: which of them gets which answer may differ from the
    recording, but each continues from the answer it got, so the run replays as one of the ways it ran. An
    occurrence is counted when a recorded answer arrives (a failed attempt, retried, takes none) and, in replay,
    when the request is sent.

    A request made outside any run has no run identity. It is filed under the pytest test that is running (the
    node id from the `PYTEST_CURRENT_TEST` environment variable pytest sets for each test), with `dataset`,
    `architecture`, `case` and `index` None; outside any run and any test, recording and replay raise
    `RecordingError`.

What is hashed
    The request messages in `ModelMessagesTypeAdapter` JSON form without what changes from one execution to the
    next or is never sent to the model: the `timestamp`, `run_id`, `conversation_id`, `metadata`, `usage` (its cost
    depends on the price data of the day), `provider_response_id`, `provider_details`, `provider_url`,
    `workspace_ref`, `history_digest` and `failed_attempts` of each message, and the `timestamp` and `metadata` of
    each part; tool call ids (which the framework or the provider generates) are replaced by their order of first
    appearance, so a call still pairs with its return. Of `ModelRequestParameters`: each function and output
    tool's name, description, JSON schemas, strictness and kind, the output mode and object, whether text or image
    output is allowed, the prompted output template and the native tools' kinds.

    Model settings are stored with each exchange but not hashed: a replay answers what the recording answered, so
    it must work under another `--agentarch-seed`, temperature or token limit, which only change the settings.

Secrets
    HTTP headers are never stored (settings lose `extra_headers`), and everything written goes through `redact`,
    which replaces credential-looking strings with `'[redacted]'`. The hash is computed on the request as sent,
    before redaction, so replay still matches; a response that itself held a credential replays redacted.

Not recorded: requests that failed (no answer came back) and token counting ahead of a request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import threading
import typing
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import CompletedStreamedResponse, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.profiles import DEFAULT_PROFILE, ModelProfile
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from pydantic_core import to_jsonable_python

from ..run.context import RunInfo, current_run

__all__ = (
    'FORMAT_VERSION',
    'RecordingError',
    'RecordingModel',
    'ReplayMissError',
    'ReplayModel',
    'pack',
    'redact',
    'unpack',
)

FORMAT_VERSION = 1
"""Version of the recording format this module writes and reads; a file of another version is refused."""

_FORMAT = 'pytest-agentarch recording'
_NO_DATASET = '_no-dataset'
_OUTSIDE_RUNS = '_outside-runs'
_JUDGE = '_judge'

Role = Literal['run', 'judge']
"""Whose requests a recording holds: the runs' own (`run`) or the judging evaluators' (`judge`)."""
REDACTED = '[redacted]'
"""What `redact` puts in place of a credential."""


class RecordingError(Exception):
    """A recording cannot be written or read: a missing directory, a file of an unknown version or a malformed
    one, or a request with nothing to file it under. The message says what and where."""


class ReplayMissError(Exception):
    """A replayed request has no recorded answer. The message names the run, shows the first difference from the
    closest recorded request of that run, and says how to fix it (record again)."""


# ------------------------------------------------------------------------------------------------ redaction

_ALWAYS_SECRET_KEYS = frozenset(
    {
        'authorization',
        'proxy_authorization',
        'api_key',
        'apikey',
        'x_api_key',
        'x_goog_api_key',
        'api_token',
        'password',
        'passwd',
        'secret',
        'client_secret',
        'secret_key',
        'private_key',
        'aws_secret_access_key',
        'cookie',
        'set_cookie',
    }
)
"""Keys whose string value is a credential whatever it looks like (compared lowercased, `-` read as `_`)."""

_CREDENTIAL_PATTERNS = (
    re.compile(r'(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}'),  # OpenAI, Anthropic (sk-ant-...), and look-alikes
    re.compile(r'\bBearer\s+[A-Za-z0-9._~+/=-]{8,}'),
    re.compile(r'\bAKIA[0-9A-Z]{16}\b'),  # AWS access key id
    re.compile(r'\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,}'),  # GitHub tokens
    re.compile(r'\bgithub_pat_[A-Za-z0-9_]{20,}'),
    re.compile(r'\bxox[abprs]-[A-Za-z0-9-]{10,}'),  # Slack
    re.compile(r'\bAIza[0-9A-Za-z_-]{30,}'),  # Google API key
    re.compile(r'\b(?:gsk|hf)_[A-Za-z0-9]{20,}'),  # Groq, Hugging Face
)
"""Credentials recognized anywhere in a string; each match is replaced."""

_TOKEN_SHAPE = re.compile(r'[A-Za-z0-9._~+/=-]{32,}')


def _secret_key(key: str) -> str | None:
    """`always` for a key that holds credentials, `token` for one that may (a long random value is one)."""
    name = key.lower().replace('-', '_')
    if name in _ALWAYS_SECRET_KEYS:
        return 'always'
    if name.endswith(('token', '_key', 'secret')):
        return 'token'
    return None


def _high_entropy(value: str) -> bool:
    """A 32+ character token of letters and digits, random-looking (Shannon entropy of 3 bits a character or more)."""
    if not _TOKEN_SHAPE.fullmatch(value) or not re.search(r'\d', value) or not re.search(r'[A-Za-z]', value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.0


def _redact_credential(match: re.Match[str]) -> str:
    text = match.group(0)
    # `sk-` is common in ordinary text (`task-...`, `desk-...` are excluded by the look-behind); a key has digits.
    if text.startswith('sk-') and not re.search(r'\d', text):
        return text
    return REDACTED


def _redact_str(value: str) -> str:
    stripped = value.lstrip()
    if stripped[:1] in ('{', '['):
        # Tool-call arguments and structured results often travel as JSON text: look inside for secret keys.
        try:
            parsed = json.loads(value)
        except ValueError:
            pass
        else:
            cleaned = redact(parsed)
            if cleaned != parsed:
                return json.dumps(cleaned, ensure_ascii=False)
    for pattern in _CREDENTIAL_PATTERNS:
        value = pattern.sub(_redact_credential, value)
    return value


def redact(obj: Any) -> Any:
    """A copy of the JSON-like `obj` (dicts, lists, strings, numbers) with every credential replaced by
    `'[redacted]'`.

    - In any string: OpenAI/Anthropic-style keys (`sk-...` with digits), `Bearer <token>`, AWS access key ids,
      GitHub, Slack, Google, Groq and Hugging Face tokens; only the credential is replaced, the text around it stays.
    - The whole string value of a key that holds credentials (`authorization`, `api_key`, `x-api-key`, `password`,
      `secret`, `client_secret`, `private_key`, `cookie`, ...; compared lowercased, `-` read as `_`).
    - The string value of a key that may (`token`, `access_token`, any `..._token`, `..._key`, `...secret`) when it
      is a 32+ character high-entropy token.
    - A string holding a JSON object or array (tool arguments often do) is read, redacted the same way, and written
      back only if something was replaced.

    The input is not changed.
    """
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            kind = _secret_key(key) if isinstance(key, str) else None
            if isinstance(value, str) and value and (kind == 'always' or (kind == 'token' and _high_entropy(value))):
                out[key] = REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return _redact_str(obj)
    return obj


# ------------------------------------------------------------------------------------------------ normalization

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


def _dump_messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    return typing.cast(
        list[dict[str, Any]], ModelMessagesTypeAdapter.dump_python(messages, mode='json', fallback=_fallback)
    )


def _normalized_messages(dumped: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def _normalized_parameters(params: ModelRequestParameters) -> dict[str, Any]:
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


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def _digest(normalized_messages: list[dict[str, Any]], parameters: dict[str, Any]) -> str:
    material = _canonical({'messages': normalized_messages, 'parameters': parameters})
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


def _settings_json(settings: ModelSettings | None) -> dict[str, Any] | None:
    """The settings as stored: JSON, without headers (never stored), redacted."""
    if settings is None:
        return None
    kept = {k: v for k, v in settings.items() if k not in ('extra_headers', 'headers')}
    return typing.cast(dict[str, Any], redact(to_jsonable_python(kept, fallback=_fallback)))


def _profile_json(profile: ModelProfile) -> dict[str, Any]:
    """The JSON-safe part of a model profile (flags, modes, names); types and callables are left out."""
    out: dict[str, Any] = {}
    for key, value in profile.items():
        if key not in DEFAULT_PROFILE:
            continue
        if value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, timedelta):
            out[key] = {'timedelta_seconds': value.total_seconds()}
        elif isinstance(value, frozenset | set) and key == 'supported_native_tools':
            out[key] = sorted(t.__name__ for t in value if isinstance(t, type))
        elif isinstance(value, frozenset | set | tuple | list) and all(isinstance(v, str) for v in value):
            out[key] = sorted(value) if isinstance(value, frozenset | set) else list(value)
    return out


def _profile_from_json(data: Any) -> ModelProfile:
    """A model profile back from `_profile_json` (unknown keys and values of another shape are dropped)."""
    from pydantic_ai import native_tools

    if not isinstance(data, dict):
        return ModelProfile()
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in DEFAULT_PROFILE:
            continue
        default = DEFAULT_PROFILE.get(key)
        if isinstance(value, dict) and 'timedelta_seconds' in value:
            out[key] = timedelta(seconds=float(value['timedelta_seconds']))
        elif key == 'supported_native_tools' and isinstance(value, list):
            found = (getattr(native_tools, name, None) for name in value)
            out[key] = frozenset(t for t in found if isinstance(t, type))
        elif isinstance(value, list):
            out[key] = frozenset(value) if isinstance(default, frozenset) else tuple(value)
        else:
            out[key] = value
    return typing.cast(ModelProfile, out)


# ------------------------------------------------------------------------------------------------ keys and files

_PLAIN_NAME = re.compile(r'[a-z0-9][a-z0-9._-]{0,79}')
_WINDOWS_RESERVED = frozenset(
    {'con', 'prn', 'aux', 'nul', *(f'com{i}' for i in range(1, 10)), *(f'lpt{i}' for i in range(1, 10))}
)


def _slug(name: str) -> str:
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
class _Key:
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
    def of(cls, model: str, run: RunInfo | None, role: Role = 'run') -> _Key:
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
        root = (directory / _JUDGE if self.role == 'judge' else directory) / _slug(self.model)
        if self.test is not None:
            return root / _OUTSIDE_RUNS / f'{_slug(self.test)}.jsonl'
        assert self.architecture is not None and self.case is not None
        dataset = _NO_DATASET if self.dataset is None else _slug(self.dataset)
        return root / dataset / _slug(self.architecture) / f'{_slug(self.case)}.jsonl'

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
        whose = 'judge model' if self.role == 'judge' else 'model'
        if self.test is not None:
            return f'{whose} {self.model!r}, outside any run, in test {self.test!r}'
        dataset = '' if self.dataset is None else f'dataset {self.dataset!r}, '
        judged = 'judging ' if self.role == 'judge' else ''
        return (
            f'{judged}architecture {self.architecture!r}, case {self.case!r}, run index {self.index}, '
            f'{dataset}{whose} {self.model!r}'
        )


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(',', ':')) + '\n').encode()


def _check_header(header: Any, path: Path) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get('format') != _FORMAT or 'version' not in header:
        raise RecordingError(f'{path} is not a pytest-agentarch recording (its first line is not a recording header)')
    if header['version'] != FORMAT_VERSION:
        raise RecordingError(
            f'{path} is a recording of format version {header["version"]!r}; this pytest-agentarch reads version '
            f'{FORMAT_VERSION}. Record again with this version, or replay with the version that recorded it.'
        )
    return header


@dataclass(kw_only=True)
class _Request:
    """A request on its way to the model, as it will be stored."""

    key: _Key
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


def _prepare(
    label: str,
    messages: list[ModelMessage],
    settings: ModelSettings | None,
    params: ModelRequestParameters,
    *,
    stream: bool,
    role: Role,
) -> _Request:
    key = _Key.of(label, current_run(), role)
    dumped = _dump_messages(messages)
    parameters = _normalized_parameters(params)
    return _Request(
        key=key,
        digest=_digest(_normalized_messages(dumped), parameters),
        messages=dumped,
        parameters=parameters,
        settings=_settings_json(settings),
        stream=stream,
    )


# ------------------------------------------------------------------------------------------------ recording


class RecordingModel(WrapperModel):
    """The wrapped model, with every request it answers written down for `ReplayModel` (see the module docstring
    for the files, the key and what is hashed).

    A request is answered by the wrapped model as usual; once its response is complete (for `request_stream`,
    when the stream's block exits without an error) the exchange is appended to its item's file under
    `directory`. Runs executing concurrently in one process (asyncio tasks or threads) are safe: each line is
    written whole under a lock. The first write to a file by this object truncates it, so create one
    `RecordingModel` per session; with `resume=True` it keeps the file and answers what it holds (see the module
    docstring).

    The model label is the run's `RunInfo.model`; `model_label` is used when the run has none and for requests
    made outside any run. A judge (`role='judge'`) is filed under `_judge/<model_label>/`, always with its own
    `model_label`, never the run's model. A request that cannot be filed raises `RecordingError` before the
    wrapped model is called, so nothing unrecorded is paid for.
    """

    def __init__(
        self,
        wrapped: Model,
        directory: Path,
        *,
        model_label: str | None = None,
        role: Role = 'run',
        resume: bool = False,
    ) -> None:
        super().__init__(wrapped)
        self.directory = Path(directory)
        """Where recordings are written."""
        self.model_label = model_label
        """Label used when the run's `RunInfo.model` is empty, and outside runs; always, for a judge."""
        self.role: Role = role
        """Whose requests this model records."""
        self.resume = resume
        """Keep what `directory` already holds: a request it has an answer for is answered from it (nothing is
        sent), the others are sent and appended. Resumes a recording that was interrupted or stopped by a budget."""
        if role == 'judge' and not model_label:
            raise RecordingError('a judge model is recorded under its own label: pass model_label')
        self._kept: dict[Path, _RecordedFile | None] = {}
        self._sent: dict[tuple[_Key, str], int] = {}
        if self.directory.exists() and not self.directory.is_dir():
            raise RecordingError(f'cannot record into {self.directory}: it is a file, not a directory')
        self._lock = threading.Lock()
        self._started: dict[Path, dict[str, Any]] = {}
        self._recorded: dict[tuple[_Key, str], int] = {}
        self._model_header: dict[str, Any] | None = None

    def _label(self) -> str:
        run = current_run()
        label = (run.model if run is not None and self.role == 'run' else '') or self.model_label
        if not label:
            raise RecordingError(
                'cannot record a model request without a model label: the run has no RunInfo.model and the '
                'RecordingModel was given no model_label'
            )
        return label

    def _header(self, key: _Key) -> dict[str, Any]:
        if self._model_header is None:
            wrapped = self.wrapped
            self._model_header = {
                'model_name': wrapped.model_name,
                'system': wrapped.system,
                'base_url': wrapped.base_url,
                'profile': _profile_json(wrapped.profile),
            }
        return {
            'version': FORMAT_VERSION,
            'format': _FORMAT,
            'holds': 'the model requests and responses of the runs of one item, one exchange a line after this one',
            **key.item(),
            **self._model_header,
        }

    def _kept_file(self, key: _Key) -> _RecordedFile | None:
        """The item's file as an earlier session left it (resume mode; call with the lock held), made appendable:
        a last line cut short by a stopped session is dropped from the file."""
        path = key.path(self.directory)
        if path not in self._kept:
            kept = None
            if _located(path) == _packed(path):
                _unpack_file(_packed(path))  # appended to below: plain again
            if path.is_file():
                data = path.read_bytes()
                end = data.rfind(b'\n') + 1
                if end < len(data):
                    with path.open('r+b') as f:
                        f.truncate(end)
                if end == 0:
                    path.unlink()  # not even a whole header: nothing to keep
                else:
                    kept = _RecordedFile.load(path, key)
                    self._started[path] = key.item()
            self._kept[path] = kept
        return self._kept[path]

    def _kept_answer(self, request: _Request) -> ModelResponse | None:
        """In resume mode, the answer the recording already holds for this request (None: send it)."""
        with self._lock:
            slot = (request.key, request.digest)
            occurrence = self._sent.get(slot, 0)
            self._sent[slot] = occurrence + 1
            kept = self._kept_file(request.key)
        entry = kept.entries.get((request.key.index, request.digest, occurrence)) if kept is not None else None
        if kept is None or entry is None:
            return None
        return _response_of(kept.read(entry), kept.path)

    def _record(self, request: _Request, response: ModelResponse) -> None:
        dumped = _dump_messages([response])[0]
        path = request.key.path(self.directory)
        item = request.key.item()
        with self._lock:
            slot = (request.key, request.digest)
            if slot not in self._recorded and self.resume and (kept := self._kept_file(request.key)) is not None:
                # After the identical requests of this run the recording already holds.
                self._recorded[slot] = sum(1 for i, d, _ in kept.entries if (i, d) == (request.key.index, slot[1]))
            occurrence = self._recorded.get(slot, 0)
            exchange = {
                **item,
                'index': request.key.index,
                'hash': request.digest,
                'occurrence': occurrence,
                'stream': request.stream,
                'request': request.messages,
                'parameters': request.parameters,
                'settings': request.settings,
                'response_model': response.model_name,
                'response': dumped,
            }
            data = _line(redact(exchange))
            started = self._started.get(path)
            if started is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                _packed(path).unlink(missing_ok=True)  # this session's recording of the item replaces it
                with path.open('wb') as f:
                    f.write(_line(redact(self._header(request.key))) + data)
                    f.flush()
                self._started[path] = item
            else:
                if started != item:
                    raise RecordingError(f'{path} would hold two items, {started} and {item}; rename one of them')
                with path.open('ab') as f:
                    f.write(data)
                    f.flush()
            self._recorded[slot] = occurrence + 1

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """The wrapped model's response, recorded."""
        pending = _prepare(
            self._label(), messages, model_settings, model_request_parameters, stream=False, role=self.role
        )
        if self.resume and (kept := self._kept_answer(pending)) is not None:
            return kept
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self._record(pending, response)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """The wrapped model's stream; its final response (`StreamedResponse.get()`) is recorded when the block
        exits without an error (a stream left before its end is recorded as far as it got)."""
        pending = _prepare(
            self._label(), messages, model_settings, model_request_parameters, stream=True, role=self.role
        )
        if self.resume and (kept := self._kept_answer(pending)) is not None:
            yield CompletedStreamedResponse(kept, model_request_parameters=model_request_parameters, replay_events=True)
            return
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
        self._record(pending, stream.get())


# ------------------------------------------------------------------------------------------------ replay


@dataclass(kw_only=True)
class _Entry:
    """Where one exchange is in its file, and what it is filed under."""

    index: int | None
    """Run index."""
    digest: str
    """Hash of the request."""
    occurrence: int
    """Occurrence among identical requests of the run."""
    offset: int
    """Byte offset of the line."""
    length: int
    """Byte length of the line."""


@dataclass(kw_only=True)
class _RecordedFile:
    """One item's recording, indexed (exchanges are read from the file when needed)."""

    path: Path
    """The file."""
    header: dict[str, Any]
    """Its header line."""
    entries: dict[tuple[int | None, str, int], _Entry] = field(default_factory=dict)
    """Exchanges by (run index, hash, occurrence)."""
    runs: dict[int | None, list[_Entry]] = field(default_factory=dict)
    """Exchanges of each run, in file order."""
    data: bytes | None = None
    """A packed file's lines, held in memory (a plain file is read where an exchange is, when it is needed)."""

    @classmethod
    def load(cls, path: Path, key: _Key) -> _RecordedFile:
        data = _read(path)
        lines = data.split(b'\n')
        if data.endswith(b'\n'):
            lines.pop()
        elif len(lines) > 1:
            lines.pop()  # the last line of a session that was stopped while writing it: never complete
        if not lines or not lines[0].strip():
            raise RecordingError(f'{path} is empty: it is not a pytest-agentarch recording')
        try:
            header = _check_header(json.loads(lines[0]), path)
        except ValueError:
            raise RecordingError(f'{path} is not a pytest-agentarch recording (its first line is not JSON)') from None
        # A header without `role` predates judge recordings: it holds a run's requests.
        held = {k: header.get(k, 'run' if k == 'role' else None) for k in key.item()}
        if held != key.item():
            raise RecordingError(f'{path} holds {held}, not {key.item()}: the recording directory was altered')
        recorded = cls(path=path, header=header, data=data if _is_packed(path) else None)
        offset = len(lines[0]) + 1
        for number, raw in enumerate(lines[1:], start=2):
            if raw.strip():
                try:
                    exchange = json.loads(raw)
                    entry = _Entry(
                        index=exchange['index'],
                        digest=exchange['hash'],
                        occurrence=exchange['occurrence'],
                        offset=offset,
                        length=len(raw),
                    )
                except (ValueError, KeyError, TypeError):
                    raise RecordingError(f'{path}, line {number}: not a recorded exchange') from None
                recorded.entries.setdefault((entry.index, entry.digest, entry.occurrence), entry)
                recorded.runs.setdefault(entry.index, []).append(entry)
            offset += len(raw) + 1
        return recorded

    def read(self, entry: _Entry) -> dict[str, Any]:
        if self.data is not None:
            line = self.data[entry.offset : entry.offset + entry.length]
        else:
            with self.path.open('rb') as f:
                f.seek(entry.offset)
                line = f.read(entry.length)
        return typing.cast(dict[str, Any], json.loads(line))


def _response_of(exchange: dict[str, Any], path: Path) -> ModelResponse:
    """The model response a recorded exchange holds."""
    (response,) = ModelMessagesTypeAdapter.validate_json(json.dumps([exchange['response']]))
    if not isinstance(response, ModelResponse):
        raise RecordingError(f'{path}: a recorded response is not a model response')
    return response


# --- packed files ---------------------------------------------------------------------------------------------------

_PACKED_SUFFIX = '.gz'


def _is_packed(path: Path) -> bool:
    return path.name.endswith('.jsonl' + _PACKED_SUFFIX)


def _packed(path: Path) -> Path:
    """Where the packed form of the plain file `path` is."""
    return path.with_name(path.name + _PACKED_SUFFIX)


def _located(path: Path) -> Path | None:
    """The file holding the item whose plain file is `path`: that file, its packed form, or None."""
    packed = _packed(path)
    if path.is_file() and packed.is_file():
        raise RecordingError(f'{path} and {packed.name} both hold this item; delete the one that is not its recording')
    return path if path.is_file() else packed if packed.is_file() else None


def _read(path: Path) -> bytes:
    """A recording file's lines, unpacked if it is packed."""
    if not _is_packed(path):
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise RecordingError(
            f'{path} is not a whole gzip file ({exc}): restore it from version control or a good copy'
        ) from None


def _first_line(path: Path) -> bytes:
    if not _is_packed(path):
        with path.open('rb') as f:
            return f.readline()
    return _read(path).split(b'\n', 1)[0]


def _first_jsonl(root: Path) -> Path | None:
    return next(iter(sorted([*root.rglob('*.jsonl'), *root.rglob('*.jsonl' + _PACKED_SUFFIX)])), None)


def pack(directory: Path) -> list[tuple[Path, int, int]]:
    """Replace every plain recording file under `directory` by its packed form (`<case>.jsonl.gz`); returns
    (packed file, plain size, packed size) for each. The packed bytes are checked to unpack to the plain ones
    before the plain file is removed. Not while a session records into `directory`: its next exchange would start
    a plain file beside the packed one.

    Nothing is changed when an item is held both ways with different contents; the same contents both ways (a
    packing that stopped before removing the plain file) keep the packed file only."""
    plains = sorted(Path(directory).rglob('*.jsonl'))
    for plain in plains:
        _check_single_form(plain, _packed(plain))
    done = []
    for plain in plains:
        target = _packed(plain)
        if target.exists():
            plain.unlink()
            continue
        data = plain.read_bytes()
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        if gzip.decompress(packed) != data:  # pragma: no cover - a broken zlib
            raise RecordingError(f'{plain}: its packed form does not unpack to it; nothing was changed')
        partial = target.with_name(target.name + '.partial')
        partial.write_bytes(packed)
        os.replace(partial, target)
        plain.unlink()
        done.append((target, len(data), len(packed)))
    return done


def unpack(directory: Path) -> list[Path]:
    """Replace every packed recording file under `directory` by its plain form; returns the plain files."""
    packs = sorted(Path(directory).rglob('*.jsonl' + _PACKED_SUFFIX))
    for packed in packs:
        _check_single_form(_plain(packed), packed)
    return [_unpack_file(packed) for packed in packs]


def _plain(packed: Path) -> Path:
    return packed.with_name(packed.name.removesuffix(_PACKED_SUFFIX))


def _check_single_form(plain: Path, packed: Path) -> None:
    """Refuse an item held both plain and packed with different contents."""
    if plain.is_file() and packed.is_file() and _read(packed) != plain.read_bytes():
        raise RecordingError(f'{plain} and {packed.name} both hold this item, differently; keep one of them')


def _unpack_file(packed: Path) -> Path:
    """The packed file made plain; callers have refused an item held both ways differently."""
    plain = _plain(packed)
    if plain.exists():
        packed.unlink()  # the same lines both ways: a stopped unpacking
        return plain
    partial = plain.with_name(plain.name + '.partial')
    partial.write_bytes(_read(packed))
    os.replace(partial, plain)
    packed.unlink()
    return plain


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many items `a` and `b` share from their start."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _snippet(now: Any, recorded: Any, width: int = 160) -> str:
    """Both sides as compact JSON from a little before their first difference, truncated."""
    a, b = _canonical(now), _canonical(recorded)
    at = _common_prefix(a, b)
    start = max(0, at - 40)

    def cut(text: str) -> str:
        return ('...' if start else '') + text[start : at + width] + ('...' if len(text) > at + width else '')

    return f'\n  now:      {cut(a)}\n  recorded: {cut(b)}'


class ReplayModel(Model):
    """Answers every request from a recording made by `RecordingModel`, with no network and no other model.

    A request is looked up by the key `RecordingModel` filed it under (the model label `model_label`, and the
    dataset, architecture, case and run index of the current run, or the pytest test outside runs), its hash and
    its occurrence among identical requests of its run, and answered with the recorded response: same parts,
    usage, model and provider names, timestamp, so costs come out as when recorded. The model's own `model_name`,
    `system`, `base_url` and profile are the recorded model's. A request with no recorded answer raises
    `ReplayMissError`. Streamed requests are answered with the recorded response as a stream of whole parts.

    A judge (`role='judge'`) replays the exchanges a judging `RecordingModel` filed under `_judge/`.

    A missing `directory`, or one with no recording for `model_label`, raises `RecordingError` here; a file of an
    unknown version raises it when first used. Each file is read and indexed once, on first use, thread-safe.
    """

    def __init__(self, directory: Path, *, model_label: str, role: Role = 'run') -> None:
        super().__init__()
        self.directory = Path(directory)
        """Where the recording is."""
        self.model_label = model_label
        """Label of the recorded model whose exchanges this model replays."""
        self.role: Role = role
        """Whose requests this model replays."""
        if not self.directory.is_dir():
            raise RecordingError(f'no recording to replay: {self.directory} is not a directory')
        base = self.directory / _JUDGE if role == 'judge' else self.directory
        self._root = base / _slug(model_label)
        if not self._root.is_dir():
            whose = 'judge model' if role == 'judge' else 'model'
            raise RecordingError(
                f'{self.directory} holds no recording for {whose} {model_label!r} '
                f'(it has: {", ".join(map(repr, self._recorded_labels(base))) or "none"}); '
                f'replay with the {whose} label the session was recorded with'
            )
        self._lock = threading.Lock()
        self._files: dict[Path, _RecordedFile | None] = {}
        self._sent: dict[tuple[_Key, str], int] = {}
        self._info: dict[str, Any] | None = None

    def _recorded_labels(self, base: Path) -> list[str]:
        labels: list[str] = []
        for sub in (
            sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith('_')) if base.is_dir() else ()
        ):
            first = _first_jsonl(sub)
            if first is not None:
                try:
                    labels.append(str(json.loads(_first_line(first)).get('model')))
                except (ValueError, AttributeError):
                    continue
        return labels

    def _model_info(self) -> dict[str, Any]:
        with self._lock:
            if self._info is None:
                info: dict[str, Any] = {}
                first = _first_jsonl(self._root)
                if first is not None:
                    try:
                        header = json.loads(_first_line(first))
                    except ValueError:
                        header = None
                    info = _check_header(header, first)
                self._info = info
            return self._info

    @property
    def model_name(self) -> str:
        """The recorded model's name."""
        return str(self._model_info().get('model_name') or self.model_label)

    @property
    def system(self) -> str:
        """The recorded model's provider (`gen_ai.system`)."""
        return str(self._model_info().get('system') or 'replay')

    @property
    def base_url(self) -> str | None:
        """The recorded model's base URL."""
        url = self._model_info().get('base_url')
        return url if isinstance(url, str) else None

    def _provider_model_profile(self) -> ModelProfile:
        return _profile_from_json(self._model_info().get('profile'))

    def _file(self, key: _Key) -> _RecordedFile | None:
        path = key.path(self.directory)
        with self._lock:
            if path not in self._files:
                located = _located(path)
                self._files[path] = _RecordedFile.load(located, key) if located is not None else None
            return self._files[path]

    def _lookup(
        self, messages: list[ModelMessage], params: ModelRequestParameters
    ) -> tuple[_Key, _RecordedFile | None, dict[str, Any] | None, list[dict[str, Any]], dict[str, Any], int]:
        key = _Key.of(self.model_label, current_run(), self.role)
        normalized = _normalized_messages(_dump_messages(messages))
        parameters = _normalized_parameters(params)
        digest = _digest(normalized, parameters)
        with self._lock:
            occurrence = self._sent.get((key, digest), 0)
            self._sent[(key, digest)] = occurrence + 1
        recorded = self._file(key)
        entry = recorded.entries.get((key.index, digest, occurrence)) if recorded is not None else None
        exchange = recorded.read(entry) if recorded is not None and entry is not None else None
        return key, recorded, exchange, normalized, parameters, occurrence

    def _answer(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        key, recorded, exchange, normalized, parameters, occurrence = self._lookup(messages, params)
        if exchange is None:
            raise ReplayMissError(self._miss(key, recorded, normalized, parameters, occurrence))
        return _response_of(exchange, key.path(self.directory))

    def _miss(
        self,
        key: _Key,
        recorded: _RecordedFile | None,
        normalized: list[dict[str, Any]],
        parameters: dict[str, Any],
        occurrence: int,
    ) -> str:
        path = key.path(self.directory)
        head = f'no recorded answer for a model request of {key.describe()} in {path}: '
        fix = (
            '\nThe architecture, its prompts, tools or inputs, or the model requests changed since the recording: '
            'record this session again (--agentarch-record DIR, with the real model), or undo the change.'
        )
        if recorded is None:
            return head + 'nothing was recorded for this item' + fix
        exchanges = [recorded.read(e) for e in recorded.runs.get(key.index, [])]
        if not exchanges:
            runs = sorted(i for i in recorded.runs if i is not None)
            return head + f'the recording has no request of this run (it has run indexes {runs})' + fix
        now = typing.cast(list[dict[str, Any]], redact(normalized))

        def common(messages: list[dict[str, Any]]) -> int:
            return _common_prefix(now, messages)

        candidates = [(_normalized_messages(e['request']), e) for e in exchanges]
        best, exchange = max(
            candidates,
            key=lambda c: (common(c[0]), c[1].get('parameters') == parameters, -abs(len(c[0]) - len(now))),
        )
        same = common(best)
        if same < len(now) and same < len(best):
            detail = (
                f'message {same + 1} of {len(now)} differs from the closest recorded request of this run '
                f'(which shares the first {same}):{_snippet(now[same], best[same])}'
            )
        elif same < len(now):
            detail = (
                f'the request has {len(now)} messages, the closest recorded request of this run only the first '
                f'{same}; message {same + 1} is new:{_snippet(now[same], None)}'
            )
        elif same < len(best):
            detail = (
                f'the request stops after {same} messages, where the closest recorded request of this run goes '
                f'on:{_snippet(None, best[same])}'
            )
        elif exchange.get('parameters') != parameters:
            detail = (
                'the messages match a recorded request of this run, but the tools or output settings differ:'
                f'{_snippet(parameters, exchange.get("parameters"))}'
            )
        else:
            count = sum(e.get('hash') == exchange.get('hash') for e in exchanges)
            detail = (
                f'this exact request was recorded {count} time(s) in this run and is now sent for time {occurrence + 1}'
            )
        return head + detail + fix

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """The recorded response to this request."""
        return self._answer(messages, model_request_parameters)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """The recorded response to this request, streamed one whole part at a time."""
        response = self._answer(messages, model_request_parameters)
        yield CompletedStreamedResponse(response, model_request_parameters=model_request_parameters, replay_events=True)
