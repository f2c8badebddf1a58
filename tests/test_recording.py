"""Recording a session's model requests and replaying them with no model: scripted `FunctionModel`s, never the
network."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.usage import RequestUsage
from pydantic_evals.evaluators import EqualsExpected

from pytest_agentarch.requests.recording import (
    FORMAT_VERSION,
    RecordingError,
    RecordingModel,
    ReplayMissError,
    ReplayModel,
    pack,
    redact,
    unpack,
)
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.context import RunInfo, current_run, run_scope
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case

KEY = 'sk-test-0123456789abcdefghijklmnop'


def run_info(index: int, *, case: str = 'pods', architecture: str = 'fanout', dataset: str | None = 'k8s') -> RunInfo:
    return RunInfo(session_seed=0, case=case, architecture=architecture, index=index, model='scripted', dataset=dataset)


def alpha(q: str) -> str:
    return f'alpha:{q}'


def beta(q: str) -> str:
    return f'beta:{q}'


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding='utf-8').split('\n') if line]


def only_file(directory: Path) -> Path:
    (path,) = directory.rglob('*.jsonl')
    return path


# ------------------------------------------------------------------------------------------------ fan-out runs

# Usage of each scripted response, so a run's totals can be worked out by hand.
FIRST = RequestUsage(input_tokens=100, output_tokens=10)
SECOND = RequestUsage(input_tokens=150, output_tokens=20)
SUMMARY = RequestUsage(input_tokens=300, output_tokens=30)


def fanout_model() -> FunctionModel:
    """Sub-agents of one run send identical first requests. The first to ask is told to call `alpha` but answered
    last (it waits), the second is told to call `beta` at once; each then reports its tool's result. The summary
    agent repeats the prompt it got."""
    asked: Counter[int] = Counter()

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        run = current_run()
        assert run is not None
        if info.instructions == 'Summarize.':
            prompt = messages[-1].parts[-1]
            assert isinstance(prompt, UserPromptPart)
            return ModelResponse(parts=[TextPart(f'summary of {prompt.content}')], usage=SUMMARY)
        last = messages[-1].parts[-1]
        if isinstance(last, ToolReturnPart):
            return ModelResponse(parts=[TextPart(str(last.content))], usage=SECOND)
        asked[run.index] += 1
        if asked[run.index] == 1:
            await asyncio.sleep(0.05)
            return ModelResponse(parts=[ToolCallPart('alpha', {'q': f'run{run.index}'})], usage=FIRST)
        return ModelResponse(parts=[ToolCallPart('beta', {'q': f'run{run.index}'})], usage=FIRST)

    return FunctionModel(respond, model_name='scripted-v1')


async def fanout(model: Any) -> dict[str, Any]:
    """Two concurrent sub-agents with the same prompt, then a summary of their sorted outputs."""

    async def sub_agent() -> Any:
        return await Agent(instructions='Investigate.', tools=[alpha, beta]).run('look at the pods', model=model)

    subs = await asyncio.gather(sub_agent(), sub_agent())
    outputs = sorted(r.output for r in subs)
    summary = await Agent(instructions='Summarize.').run(' | '.join(outputs), model=model)
    results = [*subs, summary]
    return {
        'summary': summary.output,
        'subs': sorted(
            (
                tuple(
                    (p.tool_name, p.args_as_dict())
                    for m in r.all_messages()
                    for p in m.parts
                    if isinstance(p, ToolCallPart)
                ),
                r.output,
            )
            for r in subs
        ),
        'input_tokens': sum(r.usage.input_tokens for r in results),
        'output_tokens': sum(r.usage.output_tokens for r in results),
        'requests': sum(r.usage.requests for r in results),
    }


async def fanout_runs(model: Any, indexes: range) -> list[dict[str, Any]]:
    async def one(index: int) -> dict[str, Any]:
        with run_scope(run_info(index)):
            return await fanout(model)

    return await asyncio.gather(*(one(i) for i in indexes))


def expected_fanout(index: int) -> dict[str, Any]:
    return {
        'summary': f'summary of alpha:run{index} | beta:run{index}',
        'subs': [
            ((('alpha', {'q': f'run{index}'}),), f'alpha:run{index}'),
            ((('beta', {'q': f'run{index}'}),), f'beta:run{index}'),
        ],
        # two sub-agents of two requests each, and the summary
        'input_tokens': 2 * (100 + 150) + 300,
        'output_tokens': 2 * (10 + 20) + 30,
        'requests': 5,
    }


def test_replay_gives_every_run_its_recorded_answers_without_the_model(tmp_path: Path) -> None:
    recorded = asyncio.run(fanout_runs(RecordingModel(fanout_model(), tmp_path), range(3)))
    assert recorded == [expected_fanout(i) for i in range(3)]

    # Replay from new objects; the model that would answer differently is never asked.
    asked: list[str] = []

    def different(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append('asked')
        return ModelResponse(parts=[TextPart('something else')])

    other = FunctionModel(different)
    assert asyncio.run(fanout_runs(other, range(1)))[0]['summary'] != recorded[0]['summary']
    asked.clear()
    replay = ReplayModel(tmp_path, model_label='scripted')
    # The runs in another order.
    replayed = asyncio.run(fanout_runs(replay, range(2, -1, -1)))
    assert replayed == [expected_fanout(i) for i in (2, 1, 0)]
    assert asked == []
    # The recorded model's identity, so usage and costs are attributed as when recorded.
    assert (replay.model_name, replay.system) == ('scripted-v1', 'function')


def test_identical_concurrent_requests_share_their_recorded_answers_each_used_once(tmp_path: Path) -> None:
    """The sub-agent that asked first was answered last, so the recording files its answer (`alpha`) as the second
    occurrence of the request. Which sub-agent gets which answer in a replay is not fixed; what holds is that the
    two identical requests get the two recorded answers, one each, and each sub-agent then goes on as the one that
    got that answer did (its next request matches the recording, or replay would raise)."""
    asyncio.run(fanout_runs(RecordingModel(fanout_model(), tmp_path), range(1)))
    exchanges = lines(only_file(tmp_path))[1:]
    first = [e for e in exchanges if len(e['request']) == 1 and e['request'][0]['instructions'] == 'Investigate.']
    assert len(first) == 2 and first[0]['hash'] == first[1]['hash']
    answers = {e['occurrence']: e['response']['parts'][0]['tool_name'] for e in first}
    assert answers == {0: 'beta', 1: 'alpha'}

    replay = ReplayModel(tmp_path, model_label='scripted')

    async def sub_agent_order() -> list[str]:
        with run_scope(run_info(0)):
            subs = await asyncio.gather(
                *(
                    Agent(instructions='Investigate.', tools=[alpha, beta]).run('look at the pods', model=replay)
                    for _ in range(2)
                )
            )
        return [r.output for r in subs]

    got = asyncio.run(sub_agent_order())
    assert sorted(got) == ['alpha:run0', 'beta:run0']
    # A third identical request in the same run has no recorded answer left.
    third = (
        r'this exact request is recorded 2 time\(s\) in this run \(recorded request \d of 5\) '
        r'and is now sent for time 3'
    )
    with run_scope(run_info(0)), pytest.raises(ReplayMissError, match=third):
        asyncio.run(Agent(instructions='Investigate.', tools=[alpha, beta]).run('look at the pods', model=replay))


# ------------------------------------------------------------------------------------------------ misses


def one_agent_model() -> FunctionModel:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart('alpha', {'q': 'x'})])
        return ModelResponse(parts=[TextPart('done')])

    return FunctionModel(respond)


async def one_agent(model: Any, index: int, instructions: str = 'Check the pods.', prompt: str = 'go') -> str:
    with run_scope(run_info(index, case='crashloop', architecture='single')):
        return (await Agent(instructions=instructions, tools=[alpha]).run(prompt, model=model)).output


def test_a_changed_prompt_misses_naming_the_run_and_the_difference(tmp_path: Path) -> None:
    for index in range(2):
        assert asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path / str(index)), index)) == 'done'
    replay = ReplayModel(tmp_path / '1', model_label='scripted')
    with pytest.raises(ReplayMissError) as caught:
        asyncio.run(one_agent(replay, 1, instructions='Check the nodes.'))
    message = str(caught.value)
    assert (
        "request 1 of the run of architecture 'single', case 'crashloop', run index 1, dataset 'k8s', model 'scripted'"
        in message
    )
    assert 'recorded request 1 of 2, differs at messages[0].instructions:' in message
    assert 'now:      "Check the nodes."' in message and 'recorded: "Check the pods."' in message
    assert 'record this item again' in message

    # A tool that now returns something else: the first request matches, the second differs in its third message.
    def alpha(q: str) -> str:
        return f'ALPHA:{q}'

    replay = ReplayModel(tmp_path / '1', model_label='scripted')
    with run_scope(run_info(1, case='crashloop', architecture='single')), pytest.raises(ReplayMissError) as caught:
        asyncio.run(Agent(instructions='Check the pods.', tools=[alpha]).run('go', model=replay))
    message = str(caught.value)
    assert 'no recorded answer for request 2 of the run' in message
    assert 'recorded request 2 of 2, differs at messages[2].parts[0].content:' in message
    assert 'now:      "ALPHA:x"' in message and 'recorded: "alpha:x"' in message

    # An item that was never recorded.
    with run_scope(run_info(1, case='oom', architecture='single')), pytest.raises(ReplayMissError) as caught:
        asyncio.run(Agent(instructions='Check the pods.', tools=[alpha]).run('go', model=replay))
    assert "case 'oom', run index 1" in str(caught.value) and 'nothing was recorded for this item' in str(caught.value)

    # A run index that was never recorded.
    with pytest.raises(ReplayMissError, match=r'has no request of this run \(it has run indexes \[1\]\)'):
        asyncio.run(one_agent(ReplayModel(tmp_path / '1', model_label='scripted'), 7))


def test_changed_tools_miss_with_the_messages_equal(tmp_path: Path) -> None:
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    replay = ReplayModel(tmp_path, model_label='scripted')

    def alpha(q: str, limit: int = 3) -> str:  # same name, another schema
        return q

    with run_scope(run_info(0, case='crashloop', architecture='single')), pytest.raises(ReplayMissError) as caught:
        asyncio.run(Agent(instructions='Check the pods.', tools=[alpha]).run('go', model=replay))
    message = str(caught.value)
    assert 'differs at parameters.function_tools[0].parameters_json_schema.properties.limit:' in message
    assert 'recorded: (nothing)' in message and '"type":"integer"' in message


def test_timestamps_and_generated_ids_do_not_change_the_match(tmp_path: Path) -> None:
    def conversation(when: datetime, call_id: str, run_id: str, content: str = 'pod-1 is fine') -> list[ModelMessage]:
        return [
            ModelRequest(
                parts=[UserPromptPart('go', timestamp=when)], timestamp=when, run_id=run_id, conversation_id=run_id
            ),
            ModelResponse(
                parts=[ToolCallPart('alpha', {'q': 'x'}, tool_call_id=call_id)],
                timestamp=when,
                run_id=run_id,
                provider_response_id=f'resp-{run_id}',
                usage=RequestUsage(input_tokens=len(run_id)),
            ),
            ModelRequest(
                parts=[ToolReturnPart('alpha', content, tool_call_id=call_id, timestamp=when)],
                timestamp=when,
                run_id=run_id,
            ),
        ]

    params = ModelRequestParameters()
    recording = RecordingModel(FunctionModel(lambda m, i: ModelResponse(parts=[TextPart('ok')])), tmp_path)
    with run_scope(run_info(0)):
        asyncio.run(
            recording.request(conversation(datetime(2025, 1, 1, tzinfo=UTC), 'pyd_ai_1', 'run-a'), None, params)
        )

    replay = ReplayModel(tmp_path, model_label='scripted')
    with run_scope(run_info(0)):
        later = conversation(datetime(2026, 6, 1, tzinfo=UTC), 'pyd_ai_2', 'run-bb')
        response = asyncio.run(replay.request(later, None, params))
        assert response.parts == [TextPart('ok')]
        with pytest.raises(ReplayMissError, match='pod-1 is broken'):
            asyncio.run(replay.request(conversation(datetime.now(UTC), 'c', 'r', 'pod-1 is broken'), None, params))


# ------------------------------------------------------------------------------------------------ files


def test_files_hold_a_header_and_one_line_per_exchange(tmp_path: Path) -> None:
    model = RecordingModel(one_agent_model(), tmp_path)
    for index in range(3):
        asyncio.run(one_agent(model, index))
    path = only_file(tmp_path)
    assert path.relative_to(tmp_path).parts == ('scripted', 'k8s', 'single', 'crashloop.jsonl')
    header, *exchanges = lines(path)
    assert header['version'] == FORMAT_VERSION == 2
    assert header['pydantic_ai_version'] == version('pydantic-ai-slim')
    assert {k: header[k] for k in ('model', 'dataset', 'architecture', 'case', 'test')} == {
        'model': 'scripted',
        'dataset': 'k8s',
        'architecture': 'single',
        'case': 'crashloop',
        'test': None,
    }
    assert header['model_name'] == 'function:respond:' and header['system'] == 'function'
    assert header['profile']['supports_json_schema_output'] is True  # FunctionModel's, not the default profile's
    assert len(exchanges) == 6  # three runs of two requests
    assert sorted((e['index'], len(e['request']), e['occurrence']) for e in exchanges) == [
        (i, n, 0) for i in range(3) for n in (1, 3)
    ]
    for e in exchanges:
        assert (e['model'], e['dataset'], e['architecture'], e['case']) == ('scripted', 'k8s', 'single', 'crashloop')
        assert len(e['hash']) == 32 and e['stream'] is False and e['settings'] is None
        assert isinstance(e['duration'], float) and e['duration'] >= 0
        assert e['response_model'] == e['response']['model_name'] == 'function:respond:'
        assert e['response']['kind'] == 'response' and e['request'][0]['instructions'] == 'Check the pods.'
    assert exchanges[0]['parameters']['function_tools'][0]['name'] == 'alpha'

    # A new session records the item afresh.
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    assert len(lines(path)) == 1 + 2


def test_names_become_distinct_safe_file_names(tmp_path: Path) -> None:
    model = RecordingModel(one_agent_model(), tmp_path, model_label='openai:gpt-4o')
    names = [('Pods', 'single'), ('pods', 'single'), ('a/b c', 'multi agent')]
    for case, architecture in names:
        with run_scope(RunInfo(session_seed=0, case=case, architecture=architecture, index=0)):
            asyncio.run(Agent(tools=[alpha]).run('go', model=model))
    paths = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*.jsonl'))
    assert len(paths) == 3
    assert all(p.startswith('openai-gpt-4o~') and '/_no-dataset/' in p for p in paths)
    assert {Path(p).name.split('~')[0] for p in paths} == {'Pods', 'pods.jsonl', 'a-b-c'}
    assert {lines(tmp_path / p)[0]['case'] for p in paths} == {'Pods', 'pods', 'a/b c'}
    # The label a run does not carry came from `model_label`; replay finds it.
    replay = ReplayModel(tmp_path, model_label='openai:gpt-4o')
    with run_scope(RunInfo(session_seed=0, case='a/b c', architecture='multi agent', index=0)):
        assert asyncio.run(Agent(tools=[alpha]).run('go', model=replay)).output == 'done'


def test_bad_directories_and_versions_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match='is not a directory'):
        ReplayModel(tmp_path / 'missing', model_label='scripted')
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    with pytest.raises(RecordingError, match=r"no recording for model 'gpt' \(it has: 'scripted'\)"):
        ReplayModel(tmp_path, model_label='gpt')
    (tmp_path / 'file').write_text('')
    with pytest.raises(RecordingError, match='it is a file'):
        RecordingModel(one_agent_model(), tmp_path / 'file')

    path = only_file(tmp_path)
    header, *rest = path.read_text().splitlines()
    path.write_text('\n'.join([json.dumps({**json.loads(header), 'version': 3}), *rest]) + '\n')
    replay = ReplayModel(tmp_path, model_label='scripted')  # files are read on first use
    with pytest.raises(RecordingError, match=r'format version 3; this pytest-agentarch reads versions 1, 2\. Upgrade'):
        asyncio.run(one_agent(replay, 0))

    path.write_text('not json\n')
    with pytest.raises(RecordingError, match='not a pytest-agentarch recording'):
        asyncio.run(one_agent(ReplayModel(tmp_path, model_label='scripted'), 0))


def test_a_line_cut_short_by_a_stopped_session_is_ignored(tmp_path: Path) -> None:
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    path = only_file(tmp_path)
    path.write_bytes(path.read_bytes() + b'{"model": "scripted", "ind')
    assert asyncio.run(one_agent(ReplayModel(tmp_path, model_label='scripted'), 0)) == 'done'


def test_any_text_keeps_to_its_line(tmp_path: Path) -> None:
    def alpha(q: str) -> str:
        return 'Pod “web” ünready\u2028second\u2029third\r\nfourth'

    with run_scope(run_info(0, case='text', architecture='single')):
        asyncio.run(Agent(tools=[alpha]).run('go', model=RecordingModel(one_agent_model(), tmp_path / 'text')))
    path = only_file(tmp_path / 'text')
    assert path.read_bytes().count(b'\n') == 3 and 'ünready' in path.read_text(encoding='utf-8')
    _, _, second = lines(path)
    assert second['request'][-1]['parts'][0]['content'] == alpha('x')
    with run_scope(run_info(0, case='text', architecture='single')):
        replay = ReplayModel(tmp_path / 'text', model_label='scripted')
        assert asyncio.run(Agent(tools=[alpha]).run('go', model=replay)).output == 'done'


def test_concurrent_runs_in_threads_and_tasks_write_whole_lines(tmp_path: Path) -> None:
    model = RecordingModel(one_agent_model(), tmp_path)

    def thread(offset: int) -> None:
        async def runs() -> None:
            await asyncio.gather(*(one_agent(model, offset + i) for i in range(10)))

        asyncio.run(runs())

    threads = [threading.Thread(target=thread, args=(10 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, *exchanges = lines(only_file(tmp_path))
    assert sorted(Counter(e['index'] for e in exchanges).items()) == [(i, 2) for i in range(40)]
    replay = ReplayModel(tmp_path, model_label='scripted')
    assert asyncio.run(one_agent(replay, 39)) == 'done'


# ------------------------------------------------------------------------------------------------ outside runs


def test_requests_outside_runs_are_filed_under_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = RecordingModel(one_agent_model(), tmp_path, model_label='scripted')
    assert asyncio.run(Agent(tools=[alpha]).run('go', model=model)).output == 'done'
    header, *exchanges = lines(only_file(tmp_path))
    assert header['test'] == 'tests/test_recording.py::test_requests_outside_runs_are_filed_under_the_test'
    assert (header['architecture'], header['case'], header['dataset']) == (None, None, None)
    assert only_file(tmp_path).parent.name == '_outside-runs'
    assert [e['index'] for e in exchanges] == [None, None]
    assert (
        asyncio.run(Agent(tools=[alpha]).run('go', model=ReplayModel(tmp_path, model_label='scripted'))).output
        == 'done'
    )

    monkeypatch.delenv('PYTEST_CURRENT_TEST')
    with pytest.raises(RecordingError, match='outside any agentarch run and outside any pytest test'):
        asyncio.run(Agent(tools=[alpha]).run('go', model=model))
    with pytest.raises(RecordingError, match='without a model label'):
        asyncio.run(Agent(tools=[alpha]).run('go', model=RecordingModel(one_agent_model(), tmp_path)))


# ------------------------------------------------------------------------------------------------ streaming


def stream_model() -> FunctionModel:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        if len(messages) == 1:
            yield {0: DeltaToolCall(name='alpha', json_args='{"q": "s"}')}
        else:
            yield 'all '
            yield 'pods '
            yield 'healthy'

    return FunctionModel(stream_function=stream, model_name='streamer')


async def streamed(model: Any) -> tuple[str, list[str]]:
    with run_scope(run_info(0, case='stream')):
        async with Agent(tools=[alpha]).run_stream('go', model=model) as result:
            chunks = [c async for c in result.stream_output(debounce_by=None)]
            output = await result.get_output()
    return output, chunks


def test_streamed_requests_record_their_final_response_and_replay(tmp_path: Path) -> None:
    output, _ = asyncio.run(streamed(RecordingModel(stream_model(), tmp_path)))
    assert output == 'all pods healthy'
    _, *exchanges = lines(only_file(tmp_path))
    assert [e['stream'] for e in exchanges] == [True, True]
    assert exchanges[0]['response']['parts'][0]['tool_name'] == 'alpha'
    assert [p['content'] for p in exchanges[1]['response']['parts']] == ['all pods healthy']
    replay = ReplayModel(tmp_path, model_label='scripted')
    assert asyncio.run(streamed(replay))[0] == 'all pods healthy'
    # A streamed recording also answers the same requests made without streaming.
    with run_scope(run_info(0, case='stream')):
        result = asyncio.run(Agent(tools=[alpha]).run('go', model=ReplayModel(tmp_path, model_label='scripted')))
    assert result.output == 'all pods healthy'


# ------------------------------------------------------------------------------------------------ secrets


def test_redact_replaces_credentials_and_keeps_the_rest() -> None:
    assert redact(
        {
            'text': f'use {KEY} now',
            'Authorization': 'Basic dXNlcjpwYXNz',
            'x-api-key': 'short',
            'token': 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8',
            'max_tokens': 800,
            'nested': [
                {'header': 'Bearer abc.def.ghi-123'},
                'task-runner-without-digits-at-all',
                ('risk-0123456789abcdefghij',),
            ],
            'args': json.dumps({'api_key': 'k', 'q': 'pods'}),
            'plain': '{"q": "pods"}',
            'words': 'a token of 32 or more characters is not random text',
        }
    ) == {
        'text': 'use [redacted] now',
        'Authorization': '[redacted]',
        'x-api-key': '[redacted]',
        'token': '[redacted]',
        'max_tokens': 800,
        'nested': [{'header': '[redacted]'}, 'task-runner-without-digits-at-all', ['risk-0123456789abcdefghij']],
        'args': '{"api_key": "[redacted]", "q": "pods"}',
        'plain': '{"q": "pods"}',
        'words': 'a token of 32 or more characters is not random text',
    }
    # A token key with a low-entropy or short value is left alone; other credential shapes anywhere are not.
    assert redact({'token': 'abc', 'next_token': 'page-2'}) == {'token': 'abc', 'next_token': 'page-2'}
    assert redact(['AKIAABCDEFGHIJKLMNOP', 'ghp_0123456789abcdefghijABCDEFGHIJ']) == ['[redacted]', '[redacted]']


def test_secrets_never_reach_the_recording(tmp_path: Path) -> None:
    def vault(name: str) -> str:
        return f'the key for {name} is {KEY}'

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart('vault', {'name': 'prod'})])
        return ModelResponse(parts=[TextPart('stored')])

    async def run(model: Any) -> str:
        agent = Agent(
            instructions=f'Never print {KEY}.',
            tools=[vault],
            model_settings={'extra_headers': {'Authorization': f'Bearer {KEY}'}, 'extra_body': {'user': KEY}},
        )
        with run_scope(run_info(0, case='secrets')):
            return (await agent.run('go', model=model)).output

    assert asyncio.run(run(RecordingModel(FunctionModel(respond), tmp_path))) == 'stored'
    text = ''.join(p.read_text() for p in tmp_path.rglob('*') if p.is_file())
    assert KEY not in text and '0123456789abcdefghijklmnop' not in text
    _, first, second = lines(only_file(tmp_path))
    assert first['request'][0]['instructions'] == 'Never print [redacted].'
    assert first['settings'] == {'extra_body': {'user': '[redacted]'}}  # headers are not stored at all
    assert second['request'][-1]['parts'][0]['content'] == 'the key for prod is [redacted]'
    # The hash is of the request as sent, so the run still replays.
    assert asyncio.run(run(ReplayModel(tmp_path, model_label='scripted'))) == 'stored'


# ------------------------------------------------------------------------------------------------ the runner


def lookup(key: str) -> str:
    return key.upper()


async def priced(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})], usage=RequestUsage(input_tokens=30))
    return ModelResponse(parts=[TextPart('A')], usage=RequestUsage(input_tokens=40, output_tokens=2))


async def lookup_agent(inputs: Any, model: Any) -> str:
    return (await Agent(model, tools=[lookup]).run(inputs)).output


def test_replayed_runner_records_equal_the_recorded_ones(tmp_path: Path) -> None:
    """Through the runner: trajectories, outputs, verdicts, tokens and costs come out as when recorded (the model
    name `gpt-4o` is priced)."""
    install()
    arch = Architecture(name='one', description='', func=lookup_agent)
    case = CaseSpec(name='c', inputs='go', expected_output='A', evaluators=[EqualsExpected()])
    recording = RecordingModel(FunctionModel(priced, model_name='gpt-4o'), tmp_path, model_label='openai:gpt-4o')
    recorded = asyncio.run(run_case(arch, recording, case, RunSettings(runs=3)))
    replay = ReplayModel(tmp_path, model_label='openai:gpt-4o')
    replayed = asyncio.run(run_case(arch, replay, case, RunSettings(runs=3, seed=99)))

    def seen(records: Any) -> list[Any]:
        return [
            (
                r.index,
                r.output,
                r.passed,
                r.trajectory_args,
                [(m.model, m.input_tokens, m.output_tokens, m.cost) for m in r.model_requests],
                r.cost,
            )
            for r in records
        ]

    assert seen(replayed) == seen(recorded)
    assert [(m.model, m.input_tokens, m.output_tokens) for m in recorded[0].model_requests] == [
        ('gpt-4o', 30, 0),
        ('gpt-4o', 40, 2),
    ]
    assert recorded[0].cost is not None and recorded[0].cost > 0 and recorded[0].passed


class CountingModel(WrapperModel):
    """The wrapped model, counting the requests that reach it."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self.asked = 0

    async def request(self, *args: Any, **kwargs: Any) -> ModelResponse:
        self.asked += 1
        return await self.wrapped.request(*args, **kwargs)


