"""Endings that match the exit code: an output not written fails the session after the others are written and is
named on the last line; a dataset that does not load is one error; an unknown evaluator name gets "did you mean" and
the plugin's way to register evaluators; a plan without --runs names --runs; a registration mistake in a conftest is
reported as itself."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pydantic_evals.evaluators import Evaluator, EvaluatorContext

from conftest import ONE_CASE, XDIST
from pytest_agentarch.plugin.evaluator_names import unknown_evaluator

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs, answer=lambda i: 'ok')
"""


@pytest.mark.parametrize('xdist', XDIST)
def test_an_output_that_cannot_be_written_fails_the_session_after_the_others(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    # /proc accepts no new file, though the directory exists: the write fails only when it is made.
    result = pytester.runpytest('--runs', '2', '--agentarch-json', '/proc/r.json', '--agentarch-html', 'r.html', *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (pytester.path / 'r.html').is_file()
    result.stdout.fnmatch_lines(
        ['agentarch: JSON report could not be written to /proc/r.json: *', '=* 1 passed, 1 report not written in *']
    )


BROKEN = """
    name: demo
    cases:
      - name: first
        inputs: {question: "x"
"""


@pytest.mark.parametrize('xdist', XDIST)
def test_a_dataset_that_does_not_load_is_one_error(project: Callable[..., pytest.Pytester], xdist: list[str]) -> None:
    pytester = project(ARCHS, cases=BROKEN)
    result = pytester.runpytest('--runs', '2', *xdist)
    # pytest stops after a collection error (2); under xdist the error is the workers' and the status 1.
    assert result.ret in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.TESTS_FAILED)
    out = result.stdout.str()
    assert out.count('ERROR collecting') == 1
    # The error's section, before pytest's short summary (which repeats the whole message where CI is set).
    assert out.split('short test summary info')[0].count('Fix the file') == 1
    assert 'missing results' not in out
    assert 'schema' not in out  # a hand-written file has none to point at
    result.stdout.fnmatch_lines(['Fix the file and run again.'])
    # A file written by Dataset.to_file has its schema beside it: then it is named.
    pytester.makefile('.json', cases_schema='{}')
    result = pytester.runpytest('--runs', '2', *xdist)
    result.stdout.fnmatch_lines(['Fix the file (its JSON schema: cases_schema.json) and run again.'])


KNOWN_HERE = (
    'ArgumentCorrectness, Contains, Equals, EqualsExpected, GEval, HasMatchingSpan, IsInstance, LLMJudge, '
    'MaxDuration, MaxModelRequests, MaxToolCalls, Polite, ToolCorrectness, TrajectoryMatch, TrajectoryRequirements, '
    'TrajectorySteps'
)
"""pydantic-evals' thirteen built-ins, the plugin's two and the conftest's public `Polite`, in alphabetical order."""


def test_an_unknown_evaluator_gets_did_you_mean_and_how_to_register_one(
    project: Callable[..., pytest.Pytester],
) -> None:
    # Subclasses the process holds that nobody registered: one local to this test, a private one and a local one in
    # the conftest. pydantic-evals accepts them all (the plugin passes every subclass); the message offers none.
    @dataclass
    class LocalToThisTest(Evaluator):
        def evaluate(self, ctx: EvaluatorContext) -> bool:
            return True

    conftest = ARCHS + textwrap.indent(
        POLITE
        + textwrap.dedent(
            """
            @dataclass
            class _Private(Evaluator):
                def evaluate(self, ctx: EvaluatorContext) -> bool:
                    return True


            def make():
                @dataclass
                class Made(Evaluator):
                    def evaluate(self, ctx: EvaluatorContext) -> bool:
                        return True

                return Made


            MADE = make()
            """
        ),
        '    ',
    )
    pytester = project(conftest, cases=ONE_CASE.replace('- EqualsExpected', '- EqualExpected'))
    result = pytester.runpytest('--runs', '2')
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*: not a valid pydantic-evals dataset: unknown evaluator 'EqualExpected'. Did you mean 'EqualsExpected'? "
            f'Known evaluators: {KNOWN_HERE}. To use an evaluator of your own, define a subclass of '
            'pydantic_evals.evaluators.Evaluator in conftest.py, or in a module you list in the ini key '
            'agentarch_evaluators (e.g. `agentarch_evaluators = myproject.evaluators`).'
        ]
    )
    assert 'custom_evaluator_types' not in result.stdout.str()
    assert LocalToThisTest.__name__ not in result.stdout.str()


