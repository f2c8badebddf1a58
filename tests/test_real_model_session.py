"""A whole session against a real provider path: pydantic-ai's `openai-chat` model talking HTTP to a scripted
OpenAI-compatible server on 127.0.0.1. Retries, limits shared by xdist workers, budgets, SIGTERM, record and replay,
and secrets, each judged on what the server saw and what the report says, with counts worked out by hand."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The openai provider, imported once for the module: each in-process session would otherwise import the SDK again (a
# second of CPU), as pytester takes out of sys.modules what a session imported.
import pydantic_ai.models.openai  # noqa: F401
import pytest
from openai_server import (
    Received,
    Reply,
    ScriptedOpenAIServer,
    conversation,
    failure,
    final,
    rate_limited,
    text,
    tool_calls,
)

from conftest import XDIST

pytest_plugins = ['openai_server']

ARCHITECTURE = """
    from pydantic_ai import Agent

    from pytest_agentarch import architecture


    def alpha(q: str) -> str:
        return f'alpha:{q}'


    def beta(q: str) -> str:
        return f'beta:{q}'


    @architecture('tooling')
    async def tooling(inputs, model):
        result = await Agent(model, tools=[alpha, beta]).run(str(inputs))
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

# Each case follows its own plan, whatever order concurrent runs' requests arrive in. Usage per response: 10 tokens
# in, 5 out (the server's default), so a run of `first` uses 3 x 15 = 45 tokens and a run of `second` 2 x 15 = 30.
PLANS: dict[str, list[Reply]] = {
    'first': [tool_calls(('alpha', {'q': 'a'}), ('beta', {'q': 'b'})), tool_calls(('alpha', {'q': 'c'})), text('ok')],
    'second': [tool_calls(('beta', {'q': 'b'})), text('ok')],
}
MODEL = 'openai-chat:scripted'
SECRET = 'sk-test-SECRET0123456789abcdefghijklmnop'


def by_prompt(request: Received) -> Reply:
    return conversation(PLANS[request.prompt])(request)


