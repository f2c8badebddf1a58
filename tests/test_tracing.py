"""Tracing export: with the standard `OTEL_EXPORTER_OTLP_*` variables set, every run's spans reach that OTLP/HTTP
endpoint under a root span naming the run. The endpoint is a receiver the test starts on 127.0.0.1, decoding the
protobuf requests as a collector would."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import XDIST
from pytest_agentarch.run import tracing


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    attributes: dict[str, Any]


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1 that keeps every span it is sent."""

    url: str = ''
    spans: list[Span] = field(default_factory=list[Span])
    paths: list[str] = field(default_factory=list[str])


def _value(v: Any) -> Any:
    kind = v.WhichOneof('value')
    return getattr(v, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
            if self.headers.get('Content-Encoding') == 'gzip':
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with lock:
                received.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for s in scope.spans:
                            received.spans.append(
                                Span(
                                    name=s.name,
                                    trace_id=s.trace_id,
                                    span_id=s.span_id,
                                    parent_id=s.parent_span_id,
                                    attributes={a.key: _value(a.value) for a in s.attributes},
                                )
                            )
            self.send_response(200)
            self.send_header('Content-Type', 'application/x-protobuf')
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


ARCHITECTURE = """
    from pydantic_ai import Agent

    from pytest_agentarch import architecture


    def lookup(key: str) -> str:
        return f'value of {key}'


    @architecture('looker')
    async def looker(inputs, model):
        agent = Agent(model, tools=[lookup], instructions='Call lookup for the key, then answer with its value.')
        return (await agent.run(f'key {inputs}')).output
"""

CASES = """
    name: demo
    cases:
      - name: first
        inputs: a
      - name: second
        inputs: b
"""


@pytest.mark.parametrize('xdist', XDIST)
def test_every_run_reaches_the_otlp_endpoint_under_a_root_naming_it(
    project: Callable[..., pytest.Pytester],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    pytester = project(ARCHITECTURE, cases=CASES)
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', f'{receiver.url}/v1/traces')
    result = pytester.runpytest_subprocess(
        '-p', 'no:cacheprovider', '--runs=3', '--agentarch-seed=7', '--agentarch-memory=off', *xdist, timeout=300
    )
    result.assert_outcomes(passed=2)
    assert set(receiver.paths) == {'/v1/traces'}
    roots = [s for s in receiver.spans if s.name == 'agentarch run']
    # 2 cases x 3 runs, each its own root.
    assert sorted((r.attributes['agentarch.case'], r.attributes['agentarch.run_index']) for r in roots) == [
        ('first', 0),
        ('first', 1),
        ('first', 2),
        ('second', 0),
        ('second', 1),
        ('second', 2),
    ]
    for root in roots:
        assert root.attributes['agentarch.architecture'] == 'looker'
        assert root.attributes['agentarch.dataset'] == 'demo'
        assert root.attributes['agentarch.model'] == 'test'  # the test projects' model (conftest INI)
        assert root.attributes['agentarch.seed'] == 7
        # The run's own spans hang under it: its agent run, whose model requests and tool call are further down.
        children = [s for s in receiver.spans if s.parent_id == root.span_id]
        assert [c.name for c in children] == ['invoke_agent agent']
        in_trace = {s.name for s in receiver.spans if s.trace_id == root.trace_id}
        assert 'execute_tool lookup' in in_trace and any(n.startswith('chat ') for n in in_trace), in_trace


def test_no_variable_exports_nothing(
    project: Callable[..., pytest.Pytester], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'LOGFIRE_TOKEN'):
        monkeypatch.delenv(name, raising=False)
    pytester = project(ARCHITECTURE, cases=CASES)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--runs=2', timeout=300).assert_outcomes(passed=2)
    assert receiver.spans == []


def test_the_destination_follows_the_environment() -> None:
    assert tracing.destination({}) is None
    assert tracing.destination({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:4318'}) == 'otlp'
    assert tracing.destination({'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT': 'http://127.0.0.1:4318/v1/traces'}) == 'otlp'
    assert tracing.destination({'LOGFIRE_TOKEN': 'pylf_v1_x', 'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://x'}) == 'logfire'
    assert tracing.destination({'LOGFIRE_TOKEN': '  ', 'OTEL_EXPORTER_OTLP_ENDPOINT': ''}) is None
