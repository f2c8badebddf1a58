"""Bad input: a usage error (exit status 4) or a collection error that says what is wrong, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import ONE_CASE, XDIST

ARCHS = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('a')
    async def a(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @architecture('b')
    async def b(inputs, model):
        return await archkit.run(lambda i: [['beta']], inputs)
"""


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--arch', 'a,nope'], "ERROR: --arch: unknown architecture 'nope'. Registered architectures: a, b"),
        (['--arch', 'a,a'], 'ERROR: --arch names a more than once. Registered: a, b'),
        (['--arch', 'a,'], "ERROR: --arch 'a,' has an empty name. Registered architectures: a, b"),
        (['--runs', '0'], '*error: argument --runs: must be at least 1, got 0'),
        (['--runs', 'many'], "*error: argument --runs: expected a whole number >= 1, got 'many'"),
        (['--min-determinism', '1.5'], "*error: argument --min-determinism: threshold must be between 0 and 1*'1.5'"),
        (['--min-pass-rate', '-0.1'], '*error: argument --min-pass-rate: threshold must be between 0 and 1*'),
        (
            ['--agentarch-timeout', '0'],
            "*error: argument --agentarch-timeout: must be a positive number of seconds, got '0'",
        ),
        (['--agentarch-concurrency', '0'], '*error: argument --agentarch-concurrency: must be at least 1, got 0'),
        (
            ['--agentarch-model', 'nosuchprovider:x'],
            "ERROR: --agentarch-model 'nosuchprovider:x' is not a model this session can use: Unknown model*",
        ),
    ],
)
@pytest.mark.parametrize('xdist', XDIST)
def test_bad_options_are_usage_errors(
    project: Callable[..., pytest.Pytester], args: list[str], message: str, xdist: list[str]
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    result = pytester.runpytest(*args, *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(
    ('ini', 'message'),
    [
        ('agentarch_runs = 0', "ERROR: ini option agentarch_runs = '0': must be at least 1, got 0"),
        ('agentarch_min_determinism = lots', "ERROR: ini option agentarch_min_determinism = 'lots': threshold *"),
        (
            'agentarch_arch_thresholds = a: min_speed=1',
            "ERROR: agentarch_arch_thresholds line 'a: min_speed=1': 'min_speed=1' is not one of*",
        ),
        ('agentarch_arg_mask = (', "ERROR: agentarch_arg_mask: '(' is not a valid regex*"),
    ],
)
def test_bad_ini_values_are_usage_errors(project: Callable[..., pytest.Pytester], ini: str, message: str) -> None:
    pytester = project(ARCHS, ini=ini, cases=ONE_CASE)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_two_architectures_under_one_name_are_a_usage_error(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(
        """
        import archkit
        from pytest_agentarch import architecture

        @architecture('twin')
        async def first(inputs, model):
            return await archkit.run(lambda i: [['alpha']], inputs)

        @architecture('twin')
        async def second(inputs, model):
            return await archkit.run(lambda i: [['beta']], inputs)
        """,
        cases=ONE_CASE,
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'twin' is registered twice: by conftest:first and by conftest:second. "
            'Give each architecture its own name.'
        ]
    )


def test_no_architectures_fails_dataset_collection_but_not_other_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini('[pytest]\nagentarch_datasets = *.yaml\nagentarch_model = test\n')
    pytester.makefile('.yaml', cases=ONE_CASE)
    pytester.makepyfile(test_plain='def test_plain():\n    assert True\n')
    result = pytester.runpytest('test_plain.py')
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line('*agentarch: architecture comparison*')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ['*ERROR collecting cases.yaml*', '*cases.yaml: no architectures are registered. Decorate an async function*']
    )
    result = pytester.runpytest('test_plain.py', '--arch', 'a')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['ERROR: no architectures are registered.*'])


BAD_YAML = """
    name: demo
    cases:
      - name: first
        inputs: [unclosed
"""