@pytest.fixture
def session(
    project: Callable[..., pytest.Pytester], openai_server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.Pytester]:
    """A project whose architecture's agents reach the scripted server through pydantic-ai's openai provider."""
    openai_server.script = by_prompt
    for name, value in openai_server.env(api_key=SECRET).items():
        monkeypatch.setenv(name, value)
    yield project(ARCHITECTURE, cases=CASES)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A session of the project in this process (its xdist workers, with `-n 2`, are its own child processes): the
    server sees the same requests and the report is the same file as from a child session, without the second or two
    of importing pydantic-ai again. SIGTERM, which needs a process to stop, has a test of its own."""
    return pytester.runpytest_inprocess(
        '-p', 'no:cacheprovider', '--agentarch-model', MODEL, '--agentarch-memory=off', *args
    )


def cases_of(pytester: pytest.Pytester, name: str = 'report.json') -> dict[str, dict[str, Any]]:
    report = json.loads(pytester.path.joinpath(name).read_text())
    return {c['case']: c for a in report['architectures'] for c in a['cases']}


def on(server: ScriptedOpenAIServer, prompt: str) -> list[Received]:
    return [r for r in server.requests if r.prompt == prompt]


def test_infrastructure_failures_are_retried_then_counted_apart(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    rate_limited_once: list[Received] = []

    def script(request: Received) -> Reply:
        if request.prompt == 'second':
            return failure(500, 'scripted outage')  # every attempt: the runs fail on infrastructure
        if request.turn == 0 and not rate_limited_once:
            rate_limited_once.append(request)
            return rate_limited(retry_after=1)  # the first request of the session: one retry after 1 s
        return by_prompt(request)

    openai_server.script = script
    result = run(session, '--runs=3', '--agentarch-retries=1', '--agentarch-json=report.json')
    cases = cases_of(session)
    first, second = cases['first'], cases['second']
    # first: 3 runs x 3 requests, plus the one 429 retried: 10 requests; all runs pass, one trajectory.
    assert len(on(openai_server, 'first')) == 10
    assert (first['runs'], first['errors'], first['infra']) == (3, 0, 0)
    assert first['total']['retries'] == 1 and first['total']['waited'] >= 1.0
    assert first['determinism']['successes'] == first['determinism']['n'] == 3
    # second: each run's first request is tried twice (1 retry), then the run fails on infrastructure: 6 requests,
    # no run counted in determinism or pass rate, and the SDK's own retries never added hidden attempts.
    assert len(on(openai_server, 'second')) == 6
    assert (second['runs'], second['errors'], second['infra']) == (3, 0, 3)
    assert second['determinism']['n'] == 0 and second['pass_rate']['n'] == 0
    assert {r['error_kind'] for r in second['run_results']} == {'infrastructure'}
    assert second['total']['retries'] == 3
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['waiting on request limits and retry back-off: tooling *s (4 retries)'])


@pytest.mark.parametrize('xdist', XDIST)
def test_requests_per_minute_hold_for_the_whole_session(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer, xdist: list[str]
) -> None:
    result = run(session, '--runs=3', '--agentarch-rpm=240', *xdist)
    result.assert_outcomes(passed=2)
    # 240 per minute: one request sent every 0.25 s for the session, two workers together; 3 x 3 + 3 x 2 = 15
    # requests, so the last is sent at least 14 x 0.25 = 3.5 s after the first. The server sees arrivals, each later
    # than its sending by a latency of its own (the first also opens the connection): allow 0.3 s of it. Limited per
    # worker instead, the two workers' requests would arrive in pairs and the span would be about half.
    arrivals = sorted(r.arrival for r in openai_server.requests)
    assert len(arrivals) == 15
    for k, t in enumerate(arrivals):
        assert t - arrivals[0] >= k * 0.25 - 0.3, (k, t - arrivals[0])
    assert arrivals[-1] - arrivals[0] >= 3.5 - 0.3


@pytest.mark.parametrize('xdist', XDIST)
def test_tokens_per_minute_hold_for_the_whole_session(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer, xdist: list[str]
) -> None:
    result = run(session, '--runs=1', '--agentarch-tpm=1800', *xdist)
    result.assert_outcomes(passed=2)
    # 1,800 tokens a minute is 30 a second; each response uses 15 tokens, so each response puts the next request
    # 0.5 s later, whichever worker sends it: 3 + 2 = 5 requests. Tokens are only known once a response is in, so
    # requests sent at the same moment by the two workers both go before either is charged: with xdist only the
    # span of the session is bounded (5 charges, at most 2 of them unpaid at once: at least 3 x 0.5 s). Arrivals
    # trail sending by each request's own latency: allow 0.3 s of it.
    arrivals = sorted(r.arrival for r in openai_server.requests)
    assert len(arrivals) == 5
    if xdist:
        assert arrivals[-1] - arrivals[0] >= 3 * 0.5 - 0.3
    else:
        for k, t in enumerate(arrivals):
            assert t - arrivals[0] >= k * 0.5 - 0.3, (k, t - arrivals[0])


@pytest.mark.parametrize('xdist', XDIST)
def test_requests_in_flight_are_capped_for_the_whole_session(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer, xdist: list[str]
) -> None:
    openai_server.script = lambda request: dataclasses.replace(by_prompt(request), delay=0.3)
    result = run(session, '--runs=2', '--agentarch-max-requests=1', *xdist)
    result.assert_outcomes(passed=2)
    # One request at a time, each answered 0.3 s after it arrives: arrivals at least 0.3 s apart, 2 x 3 + 2 x 2.
    arrivals = sorted(r.arrival for r in openai_server.requests)
    assert len(arrivals) == 10
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.3 - 0.02


def test_a_token_budget_stops_the_session_and_marks_the_rest_not_run(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    # One run at a time, 45 tokens per run of `first`: after 3 runs 135 >= 100 tokens, so runs 3-5 of `first` and
    # all 6 runs of `second` never start.
    result = run(
        session, '--runs=6', '--agentarch-concurrency=1', '--agentarch-budget-tokens=100', '--agentarch-json=r.json'
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(['*agentarch: session stopped by token budget of 100 reached*; 9 runs not run*'])
    report = json.loads(session.path.joinpath('r.json').read_text())
    assert report['not_run'] == 9
    assert report['stopped_by'].startswith('token budget of 100 reached')
    cases = cases_of(session, 'r.json')
    assert (cases['first']['runs'], cases['first']['not_run']) == (3, 3)
    assert (cases['second']['runs'], cases['second']['not_run']) == (0, 6)
    assert len(openai_server.requests) == 9
    assert report['total']['input_tokens'] + report['total']['output_tokens'] == 135


@pytest.mark.parametrize('xdist', XDIST)
def test_a_usd_budget_stops_the_session_on_the_priced_spend(
    project: Callable[..., pytest.Pytester],
    openai_server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    # Named gpt-4o-mini, the scripted model is priced by genai-prices at $0.15 per million tokens in and $0.60 out:
    # a request (10 in, 5 out) costs $0.0000045, a run of `first` (3 requests) $0.0000135.
    openai_server.script = by_prompt
    for name, value in openai_server.env().items():
        monkeypatch.setenv(name, value)
    pytester = project(ARCHITECTURE, cases=CASES)
    result = pytester.runpytest_inprocess(
        '-p', 'no:cacheprovider', '--agentarch-model', 'openai-chat:gpt-4o-mini', '--agentarch-memory=off',
        '--runs=6', '--agentarch-concurrency=1', '--agentarch-budget-usd=0.00003', '--agentarch-json=r.json', *xdist,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads(pytester.path.joinpath('r.json').read_text())
    assert report['stopped_by'].startswith('USD budget of $0.00003 reached: '), report['stopped_by']
    assert report['total']['cost'] >= 0.00003
    if not xdist:
        # One run at a time: runs 0-2 of `first` spend $0.0000405 >= $0.00003, so 3 + 6 runs never start.
        assert report['not_run'] == 9
        assert report['total']['cost'] == pytest.approx(3 * 0.0000135)
    else:
        # Two items at once on two workers: both spend until the shared ledger says stop; some runs never start.
        assert 0 < report['not_run'] < 12


def test_a_usd_budget_needs_a_priced_model(session: pytest.Pytester) -> None:
    result = run(session, '--agentarch-budget-usd=1')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentarch-budget-usd: genai-prices has no price for 'openai-chat:scripted'*"])


@pytest.mark.parametrize('xdist', [['-n', '0'], ['-n', '2']], ids=['no-xdist', 'xdist-2'])
def test_sigterm_stops_the_session_with_the_report_written(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer, xdist: list[str]
) -> None:
    # `first` answers at once; `second` never does within the test: the session is terminated while it waits.
    openai_server.script = lambda r: by_prompt(r) if r.prompt == 'first' else Reply(text='ok', delay=60)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', *xdist, '--runs=2', '--agentarch-model', MODEL,
         '--agentarch-memory=off', '--agentarch-json=report.json'],
        cwd=session.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Without xdist `second` starts once `first` is done; with two workers, wait for `first` to finish as well.
    while (
        time.monotonic() < deadline
        and process.poll() is None
        and not (on(openai_server, 'second') and len(on(openai_server, 'first')) == 2 * 3)
    ):
        time.sleep(0.05)
    time.sleep(0.5)  # `first`'s report reaches the controller
    assert on(openai_server, 'second'), 'the session never reached the second case'
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert 'agentarch: session stopped by SIGTERM' in out, out
    report = json.loads(session.path.joinpath('report.json').read_text())
    assert report['stopped_by'].startswith('SIGTERM')
    cases = cases_of(session)
    assert cases['first']['runs'] == 2 and cases['first']['pass_rate']['successes'] == 2
    assert [m['nodeid'] for m in report['missing']] == ['cases.yaml::second[tooling]']


def comparable(report: dict[str, Any]) -> list[Any]:
    """What must not change between a session and its replay: per case, every run's verdict, variant and output."""
    return [
        (c['case'], [(r['index'], r['passed'], r['variant'], r['output_key'], r['requests']) for r in c['run_results']])
        for a in report['architectures']
        for c in a['cases']
    ]


