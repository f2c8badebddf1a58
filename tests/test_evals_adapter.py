"""Contract of `pytest_agentarch._evals`: the private pydantic-evals behaviour the runner relies on.

When one of these fails after a pydantic-evals upgrade, the adapter module is the only place to fix.
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from pydantic_evals.dataset import increment_eval_metric, set_eval_attribute
from pydantic_evals.otel import SpanTree

from pytest_agentarch import _evals
from pytest_agentarch.run import capture


def test_reported_collects_what_code_reports_with_the_public_functions() -> None:
    async def task() -> None:
        increment_eval_metric('cache_hits', 2)
        increment_eval_metric('cache_hits', 3)
        set_eval_attribute('variant', 'b')
        # Tasks started inside inherit the scope, as in `Dataset.evaluate`.
        await asyncio.gather(asyncio.sleep(0), asyncio.create_task(_report_more()))

    async def main() -> _evals.Reported:
        with _evals.reported() as out:
            await task()
        return out

    out = asyncio.run(main())
    assert out.metrics == {'cache_hits': 5, 'requests': 1}, (
        'increment_eval_metric no longer writes into pydantic_evals._task_run.CURRENT_TASK_RUN: update _evals.reported'
    )
    assert out.attributes == {'variant': 'b'}


async def _report_more() -> None:
    increment_eval_metric('requests', 1)


def test_reported_scopes_do_not_leak_and_reporting_outside_one_is_a_no_op() -> None:
    with _evals.reported() as first:
        increment_eval_metric('x', 1)
    with _evals.reported() as second:
        pass
    increment_eval_metric('x', 1)
    assert (first.metrics, second.metrics) == ({'x': 1}, {})


def test_span_tree_scope_collects_real_spans_ended_inside_it_and_metrics_are_derived_from_them() -> None:
    capture.ensure_sdk_provider()
    tracer = trace.get_tracer('contract')
    with tracer.start_as_current_span('before'):
        pass
    with (
        _evals.span_tree_scope() as tree,
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
    assert _evals.derived_metrics(tree) == {'requests': 1, 'input_tokens': 7, 'output_tokens': 2, 'cost': 0.5}, (
        'pydantic_evals._task_run.extract_span_tree_metrics changed what it derives: update _evals.derived_metrics'
    )


def test_set_judge_model_sets_the_default_judge_and_puts_the_previous_one_back() -> None:
    from pydantic_ai.models.test import TestModel
    from pydantic_evals.evaluators import llm_as_a_judge

    before = llm_as_a_judge._default_model  # pyright: ignore[reportPrivateUsage]
    judge = TestModel()
    restore = _evals.set_judge_model(judge)
    try:
        assert llm_as_a_judge._resolve_judge_model(None) is judge, (  # pyright: ignore[reportPrivateUsage]
            'set_default_judge_model no longer sets what LLMJudge uses by default: update _evals.set_judge_model'
        )
    finally:
        restore()
    assert llm_as_a_judge._default_model is before  # pyright: ignore[reportPrivateUsage]
