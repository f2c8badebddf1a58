"""`TrajectorySteps`: `exact` means exactly these steps; ignoring other tools must be asked for."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agentarch import TrajectorySteps

ALPHA_THEN_BETA = """
    import archkit
    from pytest_agentarch import architecture

    @architecture('two-steps')
    async def two_steps(inputs, model):
        return await archkit.run(lambda i: [['alpha'], ['beta']], inputs)
"""

CASES = """
name: steps
cases:
  - name: exact_named_only
    inputs: go
    evaluators:
      - TrajectorySteps: {steps: [[alpha]]}
  - name: exact_ignoring_others
    inputs: go
    evaluators:
      - TrajectorySteps: {steps: [[alpha]], ignore_unlisted_tools: true}
  - name: in_order
    inputs: go
    evaluators:
      - TrajectorySteps: {steps: [[beta]], mode: in_order}
  - name: exact_both
    inputs: go
    evaluators:
      - TrajectorySteps: {steps: [[alpha], [beta]]}
"""


def test_exact_fails_a_run_with_an_unnamed_tool_unless_asked_to_ignore_it(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(ALPHA_THEN_BETA, cases=CASES)
    result = pytester.runpytest('--runs', '2', '--agentarch-json', 'r.json', '-n', '0')
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(['*TrajectorySteps: expected alpha; got alpha > beta*'])
    report = json.loads((pytester.path / 'r.json').read_text())
    # TrajectorySteps judges the path: its verdicts are path conformance; no outcome evaluator, so every run passes.
    cases = [c for a in report['architectures'] for c in a['cases']]
    conforming = {c['case']: c['path_conformance']['successes'] for c in cases}
    assert conforming == {'exact_named_only': 0, 'exact_ignoring_others': 2, 'in_order': 2, 'exact_both': 2}
    assert {c['pass_rate']['successes'] for c in cases} == {2}


@pytest.mark.parametrize(
    ('evaluator', 'actual', 'ok'),
    [
        (TrajectorySteps(steps=[['a']]), [['a']], True),
        (TrajectorySteps(steps=[['a']]), [['a'], ['b']], False),
        (TrajectorySteps(steps=[['b', 'a']]), [['a', 'b']], True),
        (TrajectorySteps(steps=[['a'], ['b']]), [['a', 'b']], False),
        (TrajectorySteps(steps=[['a', 'a']]), [['a']], False),
        (TrajectorySteps(steps=[['a'], ['c']], mode='in_order'), [['a'], ['b'], ['c']], True),
        (TrajectorySteps(steps=[['c'], ['a']], mode='in_order'), [['a'], ['b'], ['c']], False),
    ],
)
def test_judging_flattened_steps(evaluator: TrajectorySteps, actual: list[list[str]], ok: bool) -> None:
    assert evaluator.judge(actual).value is ok


def test_a_dataset_with_the_plugins_evaluators_writes_its_file_and_schema(tmp_path: Path) -> None:
    # pydantic-evals reads an evaluator's annotated attributes, ClassVars too, as its parameters when it writes the
    # schema: the plugin's declarations (agentarch_spans, agentarch_side) must not be among them.
    from pydantic_evals import Case, Dataset

    from pytest_agentarch import TrajectoryRequirements

    dataset = Dataset[int, str, dict[str, str]](
        name='x',
        cases=[Case(name='a', inputs=1)],
        evaluators=[TrajectorySteps(steps=[['look_up']]), TrajectoryRequirements(required=['look_up'])],
    )
    dataset.to_file(tmp_path / 'x.yaml', custom_evaluator_types=[TrajectorySteps, TrajectoryRequirements])
    schema = (tmp_path / 'x_schema.json').read_text()
    assert 'TrajectorySteps' in schema and 'agentarch_spans' not in schema and 'agentarch_side' not in schema
