"""Errors a user can act on: a run that raised shows where (file, line, the user's frames first, library frames
folded) in the failure report, `-v`, the JSON and the HTML; an item whose runs all raised says so instead of a
determinism of 100%; an output that is not of the declared return type is a behaviour error naming both types."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import ONE_CASE, XDIST
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.core.stats import aggregate, all_raised, case_stats
from pytest_agentarch.run.outputs import check_output
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.tracebacks import folded_traceback

BROKEN = """
    from pydantic_ai import Agent
    from pytest_agentarch import architecture

    ACCOUNTS = {'question': 'balance 12'}


    def lookup(q: str) -> str:
        '''Look an account up.'''
        return ACCOUNTS['questoin']


    @architecture('broken')
    async def broken(inputs, model) -> str:
        agent = Agent(model, tools=[lookup])
        return (await agent.run(str(inputs))).output
"""

TYPED = """
    from pydantic import BaseModel
    from pydantic_ai import Agent
    from pytest_agentarch import architecture


    class Verdict(BaseModel):
        answer: str


    @architecture('wrong', datasets=('demo',))
    async def wrong(inputs, model) -> Verdict:
        output = (await Agent(model).run(str(inputs))).output
        return {'answer': output}


    @architecture('right', datasets=('demo',))
    async def right(inputs, model) -> Verdict:
        return Verdict(answer=(await Agent(model).run(str(inputs))).output)