def test_resume_keeps_what_is_recorded_and_sends_only_the_rest(tmp_path: Path) -> None:
    asyncio.run(fanout_runs(RecordingModel(fanout_model(), tmp_path), range(3)))
    path = only_file(tmp_path)
    header, *exchanges = path.read_text(encoding='utf-8').splitlines(keepends=True)
    # A session stopped during run 2: two of its five exchanges were written, and a third was cut short.
    kept = [line for line in exchanges if json.loads(line)['index'] < 2] + [
        line for line in exchanges if json.loads(line)['index'] == 2
    ][:2]
    path.write_text(header + ''.join(kept) + '{"model": "scripted", "ind', encoding='utf-8')

    model = CountingModel(fanout_model())
    resumed = asyncio.run(fanout_runs(RecordingModel(model, tmp_path, resume=True), range(4)))
    assert resumed == [expected_fanout(i) for i in range(4)]
    # Runs 0 and 1 come from the file; run 2 sends its 3 missing requests, run 3 all 5.
    assert model.asked == 3 + 5
    assert Counter(e['index'] for e in lines(path)[1:]) == {0: 5, 1: 5, 2: 5, 3: 5}
    # The completed recording replays every run without the model.
    replayed = asyncio.run(fanout_runs(ReplayModel(tmp_path, model_label='scripted'), range(4)))
    assert replayed == [expected_fanout(i) for i in range(4)]


