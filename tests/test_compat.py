"""Contract of `pytest_agentarch._compat`: every private pydantic-ai, pydantic-evals and pytest name the package
relies on, each pinned by the behaviour it is used for.

When one of these fails after an upgrade, `_compat.py` is the only place to fix.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from pydantic_evals.dataset import increment_eval_metric, set_eval_attribute
from pydantic_evals.otel import SpanTree

from pytest_agentarch import _compat
from pytest_agentarch.run import capture


def test_reported_collects_what_code_reports_with_the_public_functions() -> None:
    async def task() -> None:
        increment_eval_metric('cache_hits', 2)
        increment_eval_metric('cache_hits', 3)
        set_eval_attribute('variant', 'b')
        # Tasks started inside inherit the scope, as in `Dataset.evaluate`.
        await asyncio.gather(asyncio.sleep(0), asyncio.create_task(_report_more()))

    async def main() -> _compat.Reported:
        with _compat.reported() as out:
            await task()
        return out

    out = asyncio.run(main())
    assert out.metrics == {'cache_hits': 5, 'requests': 1}, (
        'increment_eval_metric no longer writes into pydantic_evals._task_run.CURRENT_TASK_RUN: update _compat.reported'
    )
    assert out.attributes == {'variant': 'b'}


async def _report_more() -> None:
    increment_eval_metric('requests', 1)


def test_reported_scopes_do_not_leak_and_reporting_outside_one_is_a_no_op() -> None:
    with _compat.reported() as first:
        increment_eval_metric('x', 1)
    with _compat.reported() as second:
        pass
    increment_eval_metric('x', 1)
    assert (first.metrics, second.metrics) == ({'x': 1}, {})


def test_span_tree_scope_collects_real_spans_ended_inside_it_and_metrics_are_derived_from_them() -> None:
    capture.ensure_sdk_provider()
    tracer = trace.get_tracer('contract')
    with tracer.start_as_current_span('before'):
        pass
    with (
        _compat.span_tree_scope() as tree,
        tracer.start_as_current_span('outer'),
        tracer.start_as_current_span('chat m') as chat,
    ):
        chat.set_attributes(
            {
                'gen_ai.operation.name': 'chat',
                'gen_ai.request.model': 'm',
                'gen_ai.usage.input_tokens': 7,
                'gen_ai.usage.output_tokens': 2,
                'operation.cost': 0.5,
            }
        )
    assert isinstance(tree, SpanTree), f'no span tree: {tree!r}'
    assert [(n.name, [c.name for c in n.children]) for n in tree.roots] == [('outer', ['chat m'])], (
        'pydantic_evals.otel._context_subtree.context_subtree no longer collects the spans of its block'
    )
    assert _compat.derived_metrics(tree) == {'requests': 1, 'input_tokens': 7, 'output_tokens': 2, 'cost': 0.5}, (
        'pydantic_evals._task_run.extract_span_tree_metrics changed what it derives: update _compat.derived_metrics'
    )


def test_set_judge_model_sets_the_default_judge_and_puts_the_previous_one_back() -> None:
    from pydantic_ai.models.test import TestModel
    from pydantic_evals.evaluators import llm_as_a_judge

    before = llm_as_a_judge._default_model  # pyright: ignore[reportPrivateUsage]
    judge = TestModel()
    restore = _compat.set_judge_model(judge)
    try:
        assert llm_as_a_judge._resolve_judge_model(None) is judge, (  # pyright: ignore[reportPrivateUsage]
            'set_default_judge_model no longer sets what LLMJudge uses by default: update _compat.set_judge_model'
        )
    finally:
        restore()
    assert llm_as_a_judge._default_model is before  # pyright: ignore[reportPrivateUsage]


def test_evaluator_context_gives_evaluators_the_span_tree_it_was_built_with() -> None:
    tree = SpanTree()
    ctx = _compat.evaluator_context(
        name='c',
        inputs={'q': 1},
        metadata=None,
        expected_output='x',
        output='y',
        duration=0.5,
        span_tree=tree,
        attributes={'a': 1},
        metrics={'requests': 2},
    )
    assert ctx.span_tree is tree, 'EvaluatorContext no longer keeps its span tree in `_span_tree`: update _compat'
    assert (ctx.name, ctx.output, ctx.expected_output, ctx.metrics) == ('c', 'y', 'x', {'requests': 2})


@pytest.mark.skipif(
    not _compat.MAX_RETRIES_SETTING, reason='pydantic-ai < 2.58: no unsupported settings (test_versions)'
)
def test_unsupported_settings_are_what_a_model_warns_about() -> None:
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.models.test import TestModel

    class NoRetries(TestModel):
        unsupported_settings = frozenset({'max_retries'})

    assert _compat.unsupported_settings(NoRetries()) == {'max_retries'}, (
        "Model._unsupported_settings no longer reports the class's unsupported_settings: update _compat"
    )
    assert 'max_retries' not in _compat.unsupported_settings(FunctionModel(lambda m, i: None))  # type: ignore[arg-type, return-value]


def test_json_schema_is_the_type_schema_transformers_take() -> None:
    from pydantic_ai.profiles import JsonSchemaTransformer

    hints = typing.get_type_hints(JsonSchemaTransformer.transform)
    assert hints['schema'] == hints['return'] == _compat.JsonSchema


def test_repr_failure_types_are_pytests_own() -> None:
    hints = typing.get_type_hints(pytest.Item.repr_failure)
    assert hints['return'] == str | _compat.TerminalRepr
    assert hints['style'] == _compat.TracebackStyle | None


found_fixtures: list[Callable[..., Any]] = []


@pytest.fixture
def compat_probe() -> int:
    return 1


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if 'compat_probe' in metafunc.fixturenames:
        found_fixtures[:] = _compat.fixture_functions(metafunc, 'compat_probe')


def test_fixture_functions_are_the_definitions_a_test_sees(compat_probe: int) -> None:
    assert [f.__name__ for f in found_fixtures] == ['compat_probe'], (
        'pytest no longer keeps the fixture definitions a test sees in Metafunc._arg2fixturedefs: update _compat'
    )


def test_instrument_default_is_what_instrument_all_set() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    previous = _compat.instrument_default()
    settings = InstrumentationSettings()
    Agent.instrument_all(settings)
    try:
        assert _compat.instrument_default() is settings, (
            'pydantic-ai no longer keeps Agent.instrument_all() settings in Agent._instrument_default: update _compat'
        )
    finally:
        Agent.instrument_all(previous)
    assert _compat.instrument_default() is previous


def test_red_last_line_makes_pytests_closing_line_red(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from types import SimpleNamespace

        from pytest_agentarch import _compat

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.stats.setdefault('gate missed', []).append(SimpleNamespace())
            _compat.red_last_line(terminalreporter, ['gate missed'])
        """
    )
    pytester.makepyfile('def test_ok(): pass')
    result = pytester.runpytest_inprocess('--color=yes', '-p', 'no:randomly', '-n', '0')
    last = result.outlines[-1]
    assert last.startswith('\x1b[31m=') and '\x1b[31m\x1b[1m1 gate missed' in last, (
        'pytest no longer builds its closing line from TerminalReporter.build_summary_stats_line: update _compat'
    )
