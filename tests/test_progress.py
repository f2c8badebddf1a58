"""Progress on an interactive terminal: pytest runs in a real pseudo-terminal, and what it wrote is read back.

Every drawn progress text must be erased before pytest writes again, so the screen holds exactly pytest's output;
nothing is drawn with -q, in a CI log or into a pipe. No timing is asserted: the ETA text is matched by its form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from conftest import XDIST
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

DRAWN = re.compile(r'  agentarch (\d+)/(\d+) runs \((\d+)%\)(, ETA (-|\d+s|\d+m\d\ds|\d+h\d\dm))?')


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


def erased(output: str) -> tuple[str, list[tuple[int, int]]]:
    """The output with each drawn text removed, and (done, total) of each; fails when a drawn text is not followed
    at once by its own erasure (cursor back over exactly its width, erase to the end of the line)."""
    found: list[tuple[int, int]] = []
    pieces: list[str] = []
    position = 0
    for match in DRAWN.finditer(output):
        erase = f'\x1b[{len(match.group(0))}D\x1b[K'
        assert output.startswith(erase, match.end()), repr(output[match.start() : match.end() + 20])
        pieces.append(output[position : match.start()])
        position = match.end() + len(erase)
        found.append((int(match.group(1)), int(match.group(2))))
    pieces.append(output[position:])
    return ''.join(pieces), found


@pytest.mark.skipif(sys.platform == 'win32', reason='pseudo-terminals are POSIX')
@pytest.mark.parametrize('xdist', XDIST)
@pytest.mark.parametrize('verbose', [[], ['-v']], ids=['dots', 'verbose'])
def test_progress_is_drawn_and_erased_on_a_terminal(
    project: Callable[..., pytest.Pytester], xdist: list[str], verbose: list[str]
) -> None:
    pytester = project(ARCHS, cases=CASES)
    output = run_in_terminal(pytester, '--runs=3', *verbose, *(xdist or ['-n', '0']))
    assert '\x1b[' in output  # the terminal has markup: pytest colours its summary
    screen, counts = erased(output)
    # Four items of three runs: 12 runs in all; the count only grows, in steps of one item's 3 runs.
    assert counts and {total for _, total in counts} == {12}
    done = [d for d, _ in counts]
    assert done == sorted(done) and set(done) <= {0, 3, 6, 9, 12} and done[-1] >= 9
    # After erasing, pytest's own lines are whole: the summary table and the final line.
    assert re.search(r'^one +2 +6 +0 +0 ', screen, re.M), screen
    assert re.search(r'=+ 4 passed in [\d.]+s', re.sub(r'\x1b\[[0-9;]*m', '', screen))
    assert 'agentarch ' not in screen.replace('agentarch: architecture comparison', '')


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
    state.advance(100)
    # 100 runs in 30 s: 300 left at 0.3 s a run = 90 s.
    assert state.eta(130.0) == pytest.approx(90.0)
    assert state.text(130.0) == 'agentarch 100/400 runs (25%), ETA 1m30s'
    state.advance(300)
    assert state.text(150.0) == 'agentarch 400/400 runs (100%)'
    assert [span(s) for s in (0, 59.4, 61, 3600 + 7 * 60 + 5)] == ['0s', '59s', '1m01s', '1h07m']


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
    # 10 columns used + 2 + 28 = 40: would touch the last column and wrap: not drawn.
    full = FakeWriter(width=10)
    ProgressLine(full).draw('x' * 28)
    assert full.written == []


def test_after_a_long_test_id_the_short_text_is_drawn() -> None:
    state = Progress(total=3480, started=0.0)
    state.advance(120)
    # 120 runs in 60 s: 3360 left at 0.5 s a run = 1680 s = 28m00s.
    assert state.short(60.0) == '120/3480 runs ETA 28m00s'
    # -v in 80 columns, a test id of 50: the long text would wrap, the short one fits.
    writer = FakeWriter(width=50, fullwidth=80)
    ProgressLine(writer).draw(state.text(60.0), state.short(60.0))
    assert writer.written == ['  120/3480 runs ETA 28m00s']  # 50 + 26 = 76 < 80; the long one needs 50 + 45 = 95
    roomy = FakeWriter(width=10, fullwidth=80)
    ProgressLine(roomy).draw(state.text(60.0), state.short(60.0))
    assert roomy.written == ['  agentarch 120/3480 runs (3%), ETA 28m00s']
    done = Progress(total=10, started=0.0)
    done.advance(10)
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
