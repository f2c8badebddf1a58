"""`ReplayModel`: every request answered from a recording, with no network and no other model."""

from __future__ import annotations

import json
import threading
import typing
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import CompletedStreamedResponse, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings

from ...run.context import current_run
from .files import RecordedFile, check_header, first_jsonl, first_line, locate, profile_from_json, response_of
from .keys import (
    JUDGE,
    Key,
    RecordingError,
    Role,
    canonical,
    dump_messages,
    hash_of,
    normalized_messages,
    normalized_parameters,
    slug,
)
from .redaction import redact

__all__ = ('ReplayMissError', 'ReplayModel')


class ReplayMissError(Exception):
    """A replayed request has no recorded answer. The message names the run, shows the first difference from the
    closest recorded request of that run, and says how to fix it (record again)."""


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many items `a` and `b` share from their start."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _snippet(now: Any, recorded: Any, width: int = 160) -> str:
    """Both sides as compact JSON from a little before their first difference, truncated."""
    a, b = canonical(now), canonical(recorded)
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

    def _provider_model_profile(self) -> ModelProfile:
        return profile_from_json(self._model_info().get('profile'))

    def _file(self, key: Key) -> RecordedFile | None:
        path = key.path(self.directory)
        with self._lock:
            if path not in self._files:
                located = locate(path)
                self._files[path] = RecordedFile.load(located, key) if located is not None else None
            return self._files[path]

    def _lookup(
        self, messages: list[ModelMessage], params: ModelRequestParameters
    ) -> tuple[Key, RecordedFile | None, dict[str, Any] | None, list[dict[str, Any]], dict[str, Any], int]:
        key = Key.of(self.model_label, current_run(), self.role)
        normalized = normalized_messages(dump_messages(messages))
        parameters = normalized_parameters(params)
        digest = hash_of(normalized, parameters)
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
        return response_of(exchange, key.path(self.directory))

    def _miss(
        self,
        key: Key,
        recorded: RecordedFile | None,
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

        candidates = [(normalized_messages(e['request']), e) for e in exchanges]
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
