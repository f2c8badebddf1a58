"""The quick start's "use it in your project" example works as written (on the simulated model), and the options
page lists every option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / 'docs'
QUICKSTART = (DOCS / 'quickstart.md').read_text(encoding='utf-8')
BLOCKS = re.findall(r'```(\w+)\n(.*?)```', QUICKSTART, re.S)

TOOLS = '''
def get_weather(city: str) -> dict:
    """Current weather of a city."""
    return {'city': city, 'sky': 'clear', 'temperature_c': 3}


def get_forecast(city: str, days: int = 3) -> dict:
    """Forecast of a city for the next days."""
    return {'city': city, 'days': days, 'sky': 'snow'}
'''


def block(language: str, marker: str) -> str:
    (found,) = [text for lang, text in BLOCKS if lang == language and marker in text]
    return found


def test_the_quickstart_example_project_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{'myapp/__init__': '', 'myapp/tools': TOOLS})
    pytester.makeconftest(block('python', '# conftest.py'))
    pytester.makefile('.yaml', **{'evals/weather': block('yaml', '# evals/weather.yaml')})
    pytester.makepyfile(test_stable=block('python', 'def test_stable(arch)'))
    pytester.makepyprojecttoml(block('toml', 'agentarch_datasets'))
    pytester.syspathinsert()
    result = pytester.runpytest('--runs', '5', '-p', 'no:cacheprovider')
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(['*agentarch: architecture comparison*', 'one-agent *', 'scripted *'])


def test_every_option_and_ini_key_is_on_the_options_page() -> None:
    from pytest_agentarch.plugin.options import OPTIONS

    table = (DOCS / 'options.md').read_text(encoding='utf-8')
    rows = [line for line in table.splitlines() if line.startswith('| ')]
    for opt in OPTIONS:
        (row,) = [r for r in rows if f'`{opt.ini}`' in r]
        if opt.flag is not None:
            assert f'`{opt.flag}' in row, (opt.flag, row)