"""


def _line_of(source: str, text: str) -> int:
    """The 1-based line of `text` in the conftest as pytester writes it (dedented, as written)."""
    lines = textwrap.dedent(source).strip('\n').splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize('xdist', XDIST)
def test_a_run_that_raised_shows_where_in_the_failure_verbose_json_and_html(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(BROKEN, cases=ONE_CASE)
    line = _line_of(BROKEN, "ACCOUNTS['questoin']")
    result = pytester.runpytest(
        '--runs', '3', '-v', '--agentarch-json', 'r.json', '--agentarch-html', 'r.html', '-p', 'no:randomly', *xdist
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    # The failure report: the item's runs all raised, where, and the library frames between folded.
    result.stdout.fnmatch_lines(
        [
            '*runs=3 errors=3 pass rate * all 3 runs raised KeyError',
            'KeyError (3 runs), first raised in run 0:',
            f'  raised at *conftest.py:{line} in lookup',
            '  Traceback (most recent call last):',
            f'    File "*conftest.py", line {_line_of(BROKEN, "await agent.run")}, in broken',
            '      return (await agent.run(str(inputs))).output',
            '    ... * library frames (pydantic_ai*',
            f'    File "*conftest.py", line {line}, in lookup',
            "      return ACCOUNTS['questoin']",
            "  KeyError: 'questoin'",
        ]
    )
    # -v: the per-case table and the errors section say it too; nowhere is the item called deterministic.
    result.stdout.fnmatch_lines(
        [
            'errors (the first traceback of each exception type, library frames folded):',
            '  broken  first:',
            '    KeyError (3 runs), first raised in run 0:',
            f'      raised at *conftest.py:{line} in lookup',
        ]
    )
    assert '100.0%' not in out
    assert re.search(r'broken .* all 3 runs raised KeyError', out)
    report = json.loads((pytester.path / 'r.json').read_text())
    summary = report['architectures'][0]['summary']
    case = report['architectures'][0]['cases'][0]
    assert summary['all_raised'] == case['all_raised'] == 'all 3 runs raised KeyError'
    (variant,) = case['variants']
    assert variant['error_type'] == 'KeyError'
    assert variant['traceback'].splitlines()[0].endswith(f'conftest.py:{line} in lookup')
    html = (pytester.path / 'r.html').read_text()
    assert 'all 3 runs raised KeyError' in html
    assert f'conftest.py:{line} in lookup' in html
    assert '<pre class="traceback">' in html


def test_folded_traceback_shows_user_frames_and_folds_library_ones() -> None:
    def parse(text: str) -> Any:
        return json.loads(text)  # the failing line

    try:
        parse('{')
    except json.JSONDecodeError as exc:
        text = folded_traceback(exc)
    assert text is not None
    lines = text.splitlines()
    here = __file__
    parse_line = parse.__code__.co_firstlineno + 1
    assert lines[0] == f'raised at {here}:{parse_line} in parse'
    assert lines[1] == 'Traceback (most recent call last):'
    assert lines[2].endswith('in test_folded_traceback_shows_user_frames_and_folds_library_ones')
    assert lines[3] == "    parse('{')"
    assert lines[4] == f'  File "{here}", line {parse_line}, in parse'
    assert lines[5] == '    return json.loads(text)  # the failing line'
    # json.loads -> JSONDecoder.decode -> raw_decode: three frames of the standard library, one line.
    assert lines[6] == '  ... 3 library frames (json)'
    assert lines[7].startswith('JSONDecodeError: Expecting property name')


def test_folded_traceback_follows_the_cause_chain() -> None:
    def inner() -> None:
        raise KeyError('questoin')

    try:
        try:
            inner()
        except KeyError as exc:
            raise RuntimeError('tool failed') from exc
    except RuntimeError as outer:
        text = folded_traceback(outer)
    assert text is not None
    # The headline names the innermost frame of the user's code over the whole chain: where the KeyError came from.
    assert text.splitlines()[0] == f'raised at {__file__}:{inner.__code__.co_firstlineno + 1} in inner'
    assert text.index("KeyError: 'questoin'") < text.index('The above exception was the direct cause of:')
    assert text.rstrip().endswith('RuntimeError: tool failed')
    assert folded_traceback(KeyError('never raised')) is None


def _errored(index: int, error_type: str) -> RunRecord:
    return RunRecord(index=index, duration=0.1, error_type=error_type, error_kind='behaviour')


def test_all_raised_names_the_runs_and_their_exception_types() -> None:
    assert all_raised([_errored(i, 'KeyError') for i in range(20)]) == 'all 20 runs raised KeyError'
    mixed = [_errored(i, 'KeyError' if i < 12 else 'ValueError') for i in range(20)]
    assert all_raised(mixed) == 'all 20 runs raised KeyError 12, ValueError 8'
    assert all_raised([_errored(0, 'KeyError')]) == 'the only run raised KeyError'
    assert all_raised([_errored(0, 'KeyError'), RunRecord(index=1, duration=0.1)]) is None
    assert all_raised([]) is None
    # Determinism itself is 20/20 (one variant): `all_raised` is what reports show in its place.
    stats = case_stats([_errored(i, 'KeyError') for i in range(20)], architecture='a', case='c')
    assert (stats.determinism.successes, stats.determinism.n) == (20, 20)
    assert stats.all_raised == 'all 20 runs raised KeyError'
    other = case_stats([_errored(i, 'ValueError') for i in range(5)], architecture='a', case='d')
    assert aggregate([stats, other]).all_raised == 'all 25 runs raised KeyError 20, ValueError 5'
    fine = case_stats([RunRecord(index=0, duration=0.1)], architecture='a', case='e')
    assert aggregate([stats, fine]).all_raised is None


class Verdict(BaseModel):
    answer: str


@dataclass
class Point:
    x: int


def _arch(func: Any) -> Architecture:
    return Architecture(name=func.__name__, description='', func=func, origin=f'tests:{func.__name__}')


async def _str(inputs: Any, model: Any) -> str:
    return ''


async def _verdict(inputs: Any, model: Any) -> Verdict:
    return Verdict(answer='')


async def _optional(inputs: Any, model: Any) -> list[Point] | None:
    return None


async def _untyped(inputs, model):  # type: ignore[no-untyped-def]
    return None


@pytest.mark.parametrize(
    ('func', 'output', 'message'),
    [
        (_str, 'fine', None),
        (_str, {'answer': 'x'}, 'is declared to return str but returned dict'),
        (_str, 3, 'is declared to return str but returned int'),
        (_verdict, Verdict(answer='x'), None),
        # Strict: a dict that pydantic could coerce into a Verdict is not one.
        (_verdict, {'answer': 'x'}, 'is declared to return Verdict but returned dict'),
        (_optional, None, None),
        (_optional, [Point(x=1)], None),
        (_optional, [Point(x=1), 'y'], 'is declared to return list[Point] | None but returned list'),
        (_untyped, {'anything': 1}, None),
    ],
)
def test_outputs_are_checked_against_the_declared_return_type(func: Any, output: Any, message: str | None) -> None:
    error = check_output(_arch(func), output)
    if message is None:
        assert error is None
    else:
        assert error is not None
        assert message in str(error)
        assert 'return a ' in str(error)


def test_an_output_of_the_wrong_type_is_a_behaviour_error(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(TYPED, cases=ONE_CASE.replace('expected_output: ok', 'expected_output: {answer: ok}'))
    result = pytester.runpytest('--runs', '2', '--agentarch-json', 'r.json', '-p', 'no:randomly')
    result.assert_outcomes(passed=0, failed=2)
    report = json.loads((pytester.path / 'r.json').read_text())
    cases = {a['summary']['architecture']: a['cases'][0] for a in report['architectures']}
    assert cases['wrong']['all_raised'] == 'all 2 runs raised OutputTypeError'
    assert cases['wrong']['failures'][0]['error'].startswith(
        "OutputTypeError: architecture 'wrong' (conftest:wrong) is declared to return Verdict but returned dict"
    )
    assert cases['right']['errors'] == 0