def test_resume_on_an_empty_directory_records_everything(tmp_path: Path) -> None:
    model = CountingModel(fanout_model())
    assert asyncio.run(fanout_runs(RecordingModel(model, tmp_path, resume=True), range(2))) == [
        expected_fanout(i) for i in range(2)
    ]
    assert model.asked == 10
    assert len(lines(only_file(tmp_path))) == 1 + 10


# ------------------------------------------------------------------------------------------------ packed files


def test_packed_recordings_replay_and_resume_like_plain_ones(tmp_path: Path) -> None:
    asyncio.run(fanout_runs(RecordingModel(fanout_model(), tmp_path), range(3)))
    plain = only_file(tmp_path)
    data = plain.read_bytes()
    ((packed, plain_size, packed_size),) = pack(tmp_path)
    assert packed == plain.with_name('pods.jsonl.gz') and not plain.exists()
    # The same lines, compressed; packing again from the same lines gives the same bytes (no time stamp inside).
    assert gzip.decompress(packed.read_bytes()) == data and (plain_size, packed_size) == (
        len(data),
        packed.stat().st_size,
    )
    first_packing = packed.read_bytes()
    assert unpack(tmp_path) == [plain] and plain.read_bytes() == data and not packed.exists()
    pack(tmp_path)
    assert packed.read_bytes() == first_packing

    replay = ReplayModel(tmp_path, model_label='scripted')
    assert asyncio.run(fanout_runs(replay, range(3))) == [expected_fanout(i) for i in range(3)]
    assert (replay.model_name, replay.system) == ('scripted-v1', 'function')

    # Resuming unpacks the item and appends to it: only run 3 reaches the model.
    model = CountingModel(fanout_model())
    resumed = asyncio.run(fanout_runs(RecordingModel(model, tmp_path, resume=True), range(4)))
    assert resumed == [expected_fanout(i) for i in range(4)] and model.asked == 5
    assert not packed.exists() and Counter(e['index'] for e in lines(plain)[1:]) == {0: 5, 1: 5, 2: 5, 3: 5}

    # A fresh recording of the item replaces a packed one instead of standing beside it.
    pack(tmp_path)
    asyncio.run(fanout_runs(RecordingModel(fanout_model(), tmp_path), range(1)))
    assert not packed.exists() and Counter(e['index'] for e in lines(plain)[1:]) == {0: 5}


