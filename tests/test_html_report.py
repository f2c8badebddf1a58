"""The HTML report: rendered in headless Chromium, its DOM holds the figures worked out by hand, nothing that came
from a model, a tool or a dataset executes, and it is made in the session or from a JSON report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ONE_CASE
from pytest_agentarch.core.records import Assertion, ModelRequestRecord, RequestContext, RunRecord, ToolCallRecord
from pytest_agentarch.reports.html import render_html, write_html
from pytest_agentarch.reports.report import ItemResult, Report, build_report, write_json

SCRIPT = "<script>document.title='pwned'</script>"
IMAGE = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
PAYLOAD = SCRIPT + IMAGE


def run(index: int, *, batched: bool, passed: bool) -> RunRecord:
    """a, then b and c (one step when `batched`, else two), every text from the model or a tool hostile."""
    calls = [
        ToolCallRecord(name='a', args='{"q":"' + IMAGE.replace('"', '\\"') + '"}', order=3, result=PAYLOAD),
        ToolCallRecord(name='b', args='{}', order=7, result='"B"'),
        ToolCallRecord(name='c', args='{}', order=8 if batched else 11),
    ]
    form = 'agent(a > {b, c})' if batched else 'agent(a > b > c)'
    return RunRecord(
        index=index,
        duration=0.1 * (index + 1),
        trajectory_tools='a, b, c',
        trajectory=form,
        trajectory_args=form,
        tool_calls=calls,
        flow=[[0], [1, 2]] if batched else [[0], [1], [2]],
        model_requests=[
            ModelRequestRecord(model='m', input_tokens=100, output_tokens=10, cost=None, duration=0.0, order=1),
            ModelRequestRecord(
                model='m',
                input_tokens=200,
                output_tokens=20,
                cost=None,
                duration=0.0,
                order=5,
                context=RequestContext(instructions=PAYLOAD, prompt=PAYLOAD, tool_results=[f'a: {PAYLOAD}']),
            ),
        ],
        requests=2,
        input_tokens=300,
        output_tokens=30,
        output={'verdict': PAYLOAD},
        output_key=PAYLOAD,
        assertions=[Assertion(name='Contains', value=passed, reason=None if passed else PAYLOAD)],
    )


def hostile_report() -> Report:
    # alpha: runs 0, 1, 3 batched, run 2 sequential; runs 0 and 3 pass.
    alpha = [run(0, batched=True, passed=True), run(1, batched=True, passed=False)]
    alpha += [run(2, batched=False, passed=False), run(3, batched=True, passed=True)]
    beta = [run(i, batched=True, passed=True) for i in range(5)]
    items = [
        ItemResult(nodeid='alpha', architecture='alpha', description=PAYLOAD, case=PAYLOAD, dataset='d', records=alpha),
        ItemResult(nodeid='beta', architecture='beta', description='', case='plain', dataset='d', records=beta),
    ]
    return build_report(items, model='sim', seed=0, runs=4, missing={'x' + PAYLOAD: PAYLOAD})


def chromium() -> str:
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine: install Debian's `chromium` (apt-get install chromium; .ci/run does)")


def browse(page: Path, profile: Path, *extra: str) -> str:
    """Load `page` in headless Chromium, offline, and return what it printed (the DOM with `--dump-dom`)."""
    done = subprocess.run(
        [
            chromium(),
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            f'--user-data-dir={profile}',
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def chart_value(dom: str, chart: str, arch: str, level: str | None = None) -> str:
    block = re.search(rf'data-chart="{chart}".*?</figure>', dom, re.S)
    assert block is not None, f'no {chart} chart'
    where = f'data-arch="{arch}"' + (f' data-level="{level}"' if level else '')
    found = re.search(rf'<text[^>]*{where}[^>]*>([^<]*)</text>', block.group(0))
    assert found is not None, f'no value for {arch} {level} in the {chart} chart'
    return found.group(1)


def test_report_in_a_real_browser_shows_the_figures_and_runs_nothing_it_was_fed(tmp_path: Path) -> None:
    page = tmp_path / 'report.html'
    write_html(hostile_report(), page)

    # The harness can see execution: the same payload, unescaped in a page of its own, changes the title.
    control = tmp_path / 'control.html'
    control.write_text(f'<!DOCTYPE html><html><head><title>clean</title></head><body>{PAYLOAD}</body></html>')
    assert '<title>pwned</title>' in browse(control, tmp_path / 'control-profile', '--dump-dom')

    dom = browse(page, tmp_path / 'profile', '--dump-dom')
    assert '<title>pytest-agentarch report</title>' in dom
    assert 'pwned</title>' not in dom and 'data-pwned="1"' not in dom
    assert '<script' not in dom and '<img' not in dom
    # Every place the payload was fed shows it as text.
    assert dom.count("&lt;script&gt;document.title='pwned'&lt;/script&gt;") >= 8

    # alpha: 3 of 4 runs took a > {b, c} at levels steps and strict; all 4 called the same multiset of tools.
    assert chart_value(dom, 'determinism', 'alpha', 'steps') == '75.0%'
    assert chart_value(dom, 'determinism', 'alpha', 'strict') == '75.0%'
    assert chart_value(dom, 'determinism', 'alpha', 'tools') == '100.0%'
    assert chart_value(dom, 'determinism', 'beta', 'steps') == '100.0%'
    # Runs 0 and 3 of alpha passed: 2 of 4; all 5 of beta.
    assert chart_value(dom, 'pass-rate', 'alpha') == '50.0%'
    assert chart_value(dom, 'pass-rate', 'beta') == '100.0%'
    # 300 tokens in + 30 out per run.
    assert chart_value(dom, 'tokens', 'alpha') == '330 tok'
    # alpha's durations 0.1, 0.2, 0.3, 0.4 s: the median is 0.25 s.
    assert chart_value(dom, 'latency', 'alpha') == 'p50 250 ms'
    # Determinism 3 of 4 (runs 0, 1, 3 batched): the upper bound is Wilson's for 3 of 4: centre
    # (0.75 + 1.96^2/8) / (1 + 1.96^2/4) = 0.6275, half-width 1.96 * sqrt(0.75 * 0.25 / 4 + 1.96^2 / 64) / 1.9604 =
    # 0.3269: 95%. The lower bound is Wilson's for the held-out runs, 2 of 3 (run 1 agrees, run 2 does not, run 3
    # does): (0.6667 + 0.6402 - 1.96 sqrt(0.0741 + 0.1067)) / 2.2805 = 0.208: 21%.
    row = re.search(r'<tr data-arch="alpha">(.*?)</tr>', dom, re.S)
    assert row is not None and '75.0% [21%\u201395%] n=4' in row.group(1)

    # alpha's runs part at step 2, after a: three batch b and c, one calls b alone.
    section = re.search(r'<section class="divergence" data-step="(\d+)">(.*?)</section>', dom, re.S)
    assert section is not None and section.group(1) == '2'
    counts = re.findall(r'<span class="count" data-count="(\d+)">(\d+) of 4 runs</span>', section.group(2))
    assert counts == [('3', '3'), ('1', '1')]

    shot = tmp_path / 'report.png'
    browse(page, tmp_path / 'shot-profile', '--hide-scrollbars', '--window-size=1280,1600', f'--screenshot={shot}')
    data = shot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
    print(f'screenshot of the rendered report: {shot}')


# A test-only copy of the page measures its summary tables: the page itself runs no script (its policy forbids it).
MEASURE = (
    "<script>document.title = [...document.querySelectorAll('.wide')].map("
    "w => w.firstElementChild.dataset.table + ':' + w.scrollWidth + '/' + w.clientWidth).join(' ')</script>"
)


def test_the_summary_fits_a_1280_pixel_window(tmp_path: Path) -> None:
    items = [
        ItemResult(
            nodeid=f'{name}-{i}',
            architecture=name,
            description='',
            case=f'case_{i}',
            dataset='d',
            records=[run(j, batched=j % 3 == 0, passed=j % 4 != 0) for j in range(20)],
        )
        for name in ('specialized-with-a-long-name', 'delegation', 'hybrid')
        for i in range(3)
    ]
    page = render_html(build_report(items, model='openai:gpt-4o-mini', seed=0, runs=20, missing={}))
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', page)
    assert policy is not None
    harness = tmp_path / 'measured.html'
    harness.write_text(page.replace(policy.group(0), '').replace('</body>', MEASURE + '</body>'), encoding='utf-8')
    dom = browse(harness, tmp_path / 'profile', '--window-size=1280,1000', '--dump-dom')
    title = re.search(r'<title>(.*?)</title>', dom)
    assert title is not None
    widths = dict(part.split(':') for part in title.group(1).split())
    assert set(widths) == {'rates', 'usage'}
    for table, measured in widths.items():
        scroll, visible = map(int, measured.split('/'))
        assert 0 < scroll <= visible, f'the {table} table needs {scroll} px in a {visible} px column: it scrolls'


def test_report_is_self_contained() -> None:
    page = render_html(hostile_report())
    # No script, no external reference, and a policy that would refuse to load one.
    assert '<script' not in page
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "default-src 'none'" in page


def test_command_line_renders_a_json_report_and_explains_bad_input(tmp_path: Path) -> None:
    report = hostile_report()
    write_json(report, tmp_path / 'report.json')
    out = tmp_path / 'out' / 'report.html'
    command = [sys.executable, '-m', 'pytest_agentarch', 'html']
    done = subprocess.run([*command, str(tmp_path / 'report.json'), '-o', str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding='utf-8') == render_html(report)

    missing = subprocess.run([*command, str(tmp_path / 'nope.json'), '-o', str(out)], capture_output=True, text=True)
    assert missing.returncode == 2 and 'cannot read' in missing.stderr and 'nope.json' in missing.stderr
    (tmp_path / 'other.json').write_text('{"schema_version": 5}')
    wrong = subprocess.run([*command, str(tmp_path / 'other.json'), '-o', str(out)], capture_output=True, text=True)
    assert wrong.returncode == 2 and 'is not a pytest-agentarch JSON report' in wrong.stderr
    assert '--agentarch-json' in wrong.stderr


SESSION = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('wavering')
    async def wavering(inputs, model):
        # Runs 0 and 2 ask for alpha and beta together; runs 1 and 3 one after the other.
        plan = [['alpha', 'beta']] if archkit.run_index() % 2 == 0 else [['alpha'], ['beta']]
        return await archkit.run(lambda i: plan, inputs)
"""


def test_session_writes_the_html_report_and_v_prints_where_runs_diverge(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(SESSION, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '4', '--agentarch-html', 'out/report.html', '-v', '-n', '0')
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            'where runs diverge (level steps):',
            '  wavering  first: step 1 after (the start): 2x {alpha, beta} (run 0), 2x alpha (run 1)',
            # Both branches chose at their first request, shown the same prompt: said once.
            "    same context: the branches differ by sampling; each saw: request #1, prompt 'hello'",
            '*HTML report written to out/report.html*',
        ]
    )
    page = (pytester.path / 'out' / 'report.html').read_text(encoding='utf-8')
    assert 'data-step="1"' in page and '2 of 4 runs' in page
    assert page.count('same context: the branches differ by sampling') == 1
    assert page.count('<dl class="context">') == 1