@pytest.mark.parametrize('xdist', XDIST)
def test_record_then_replay_gives_the_same_report_without_the_model(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer, xdist: list[str]
) -> None:
    recorded = run(
        session, '--runs=3', '--agentarch-seed=1', '--agentarch-record=rec', '--agentarch-json=a.json', *xdist
    )
    recorded.assert_outcomes(passed=2)
    seen = len(openai_server.requests)
    assert seen == 15
    openai_server.script = lambda r: failure(500, 'the model must not be asked during a replay')
    replayed = run(
        session, '--runs=3', '--agentarch-seed=2', '--agentarch-replay=rec', '--agentarch-json=b.json', *xdist
    )
    replayed.assert_outcomes(passed=2)
    assert len(openai_server.requests) == seen
    a, b = (json.loads(session.path.joinpath(n).read_text()) for n in ('a.json', 'b.json'))
    assert comparable(a) == comparable(b)
    assert b['replay_of'] == 'rec' and a['replay_of'] is None
    replayed.stdout.fnmatch_lines(['*every model response replayed from rec*', '*rec p50*rec p95*'])
    # Each replayed run reports the sum of the durations the recording stored for its exchanges, apart from its own
    # wall time; the recording session itself reports none.
    stored: dict[tuple[str, int], float] = {}
    for path in session.path.joinpath('rec').rglob('*.jsonl'):
        for line in path.read_text(encoding='utf-8').splitlines()[1:]:
            exchange = json.loads(line)
            key = (exchange['case'], exchange['index'])
            stored[key] = stored.get(key, 0.0) + exchange['duration']
    got = {
        (c['case'], r['index']): r['recorded_latency']
        for a_ in b['architectures']
        for c in a_['cases']
        for r in c['run_results']
    }
    assert got == pytest.approx(stored) and len(got) == 6
    assert all(
        r['recorded_latency'] is None for a_ in a['architectures'] for c in a_['cases'] for r in c['run_results']
    )
    # The secret API key reached the server, and nothing the session wrote.
    assert all(r.headers.get('authorization') == f'Bearer {SECRET}' for r in openai_server.requests)
    written = [p for p in session.path.rglob('*') if p.is_file()]
    assert any(p.suffix == '.jsonl' for p in written)
    for p in written:
        assert SECRET not in p.read_text(errors='replace'), p
    for text_out in (recorded.outlines, recorded.errlines, replayed.outlines, replayed.errlines):
        assert SECRET not in '\n'.join(text_out)


