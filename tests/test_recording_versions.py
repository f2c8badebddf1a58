"""Recordings across pydantic-ai releases and format versions: the key is built from what reaches the model only, a
version-1 file is keyed again from the requests it stores (on the fly, or for good with `agentarch recording
rekey`), and a miss says where the request differs and which release recorded it."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch.cli import main
from pytest_agentarch.requests.recording import RecordingError, RecordingModel, ReplayMissError, ReplayModel, pack
from pytest_agentarch.requests.recording.keys import canonical_messages, canonical_parameters, stored_hash
from pytest_agentarch.run.context import RunInfo, run_scope

# ------------------------------------------------------------------------------------------------ the key

# One exchange's request as two releases serialize it (`ModelMessagesTypeAdapter` JSON). The newer form has fields
# the older lacks (`state`, a tool return's `retry`, a response's `history_digest`...), other timestamps, run ids and
# tool call ids, and its tool call arguments as an object where the older has a JSON string.
OLDER = [
    {
        'parts': [
            {'content': 'Is pod web-1 healthy?', 'timestamp': '2026-01-01T00:00:00Z', 'part_kind': 'user-prompt'}
        ],
        'instructions': 'You check pods.',
        'kind': 'request',
        'run_id': 'run-a',
        'timestamp': '2026-01-01T00:00:00Z',
    },
    {
        'parts': [
            {
                'tool_name': 'pod_status',
                'args': '{\n  "name": "web-1"\n}',
                'tool_call_id': 'call_abc',
                'part_kind': 'tool-call',
            }
        ],
        'usage': {'input_tokens': 10, 'output_tokens': 5},
        'model_name': 'qwen',
        'kind': 'response',
        'provider_response_id': 'chatcmpl-1',
    },
    {
        'parts': [
            {
                'tool_name': 'pod_status',
                'content': {'phase': 'Running', 'restarts': 0},
                'tool_call_id': 'call_abc',
                'outcome': 'success',
                'part_kind': 'tool-return',
            }
        ],
        'instructions': 'You check pods.',
        'kind': 'request',
    },
]
NEWER = [
    {
        'parts': [
            {'content': 'Is pod web-1 healthy?', 'timestamp': '2026-06-01T12:00:00Z', 'part_kind': 'user-prompt'}
        ],
        'instructions': 'You check pods.',
        'kind': 'request',
        'run_id': 'run-b',
        'conversation_id': 'conv-b',
        'metadata': None,
        'state': 'complete',
        'timestamp': '2026-06-01T12:00:00Z',
    },
    {
        'parts': [
            {
                'tool_name': 'pod_status',
                'args': {'name': 'web-1'},
                'tool_call_id': 'pyd_ai_xyz',
                'tool_kind': None,
                'id': None,
                'provider_name': None,
                'provider_details': None,
                'part_kind': 'tool-call',
            }
        ],
        'usage': {'input_tokens': 10, 'output_tokens': 5, 'cache_read_tokens': 3},
        'model_name': 'qwen',
        'kind': 'response',
        'finish_reason': 'tool_call',
        'history_digest': None,
        'failed_attempts': None,
        'workspace_ref': None,
        'state': 'complete',
    },
    {
        'parts': [
            {
                'tool_name': 'pod_status',
                'content': {'phase': 'Running', 'restarts': 0},
                'tool_call_id': 'pyd_ai_xyz',
                'outcome': 'success',
                'retry': None,
                'tool_kind': None,
                'metadata': None,
                'part_kind': 'tool-return',
            },
            {'part_kind': 'instruction-digest', 'digest': 'abc123'},
        ],
        'instructions': 'You check pods.',
        'kind': 'request',
        'state': 'complete',
    },
]

TOOL = {
    'name': 'pod_status',
    'description': 'The status of a pod.',
    'parameters_json_schema': {'type': 'object', 'properties': {'name': {'type': 'string'}}, 'required': ['name']},
    'strict': None,
}
OUTPUT_OBJECT = {'name': None, 'description': None, 'json_schema': {'type': 'object'}, 'strict': None}
# The request parameters as stored: the older release hands the model `auto` (resolved by the model), the newer one
# resolves it first; the newer one also stores a return schema and other fields that never reach this model.
OLDER_PARAMETERS = {
    'function_tools': [{**TOOL, 'kind': 'function'}],
    'output_tools': [{**TOOL, 'name': 'final_result', 'kind': 'output'}],
    'output_mode': 'auto',
    'output_object': None,
    'allow_text_output': True,
    'allow_image_output': False,
    'prompted_output_template': None,
    'native_tools': [],
}
NEWER_PARAMETERS = {
    'function_tools': [{**TOOL, 'kind': 'function', 'return_schema': {'type': 'object'}, 'defer_loading': False}],
    'output_tools': [{**TOOL, 'name': 'final_result', 'kind': 'output', 'return_schema': None}],
    'output_mode': 'tool',
    'output_object': OUTPUT_OBJECT,
    'allow_text_output': False,
    'allow_image_output': False,
    'prompted_output_template': None,
    'native_tools': [],
}


def test_two_releases_forms_of_one_request_share_its_key() -> None:
    assert stored_hash(OLDER, OLDER_PARAMETERS) == stored_hash(NEWER, NEWER_PARAMETERS)
    # What is hashed of a message, worked out by hand from the whitelist.
    assert canonical_messages(NEWER) == [
        {
            'kind': 'request',
            'instructions': 'You check pods.',
            'parts': [{'part_kind': 'user-prompt', 'content': 'Is pod web-1 healthy?'}],
        },
        {
            'kind': 'response',
            'parts': [
                {
                    'part_kind': 'tool-call',
                    'tool_name': 'pod_status',
                    'tool_call_id': 'call-0',
                    'args': {'name': 'web-1'},
                }
            ],
        },
        {
            'kind': 'request',
            'instructions': 'You check pods.',
            'parts': [
                {
                    'part_kind': 'tool-return',
                    'tool_name': 'pod_status',
                    'tool_call_id': 'call-0',
                    'content': {'phase': 'Running', 'restarts': 0},
                }
            ],
        },
    ]
    # `auto` is the model's default mode; an output object that mode does not use never reaches the model.
    assert canonical_parameters(OLDER_PARAMETERS)['output_mode'] == 'tool'
    assert canonical_parameters(NEWER_PARAMETERS)['output_object'] is None
    assert canonical_parameters(OLDER_PARAMETERS, default_mode='native')['output_tools'] == []


def test_a_retry_is_one_retry_however_a_release_files_it() -> None:
    """pydantic-ai 2.50 files a tool's `ModelRetry` as a retry prompt; later releases as a tool return marked as
    retried, and a retry that answers no tool call as retry feedback (2.50: a retry prompt without a tool name)."""
    older = [
        {
            'tool_name': 'pod_status',
            'content': 'end must be after start',
            'tool_call_id': 'call_abc',
            'part_kind': 'retry-prompt',
        }
    ]
    newer = [
        {
            'tool_name': 'pod_status',
            'content': 'end must be after start',
            'tool_call_id': 'pyd_ai_xyz',
            'outcome': 'retried',
            'retry': {'cause': 'model_retry', 'attempt': 1, 'max_retries': 2},
            'part_kind': 'tool-return',
        }
    ]

    def conversation(parts: list[dict[str, Any]], before: list[dict[str, Any]] = NEWER) -> list[dict[str, Any]]:
        return [*copy.deepcopy(before[:2]), {'parts': parts, 'instructions': 'You check pods.', 'kind': 'request'}]

    assert stored_hash(conversation(older, OLDER), OLDER_PARAMETERS) == stored_hash(
        conversation(newer), NEWER_PARAMETERS
    )
    # A tool return that is not a retry is not one.
    returned = [{**newer[0], 'outcome': 'success', 'retry': None}]
    assert stored_hash(conversation(returned), NEWER_PARAMETERS) != stored_hash(conversation(newer), NEWER_PARAMETERS)

    errors = [{'type': 'missing', 'loc': ['name'], 'msg': 'Field required', 'input': {}}]
    untold = [{'content': errors, 'tool_name': None, 'tool_call_id': 'pyd_ai_1', 'part_kind': 'retry-prompt'}]
    feedback = [
        {
            'content': [{**errors[0], 'url': 'https://errors.pydantic.dev/2.12/v/missing'}],
            'retry': {'cause': 'output_validation', 'attempt': 1, 'max_retries': 1},
            'part_kind': 'retry-feedback',
        }
    ]
    assert stored_hash(conversation(untold, OLDER), OLDER_PARAMETERS) == stored_hash(
        conversation(feedback), NEWER_PARAMETERS
    )


def _changed(messages: list[dict[str, Any]], path: tuple[Any, ...], value: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(messages)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ('path', 'value'),
    [
        ((0, 'instructions'), 'You check nodes.'),
        ((0, 'parts', 0, 'content'), 'Is pod web-2 healthy?'),
        ((1, 'parts', 0, 'args'), {'name': 'web-2'}),
        ((1, 'parts', 0, 'tool_name'), 'node_status'),
        ((2, 'parts', 0, 'content'), {'phase': 'Failed', 'restarts': 4}),
    ],
)
def test_what_reaches_the_model_changes_the_key(path: tuple[Any, ...], value: Any) -> None:
    assert stored_hash(_changed(NEWER, path, value), NEWER_PARAMETERS) != stored_hash(NEWER, NEWER_PARAMETERS)


@pytest.mark.parametrize(
    ('field', 'value'),
    [('description', 'The status of a node.'), ('parameters_json_schema', {'type': 'object'}), ('name', 'status')],
)
def test_a_changed_tool_definition_changes_the_key(field: str, value: Any) -> None:
    tools = [{**NEWER_PARAMETERS['function_tools'][0], field: value}]  # type: ignore[index]
    assert stored_hash(NEWER, {**NEWER_PARAMETERS, 'function_tools': tools}) != stored_hash(NEWER, NEWER_PARAMETERS)


def test_a_call_still_pairs_with_its_return() -> None:
    """Ids are renumbered by first appearance: a return answering another call than the recorded one differs."""
    other = _changed(NEWER, (2, 'parts', 0, 'tool_call_id'), 'some-other-call')
    assert stored_hash(other, NEWER_PARAMETERS) != stored_hash(NEWER, NEWER_PARAMETERS)


# ------------------------------------------------------------------------------------------------ format versions


def alpha(q: str) -> str:
    return f'alpha:{q}'


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('alpha', {'q': 'x'})])
    return ModelResponse(parts=[TextPart('done')])


def info(index: int) -> RunInfo:
    return RunInfo(
        session_seed=0, case='crashloop', architecture='single', index=index, model='scripted', dataset='k8s'
    )


async def two_agents(model: Any, index: int) -> list[str]:
    """Two identical agents of one run, concurrently: their first requests are identical (occurrences 0 and 1)."""
    with run_scope(info(index)):
        runs = await asyncio.gather(
            *(Agent(instructions='Check the pods.', tools=[alpha]).run('go', model=model) for _ in range(2))
        )
    return [r.output for r in runs]


def as_version_1(path: Path) -> list[tuple[str, int]]:
    """Rewrite a recording file as version 1 wrote it: old keys (here, a distinct made-up hash per exchange, each its
    hash's first occurrence), no durations, no pydantic-ai release. Returns the version-2 keys it had."""
    header, *exchanges = (json.loads(line) for line in path.read_text(encoding='utf-8').splitlines())
    keys = [(e['hash'], e['occurrence']) for e in exchanges]
    header = {k: v for k, v in header.items() if k != 'pydantic_ai_version'} | {'version': 1}
    old = [
        {k: v for k, v in e.items() if k != 'duration'} | {'hash': f'{n:032x}', 'occurrence': 0}
        for n, e in enumerate(exchanges)
    ]
    path.write_text(''.join(json.dumps(line) + '\n' for line in [header, *old]), encoding='utf-8')
    return keys


def test_a_version_1_recording_replays_and_is_rekeyed_to_the_keys_a_live_recording_gets(tmp_path: Path) -> None:
    recorder = RecordingModel(FunctionModel(scripted), tmp_path)
    for index in range(2):
        assert asyncio.run(two_agents(recorder, index)) == ['done', 'done']
    (path,) = tmp_path.rglob('*.jsonl')
    live_keys = as_version_1(path)
    # Two runs of two agents of two requests each; the agents of a run send the same two requests (their tool call ids
    # differ, which the key does not see), so each request of a run is recorded twice: occurrences 0 and 1.
    assert sorted(occurrence for _, occurrence in live_keys) == [0] * 4 + [1] * 4

    # Read as it is: keyed again from the stored requests, identical requests numbered again in file order.
    for index in range(2):
        assert asyncio.run(two_agents(ReplayModel(tmp_path, model_label='scripted'), index)) == ['done', 'done']

    # Resuming would append version-2 exchanges to a version-1 file: refused, naming the command that converts it.
    with pytest.raises(RecordingError, match=rf'format version 1; .* agentarch recording rekey {tmp_path}'):
        asyncio.run(two_agents(RecordingModel(FunctionModel(scripted), tmp_path, resume=True), 0))

    pack(tmp_path)
    assert main(['recording', 'rekey', str(tmp_path)]) == 0
    packed = path.with_name(path.name + '.gz')
    header, *exchanges = (json.loads(line) for line in gzip.decompress(packed.read_bytes()).splitlines())
    assert header['version'] == 2 and 'pydantic_ai_version' not in header
    # The keys computed from the stored requests are the ones the live requests were recorded under.
    assert [(e['hash'], e['occurrence']) for e in exchanges] == live_keys
    assert all('duration' not in e for e in exchanges)
    assert asyncio.run(two_agents(ReplayModel(tmp_path, model_label='scripted'), 1)) == ['done', 'done']
    # Rekeying again changes nothing.
    before = packed.read_bytes()
    assert main(['recording', 'rekey', str(tmp_path)]) == 0 and packed.read_bytes() == before


def test_rekey_refuses_a_broken_file_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = RecordingModel(FunctionModel(scripted), tmp_path)
    asyncio.run(two_agents(recorder, 0))
    (good,) = tmp_path.rglob('*.jsonl')
    as_version_1(good)
    before = good.read_bytes()
    broken = good.with_name('other.jsonl')
    broken.write_text(good.read_text().splitlines()[0] + '\n{"index": 0}\n')
    assert main(['recording', 'rekey', str(tmp_path)]) == 1
    assert 'other.jsonl, line 2: not a recorded exchange; nothing was changed' in capsys.readouterr().err
    assert good.read_bytes() == before
    assert main(['recording', 'rekey', str(tmp_path / 'missing')]) == 2


def test_a_miss_names_the_request_the_path_of_the_difference_and_the_recording_release(tmp_path: Path) -> None:
    recorder = RecordingModel(FunctionModel(scripted), tmp_path)
    asyncio.run(two_agents(recorder, 0))

    def alpha(q: str) -> str:  # the tool now answers differently: the second request of an agent differs
        return f'ALPHA:{q}'

    with run_scope(info(0)), pytest.raises(ReplayMissError) as caught:
        asyncio.run(
            Agent(instructions='Check the pods.', tools=[alpha]).run(
                'go', model=ReplayModel(tmp_path, model_label='scripted')
            )
        )
    message = str(caught.value)
    assert (
        "no recorded answer for request 2 of the run of architecture 'single', case 'crashloop', run index 0, "
        "dataset 'k8s', model 'scripted'"
    ) in message
    assert 'differs at messages[2].parts[0].content:\n  now:      "ALPHA:x"\n  recorded: "alpha:x"' in message
    assert f'Recorded with pydantic-ai {version("pydantic-ai-slim")}, as this session runs.' in message

    # A recording made by another release says so, and what to do about it.
    (path,) = tmp_path.rglob('*.jsonl')
    header, *rest = path.read_text(encoding='utf-8').splitlines(keepends=True)
    path.write_text(json.dumps({**json.loads(header), 'pydantic_ai_version': '2.0.0'}) + '\n' + ''.join(rest))
    with run_scope(info(0)), pytest.raises(ReplayMissError) as caught:
        asyncio.run(
            Agent(instructions='Check the pods.', tools=[alpha]).run(
                'go', model=ReplayModel(tmp_path, model_label='scripted')
            )
        )
    assert (
        f'recorded with pydantic-ai 2.0.0 and this session runs {version("pydantic-ai-slim")}: if nothing of yours '
        'changed, that release changed what it sends; replay with pydantic-ai 2.0.0, or record again'
    ) in str(caught.value)