def test_unknown_evaluator_messages() -> None:
    pydantic_says = (
        "Evaluator 'Contain' is not in the provided `custom_evaluator_types`. Valid choices: ['Equals', 'Contains', "
        "'IsInstance', 'zeta', 'Hidden']. If you are trying to use a custom evaluator, you must include its type in "
        'the `custom_evaluator_types` argument.'
    )
    message = unknown_evaluator(pydantic_says, {'Hidden'})
    assert message is not None
    # Sorted without regard to case; a hidden name is neither listed nor suggested.
    assert message.startswith(
        "unknown evaluator 'Contain'. Did you mean 'Contains'? Known evaluators: Contains, Equals, IsInstance, zeta. "
    )
    assert 'Did you mean' not in (unknown_evaluator(pydantic_says.replace("'Contain'", "'Hiden'"), {'Hidden'}) or '')
    far = unknown_evaluator(pydantic_says.replace("'Contain'", "'Zzz'"))
    assert far is not None and 'Did you mean' not in far and 'Hidden' in far
    assert unknown_evaluator('some other error') is None


POLITE = '''
from dataclasses import dataclass

from pydantic_evals.evaluators import Evaluator, EvaluatorContext


@dataclass
class Polite(Evaluator):
    """Passes when the output says ok."""

    def evaluate(self, ctx: EvaluatorContext) -> bool:
        return ctx.output == 'ok'
'''


def test_evaluators_from_a_module_named_in_the_ini_are_usable_by_name(
    project: Callable[..., pytest.Pytester],
) -> None:
    cases = ONE_CASE.replace('- EqualsExpected', '- Polite')
    pytester = project(ARCHS, ini='agentarch_evaluators = myevals.checks', cases=cases)
    pytester.mkpydir('myevals')
    (pytester.path / 'myevals' / 'checks.py').write_text(POLITE)
    pytester.syspathinsert()
    result = pytester.runpytest('--runs', '2', '-n', '0')
    result.assert_outcomes(passed=1)
    pytester.makeini(
        textwrap.dedent(
            """
            [pytest]
            agentarch_datasets = *.yaml
            agentarch_model = test
            agentarch_evaluators = myevals.nosuch
            """
        )
    )
    result = pytester.runpytest('--runs', '2', '-n', '0')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini option agentarch_evaluators: module 'myevals.nosuch' cannot be imported (ModuleNotFoundError*"]
    )


def test_a_plan_without_runs_names_the_runs_option(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    result = pytester.runpytest('--agentarch-plan', '--min-determinism', '0.9')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            'ERROR: min_determinism=0.9 with 1 run(s) is meaningless: *determinism needs at least 2 runs '
            '(--runs 2 or more; --runs is 1 unless given)'
        ]
    )


@pytest.mark.parametrize('xdist', XDIST)
def test_a_sync_architecture_is_reported_as_itself(project: Callable[..., pytest.Pytester], xdist: list[str]) -> None:
    pytester = project(
        """
        from pytest_agentarch import architecture

        @architecture('plain')
        def plain(inputs, model):
            return 'ok'
        """,
        cases=ONE_CASE,
    )
    result = pytester.runpytest_subprocess('--runs', '2', *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *conftest.py: architecture 'plain': plain must be an `async def` function taking (inputs, model); "
            'write `async def plain(inputs, model): ...`'
        ]
    )
    assert 'ImportError while loading conftest' not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize('xdist', XDIST)
