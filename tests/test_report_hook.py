"""The `pytest_agentarch_report` hook: a user's conftest.py adds fields to the JSON report and the Markdown summary."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ONE_CASE, XDIST

CONFTEST = """
    import os

    import pytest

    import archkit
    from pytest_agentarch import architecture

    @architecture('steady')
    async def steady(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_agentarch_report(report, config):
        # Computed from the report: one architecture, one case, --runs 3.
        runs = sum(a.summary.runs for a in report.architectures)
        return {'build': 'b-17', 'runs_seen': runs, 'nested': {'a': [1, 2]}, 'runs_option': config.getoption('runs')}
"""

OTHER_PLUGIN = """
def pytest_agentarch_report(report, config):
    return {'build': 'other', 'when': object()}
"""


@pytest.mark.parametrize('xdist', XDIST)
def test_a_conftest_adds_fields_to_the_json_report_and_the_markdown_summary(
    project: Callable[..., pytest.Pytester], xdist: list[str]
) -> None:
    pytester = project(CONFTEST, demo=ONE_CASE)
    result = pytester.runpytest(
        '--runs', '3', '--agentarch-json', 'out.json', '--agentarch-md', 'out.md', '-p', 'no:randomly', *xdist
    )
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / 'out.json').read_text())
    assert report['extra'] == {'build': 'b-17', 'runs_seen': 3, 'nested': {'a': [1, 2]}, 'runs_option': 3}
    markdown = (pytester.path / 'out.md').read_text()
    assert (
        '### Added fields\n\n| field | value |\n| --- | ---: |\n| build | b-17 |\n| runs_seen | 3 |\n'
        '| nested | {"a": [1, 2]} |\n| runs_option | 3 |\n'
    ) in markdown


def test_a_field_named_twice_or_not_json_is_left_out_and_named(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(CONFTEST, demo=ONE_CASE)
    pytester.makepyfile(other_plugin=OTHER_PLUGIN)
    pytester.syspathinsert()
    result = pytester.runpytest('--agentarch-json', 'out.json', '-p', 'other_plugin', '-p', 'no:randomly')
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / 'out.json').read_text())
    # No --runs given: the option is None, written as null.
    assert report['extra'] == {'build': 'b-17', 'runs_seen': 1, 'nested': {'a': [1, 2]}, 'runs_option': None}
    result.stdout.fnmatch_lines(
        [
            "agentarch: report field 'build' was added by two pytest_agentarch_report hooks; the first one is kept",
            "agentarch: report field 'when' from a pytest_agentarch_report hook is left out: *not JSON serializable*",
        ]
    )


def test_without_a_hook_the_report_has_no_added_fields(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(CONFTEST.split('    @pytest.hookimpl')[0], demo=ONE_CASE)
    result = pytester.runpytest('--agentarch-json', 'out.json', '--agentarch-md', 'out.md', '-p', 'no:randomly')
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / 'out.json').read_text())['extra'] == {}
    assert 'Added fields' not in (pytester.path / 'out.md').read_text()


def test_the_docs_example_hook_works_as_written(
    project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = (Path(__file__).parent.parent / 'docs' / 'ci-gates.md').read_text(encoding='utf-8')
    (example,) = [b for b in re.findall(r'```python\n(.*?)```', page, re.S) if 'def pytest_agentarch_report' in b]
    conftest = CONFTEST.split('    @pytest.hookimpl')[0] + textwrap.indent(example, '    ')
    pytester = project(conftest, demo=ONE_CASE)
    monkeypatch.setenv('BUILD_ID', '42')
    result = pytester.runpytest('--agentarch-json', 'out.json', '-p', 'no:randomly')
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / 'out.json').read_text())['extra'] == {'build': '42', 'cheapest': 'steady'}
