"""A replay reports the recorded model's latency (the sum of the recorded durations of a run's exchanges), apart
from its own wall time; a recording without durations says the recorded latency is unknown. Durations are set by
hand in the recording, so every figure is worked out by hand."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.reports.html import render_html
from pytest_agentarch.reports.markdown import render_markdown
from pytest_agentarch.reports.report import ItemResult, Report, build_report
from pytest_agentarch.reports.table import REPLAY_LATENCY_NOTE, render_session
from pytest_agentarch.requests.recording import RecordingModel, ReplayModel
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case


def lookup(key: str) -> str:
    return key.upper()


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})])
    return ModelResponse(parts=[TextPart('A')])


async def lookup_agent(inputs: Any, model: Any) -> str:
    return (await Agent(model, tools=[lookup]).run(inputs)).output


ARCH = Architecture(name='one', description='', func=lookup_agent)
CASE = CaseSpec(name='c', inputs='go')


def record(directory: Path, durations: dict[int, list[float | None]]) -> list[RunRecord]:
    """Record one run per key of `durations` (two requests each), then set each run's exchanges' recorded durations
    to the given seconds in file order (None: the exchange stores none, as format version 1 wrote it)."""
    install()
    recorded = asyncio.run(
        run_case(
            ARCH, RecordingModel(FunctionModel(scripted), directory, model_label='scripted'), CASE, RunSettings(runs=2)
        )
    )
    (path,) = directory.rglob('*.jsonl')
    header, *exchanges = (json.loads(line) for line in path.read_text(encoding='utf-8').splitlines())
    left = {index: list(seconds) for index, seconds in durations.items()}
    for exchange in exchanges:
        seconds = left[exchange['index']].pop(0)
        exchange.pop('duration')
        if seconds is not None:
            exchange['duration'] = seconds
    path.write_text(''.join(json.dumps(line) + '\n' for line in [header, *exchanges]), encoding='utf-8')
    return recorded


def replay(directory: Path) -> list[RunRecord]:
    return asyncio.run(run_case(ARCH, ReplayModel(directory, model_label='scripted'), CASE, RunSettings(runs=2)))


def report_of(records: list[RunRecord], directory: Path) -> Report:
    item = ItemResult(nodeid='c', architecture='one', description='', case='c', dataset=None, records=records)
    return build_report([item], model='scripted', seed=0, runs=2, missing={}, replay_of=str(directory))


def test_a_replayed_run_reports_the_sum_of_its_recorded_durations(tmp_path: Path) -> None:
    recorded = record(tmp_path, {0: [1.5, 2.0], 1: [0.25, 3.25]})
    assert [r.recorded_latency for r in recorded] == [None, None]  # recording is not replaying
    replayed = replay(tmp_path)
    assert [r.output for r in replayed] == ['A', 'A']
    # 1.5 + 2.0 and 0.25 + 3.25: each run's own exchanges, whatever the replay's own wall time was
    assert [r.recorded_latency for r in replayed] == [3.5, 3.5]

    report = report_of(replayed, tmp_path)
    (arch,) = report.architectures
    (case,) = arch.cases
    assert case.recorded_latency is not None
    assert (case.recorded_latency.mean, case.recorded_latency.p50, case.recorded_latency.n) == (3.5, 3.5, 2)
    assert (arch.summary.recorded_latency_p50, arch.summary.recorded_latency_p95) == (3.5, 3.5)
    assert [r.recorded_latency for r in case.run_results] == [3.5, 3.5]
    # The replay's own wall time stays where it was, apart.
    assert [r.duration for r in case.run_results] == [r.duration for r in replayed]
    assert case.latency.n == 2
    dumped = json.loads(report.model_dump_json())
    assert dumped['architectures'][0]['summary']['recorded_latency_p50'] == 3.5

    lines = render_session(report, verbose=False)
    header = next(line for line in lines if line.startswith('architecture'))
    row = next(line for line in lines if line.startswith('one'))
    assert 'rec p50' in header and 'rec p95' in header and ' p50 ' not in header.replace('rec p50', '')
    assert row.split().count('3.50s') == 2
    assert REPLAY_LATENCY_NOTE in lines
    # The Markdown and HTML reports say the same.
    markdown = render_markdown(report)
    assert '| rec p50 | rec p95 |' in markdown and '| 3.50s | 3.50s |' in markdown
    page = render_html(report)
    assert '<th>rec p50</th><th>rec p95</th>' in page and '<td>3.50 s</td><td>3.50 s</td>' in page
    assert 'Recorded model latency per run' in page


def test_a_recording_without_durations_says_the_recorded_latency_is_unknown(tmp_path: Path) -> None:
    record(tmp_path, {0: [1.5, 2.0], 1: [0.25, None]})
    replayed = replay(tmp_path)
    # Run 1 has an exchange of unknown duration: its recorded latency is unknown, not 0.25 nor its replay time.
    assert [r.recorded_latency for r in replayed] == [3.5, None]
    report = report_of(replayed, tmp_path)
    (arch,) = report.architectures
    assert arch.cases[0].recorded_latency is None
    assert (arch.summary.recorded_latency_p50, arch.summary.recorded_latency_p95) == (None, None)
    row = next(line for line in render_session(report, verbose=False) if line.startswith('one'))
    assert row.split().count('unknown') == 2
    assert '| unknown | unknown |' in render_markdown(report)
    page = render_html(report)
    assert '<td>unknown</td><td>unknown</td>' in page
    assert 'The replay&#x27;s own wall time per run (recorded latency unknown)' in page


def test_outside_a_replay_the_table_shows_wall_time(tmp_path: Path) -> None:
    recorded = record(tmp_path, {0: [1.5, 2.0], 1: [0.25, 3.25]})
    item = ItemResult(nodeid='c', architecture='one', description='', case='c', dataset=None, records=recorded)
    report = build_report([item], model='scripted', seed=0, runs=2, missing={})
    lines = render_session(report, verbose=False)
    header = next(line for line in lines if line.startswith('architecture'))
    assert 'rec p50' not in header and ' p50 ' in header and REPLAY_LATENCY_NOTE not in lines
    assert report.architectures[0].summary.recorded_latency_p50 is None
