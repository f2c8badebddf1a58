"""A session against a real OpenAI-compatible provider (the scripted server) ends cleanly: exit 0, right trajectories,
and no unclosed socket or transport of the provider's HTTP client, with warnings as errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_server import Received, Reply, ScriptedOpenAIServer, conversation, text, tool_calls
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

pytest_plugins = ['openai_server']

ARCHITECTURE = """
    from pydantic_ai import Agent

    from pytest_agentarch import architecture


    def alpha(q: str) -> str:
        return f'alpha:{q}'


    def beta(q: str) -> str:
        return f'beta:{q}'


    def gamma(q: str) -> str:
        return f'gamma:{q}'


    @architecture('tooling')
    async def tooling(inputs, model):
        result = await Agent(model, tools=[alpha, beta, gamma]).run(str(inputs))
        return result.output
"""

CASES = """
    name: demo
    cases:
      - name: first
        inputs: first
        expected_output: ok
        evaluators:
          - EqualsExpected
      - name: second
        inputs: second
        expected_output: ok
        evaluators:
          - EqualsExpected
"""

# Goes through the `arch` fixture, whose `repeat` / `arepeat` run the case on an event loop of their own.
PYTHON_TEST = """
    def test_repeat(arch):
        stats = arch.repeat('second', runs=2)
        assert (stats.runs, stats.errors, stats.infra) == (2, 0, 0)
"""

PLANS: dict[str, list[Reply]] = {
    # Two tools in one response, then one, then the answer.
    'first': [tool_calls(('alpha', {'q': 'a'}), ('beta', {'q': 'b'})), tool_calls(('gamma', {'q': 'c'})), text('ok')],
    'second': [tool_calls(('beta', {'q': 'b'})), text('ok')],
}


def by_prompt(request: Received) -> Reply:
    """Each case follows its own plan, whatever order the concurrent runs' requests arrive in."""
    return conversation(PLANS[request.prompt])(request)


RUNS = 3


@pytest.mark.parametrize(
    ('xdist', 'model'),
    [
        pytest.param([], 'openai-chat:scripted', id='no-xdist-openai-chat:scripted'),
        pytest.param([], 'openai:scripted', id='no-xdist-openai:scripted'),
        # Once under xdist: each worker opens and closes the provider's client the same way whichever API it speaks
        # (both go through one SDK client), so the second API's xdist variant would prove nothing more.
        pytest.param(['-n', '2'], 'openai-chat:scripted', id='xdist-2-openai-chat:scripted'),
    ],
)
def test_a_session_against_an_openai_compatible_server_ends_cleanly(
    project: Callable[..., pytest.Pytester],
    openai_server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    xdist: list[str],
) -> None:
    openai_server.script = by_prompt
    for name, value in openai_server.env().items():
        monkeypatch.setenv(name, value)
    pytester = project(ARCHITECTURE, cases=CASES)
    pytester.makepyfile(test_python=PYTHON_TEST)
    # Two dataset items and a Python test: three event loops in one process (without xdist), each using the
    # provider's client. `-W error` on top of the project's `filterwarnings = error`: any ResourceWarning fails it.
    result = pytester.runpytest_subprocess(
        '-p',
        'no:cacheprovider',
        '-W',
        'error',
        '--agentarch-model',
        model,
        f'--runs={RUNS}',
        '--agentarch-json=report.json',
        # The memory probe runs one more, uncounted run of the first case, alone on an event loop of its own.
        '--agentarch-memory=first-case',
        *xdist,
        timeout=300,
    )
    output = '\n'.join(result.outlines + result.errlines)
    assert 'ResourceWarning' not in output, output
    assert 'Unclosed' not in output and 'unclosed' not in output, output
    assert result.ret == pytest.ExitCode.OK, output
    result.assert_outcomes(passed=3)

    report = json.loads(pytester.path.joinpath('report.json').read_text())
    cases = {c['case']: c for a in report['architectures'] for c in a['cases'] if c['dataset'] == 'demo'}
    assert set(cases) == {'first', 'second'}
    for case, steps in {'first': [['alpha', 'beta'], ['gamma']], 'second': [['beta']]}.items():
        (variant,) = cases[case]['variants']  # every run took the scripted trajectory
        assert (variant['count'], variant['steps'], variant['error_type']) == (RUNS, steps, None)
        assert cases[case]['errors'] == 0 and cases[case]['infra'] == 0
        assert all(r['passed'] for r in cases[case]['run_results'])

    requests = openai_server.requests
    path = '/v1/chat/completions' if model.startswith('openai-chat:') else '/v1/responses'
    assert {r.path for r in requests} == {path}
    # Runs of `first` ask 3 times (and the probe's run once more), of `second` twice; the Python test's 2 runs twice.
    assert len(requests) == RUNS * 3 + 3 + RUNS * 2 + 2 * 2
    assert {r.headers.get('authorization') for r in requests} == {'Bearer test-key'}
    assert openai_server.errors == []


SCRIPT = """
from openai_server import conversation, text, tool_calls

script = conversation([tool_calls(('lookup', {'key': 'a'})), text('from another process')])
"""


def test_the_server_runs_as_a_process_of_its_own(tmp_path: Path) -> None:
    tmp_path.joinpath('script.py').write_text(SCRIPT)
    port_file = tmp_path / 'port'
    server = Path(__file__).with_name('openai_server.py')
    args = [sys.executable, str(server), '--port-file', str(port_file), '--script', str(tmp_path / 'script.py')]
    with subprocess.Popen(args) as process:
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists():
                assert process.poll() is None, 'the server exited'
                assert time.monotonic() < deadline, 'the server never wrote its port'
                time.sleep(0.05)
            base_url = f'http://127.0.0.1:{port_file.read_text()}/v1'

            async def ask() -> str:
                model = OpenAIChatModel('m', provider=OpenAIProvider(base_url=base_url, api_key='test-key'))

                def lookup(key: str) -> str:
                    return key.upper()

                async with model:
                    return (await Agent(model, tools=[lookup]).run('hi')).output

            assert asyncio.run(ask()) == 'from another process'
        finally:
            process.terminate()
    assert process.returncode == 0
