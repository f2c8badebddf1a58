"""`manual`: orchestration code calls every tool itself; the LLM only merges and summarises.

The most constrained architecture: the tool calls and their arguments are fixed by code (`architectures.common`),
so its trajectory can only vary if the workflow itself branches (entity missing, pod or node). The model's freedom
is limited to the two tool-less structured answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_ai.models import Model

from architectures.batch import (
    BATCH_DATASET,
    RAW_DATASET,
    SEPARATING_DATASET,
    BatchReport,
    BatchRequest,
    Expected,
    Inputs,
    each_entity,
)
from architectures.common import (
    LLM_STEP_LIMITS,
    AnalysisRequest,
    PlannedCall,
    exists,
    findings,
    merge_agent,
    merge_prompt,
    metadata_call,
    node_calls,
    node_entity,
    summary_agent,
    summary_prompt,
    window_calls,
)
from architectures.report import AnomalyReport
from architectures.resolve import resolved
from architectures.tools.setting import tool_assessments
from pytest_agentarch import architecture, call_tool

_MERGE = merge_agent()
_SUMMARY = summary_agent()


async def _run(call: PlannedCall) -> dict[str, Any]:
    result: dict[str, Any] = await call_tool(call.tool, **call.kwargs)
    return result


@architecture(
    'manual',
    description='code calls the tools (gathered concurrently); the LLM only merges and summarises',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def manual(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """Explicit orchestration: metadata, both window analyses at once, LLM merge, node analysis, LLM summary; a
    batch case runs it for every entity concurrently."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        return await each_entity(batch, lambda request: _investigate(request, model))
    request = await resolved(inputs, model)  # an open request is resolved by an LLM step first
    with tool_assessments(request.tool_assessments):
        return await _investigate(request, model)


async def _investigate(request: AnalysisRequest, model: Model) -> AnomalyReport:
    meta_call = metadata_call(request)
    metadata = await _run(meta_call)
    meta_finding = findings(meta_call.label, metadata)
    if not exists(metadata):
        prompt = summary_prompt(request, meta_finding, None)
        return (await _SUMMARY.run(prompt, model=model, usage_limits=LLM_STEP_LIMITS)).output

    baseline, incident = window_calls(request)
    calls = [*baseline, *incident]
    results = await asyncio.gather(*(_run(c) for c in calls))
    window_findings = [findings(c.label, r) for c, r in zip(calls, results, strict=True)]
    merged = (
        await _MERGE.run(merge_prompt(request, window_findings), model=model, usage_limits=LLM_STEP_LIMITS)
    ).output

    node_findings: list[dict[str, Any]] = []
    node = node_entity(metadata) if request.is_pod else None
    if node is not None:
        planned = node_calls(request.for_entity(node))
        node_results = await asyncio.gather(*(_run(c) for c in planned))
        node_findings = [findings(c.label, r) for c, r in zip(planned, node_results, strict=True)]

    prompt = summary_prompt(request, meta_finding, merged.model_dump(), node_findings)
    return (await _SUMMARY.run(prompt, model=model, usage_limits=LLM_STEP_LIMITS)).output