def test_a_replay_of_a_changed_request_names_the_run(session: pytest.Pytester) -> None:
    run(session, '--runs=1', '--agentarch-record=rec').assert_outcomes(passed=2)
    session.makefile('.yaml', cases=textwrap.dedent(CASES).replace('inputs: second', 'inputs: second, changed'))
    result = run(session, '--runs=1', '--agentarch-replay=rec')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['*error: ReplayMissError: *second*', '*record this item again*'])


def test_record_and_replay_exclude_each_other(session: pytest.Pytester, tmp_path: Path) -> None:
    result = run(session, '--agentarch-record=a', '--agentarch-replay=b')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*--agentarch-record and --agentarch-replay exclude each other*'])


JUDGED_CASES = """
    name: judged
    cases:
      - name: first
        inputs: first
        evaluators:
          - LLMJudge: the answer is ok
      - name: second
        inputs: second
        evaluators:
          - LLMJudge: the answer is ok
"""
JUDGE = 'openai-chat:judge'


def judged_script() -> Callable[[Received], Reply]:
    """The runs follow their plans; the judge (`model: judge`) grades every output as passing, after one 429."""
    limited = itertools.count()

    def script(request: Received) -> Reply:
        if request.body.get('model') != 'judge':
            return by_prompt(request)
        if next(limited) == 0:
            return rate_limited(retry_after=0.1)
        return final({'reason': 'it says ok', 'pass': True, 'score': 1.0}, input_tokens=20, output_tokens=4)

    return script


