"""Progress on an interactive terminal: pytest runs in a real pseudo-terminal (or in process, its terminal reporter
told it is one), and what it wrote is read back and replayed on a small terminal model.

Every drawn progress text must be erased before pytest writes again, so the screen holds exactly pytest's output;
nothing is drawn with -q, in a CI log or into a pipe. Runs are counted as they finish, also across xdist workers.
No timing is asserted: the ETA text is matched by its form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from conftest import XDIST
from pytest_agentarch.plugin import progress as plugin_progress
from pytest_agentarch.reports.progress import Progress, ProgressLine, interactive, span

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('one')
    async def one(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('two')
    async def two(inputs, model):
        return await archkit.run(lambda i: [['beta']], inputs)
"""

CASES = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: second
        inputs: world
"""

ETA = r'(?:-|\d+s|\d+m\d\ds|\d+h\d\dm)'
TEXT = rf'(?:agentarch (\d+)/(\d+) runs \(\d+%\)(?:, ETA ({ETA}))?|(\d+)/(\d+) runs(?: ETA {ETA})?|(\d+)/(\d+))'
DRAWN = re.compile(
    rf'(?:  (?P<inline>{TEXT})\x1b\[(?P<back>\d+)D\x1b\[K)|(?:\r?\n\r(?P<below>{TEXT})\r\x1b\[K\x1b\[1A\x1b\[\d+G)'
)
"""A drawn text and its erasure, which must follow it at once: on pytest's line (cursor back over exactly its width,
erase to the end of the line) or on the line below (erase it, up one line, back to pytest's column)."""


def run_in_terminal(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> str:
    """Run pytest on a pseudo-terminal 200 columns wide; return everything it wrote."""
    import pty

    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ('CI', 'BUILD_NUMBER', 'PY_COLORS', 'NO_COLOR')}
    environ.update({'TERM': 'xterm', 'COLUMNS': '200', 'LINES': '50', **(env or {})})
    proc = subprocess.Popen(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', *args],
        cwd=pytester.path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environ,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0, b''.join(chunks).decode(errors='replace')
    return b''.join(chunks).decode(errors='replace')


def erased(output: str) -> tuple[str, list[tuple[int, int]], list[str]]:
    """The output with each drawn text (and its erasure) removed, (done, total) of each, and the texts."""
    found: list[tuple[int, int]] = []
    texts: list[str] = []
    for match in DRAWN.finditer(output):
        text = match.group('inline') or match.group('below')
        if match.group('inline') is not None:
            assert int(match.group('back')) == len(text) + 2, repr(match.group(0))
        numbers = [int(n) for n in re.findall(r'\d+', text)[:2]]
        found.append((numbers[0], numbers[1]))
        texts.append(text)
    assert output.count('\x1b[K') == len(found), 'a text drawn without its erasure right after it'
    return DRAWN.sub('', output), found, texts


def screen(output: str, width: int) -> tuple[list[str], int]:
    """What a terminal `width` columns wide (and as tall as needed) shows after `output`, and the widest column a
    drawn progress text reached (-1: none drawn). Handles what pytest and the progress line write: text with
    automatic wrap (the wrap waits at the right margin until the next character), CR, LF, colours, and the cursor
    moves and erasures of the progress line."""
    rows: list[list[str]] = [[]]
    row = col = 0
    pending = False
    widest = -1
    drawn = {
        m.start(t) + i
        for m in DRAWN.finditer(output)
        for t in ('inline', 'below')
        if m.group(t)
        for i in range(len(m.group(t)))
    }
    i = 0
    while i < len(output):
        char = output[i]
        if char == '\x1b':
            found = re.match(r'\x1b\[(\d*)([A-Za-z])', output[i:])
            assert found is not None, repr(output[i : i + 10])
            n, code = int(found.group(1) or 1), found.group(2)
            if code == 'D':
                col, pending = max(0, col - n), False
            elif code == 'A':
                row, pending = max(0, row - n), False
            elif code == 'G':
                col, pending = n - 1, False
            elif code == 'K':
                del rows[row][col:]
            else:
                assert code == 'm', repr(found.group(0))
            i += found.end()
            continue
        if char == '\n':
            row, col, pending = row + 1, 0, False
            while len(rows) <= row:
                rows.append([])
        elif char == '\r':
            col, pending = 0, False
        else:
            if pending:
                row, col, pending = row + 1, 0, False
                while len(rows) <= row:
                    rows.append([])
            if i in drawn:
                widest = max(widest, col)
            line = rows[row]
            line.extend(' ' * (col + 1 - len(line)))
            line[col] = char
            if col == width - 1:
                pending = True
                if i in drawn:
                    widest = width  # the next character would wrap: the text filled the line
            else:
                col += 1
        i += 1
    lines = [''.join(r).rstrip() for r in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines, widest


@pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX')
@pytest.mark.parametrize('xdist', XDIST)
@pytest.mark.parametrize('verbose', [[], ['-v']], ids=['dots', 'verbose'])
def test_progress_is_drawn_and_erased_on_a_terminal(
    project: Callable[..., pytest.Pytester], xdist: list[str], verbose: list[str]
) -> None:
    pytester = project(ARCHS, cases=CASES)
    output = run_in_terminal(pytester, '--runs=3', *verbose, *(xdist or ['-n', '0']))
    assert '\x1b[' in output  # the terminal has markup: pytest colours its summary
    plain, counts, _ = erased(output)
    # Four items of three runs: 12 runs in all; the count only grows.
    assert counts and {total for _, total in counts} == {12}
    done = [d for d, _ in counts]
    assert done == sorted(done) and done[-1] >= 9
    # The screen shows exactly what pytest wrote: the summary table and the final line whole.
    lines, _ = screen(output, 200)
    assert lines == screen(plain, 200)[0]
    text = '\n'.join(lines)
    assert re.search(r'^one +2 +6 +0 +0 ', text, re.M), text
    assert re.search(r'=+ 4 passed in [\d.]+s', text)
    assert 'agentarch ' not in text.replace('agentarch: architecture comparison', '')


LONG_CASES = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: ambiguous_anything_wrong_with_healthy_node_in_pool
        inputs: world
"""
"""In a file named like the K8s suite's, the second case's ids with `-v` are 75 columns wide: no progress text fits
after them in 80 columns."""

NO_THROTTLE = """
    import pytest

    from pytest_agentarch.plugin import progress


    @pytest.hookimpl(trylast=True)
    def pytest_configure(config):
        # Every run's end is drawn (or sent, on an xdist worker: this conftest is imported there too).
        interval = progress.INTERVAL
        progress.INTERVAL = 0
        config.add_cleanup(lambda: setattr(progress, 'INTERVAL', interval))
"""


@pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX')
@pytest.mark.parametrize(
    ('args', 'columns'),
    [(['-n', '0'], 80), (['-v', '-n', '0'], 80), (['-v', '-n', '0'], 200), (['-n', '2'], 80)],
    ids=['dots-80', 'verbose-80', 'verbose-200', 'xdist-2-80'],
)
def test_runs_are_counted_as_they_finish_and_the_line_fits_the_terminal(
    project: Callable[..., pytest.Pytester], args: list[str], columns: int
) -> None:
    # A pseudo-terminal, not pytester's in-process capture: that splits the output into lines at every CR, and the
    # drawing and erasing are made of CRs and cursor moves.
    pytester = project(ARCHS + NO_THROTTLE, k8s_anomaly=LONG_CASES)
    output = run_in_terminal(pytester, '--runs=4', '--arch=one,two', *args, env={'COLUMNS': str(columns)})
    plain, counts, texts = erased(output)
    # Four items of four runs, 16 in all. Every run's end is drawn, so the line shows every count from 0 (before the
    # first run) to 16, not only the item boundaries 0, 4, 8, 12, 16; under xdist the workers' counts reach it too.
    assert sorted({d for d, _ in counts}) == list(range(17)), counts
    assert {total for _, total in counts} == {16}
    # No ETA before 5 runs are done (progress.FEW); one after (while runs are left) in the texts that have room.
    for text, (done, _) in zip(texts, counts, strict=True):
        eta = re.search(rf'ETA ({ETA})', text)
        if done < 5:
            assert eta is None or eta.group(1) == '-', text
        elif done < 16 and text.startswith('agentarch'):
            assert eta is not None and eta.group(1) != '-', text
    # Each text fits the terminal: none reaches its last column (which would wrap), and erased, the screen is what
    # pytest wrote.
    lines, widest = screen(output, columns)
    assert 0 <= widest < columns - 1
    assert lines == screen(plain, columns)[0]
    if '-v' in args and columns == 80:
        long_id = 'k8s_anomaly.yaml::ambiguous_anything_wrong_with_healthy_node_in_pool[two] '
        assert any(line.startswith(long_id) for line in lines)
        # After that id no text fits: it is drawn on the line below.
        assert re.search(rf'{re.escape(long_id)}\r?\n\r(agentarch|\d)', output), output


@pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX')
@pytest.mark.parametrize(
    ('args', 'env'), [(['-q'], {}), ([], {'CI': 'true'}), ([], {'BUILD_NUMBER': '7'})], ids=['quiet', 'ci', 'build']
)
def test_no_progress_when_quiet_or_in_ci(
    project: Callable[..., pytest.Pytester], args: list[str], env: dict[str, str]
) -> None:
    pytester = project(ARCHS, cases=CASES)
    output = run_in_terminal(pytester, '--runs=2', '-n', '0', *args, env=env)
    assert 'runs (' not in output and '\x1b[K' not in output


def test_no_progress_into_a_pipe(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=CASES)
    result = pytester.runpytest_subprocess('--runs=2', '-n', '0')
    result.assert_outcomes(passed=4)
    assert 'runs (' not in result.stdout.str()


def test_progress_text_and_eta() -> None:
    state = Progress(total=400, started=100.0)
    assert state.text(100.0) == 'agentarch 0/400 runs (0%), ETA -'
    state.finished('a', 4)
    # Four runs done: fewer than FEW (5), no estimate yet.
    assert state.eta(101.0) is None and state.text(101.0) == 'agentarch 4/400 runs (1%), ETA -'
    state.finished('a', 60)
    state.finished('b', 40)
    state.finished('a', 50)  # a count that arrives late changes nothing
    assert state.done == 100
    # 100 runs in 30 s: 300 left at 0.3 s a run = 90 s.
    assert state.eta(130.0) == pytest.approx(90.0)
    assert state.text(130.0) == 'agentarch 100/400 runs (25%), ETA 1m30s'
    state.finished('b', 340)
    assert state.text(150.0) == 'agentarch 400/400 runs (100%)'
    assert [span(s) for s in (0, 59.4, 61, 3600 + 7 * 60 + 5)] == ['0s', '59s', '1m01s', '1h07m']
    few = Progress(total=3, started=0.0)
    few.finished('a', 3)  # a session of fewer than FEW runs
    assert few.eta(1.0) == 0.0


class FakeWriter:
    def __init__(self, width: int, fullwidth: int = 40) -> None:
        self.width_of_current_line = width
        self.fullwidth = fullwidth
        self.written: list[str] = []

    def write_raw(self, msg: str, *, flush: bool = False) -> None:
        self.written.append(msg)


def test_progress_line_erases_exactly_what_it_drew_and_never_wraps() -> None:
    writer = FakeWriter(width=10)
    line = ProgressLine(writer)
    line.draw('abc')
    line.draw('defg')  # the previous text goes first
    line.erase()
    line.erase()  # nothing left to erase
    assert writer.written == ['  abc', '\x1b[5D\x1b[K', '  defg', '\x1b[6D\x1b[K']
    # 10 columns used + 2 + 28 = 40 would touch the last column and wrap: drawn on the line below instead, where 28
    # fits; erased, the cursor goes back up to column 11 (1-based) of pytest's line.
    below = FakeWriter(width=10)
    ProgressLine(below).draw('x' * 28)
    assert below.written == ['\n\r' + 'x' * 28]
    below_line = ProgressLine(below)
    below_line.draw('x' * 28)
    below_line.erase()
    assert below.written[-1] == '\r\x1b[K\x1b[1A\x1b[11G'
    # A text as wide as the terminal fits nowhere.
    none = FakeWriter(width=10)
    ProgressLine(none).draw('x' * 40)
    assert none.written == []
    # pytest's line wrapped once (50 of 40 columns): the cursor is on its second row, column 10.
    wrapped = FakeWriter(width=50)
    wrapped_line = ProgressLine(wrapped)
    wrapped_line.draw('abc')
    wrapped_line.erase()
    assert wrapped.written == ['\n\rabc', '\r\x1b[K\x1b[1A\x1b[11G']
    # pytest's text ends exactly at the right margin: the terminal's pending wrap would be lost, nothing is drawn.
    margin = FakeWriter(width=40)
    ProgressLine(margin).draw('abc')
    assert margin.written == []


def test_after_a_long_test_id_the_short_text_is_drawn() -> None:
    state = Progress(total=3480, started=0.0)
    state.finished('a', 120)
    # 120 runs in 60 s: 3360 left at 0.5 s a run = 1680 s = 28m00s.
    assert state.short(60.0) == '120/3480 runs ETA 28m00s'
    assert state.bare() == '120/3480'
    # -v in 80 columns, a test id of 50: the long text would wrap, the short one fits.
    writer = FakeWriter(width=50, fullwidth=80)
    ProgressLine(writer).draw(state.text(60.0), state.short(60.0), state.bare())
    assert writer.written == ['  120/3480 runs ETA 28m00s']  # 50 + 26 = 76 < 80; the long one needs 50 + 45 = 95
    # A test id of 60: only the bare count fits (60 + 10 = 70; the short text needs 60 + 26 = 86).
    longer = FakeWriter(width=60, fullwidth=80)
    ProgressLine(longer).draw(state.text(60.0), state.short(60.0), state.bare())
    assert longer.written == ['  120/3480']
    roomy = FakeWriter(width=10, fullwidth=80)
    ProgressLine(roomy).draw(state.text(60.0), state.short(60.0), state.bare())
    assert roomy.written == ['  agentarch 120/3480 runs (3%), ETA 28m00s']
    done = Progress(total=10, started=0.0)
    done.finished('a', 10)
    assert done.short(5.0) == '10/10 runs'


class FakeReporter:
    def __init__(self, tty: bool, markup: bool) -> None:
        self.tty, self.hasmarkup = tty, markup

    def isatty(self) -> bool:
        return self.tty


def test_interactive_needs_a_terminal_with_markup_and_no_ci() -> None:
    quiet: dict[str, str] = {}
    assert interactive(FakeReporter(True, True), 0, quiet.get)
    assert not interactive(FakeReporter(False, True), 0, quiet.get)  # PY_COLORS=1 into a log file
    assert not interactive(FakeReporter(True, False), 0, quiet.get)  # TERM=dumb
    assert not interactive(FakeReporter(True, True), -1, quiet.get)  # -q
    assert not interactive(FakeReporter(True, True), 0, {'CI': 'true'}.get)
    assert not interactive(None, 0, quiet.get)


def test_a_worker_sends_at_most_one_count_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(plugin_progress.time, 'monotonic', lambda: clock[0])
    sent: list[pytest.TestReport] = []
    config = SimpleNamespace(
        stash=pytest.Stash(), hook=SimpleNamespace(pytest_runtest_logreport=lambda report: sent.append(report))
    )
    worker = plugin_progress.WorkerProgress(config)
    item = SimpleNamespace(nodeid='cases.yaml::first[one]', location=('cases.yaml', None, 'first[one]'))
    # Runs end at 100.0, 100.1, 100.25 and 100.3 s: with INTERVAL 0.2 s the first and the third are sent.
    for at, done in [(100.0, 1), (100.1, 2), (100.25, 3), (100.3, 4)]:
        clock[0] = at
        config.stash[plugin_progress.RUN_DONE](item, done)
    assert plugin_progress.INTERVAL == 0.2
    assert [getattr(r, plugin_progress.PROGRESS_KEY) for r in sent] == [1, 3]
    # A passed report of the item, in no phase of pytest's, that pytest's terminal reporter leaves unwritten.
    assert {(r.nodeid, r.outcome, r.when) for r in sent} == {('cases.yaml::first[one]', 'passed', 'agentarch-progress')}
    assert worker.pytest_report_teststatus(sent[0]) == ('', '', '')
    assert worker.pytest_report_teststatus(pytest.TestReport('x', ('x', None, 'x'), {}, 'passed', None, 'call')) is None


@pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX')
def test_with_output_not_captured_the_line_is_drawn_only_between_items(project: Callable[..., pytest.Pytester]) -> None:
    # With -s an architecture's prints reach the terminal while its item runs: a text drawn then would sit before
    # them. Counts are drawn at item boundaries only, and the prints are whole on the screen.
    printing = ARCHS.replace(
        "return await archkit.run(lambda i: [['alpha']], inputs)",
        "print('run of one')\n        return await archkit.run(lambda i: [['alpha']], inputs)",
    )
    assert printing != ARCHS
    pytester = project(printing + NO_THROTTLE, cases=CASES)
    output = run_in_terminal(pytester, '--runs=3', '-s', '--agentarch-memory=off', '-n', '0', env={'COLUMNS': '80'})
    plain, counts, _ = erased(output)
    assert counts and {d for d, _ in counts} <= {0, 3, 6, 9, 12}
    lines, _ = screen(output, 80)
    assert lines == screen(plain, 80)[0]
    # Two cases of three runs (no memory probe, which would be a seventh).
    assert sum(line.count('run of one') for line in lines) == 6
