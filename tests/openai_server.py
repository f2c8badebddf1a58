"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests that drive pydantic-ai's real `openai` models.

It speaks `POST /v1/chat/completions` (pydantic-ai's `openai-chat:` models) and `POST /v1/responses` (`openai:`),
plain and streamed (server-sent events), well enough for text, several tool calls in one response, structured
output (a `final_result` tool call) and usage. What it answers is decided per request by a script the test sets:

- a callable `script(request: Received) -> Reply`, which sees the request's body, its index `n`, the
  conversation `turn` (model responses already in it) and its `prompt`; or
- a sequence of replies, the n-th answering the n-th request (the last one repeats).

A `Reply` is API-neutral and rendered for the endpoint asked: `text`, `tool_calls`, `final` and `failure`
(HTTP error with a JSON body, optional `Retry-After`), `delay` (sleep before answering, to outlast a client
timeout), `drop` (close the connection without a response) or `cut_after` (a stream broken off after some events).

Every request is recorded (`Received`: arrival `time.monotonic()`, path, body, lowercased headers) before it is
answered, so tests can count attempts, measure request rates and check headers.

The `openai_server` fixture starts one server per test, in a thread of the test process, so a pytester subprocess
reaches it through `OPENAI_BASE_URL` (`server.env()`) while the test still scripts it. Run as a program,
`python tests/openai_server.py --port-file F --script S.py` serves `S.py`'s `script` until interrupted.

Test modules load the fixture with `pytest_plugins = ['openai_server']` and import the helpers from here too, so
this module is imported before pytest sees it as a plugin; it asks not to be assertion-rewritten (it has no test
asserts), which keeps pytest from warning that it cannot rewrite it: PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = (
    'Received',
    'Reply',
    'ScriptedOpenAIServer',
    'ToolCall',
    'conversation',
    'failure',
    'final',
    'openai_server',
    'rate_limited',
    'text',
    'tool_calls',
)

CHAT_PATH = '/v1/chat/completions'
RESPONSES_PATH = '/v1/responses'
CREATED = 1_700_000_000
"""A fixed `created` timestamp: answers do not depend on the clock."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asks for."""

    name: str
    args: Mapping[str, Any] | str = field(default_factory=dict)
    """Arguments as a mapping (sent as JSON) or as the raw argument text."""

    @property
    def arguments(self) -> str:
        """The arguments as the API sends them: a JSON string."""
        return self.args if isinstance(self.args, str) else json.dumps(self.args)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What the server answers one request with, whichever API it came through."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    status: int = 200
    error: Mapping[str, Any] | None = None
    """JSON body of an error reply (`status` >= 400); a generic one for the status when None."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers, e.g. `Retry-After`."""
    delay: float = 0.0
    """Seconds to wait before answering (the connection stays open and silent)."""
    drop: bool = False
    """Close the connection without sending any response."""
    cut_after: int | None = None
    """For a streamed request: send only this many events, then close the connection mid-body."""


def text(content: str, **kwargs: Any) -> Reply:
    """A plain text answer."""
    return Reply(text=content, **kwargs)


def tool_calls(*calls: ToolCall | tuple[str, Mapping[str, Any] | str] | str, **kwargs: Any) -> Reply:
    """One response asking for every call given: `ToolCall`s, `(name, args)` pairs or bare names."""
    parsed = [c if isinstance(c, ToolCall) else ToolCall(c) if isinstance(c, str) else ToolCall(*c) for c in calls]
    return Reply(tool_calls=tuple(parsed), **kwargs)


def final(output: Mapping[str, Any], *, tool: str = 'final_result', **kwargs: Any) -> Reply:
    """Structured output: pydantic-ai's output tool called with `output`."""
    return tool_calls(ToolCall(tool, dict(output)), **kwargs)


def failure(status: int, message: str = '', *, retry_after: float | None = None, **kwargs: Any) -> Reply:
    """An HTTP error with an OpenAI-style JSON error body and, if given, a `Retry-After` header (seconds)."""
    kind = {400: 'invalid_request_error', 429: 'rate_limit_exceeded'}.get(status, 'server_error')
    headers = dict(kwargs.pop('headers', {}))
    if retry_after is not None:
        headers['Retry-After'] = f'{retry_after:g}'
    body = {'error': {'message': message or f'scripted {status}', 'type': kind, 'param': None, 'code': kind}}
    return Reply(status=status, error=body, headers=headers, **kwargs)


def rate_limited(retry_after: float | None = 1, **kwargs: Any) -> Reply:
    """HTTP 429 with `Retry-After: retry_after`."""
    return failure(429, 'Rate limit reached', retry_after=retry_after, **kwargs)


@dataclass(frozen=True)
class Received:
    """One request as the server received it."""

    n: int
    """0-based index among the requests this server received."""
    arrival: float
    """`time.monotonic()` when its body had been read."""
    method: str
    path: str
    headers: Mapping[str, str]
    """Header names lowercased."""
    body: Any
    """The parsed JSON body (None if there was none or it was not JSON)."""

    @property
    def api(self) -> str:
        """`chat` or `responses`, from the path."""
        return 'responses' if self.path.rstrip('/').endswith('/responses') else 'chat'

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streamed response."""
        return isinstance(self.body, dict) and bool(self.body.get('stream'))

    @property
    def items(self) -> list[dict[str, Any]]:
        """The conversation: chat `messages` or responses `input` items."""
        if not isinstance(self.body, dict):
            return []
        items = self.body.get('messages' if self.api == 'chat' else 'input') or []
        if isinstance(items, str):
            return [{'role': 'user', 'content': items}]
        return [i for i in items if isinstance(i, dict)]

    @property
    def turn(self) -> int:
        """How many model responses the conversation already holds: 0 for an agent run's first request.

        A chat response is one `assistant` message; a responses-API response is a run of consecutive output items
        (assistant messages, function calls) in `input`.
        """
        if self.api == 'chat':
            return sum(1 for m in self.items if m.get('role') == 'assistant')
        turns, inside = 0, False
        for item in self.items:
            produced = item.get('type') in {'function_call', 'reasoning'} or item.get('role') == 'assistant'
            if produced and not inside:
                turns += 1
            inside = produced
        return turns

    @property
    def prompt(self) -> str:
        """The text of the first user message (an agent run's inputs)."""
        for item in self.items:
            if item.get('role') == 'user':
                content = item.get('content')
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return ''.join(str(p.get('text', '')) for p in content if isinstance(p, dict))
        return ''

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the request offers."""
        tools = self.body.get('tools') if isinstance(self.body, dict) else None
        names: list[str] = []
        for tool in tools or []:
            # chat: {'type': 'function', 'function': {'name': ...}}; responses: {'type': 'function', 'name': ...}
            fn = tool.get('function', tool) if isinstance(tool, dict) else None
            if isinstance(fn, dict) and 'name' in fn:
                names.append(str(fn['name']))
        return names


Script = Callable[[Received], Reply] | Sequence[Reply]
"""A callable deciding each reply, or the replies in request order (the last one repeats)."""


def conversation(steps: Sequence[Reply]) -> Callable[[Received], Reply]:
    """A script answering each request with `steps[turn]` (the last step repeats).

    It depends only on the conversation, never on arrival order, so concurrent agent runs each follow it.
    """
    if not steps:
        raise ValueError('conversation needs at least one step')
    return lambda request: steps[min(request.turn, len(steps) - 1)]


# ---------------------------------------------------------------------------------------------------------------
# Rendering a Reply for each API


def _usage(reply: Reply, api: str) -> dict[str, Any]:
    total = reply.input_tokens + reply.output_tokens
    if api == 'chat':
        return {'prompt_tokens': reply.input_tokens, 'completion_tokens': reply.output_tokens, 'total_tokens': total}
    return {
        'input_tokens': reply.input_tokens,
        'output_tokens': reply.output_tokens,
        'total_tokens': total,
        'input_tokens_details': {'cached_tokens': 0},
        'output_tokens_details': {'reasoning_tokens': 0},
    }


def _chat_tool_calls(reply: Reply, n: int) -> list[dict[str, Any]]:
    return [
        {'id': f'call_{n}_{i}', 'type': 'function', 'function': {'name': c.name, 'arguments': c.arguments}}
        for i, c in enumerate(reply.tool_calls)
    ]


def chat_completion(reply: Reply, n: int, model: str) -> dict[str, Any]:
    """The `chat.completion` object for `reply`."""
    message: dict[str, Any] = {'role': 'assistant', 'content': reply.text, 'refusal': None}
    if reply.tool_calls:
        message['tool_calls'] = _chat_tool_calls(reply, n)
    return {
        'id': f'chatcmpl-{n}',
        'object': 'chat.completion',
        'created': CREATED,
        'model': model,
        'choices': [
            {
                'index': 0,
                'message': message,
                'logprobs': None,
                'finish_reason': 'tool_calls' if reply.tool_calls else 'stop',
            }
        ],
        'usage': _usage(reply, 'chat'),
    }


def chat_chunks(reply: Reply, n: int, model: str) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` events for `reply`, usage in the last one."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            'id': f'chatcmpl-{n}',
            'object': 'chat.completion.chunk',
            'created': CREATED,
            'model': model,
            'choices': choices,
            **extra,
        }

    def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {'index': 0, 'delta': d, 'logprobs': None, 'finish_reason': finish}

    chunks = [chunk([delta({'role': 'assistant', 'content': ''})])]
    if reply.text:
        # Two pieces, so a client really assembles the text from deltas.
        half = len(reply.text) // 2
        chunks += [chunk([delta({'content': piece})]) for piece in (reply.text[:half], reply.text[half:]) if piece]
    for i, call in enumerate(_chat_tool_calls(reply, n)):
        chunks.append(chunk([delta({'tool_calls': [{'index': i, **call}]})]))
    chunks.append(chunk([delta({}, 'tool_calls' if reply.tool_calls else 'stop')]))
    chunks.append(chunk([], usage=_usage(reply, 'chat')))
    return chunks


def _response_items(reply: Reply, n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.text is not None:
        items.append(
            {
                'type': 'message',
                'id': f'msg_{n}',
                'role': 'assistant',
                'status': 'completed',
                'content': [{'type': 'output_text', 'text': reply.text, 'annotations': [], 'logprobs': []}],
            }
        )
    for i, c in enumerate(reply.tool_calls):
        items.append(
            {
                'type': 'function_call',
                'id': f'fc_{n}_{i}',
                'call_id': f'call_{n}_{i}',
                'name': c.name,
                'arguments': c.arguments,
                'status': 'completed',
            }
        )
    return items


def response_object(reply: Reply, n: int, model: str, *, status: str = 'completed') -> dict[str, Any]:
    """The responses-API `response` object for `reply` (no output and no usage while `in_progress`)."""
    done = status == 'completed'
    return {
        'id': f'resp_{n}',
        'object': 'response',
        'created_at': CREATED,
        'model': model,
        'status': status,
        'error': None,
        'incomplete_details': None,
        'instructions': None,
        'metadata': {},
        'output': _response_items(reply, n) if done else [],
        'parallel_tool_calls': True,
        'temperature': None,
        'tool_choice': 'auto',
        'tools': [],
        'top_p': None,
        'usage': _usage(reply, 'responses') if done else None,
    }


def response_events(reply: Reply, n: int, model: str) -> list[dict[str, Any]]:
    """The responses-API stream events for `reply`."""
    events: list[dict[str, Any]] = [
        {'type': 'response.created', 'response': response_object(reply, n, model, status='in_progress')}
    ]
    for index, item in enumerate(_response_items(reply, n)):
        if item['type'] == 'message':
            opened = {**item, 'status': 'in_progress', 'content': []}
            events.append({'type': 'response.output_item.added', 'output_index': index, 'item': opened})
            part = {'type': 'output_text', 'text': '', 'annotations': [], 'logprobs': []}
            common = {'item_id': item['id'], 'output_index': index, 'content_index': 0}
            events.append({'type': 'response.content_part.added', **common, 'part': part})
            events.append({'type': 'response.output_text.delta', **common, 'delta': reply.text, 'logprobs': []})
            events.append({'type': 'response.output_text.done', **common, 'text': reply.text, 'logprobs': []})
            events.append({'type': 'response.content_part.done', **common, 'part': item['content'][0]})
        else:
            events.append({'type': 'response.output_item.added', 'output_index': index, 'item': item})
        events.append({'type': 'response.output_item.done', 'output_index': index, 'item': item})
    events.append({'type': 'response.completed', 'response': response_object(reply, n, model)})
    for seq, event in enumerate(events):
        event['sequence_number'] = seq
    return events


def _sse(events: Sequence[Mapping[str, Any]], api: str) -> list[bytes]:
    out = [(f'event: {e["type"]}\n' if api == 'responses' else '') + f'data: {json.dumps(e)}\n\n' for e in events]
    if api == 'chat':
        out.append('data: [DONE]\n\n')
    return [o.encode() for o in out]


# ---------------------------------------------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, as real providers do: the client pools connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `ScriptedOpenAIServer.requests`, not an access log."""

    def do_GET(self) -> None:
        self._send_json(404, {'error': {'message': f'no GET {self.path}', 'type': 'not_found'}})

    def do_POST(self) -> None:
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        owner = self.server.owner
        request = owner._record(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if request.path.rstrip('/') not in (CHAT_PATH, RESPONSES_PATH):
            self._send_json(404, {'error': {'message': f'no route {self.path}', 'type': 'not_found'}})
            return
        try:
            reply = owner._reply_for(request)
        except Exception:
            owner.errors.append(traceback.format_exc())
            self._send_json(500, {'error': {'message': 'the test script raised', 'type': 'script_error'}})
            return
        if reply.delay and owner._stopping.wait(reply.delay):
            reply = Reply(drop=True)  # the server is shutting down: do not answer late
        if reply.drop:
            self.close_connection = True
            return
        if reply.status >= 400:
            error = reply.error or {'error': {'message': f'scripted {reply.status}', 'type': 'server_error'}}
            self._send_json(reply.status, error, reply.headers)
            return
        model = str(body.get('model', 'scripted')) if isinstance(body, dict) else 'scripted'
        if request.stream:
            events = (
                chat_chunks(reply, request.n, model)
                if request.api == 'chat'
                else response_events(reply, request.n, model)
            )
            self._send_stream(_sse(events, request.api), reply)
            return
        obj = (
            chat_completion(reply, request.n, model)
            if request.api == 'chat'
            else response_object(reply, request.n, model)
        )
        self._send_json(reply.status, obj, reply.headers)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        with contextlib.suppress(OSError):  # the client may have given up (timeout) and closed
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    def _send_stream(self, events: list[bytes], reply: Reply) -> None:
        # The whole body is known, so it goes with a Content-Length; a cut stream declares it all and sends part.
        data = b''.join(events)
        sent = data if reply.cut_after is None else b''.join(events[: reply.cut_after])
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            self.send_header('Content-Type', 'text/event-stream')
            self.send_header('Content-Length', str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
        if reply.cut_after is not None:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (and woken first), so none outlives the fixture.
    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: ScriptedOpenAIServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(('127.0.0.1', 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up is normal here (timeouts, closed pools); anything else is a bug worth seeing."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def wake_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections, so they end."""
        with self._lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class ScriptedOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 answering what its `script` says, recording every request.

    Use it as a context manager (or `start()` / `close()`); the `openai_server` fixture does that for a test.
    """

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script if script is not None else [text('ok')]
        """How requests are answered; may be replaced at any time (it is read per request)."""
        self.errors: list[str] = []
        """Tracebacks of script calls that raised (the request got a 500)."""
        self._requests: list[Received] = []
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None, 'the server is not started'
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: what `OpenAIProvider(base_url=...)` or `OPENAI_BASE_URL` takes."""
        return f'http://127.0.0.1:{self.port}/v1'

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def env(self, api_key: str = 'test-key') -> dict[str, str]:
        """Environment variables that point pydantic-ai's `openai` provider here (for a subprocess)."""
        return {'OPENAI_BASE_URL': self.base_url, 'OPENAI_API_KEY': api_key}

    def clear(self) -> None:
        """Forget the requests received so far (numbering goes on)."""
        with self._lock:
            self._requests.clear()

    def start(self) -> ScriptedOpenAIServer:
        """Bind a free port and serve in a background thread."""
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake sleeping and idle handlers, and join every thread; closes every socket."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.wake_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> Received:
        with self._lock:
            n, self._count = self._count, self._count + 1
            request = Received(n=n, arrival=time.monotonic(), method=method, path=path, headers=headers, body=body)
            self._requests.append(request)
        return request

    def _reply_for(self, request: Received) -> Reply:
        script = self.script
        if callable(script):
            return script(request)
        if not script:
            raise ValueError('the script is an empty sequence')
        return script[min(request.n, len(script) - 1)]


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A started `ScriptedOpenAIServer` (script: answer `ok`), closed after the test."""
    with ScriptedOpenAIServer() as server:
        yield server


def _load_script(path: str) -> Script:
    spec = importlib.util.spec_from_file_location('openai_server_script', path)
    if spec is None or spec.loader is None:
        raise SystemExit(f'cannot load a script from {path}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    script: Script = module.script
    return script


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the port is written to `--port-file` once the server listens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument('--port-file', required=True, help='file to write the listening port to')
    parser.add_argument('--script', help='Python file defining `script` (a callable or a list of Reply)')
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ScriptedOpenAIServer(_load_script(args.script) if args.script else None) as server:
        tmp = Path(args.port_file + '.tmp')
        tmp.write_text(str(server.port))
        tmp.replace(args.port_file)  # atomically: a reader never sees a partial port
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == '__main__':
    main()
