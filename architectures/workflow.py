"""`workflow`: the enhanced workflow — a per-invocation cache, batch analysis, rule-based fallback.

- Agents: the merge and summary agents are built once, at import, and run with the invocation's model (as `manual`
  does); no state outlives an invocation but these two stateless agents.
- Cache: within one invocation, tool results are keyed on tool name and arguments, and LLM answers on the step and
  its prompt. A cached tool call does not execute, so it is not recorded as a call: the trajectory shows what ran.
- Culprit: when the node's incident analyses blame one pod (a noisy neighbour, the biggest pod of a node under
  memory pressure; `culprit_pod`), the workflow also looks that pod up and analyses its incident window, and its
  node stage is the one the case already ran: the cache answers it (4 hits), in a single-entity case, which is the
  reuse pods sharing a node allow. The pod's verdict (merging rule, no LLM step) is added to the report's evidence.
- Batch: `investigate_batch` analyses several requests in one invocation sharing the cache. A pod and its node in
  the same batch share the node's metadata and incident analyses: the pod's node stage already fetched them.
- Fallback: when an LLM step raises (provider error, output that never validates, usage limit), the step's report
  is built from the tool results by the merging rule instead (`merge_by_rule`), so the run still answers.

Hits and lookups are reported per run as the eval metrics `cache_hits` and `cache_lookups`, and fallbacks as
`llm_fallbacks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.models import Model
from pydantic_evals.dataset import increment_eval_metric

from architectures.batch import (
    BATCH_DATASET,
    RAW_DATASET,
    SEPARATING_DATASET,
    BatchReport,
    BatchRequest,
    Expected,
    Inputs,
)
from architectures.common import (
    LLM_STEP_LIMITS,
    AnalysisRequest,
    PlannedCall,
    exists,
    findings,
    incident_alone_calls,
    merge_agent,
    merge_by_rule,
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

__all__ = ('BLAMING', 'culprit_pod', 'investigate_batch', 'workflow')


_MERGE = merge_agent()
_SUMMARY = summary_agent()


class _Cache:
    """Tool results and LLM answers of one invocation, with hit counts."""

    def __init__(self) -> None:
        self.tools: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.answers: dict[tuple[str, str], AnomalyReport] = {}
        self.hits = 0
        self.lookups = 0
        self.fallbacks = 0

    async def call(self, planned: PlannedCall) -> dict[str, Any]:
        self.lookups += 1
        task = self.tools.get(planned.key)
        if task is None:
            # A task, so that lookups of the same call made while it is in flight wait for the one execution.
            task = asyncio.ensure_future(call_tool(planned.tool, **planned.kwargs))
            self.tools[planned.key] = task
        else:
            self.hits += 1
        return await task

    async def answer(
        self, agent: Agent[None, AnomalyReport], prompt: str, model: Model, fallback: AnomalyReport
    ) -> AnomalyReport:
        self.lookups += 1
        key = (agent.name or '', prompt)
        cached = self.answers.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        try:
            report = (await agent.run(prompt, model=model, usage_limits=LLM_STEP_LIMITS)).output
        except AgentRunError:
            # A failure of the LLM step itself (provider errors once retries ran out, output that never validated,
            # usage limits) degrades to the rule, never to no answer; the run counts as degraded (`Undegraded`).
            # Anything else is a bug and propagates.
            self.fallbacks += 1
            report = fallback
        self.answers[key] = report
        return report

    def report_metrics(self) -> None:
        increment_eval_metric('cache_hits', self.hits)
        increment_eval_metric('cache_lookups', self.lookups)
        increment_eval_metric('llm_fallbacks', self.fallbacks)


async def _investigate(request: AnalysisRequest, model: Model, cache: _Cache) -> AnomalyReport:
    meta_call = metadata_call(request)
    metadata = await cache.call(meta_call)
    meta_finding = findings(meta_call.label, metadata)
    if not exists(metadata):
        prompt = summary_prompt(request, meta_finding, None)
        return await cache.answer(_SUMMARY, prompt, model, merge_by_rule(request.entity, [meta_finding]))

    baseline, incident = window_calls(request)
    calls = [*baseline, *incident]
    results = await asyncio.gather(*(cache.call(c) for c in calls))
    window_findings = [findings(c.label, r) for c, r in zip(calls, results, strict=True)]
    merged = await cache.answer(
        _MERGE, merge_prompt(request, window_findings), model, merge_by_rule(request.entity, window_findings)
    )

    node_findings: list[dict[str, Any]] = []
    # The node's incident analyses: a node case's own, a pod case's node stage; they may blame a culprit pod.
    node_analyses: list[dict[str, Any]] = [] if request.is_pod else list(results[len(baseline) :])
    node = node_entity(metadata) if request.is_pod else None
    if node is not None:
        planned = node_calls(request.for_entity(node))
        node_results = await asyncio.gather(*(cache.call(c) for c in planned))
        node_findings = [findings(c.label, r) for c, r in zip(planned, node_results, strict=True)]
        node_analyses = list(node_results[1:])
    culprit = culprit_pod(request.entity, node_analyses)
    note = await _culprit_note(request.for_entity(culprit), cache) if culprit is not None else None

    merged_data = merged.model_dump()
    prompt = summary_prompt(request, meta_finding, merged_data, node_findings)
    fallback = merge_by_rule(request.entity, [meta_finding, merged_data, *node_findings])
    report = await cache.answer(_SUMMARY, prompt, model, fallback)
    return report if note is None else report.model_copy(update={'evidence': [*report.evidence, note]})


BLAMING = ('noisy_neighbor', 'node_memory_pressure')
"""Node verdicts that blame the node's biggest pod (the rules of `tools/rules.py`): its analyses then explain the
incident, so `workflow` looks at that pod too."""


def culprit_pod(entity: str, node_analyses: Iterable[Mapping[str, Any]]) -> str | None:
    """`'k8s:pod/<name>'` of the pod a node's incident analyses blame, or None.

    The biggest pod (`top_pods[0]`) of the first CPU or memory analysis whose assessment is an anomaly in `BLAMING`;
    None when none blames a pod, when the blamed pod is `entity` itself, or when the tools run without assessments.
    """
    for result in node_analyses:
        assessment, top = result.get('assessment'), result.get('top_pods')
        if (
            isinstance(assessment, Mapping)
            and assessment.get('anomaly_detected') is True
            and assessment.get('category') in BLAMING
            and isinstance(top, list)
            and top
            and isinstance(top[0], Mapping)
        ):
            pod = f'k8s:pod/{top[0]["pod"]}'
            return None if pod == entity else pod
    return None


async def _culprit_note(request: AnalysisRequest, cache: _Cache) -> str | None:
    """The culprit pod's own verdict, as one line of evidence: its metadata, its incident analyses and its node
    stage, by the merging rule (no LLM step); None when the pod does not exist. The node stage is the one the case
    already ran (a node case's own analyses, a pod case's node stage): the cache answers it, which is the reuse
    that pods sharing a node allow."""
    meta_call = metadata_call(request)
    metadata = await cache.call(meta_call)
    if not exists(metadata):
        return None
    # The incident window alone: a culprit often started with the incident (a batch job), so it has no baseline.
    node = node_entity(metadata)
    planned = [*incident_alone_calls(request), *(node_calls(request.for_entity(node)) if node is not None else [])]
    results = await asyncio.gather(*(cache.call(c) for c in planned))
    verdict = merge_by_rule(request.entity, [findings(c.label, r) for c, r in zip(planned, results, strict=True)])
    return (
        f'the node blames {request.entity}: by its own analyses and its node, {verdict.category} '
        f'({verdict.severity}, confidence {verdict.confidence:g})'
    )


async def investigate_batch(requests: Sequence[Any], model: Model) -> list[AnomalyReport]:
    """Analyse several requests in one invocation, in order, sharing one cache; one report per request.

    Requests run one after another so that each can reuse what the earlier ones fetched (a pod's node stage
    fetches what a later request about that node needs).
    """
    cache = _Cache()
    try:
        return [await _investigate(AnalysisRequest.parse(r), model, cache) for r in requests]
    finally:
        cache.report_metrics()


@architecture(
    'workflow',
    description='enhanced workflow: per-invocation cache, batch analysis, rule-based fallback',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def workflow(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """The workflow run as a batch of one, with caching and a rule-based fallback for each LLM step; a batch case
    is one `investigate_batch` over its entities, sharing the cache."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        return BatchReport(reports=await investigate_batch(batch.requests(), model))
    request = await resolved(inputs, model)  # an open request is resolved by an LLM step first
    with tool_assessments(request.tool_assessments):
        return (await investigate_batch([request], model))[0]