def test_a_sync_architecture_in_a_conftest_collected_late_is_reported_as_itself(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    # tests/sub/conftest.py is not an initial conftest (pytest loads those of the arguments and of their test*
    # directories first): it is imported while tests/sub is collected, and its mistake is that directory's error.
    pytester.makeini('[pytest]\nagentarch_datasets = *.yaml\nagentarch_model = test\n')
    sub = pytester.mkdir('tests') / 'sub'
    sub.mkdir()
    (sub / 'conftest.py').write_text(
        textwrap.dedent(
            """
            from pytest_agentarch import architecture

            @architecture('plain')
            def plain(inputs, model):
                return 'ok'
            """
        )
    )
    (sub / 'cases.yaml').write_text(textwrap.dedent(ONE_CASE))
    result = pytester.runpytest('--runs', '2', *xdist)
    assert result.ret in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.TESTS_FAILED)
    result.stdout.fnmatch_lines(
        [
            '*ERROR collecting tests/sub*',
            "*tests/sub/conftest.py: architecture 'plain': plain must be an `async def` function taking (inputs, "
            'model); write `async def plain(inputs, model): ...`',
        ]
    )
    out = result.stdout.str()
    assert 'ImportError' not in out and 'importlib' not in out and 'RegistryError' not in out


USES_THE_MODEL = """
    import os

    import archkit
    from pydantic_ai import Agent
    from pytest_agentarch import architecture, current_run

    @architecture('a')
    async def a(inputs, model):
        # With WOBBLE set, each run asks for a different number of alpha steps: a trajectory of its own.
        steps = current_run().index + 1 if os.environ.get('WOBBLE') else 1
        return await archkit.run(lambda i: [['alpha']] * steps, inputs)

    @architecture('spends')
    async def spends(inputs, model):
        result = await Agent(model).run(str(inputs))
        return result.output
"""

RED, YELLOW, GREEN = '\x1b[31m', '\x1b[33m', '\x1b[32m'


def last_line(result: pytest.RunResult) -> str:
    return [line for line in result.outlines if line.strip()][-1]


def test_the_last_line_is_red_and_names_why_a_session_of_passed_tests_failed(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester = project(USES_THE_MODEL, cases=ONE_CASE)
    colour = ['--color=yes', '-n', '0']
    passed = pytester.runpytest('--arch=a', '--runs=20', '--agentarch-json=baseline.json', *colour)
    assert passed.ret == pytest.ExitCode.OK
    assert last_line(passed).startswith(f'{GREEN}=') and '1 passed' in last_line(passed)

    # An output that cannot be written.
    unwritten = pytester.runpytest('--arch=a', '--runs=2', '--agentarch-json=/proc/r.json', *colour)
    assert unwritten.ret == pytest.ExitCode.TESTS_FAILED
    assert last_line(unwritten).startswith(f'{RED}=')
    assert f'{RED}\x1b[1m1 report not written' in last_line(unwritten)

    # A token budget of 1: the first run's request spends more, the other run never starts.
    budget = pytester.runpytest(
        '--arch=spends', '--runs=2', '--agentarch-concurrency=1', '--agentarch-budget-tokens=1', *colour
    )
    assert budget.ret == pytest.ExitCode.TESTS_FAILED
    assert last_line(budget).startswith(f'{RED}=')
    assert f'{RED}\x1b[1m1 budget reached' in last_line(budget)

    # 20 of 20 runs on one trajectory in the baseline, 1 of 20 now: a significant drop.
    monkeypatch.setenv('WOBBLE', '1')
    args = ['--arch=a', '--runs=20', '--agentarch-baseline=baseline.json', *colour]
    failing = pytester.runpytest(*args, '--fail-on-regression')
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    assert last_line(failing).startswith(f'{RED}=')
    assert f'{RED}\x1b[1m1 regression' in last_line(failing) and f'{GREEN}1 passed' in last_line(failing)
    # Without --fail-on-regression the session passes: the regression is named, in pytest's yellow.
    shown = pytester.runpytest(*args)
    assert shown.ret == pytest.ExitCode.OK
    assert last_line(shown).startswith(f'{YELLOW}=') and f'{YELLOW}\x1b[1m1 regression' in last_line(shown)