def test_an_item_held_twice_or_a_broken_packed_file_is_a_clear_error(tmp_path: Path) -> None:
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    plain = only_file(tmp_path)
    packed = plain.with_name('crashloop.jsonl.gz')
    data = plain.read_bytes()
    pack(tmp_path)
    # Packed only: the recorded model's label is still found for the error that names it.
    with pytest.raises(RecordingError, match=r"no recording for model 'gpt' \(it has: 'scripted'\)"):
        ReplayModel(tmp_path, model_label='gpt')

    # Both forms, the same lines (a packing stopped before it removed the plain file): replay refuses to guess,
    # pack keeps the packed file only.
    plain.write_bytes(data)
    with pytest.raises(RecordingError, match=r'crashloop\.jsonl and crashloop\.jsonl\.gz both hold this item'):
        asyncio.run(one_agent(ReplayModel(tmp_path, model_label='scripted'), 0))
    assert pack(tmp_path) == [] and not plain.exists() and packed.exists()

    # Both forms, different lines: neither command changes anything, another item's file included.
    plain.write_bytes(data + data.splitlines(keepends=True)[-1])
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path / 'other'), 0))
    other = only_file(tmp_path / 'other')
    for command in (pack, unpack):
        with pytest.raises(RecordingError, match='both hold this item, differently'):
            command(tmp_path)
        assert plain.exists() and packed.exists() and other.exists()

    plain.unlink()
    packed.write_bytes(packed.read_bytes()[:-20])
    with pytest.raises(RecordingError, match=r'crashloop\.jsonl\.gz is not a whole gzip file'):
        asyncio.run(one_agent(ReplayModel(tmp_path, model_label='scripted'), 0))
    with pytest.raises(RecordingError, match='is not a whole gzip file'):
        ReplayModel(tmp_path, model_label='gpt')  # the header of a broken file is not read as "no label"


def test_the_pack_command_reports_sizes_and_refuses_a_missing_directory(tmp_path: Path) -> None:
    asyncio.run(one_agent(RecordingModel(one_agent_model(), tmp_path), 0))
    size = only_file(tmp_path).stat().st_size
    command = [sys.executable, '-m', 'pytest_agentarch', 'recording']
    done = subprocess.run([*command, 'pack', str(tmp_path)], capture_output=True, text=True, check=False)
    packed_size = next(tmp_path.rglob('*.jsonl.gz')).stat().st_size
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'packed 1 file(s) under {tmp_path}: {size:,} bytes -> {packed_size:,}\n'
    done = subprocess.run([*command, 'unpack', str(tmp_path / 'nope')], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and 'nope is not a directory' in done.stderr
