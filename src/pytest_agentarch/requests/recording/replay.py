"""`ReplayModel`: every request answered from a recording, with no network and no other model."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import CompletedStreamedResponse, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings

from ...reports.metadata import package_version
from ...run.context import current_counters, current_run
from .files import (
    Entry,
    RecordedFile,
    check_header,
    first_jsonl,
    first_line,
    locate,
    profile_from_json,
    response_of,
)
from .keys import (
    JUDGE,
    Key,
    RecordingError,
    Role,
    canonical,
    canonical_messages,
    canonical_parameters,
    default_output_mode,
    dump_messages,
    hash_of,
    normalized_parameters,
    slug,
)

__all__ = ('ReplayMissError', 'ReplayModel')


class ReplayMissError(Exception):
    """A replayed request has no recorded answer. The message names the item, the run and the request's number in
    it, shows where it first differs from the nearest recorded request of that run, and says what to do (record
    again, or replay with the pydantic-ai release that recorded it)."""


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many items `a` and `b` share from their start."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


_MISSING = object()
"""A side of a difference that has nothing at that path."""


def first_difference(now: Any, recorded: Any, path: str = '') -> tuple[str, Any, Any] | None:
    """Where `now` and `recorded` (JSON-like data) first differ, in document order: the path (`messages[2].parts[0]
    .content`) and both sides there (`_MISSING` for a side that has nothing at that path); None when they are equal."""
    if now == recorded:
        return None
    if isinstance(now, dict) and isinstance(recorded, dict):
        for key in [*now, *(k for k in recorded if k not in now)]:
            where = f'{path}.{key}' if path else key
            found = first_difference(now.get(key, _MISSING), recorded.get(key, _MISSING), where)
            if found is not None:
                return found
    if isinstance(now, list) and isinstance(recorded, list):
        for i in range(max(len(now), len(recorded))):
            found = first_difference(
                now[i] if i < len(now) else _MISSING, recorded[i] if i < len(recorded) else _MISSING, f'{path}[{i}]'
            )
            if found is not None:
                return found
    return path, now, recorded


def _shown(value: Any, other: Any, width: int = 160) -> str:
    """One side of a difference as compact JSON, from a little before where it departs from `other`, truncated."""
    if value is _MISSING:
        return '(nothing)'
    text = canonical(value)
    at = _common_prefix(text, canonical(other)) if other is not _MISSING else 0
    start = max(0, at - 40)
    return ('...' if start else '') + text[start : at + width] + ('...' if len(text) > at + width else '')


def _advice(header: dict[str, Any] | None) -> str:
    """What to do about a miss, with the pydantic-ai release that recorded the file and the one replaying it."""
    running = package_version('pydantic-ai-slim')
    recorded = header.get('pydantic_ai_version') if header is not None else None
    text = (
        '\nWhat to do: if the architecture, its prompts, tools or inputs changed since the recording, record this '
        'item again (--agentarch-record DIR with the real model; add --agentarch-resume to send only what is '
        'missing), or undo the change.'
    )
    if header is None:
        return text
    if recorded is None:
        return text + (
            f' The recording does not say which pydantic-ai release made it (format version {header.get("version")}); '
            f'this session runs pydantic-ai {running}.'
        )
    if recorded != running:
        return text + (
            f' It was recorded with pydantic-ai {recorded} and this session runs {running}: if nothing of yours '
            f'changed, that release changed what it sends; replay with pydantic-ai {recorded}, or record again.'
        )
    return text + f' Recorded with pydantic-ai {recorded}, as this session runs.'


@dataclass(kw_only=True)
class _Lookup:
    """A replayed request, keyed, and what the recording holds for it."""

    key: Key
    """Its item and run."""
    recorded: RecordedFile | None
    """The item's recording; None when nothing was recorded for the item."""
    entry: Entry | None
    """The recorded exchange that answers it; None on a miss."""
    messages: list[dict[str, Any]]
    """Its canonical messages (what is hashed)."""
    parameters: dict[str, Any]
    """Its canonical parameters (what is hashed)."""
    occurrence: int
    """How many identical requests the run sent before it."""
    number: int
    """Its number among the requests of its run, from 1."""


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
        base = self.directory / JUDGE if role == 'judge' else self.directory
        self._root = base / slug(model_label)
        if not self._root.is_dir():
            whose = 'judge model' if role == 'judge' else 'model'
            raise RecordingError(
                f'{self.directory} holds no recording for {whose} {model_label!r} '
                f'(it has: {", ".join(map(repr, self._recorded_labels(base))) or "none"}); '
                f'replay with the {whose} label the session was recorded with'
            )
        self._lock = threading.Lock()
        self._files: dict[Path, RecordedFile | None] = {}
        self._sent: dict[tuple[Key, str], int] = {}
        self._requests: dict[Key, int] = {}
        self._info: dict[str, Any] | None = None

    def _recorded_labels(self, base: Path) -> list[str]:
        labels: list[str] = []
        for sub in (
            sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith('_')) if base.is_dir() else ()
        ):
            first = first_jsonl(sub)
            if first is not None:
                try:
                    labels.append(str(json.loads(first_line(first)).get('model')))
                except (ValueError, AttributeError):
                    continue
        return labels

    def _model_info(self) -> dict[str, Any]:
        with self._lock:
            if self._info is None:
                info: dict[str, Any] = {}
                first = first_jsonl(self._root)
                if first is not None:
                    try:
                        header = json.loads(first_line(first))
                    except ValueError:
                        header = None
                    info = check_header(header, first)
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

    def _default_mode(self) -> str:
        profile = self._model_info().get('profile')
        return default_output_mode(profile if isinstance(profile, dict) else None)

    def _provider_model_profile(self) -> ModelProfile:
        return profile_from_json(self._model_info().get('profile'))

    def _file(self, key: Key) -> RecordedFile | None:
        path = key.path(self.directory)
        with self._lock:
            if path not in self._files:
                located = locate(path)
                self._files[path] = RecordedFile.load(located, key) if located is not None else None
            return self._files[path]

    def _lookup(self, messages: list[ModelMessage], params: ModelRequestParameters) -> _Lookup:
        key = Key.of(self.model_label, current_run(), self.role)
        now = canonical_messages(dump_messages(messages))
        parameters = canonical_parameters(normalized_parameters(params), default_mode=self._default_mode())
        digest = hash_of(now, parameters)
        with self._lock:
            occurrence = self._sent.get((key, digest), 0)
            self._sent[(key, digest)] = occurrence + 1
            number = self._requests.get(key, 0) + 1
            self._requests[key] = number
        recorded = self._file(key)
        entry = recorded.entries.get((key.index, digest, occurrence)) if recorded is not None else None
        return _Lookup(
            key=key,
            recorded=recorded,
            entry=entry,
            messages=now,
            parameters=parameters,
            occurrence=occurrence,
            number=number,
        )

    def _answer(self, messages: list[ModelMessage], params: ModelRequestParameters) -> ModelResponse:
        found = self._lookup(messages, params)
        if found.recorded is None or found.entry is None:
            raise ReplayMissError(self._miss(found))
        if self.role == 'run' and (counters := current_counters()) is not None:
            # The recorded model's latency of the run (a judge's requests are not the run's)
            if counters.replayed is None:
                counters.replayed = []
            counters.replayed.append(found.entry.duration)
        return response_of(found.recorded.read(found.entry), found.key.path(self.directory))

    def _miss(self, found: _Lookup) -> str:
        key, recorded = found.key, found.recorded
        path = key.path(self.directory)
        head = f'no recorded answer for request {found.number} of the run of {key.describe()}, in {path}: '
        if recorded is None:
            return head + 'nothing was recorded for this item.' + _advice(None)
        fix = _advice(recorded.header)
        entries = recorded.runs.get(key.index, [])
        if not entries:
            runs = sorted(i for i in recorded.runs if i is not None)
            return head + f'the recording has no request of this run (it has run indexes {runs}).' + fix
        now = {'messages': found.messages, 'parameters': found.parameters}
        candidates = []
        for position, entry in enumerate(entries, start=1):
            exchange = recorded.read(entry)
            candidates.append(
                (
                    position,
                    {
                        'messages': canonical_messages(exchange['request']),
                        'parameters': canonical_parameters(exchange['parameters'], default_mode=self._default_mode()),
                    },
                )
            )

        def nearness(candidate: tuple[int, dict[str, Any]]) -> tuple[int, bool, int, int]:
            position, then = candidate
            return (
                _common_prefix(found.messages, then['messages']),
                then['parameters'] == found.parameters,
                -abs(len(then['messages']) - len(found.messages)),
                -abs(position - found.number),
            )

        position, nearest = max(candidates, key=nearness)
        difference = first_difference(now, nearest)
        if difference is None:
            count = sum(then == now for _, then in candidates)
            detail = (
                f'this exact request is recorded {count} time(s) in this run (recorded request {position} of '
                f'{len(entries)}) and is now sent for time {found.occurrence + 1}.'
            )
        else:
            where, a, b = difference
            detail = (
                f'the nearest recorded request of this run, recorded request {position} of {len(entries)}, differs at '
                f'{where}:\n  now:      {_shown(a, b)}\n  recorded: {_shown(b, a)}'
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
