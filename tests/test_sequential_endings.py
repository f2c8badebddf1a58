"""Sequential gates as a new user meets them: every gate that cannot stop an item early is said (the default
path-conformance gate too), and an item stops at its first missed gate and is counted decided."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from conftest import XDIST
from pytest_agentarch import BoundArchitecture

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        # Run 0 takes beta, every other run alpha: the path evaluator below fails run 0 only.
        return await archkit.run(lambda i: [['beta']] if i == 0 and FIRST_ASTRAY else [['alpha']], inputs)
"""

PATH_CASE = """
name: demo
cases:
  - name: first
    inputs: hello
    expected_output: ok
    evaluators:
      - EqualsExpected
      - TrajectorySteps: {steps: [[alpha]]}
"""

RATES = ['--agentarch-sequential', '--min-determinism', '0.9', '--min-pass-rate', '0.9', '--runs', '60']


def _project(project: Callable[..., pytest.Pytester], *, astray: bool) -> pytest.Pytester:
    return project(f'FIRST_ASTRAY = {astray}\n' + ARCHS.replace('\n    ', '\n'), cases=PATH_CASE)


def test_the_default_path_gate_that_cannot_stop_early_is_said(project: Callable[..., pytest.Pytester]) -> None:
    pytester = _project(project, astray=False)
    result = pytester.runpytest(*RATES, '-v', '-n', '0')
    result.assert_outcomes(passed=1)
    said = (
        'agentarch: path_conformance >= 1 (session; items with path evaluators) can never be decided met before the '
        'last of --runs 60: every run must count, so the sequential test stops an item early only on a miss. Pass '
        '--min-path-conformance 0.9 (met after * runs that all count) or --min-path-conformance 0 for no '
        'path_conformance gate'
    )
    result.stdout.fnmatch_lines([said, '*collected 1 item'])  # before any run
    result.stdout.fnmatch_lines(['*cases.yaml::first?a?: 60 of 60 runs: *path_conformance undecided (e=1, 60/60)*'])
    result.stdout.fnmatch_lines([said, '=* 1 passed in *'])  # and in the summary
    lines = result.stdout.lines
    assert sum(1 for line in lines if 'can never be decided met' in line) == 2
    assert not any('pass_rate >= ' in line for line in lines)  # 0.9 is met early: no warning for it


def test_a_path_gate_below_1_stops_the_item_early_and_warns_of_nothing(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = _project(project, astray=False)
    result = pytester.runpytest(*RATES, '--min-path-conformance', '0.9', '-v', '-n', '0')
    result.assert_outcomes(passed=1)
    assert 'be decided met before' not in result.stdout.str()  # every gate can stop the item early
    # One trajectory in every run: determinism's met test (held-out agreement, n - 1 trials) decides 0.9 after 35 runs
    # in batches of 5 (the -v line of tests/test_glance.py), the last of the three gates.
    result.stdout.fnmatch_lines(['*cases.yaml::first?a?: 35 of 60 runs: *determinism:steps met at run 35*'])


@pytest.mark.parametrize('xdist', XDIST)
def test_an_item_stops_at_its_first_missed_gate_and_counts_as_decided(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = _project(project, astray=True)
    result = pytester.runpytest(*RATES, '-v', '--agentarch-html', 'r.html', *xdist)
    result.assert_outcomes(failed=1)
    # Run 0 strays from the path: a gate of 1 is missed at the first decision, after the first batch of 5 runs; the
    # pass rate (5/5) and determinism (4 of 5 on the mode) are left undecided at the stop, and are no misses.
    result.stdout.fnmatch_lines(
        [
            '*path_conformance 0.800 (decided missed by the sequential test) n=5*',
            'sequential gates (*: 1 items, 1 decided (0 met, 1 missed), 0 undecided *; runs 5 of 60 (saved 55, 91.7%)*',
            '  gates: determinism:steps 1 undecided; pass_rate 1 undecided; path_conformance 1 missed',
            '  a: 1 of 1 decided (0 met, 1 missed); runs 5 of 60 *',
            '*cases.yaml::first?a?: 5 of 60 runs: pass_rate undecided at the stop (*, 5/5); path_conformance missed '
            'at run 5 (*, 4/5); determinism:steps undecided at the stop*',
        ]
    )
    text = result.stdout.str()
    assert 'pass_rate 1.000' not in text and 'determinism:steps 0.' not in text
    html = (pytester.path / 'r.html').read_text()
    assert '5 of 60 runs; pass_rate undecided at the stop (e=' in html
    assert 'path_conformance missed at run 5 (e=' in html


def test_repeat_and_arepeat_say_which_kind_of_test_each_is_for() -> None:
    repeat = inspect.getdoc(BoundArchitecture.repeat) or ''
    arepeat = inspect.getdoc(BoundArchitecture.arepeat) or ''
    assert 'For synchronous\ntests' in repeat and 'await `arepeat` instead' in repeat
    assert 'The form to await in async tests' in arepeat and '`repeat` is for\nsynchronous tests' in arepeat
    assert '`arepeat` for\nsynchronous' not in repeat  # the old, backwards wording