def test_judge_requests_are_retried_recorded_and_replayed_apart_from_the_runs(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    # One process only: recording and replaying across two workers is what the record-then-replay scenario runs under
    # xdist; judging, filing judge exchanges apart and counting judge spend take the same path in a worker.
    session.makefile('.yaml', cases=textwrap.dedent(JUDGED_CASES))
    openai_server.script = judged_script()
    args = ('--runs=3', '--agentarch-judge-model', JUDGE)
    recorded = run(session, *args, '--agentarch-record=rec', '--agentarch-json=a.json')
    recorded.assert_outcomes(passed=2)
    judge_seen = [r for r in openai_server.requests if r.body.get('model') == 'judge']
    # 6 runs, each judged once; the first judge request met a 429 and was sent again: 7 at the server.
    assert len(judge_seen) == 7
    assert len(openai_server.requests) - len(judge_seen) == 15
    # Filed apart: one file per judged item under _judge/, one exchange per run after the header line.
    judged_files = sorted((session.path / 'rec' / '_judge').rglob('*.jsonl'))
    assert [p.stem for p in judged_files] == ['first', 'second']
    assert [len(p.read_text().splitlines()) for p in judged_files] == [4, 4]
    run_files = [p for p in (session.path / 'rec').rglob('*.jsonl') if '_judge' not in p.parts]
    assert sum(len(p.read_text().splitlines()) - 1 for p in run_files) == 15

    openai_server.script = lambda r: failure(500, 'no model may be asked during a replay')
    replayed = run(session, *args, '--agentarch-replay=rec', '--agentarch-json=b.json')
    replayed.assert_outcomes(passed=2)
    assert len(openai_server.requests) == 22
    a, b = (json.loads(session.path.joinpath(n).read_text()) for n in ('a.json', 'b.json'))
    assert comparable(a) == comparable(b)
    # Judge spend is the evaluation's, never the runs': 6 judge requests of 20 tokens in and 4 out, both times.
    for report in (a, b):
        assert (report['total']['judge_requests'], report['total']['judge_input_tokens']) == (6, 120)
        assert report['total']['judge_output_tokens'] == 24
        assert report['total']['requests'] == 15


def test_a_replay_never_calls_a_judge_it_was_not_given(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    session.makefile('.yaml', cases=textwrap.dedent(JUDGED_CASES))
    openai_server.script = judged_script()
    run(session, '--runs=1', '--agentarch-judge-model', JUDGE, '--agentarch-record=rec').assert_outcomes(passed=2)
    seen = len(openai_server.requests)

    # Without the judge model, the judge is not pydantic-evals' default (which would go to the network): every
    # judging evaluator fails with what to do.
    result = run(session, '--runs=1', '--agentarch-replay=rec')
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(['*LLMJudge raised RecordingError*replay with the same --agentarch-judge-model*'])
    # A judge the recording does not hold is a usage error naming what it holds.
    result = run(session, '--runs=1', '--agentarch-replay=rec', '--agentarch-judge-model', 'openai-chat:other')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*--agentarch-judge-model openai-chat:other: *holds no recording for judge model*'])
    assert len(openai_server.requests) == seen


def test_the_judges_spend_counts_toward_the_budget(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    session.makefile('.yaml', cases=textwrap.dedent(JUDGED_CASES))
    openai_server.script = judged_script()
    # One run at a time; a run of `first` spends 45 tokens and its judging 24 more. After run 0: 69 < 100, so run 1
    # starts; after run 1: 138 >= 100. Without the judge's share, run 2 would start too (90 < 100).
    result = run(
        session,
        '--runs=6',
        '--agentarch-concurrency=1',
        '--agentarch-budget-tokens=100',
        '--agentarch-judge-model',
        JUDGE,
        '--agentarch-json=r.json',
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    cases = cases_of(session, 'r.json')
    assert (cases['first']['runs'], cases['first']['not_run']) == (2, 4)
    assert json.loads(session.path.joinpath('r.json').read_text())['not_run'] == 10


def test_a_budget_stopped_recording_is_resumed_sending_only_what_it_lacks(
    session: pytest.Pytester, openai_server: ScriptedOpenAIServer
) -> None:
    # As in the token budget test: 3 runs of `first` (9 requests) are recorded, then the session stops.
    stopped = run(
        session, '--runs=6', '--agentarch-concurrency=1', '--agentarch-budget-tokens=100', '--agentarch-record=rec'
    )
    assert stopped.ret == pytest.ExitCode.TESTS_FAILED
    assert len(openai_server.requests) == 9
    resumed = run(session, '--runs=6', '--agentarch-record=rec', '--agentarch-resume', '--agentarch-json=r.json')
    resumed.assert_outcomes(passed=2)
    # Only the missing runs reach the model: runs 3-5 of `first` (3 x 3) and all 6 of `second` (6 x 2).
    assert len(openai_server.requests) == 9 + 9 + 12
    cases = cases_of(session, 'r.json')
    assert (cases['first']['runs'], cases['second']['runs']) == (6, 6)
    # The recording is now whole: a replay answers every request.
    openai_server.script = lambda r: failure(500, 'no model may be asked during a replay')
    run(session, '--runs=6', '--agentarch-replay=rec').assert_outcomes(passed=2)
    assert len(openai_server.requests) == 30


def test_resume_needs_a_recording_directory(session: pytest.Pytester) -> None:
    result = run(session, '--agentarch-resume')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['*--agentarch-resume continues a recording: pass it with --agentarch-record DIR*'])
