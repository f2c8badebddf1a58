"""The `agentarch` command: every subcommand answers `--help` with what it does, and the plan runs."""

from __future__ import annotations

import pytest

from pytest_agentarch.cli import main


@pytest.mark.parametrize(
    ('args', 'expected'),
    [
        ([], ['html', 'recording', 'local', 'plan']),
        (['html'], ['a JSON report written by --agentarch-json', '-o OUTPUT']),
        (['recording'], ['pack: <case>.jsonl -> <case>.jsonl.gz']),
        (['local'], ['fetch']),
        (['local', 'fetch'], ['usage: agentarch local fetch']),
        (['plan'], ['passed to pytest with --agentarch-plan']),
    ],
)
def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, '--help'])
    assert exit_info.value.code == 0
    out = ' '.join(capsys.readouterr().out.split())
    for text in expected:
        assert text in out


def test_the_plan_subcommand_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['plan', '--runs', '40', '--min-determinism', '0.9', '-p', 'no:randomly']) == 0
    out = capsys.readouterr().out
    # A 0.9 gate on the Wilson lower bound needs 35 runs of 35 successes: 35 / (35 + 1.96^2) = 0.9011.
    assert 'determinism:steps >= 0.9' in out
