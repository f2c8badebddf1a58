"""The local backend on the real model (Qwen2.5-Coder 1.5B on llama.cpp): slow, so it runs only when asked.

It needs the pinned weights (`agentarch local fetch qwen2.5-coder-1.5b`), the `local` extra and
`AGENTARCH_LOCAL_LLM=1`; `scripts/local-llm-smoke.sh` does all three. Timing is printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, ToolOutput
from pydantic_ai.messages import ToolCallPart

from pytest_agentarch.backends import local

SPEC = 'llamacpp:qwen2.5-coder-1.5b,threads=2'
ROOT = Path(__file__).resolve().parent.parent


def _not_runnable() -> str | None:
    if os.environ.get('AGENTARCH_LOCAL_LLM') != '1':
        return 'live local-model test: set AGENTARCH_LOCAL_LLM=1 to run it (scripts/local-llm-smoke.sh does)'
    try:
        local.LocalSpec.parse(SPEC).check_weights()
    except local.LocalModelError as exc:
        return f'live local-model test: {exc}'
    return None


REASON = _not_runnable()
pytestmark = [pytest.mark.local_llm, pytest.mark.skipif(REASON is not None, reason=REASON or '')]


@pytest.fixture(scope='module')
def server() -> Iterator[local.LlamaServer]:
    started = local.LlamaServer.start(local.LocalSpec.parse(f'{SPEC},ctx=4096,max_tokens=256'))
    yield started
    started.stop()


class Quote(BaseModel):
    """What a widget costs and how many are in stock."""

    item: str
    price: float
    in_stock: int


def get_price(item: str) -> float:
    """The price of an item in EUR.

    Args:
        item: The item's name.
    """
    return 9.5


def get_stock(item: str) -> int:
    """How many of an item are in stock.

    Args:
        item: The item's name.
    """
    return 42


def test_an_agent_with_two_tools_and_structured_output_gets_real_tool_calls(server: local.LlamaServer) -> None:
    model = local.local_model(SPEC, base_url=server.base_url)
    agent = Agent(
        model,
        tools=[get_price, get_stock],
        output_type=ToolOutput(Quote),
        instructions=(
            'You do not know any price or stock level. First call get_price and get_stock for the item; only then '
            'call final_result, with the values they returned.'
        ),
    )

    async def ask() -> tuple[Quote, list[str]]:
        async with model:
            result = await agent.run(
                "Look up the price and the stock of the item 'widget'.", model_settings={'temperature': 0}
            )
        parts = [p for m in result.all_messages() for p in m.parts]
        calls = [p.tool_name for p in parts if isinstance(p, ToolCallPart)]
        return result.output, calls

    t0 = time.monotonic()
    output, calls = asyncio.run(ask())
    print(f'\ntool calls {calls}, output {output!r}, {time.monotonic() - t0:.0f}s')
    assert {'get_price', 'get_stock'} <= set(calls)  # arrived as tool calls, not as text
    assert calls[-1] == 'final_result'
    assert (output.price, output.in_stock) == (9.5, 42)


def test_smoke_k8s_case_on_two_architectures(tmp_path: Path) -> None:
    """One K8s case, `manual` and `hybrid`, two runs each, through one server shared by two xdist workers."""
    report_path = tmp_path / 'report.json'
    command = [
        sys.executable,
        '-m',
        'pytest',
        'evals/k8s_anomaly.yaml',
        '-k',
        'cpu_saturation_checkout',
        '--arch',
        'manual,hybrid',
        '--runs',
        '2',
        '-n',
        '2',
        '--agentarch-model',
        SPEC,
        '--agentarch-model-settings',
        'max_tokens=700,temperature=0',
        '--agentarch-memory',
        'off',
        '--agentarch-json',
        str(report_path),
        '-p',
        'no:cacheprovider',
        '-v',
    ]
    t0 = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=4 * 3600)
    wall = time.monotonic() - t0
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    requests = report['total']['requests']
    print(f'session {wall:.0f}s, {requests} requests, {wall / max(requests, 1):.0f}s of session wall time per request')
    cases = [c for a in report['architectures'] for c in a['cases']]
    assert {c['architecture'] for c in cases} == {'manual', 'hybrid'}
    for case in cases:
        runs = case['run_results']
        print(
            f'{case["architecture"]}: {len(runs)} runs, errors {case["errors"]}, infra {case["infra"]}, '
            f'pass rate {case["pass_rate"]["value"]:.2f}, requests/run {case["requests"]["mean"]:.1f}, '
            f'latency p50 {case["latency"]["p50"]:.0f}s, '
            f'tokens in/out per run {case["input_tokens"]["mean"]:.0f}/{case["output_tokens"]["mean"]:.0f}'
        )
        for variant in case['variants']:
            print(f'  {variant["count"]} x {variant["trajectory"]}')
        # Every request was accepted: no run failed on the provider (an HTTP 400 is counted as an error or infra).
        assert case['infra'] == 0
        assert not [r for r in runs if r['error_type'] and 'HTTP' in r['error_type']], runs
