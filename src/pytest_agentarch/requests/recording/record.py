"""`RecordingModel`: the session's model with every exchange written down (docs/recording-format.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import CompletedStreamedResponse, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from ...reports.metadata import package_version
from ...run.context import current_run
from .files import (
    FORMAT,
    FORMAT_VERSION,
    RecordedFile,
    json_line,
    locate,
    packed_path,
    profile_json,
    response_of,
    unpack_file,
)
from .keys import Key, RecordingError, Request, Role, default_output_mode, dump_messages, prepare
from .redaction import redact

__all__ = ('RecordingModel',)


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
        self._kept: dict[Path, RecordedFile | None] = {}
        self._sent: dict[tuple[Key, str], int] = {}
        if self.directory.exists() and not self.directory.is_dir():
            raise RecordingError(f'cannot record into {self.directory}: it is a file, not a directory')
        self._lock = threading.Lock()
        self._started: dict[Path, dict[str, Any]] = {}
        self._recorded: dict[tuple[Key, str], int] = {}
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

    def _header(self, key: Key) -> dict[str, Any]:
        if self._model_header is None:
            wrapped = self.wrapped
            self._model_header = {
                'model_name': wrapped.model_name,
                'system': wrapped.system,
                'base_url': wrapped.base_url,
                'profile': profile_json(wrapped.profile),
                # what to check first when a replay misses: a release that changed what is sent
                'pydantic_ai_version': package_version('pydantic-ai-slim'),
            }
        return {
            'version': FORMAT_VERSION,
            'format': FORMAT,
            'holds': 'the model requests and responses of the runs of one item, one exchange a line after this one',
            **key.item(),
            **self._model_header,
        }

    def _kept_file(self, key: Key) -> RecordedFile | None:
        """The item's file as an earlier session left it (resume mode; call with the lock held), made appendable:
        a last line cut short by a stopped session is dropped from the file."""
        path = key.path(self.directory)
        if path not in self._kept:
            kept = None
            if locate(path) == packed_path(path):
                unpack_file(packed_path(path))  # appended to below: plain again
            if path.is_file():
                data = path.read_bytes()
                end = data.rfind(b'\n') + 1
                if end < len(data):
                    with path.open('r+b') as f:
                        f.truncate(end)
                if end == 0:
                    path.unlink()  # not even a whole header: nothing to keep
                else:
                    kept = RecordedFile.load(path, key)
                    if kept.header.get('version') != FORMAT_VERSION:
                        raise RecordingError(
                            f'{path} is a recording of format version {kept.header.get("version")!r}; resuming '
                            f'appends version-{FORMAT_VERSION} exchanges, which would mix two versions in one file. '
                            f'Convert the recording first: agentarch recording rekey {self.directory}'
                        )
                    self._started[path] = key.item()
            self._kept[path] = kept
        return self._kept[path]

    def _kept_answer(self, request: Request) -> ModelResponse | None:
        """In resume mode, the answer the recording already holds for this request (None: send it)."""
        with self._lock:
            slot = (request.key, request.digest)
            occurrence = self._sent.get(slot, 0)
            self._sent[slot] = occurrence + 1
            kept = self._kept_file(request.key)
        entry = kept.entries.get((request.key.index, request.digest, occurrence)) if kept is not None else None
        if kept is None or entry is None:
            return None
        return response_of(kept.read(entry), kept.path)

    def _record(self, request: Request, response: ModelResponse, duration: float) -> None:
        dumped = dump_messages([response])[0]
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
                'duration': round(duration, 6),
            }
            data = json_line(redact(exchange))
            started = self._started.get(path)
            if started is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                packed_path(path).unlink(missing_ok=True)  # this session's recording of the item replaces it
                with path.open('wb') as f:
                    f.write(json_line(redact(self._header(request.key))) + data)
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
        pending = prepare(
            self._label(),
            messages,
            model_settings,
            model_request_parameters,
            stream=False,
            role=self.role,
            default_mode=default_output_mode(self.wrapped.profile),
        )
        if self.resume and (kept := self._kept_answer(pending)) is not None:
            return kept
        t0 = time.perf_counter()
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self._record(pending, response, time.perf_counter() - t0)
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
        pending = prepare(
            self._label(),
            messages,
            model_settings,
            model_request_parameters,
            stream=True,
            role=self.role,
            default_mode=default_output_mode(self.wrapped.profile),
        )
        if self.resume and (kept := self._kept_answer(pending)) is not None:
            yield CompletedStreamedResponse(kept, model_request_parameters=model_request_parameters, replay_events=True)
            return
        t0 = time.perf_counter()
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
        self._record(pending, stream.get(), time.perf_counter() - t0)