UNKNOWN_EVALUATOR = """
    name: demo
    cases:
      - name: first
        inputs: hello
        evaluators:
          - NoSuchEvaluator
"""

DUPLICATE_CASE = """
    name: demo
    cases:
      - name: first
        inputs: hello
      - name: second
        inputs: hello
      - name: first
        inputs: again
"""


UNKNOWN_EVALUATOR_ARGUMENT = """
    name: demo
    cases:
      - name: first
        inputs: hello
        evaluators:
          - EqualsExpected: {tolerance: 1}
"""

BROKEN = [
    pytest.param(BAD_YAML, '*broken.yaml: not a valid pydantic-evals dataset: *', id='bad-yaml'),
    pytest.param(
        UNKNOWN_EVALUATOR,
        "*broken.yaml: not a valid pydantic-evals dataset: unknown evaluator 'NoSuchEvaluator'. Known evaluators: *",
        id='unknown-evaluator',
    ),
    pytest.param(
        UNKNOWN_EVALUATOR_ARGUMENT,
        "*broken.yaml: not a valid pydantic-evals dataset: Failed to instantiate evaluator 'EqualsExpected' "
        "for case 'first': *'tolerance'",
        id='bad-evaluator-argument',
    ),
    pytest.param(
        DUPLICATE_CASE,
        "*broken.yaml: not a valid pydantic-evals dataset: Duplicate case name: 'first'",
        id='duplicate-case',
    ),
]


@pytest.mark.parametrize(('dataset', 'message'), BROKEN)
def test_broken_dataset_is_a_collection_error_naming_the_file(
    project: Callable[..., pytest.Pytester], dataset: str, message: str
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE, broken=dataset)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(['*ERROR collecting broken.yaml*', message, '*Interrupted: 1 error during collection*'])
    # One error: the good dataset's items never ran because pytest stopped, so they are not listed as missing.
    assert 'missing results' not in result.stdout.str()


def test_broken_dataset_under_xdist_is_reported_and_the_good_ones_still_run(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE, broken=UNKNOWN_EVALUATOR)
    result = pytester.runpytest('-n', '2')
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ['*ERROR collecting broken.yaml*', "*broken.yaml: not a valid pydantic-evals dataset: unknown evaluator 'NoSu*"]
    )


def test_report_paths_that_cannot_be_written_are_usage_errors_before_any_run(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    (pytester.path / 'adir').mkdir()
    (pytester.path / 'afile').write_text('x')
    result = pytester.runpytest('--agentarch-html', 'adir')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['ERROR: --agentarch-html adir: it is a directory; choose a path the session can*'])
    result = pytester.runpytest('--agentarch-json', 'afile/deeper/r.json')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['ERROR: --agentarch-json afile/deeper/r.json: *afile is a file, not a directory*'])
    # Nothing was created by the check.
    assert sorted(p.name for p in pytester.path.iterdir() if p.name.startswith('a')) == ['adir', 'afile', 'archkit.py']


def test_an_output_that_fails_at_the_end_keeps_the_others(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester = project(ARCHS, cases=ONE_CASE)
    (pytester.path / 'summary-dir').mkdir()
    # $GITHUB_STEP_SUMMARY is only known to be bad when the session writes it: a directory cannot be appended to.
    monkeypatch.setenv('GITHUB_STEP_SUMMARY', str(pytester.path / 'summary-dir'))
    result = pytester.runpytest('--agentarch-json', 'r.json', '--agentarch-md', 'summary.md')
    result.assert_outcomes(passed=2)
    assert (pytester.path / 'r.json').is_file() and (pytester.path / 'summary.md').is_file()
    result.stdout.fnmatch_lines(
        [
            'report written to r.json',
            'Markdown summary written to summary.md',
            'agentarch: $GITHUB_STEP_SUMMARY could not be written to *summary-dir: *Is a directory*',
        ]
    )
