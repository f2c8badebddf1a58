"""`single`: one agent holds every tool and decides the whole sequence itself.

The workflow is only stated in its instructions; nothing enforces it. Its output is a union: an `AnomalyReport`,
or `NoAnomaly` for a healthy or missing entity. A union lets the model answer with the wrong type (`NoAnomaly` for
an anomalous entity asked about as if it were fine), which is one of the ways this architecture can be wrong; the
answer is converted to an `AnomalyReport` so that every architecture returns the same type.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry, RunContext, Tool
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits

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
    ANALYSIS_TOOLS,
    MERGING_RULE,
    AnalysisRequest,
    require_steps,
    steps_enforced,
    tool_results,
)
from architectures.report import AnomalyReport
from architectures.resolve import OpenRequest, resolution_problem, resolution_tools
from architectures.tools import ALL_TOOLS, get_entity_metadata
from architectures.tools.setting import tool_assessments
from pytest_agentarch import architecture

__all__ = ('NoAnomaly', 'single')


class NoAnomaly(BaseModel):
    """Nothing anomalous: the entity is healthy in the incident window, or it does not exist."""

    entity: str = Field(description='The entity analysed, as "k8s:pod/<name>" or "k8s:node/<name>".')
    category: Literal['none', 'entity_not_found'] = Field(
        description="'none' for a healthy entity, 'entity_not_found' when it does not exist."
    )
    evidence: list[str] = Field(description='Observations (with numbers) showing that nothing is wrong.')
    confidence: float = Field(ge=0.0, le=1.0, description='Confidence in this conclusion, from 0 to 1.')

    def to_report(self) -> AnomalyReport:
        """The same conclusion as an `AnomalyReport`."""
        return AnomalyReport(
            entity=self.entity,
            anomaly_detected=False,
            severity='none',
            category=self.category,
            evidence=self.evidence,
            recommended_actions=[],
            confidence=self.confidence,
        )


_LIMITS = UsageLimits(request_limit=20, tool_calls_limit=30)
"""The canonical workflow takes 11 tool calls in 4 or more model requests; the rest is room for retries."""

_OPEN_LIMITS = UsageLimits(request_limit=24, tool_calls_limit=34)
"""An open request adds the two resolution calls (and a request or two) to the workflow."""

_AGENT: Agent[AnalysisRequest, AnomalyReport | NoAnomaly] = Agent(
    name='single',
    deps_type=AnalysisRequest,
    output_type=[AnomalyReport, NoAnomaly],
    tools=[Tool(tool, max_retries=2, docstring_format='google') for tool in ALL_TOOLS],
    instructions=(
        'You investigate anomalies of Kubernetes pods and nodes. Work in this order. First call get_entity_metadata '
        'for the entity over the incident window; if it does not exist, answer NoAnomaly with category '
        'entity_not_found. Then call analyze_cpu_metrics, analyze_memory_metrics and analyze_logs twice each, all '
        'at once: for the baseline window on its own, and for the incident window with baseline_start and '
        'baseline_end set to the baseline window. Then, when the entity is a pod, analyse the node it runs on '
        '(entity_type k8s:node, the node name from the metadata): get_entity_metadata, analyze_cpu_metrics, '
        'analyze_memory_metrics and analyze_logs over the incident window against the baseline, all at once. '
        'Finally answer with an AnomalyReport about the entity, or NoAnomaly when nothing is anomalous. '
        f'{MERGING_RULE}'
    ),
)


_BATCH_AGENT: Agent[BatchRequest, BatchReport] = Agent(
    name='single_batch',
    deps_type=BatchRequest,
    output_type=BatchReport,
    tools=[Tool(tool, max_retries=2, docstring_format='google') for tool in ALL_TOOLS],
    instructions=(
        'You investigate anomalies of several Kubernetes pods and nodes. For each entity named in the prompt, work '
        'in this order. First call get_entity_metadata for the entity over the incident window; if it does not '
        'exist, its report has category entity_not_found. Then call analyze_cpu_metrics, analyze_memory_metrics and '
        'analyze_logs twice each, all at once: for the baseline window on its own, and for the incident window with '
        'baseline_start and baseline_end set to the baseline window. Then, when the entity is a pod, analyse the '
        'node it runs on (entity_type k8s:node, the node name from the metadata): get_entity_metadata, '
        'analyze_cpu_metrics, analyze_memory_metrics and analyze_logs over the incident window against the baseline, '
        'all at once. Finally answer with a BatchReport holding one AnomalyReport per entity, in the order the prompt '
        "names them, each drawn from that entity's own results and its node's. "
        f'{MERGING_RULE}'
    ),
)
"""The agent of batch cases: the same tools and workflow, applied to every entity, one report each."""

_OPEN_AGENT: Agent[OpenRequest, AnomalyReport | NoAnomaly] = Agent(
    name='single_open',
    deps_type=OpenRequest,
    output_type=[AnomalyReport, NoAnomaly],
    tools=[
        *resolution_tools(),
        *(Tool[OpenRequest](tool, max_retries=2, docstring_format='google') for tool in ALL_TOOLS),
    ],
    instructions=(
        'You investigate anomalies of Kubernetes pods and nodes from a question that names neither the entity nor '
        'the time windows. Work in this order. First find them: call find_entities with the words that name the '
        'workload or node the question is about (the entity is the match the question means) and incident_windows '
        'with the time the question says the trouble started (it returns the baseline and incident windows). Then '
        'call get_entity_metadata for the entity over the incident window; if it does not exist, answer NoAnomaly '
        'with category entity_not_found. Then call analyze_cpu_metrics, analyze_memory_metrics and analyze_logs '
        'twice each, all at once: for the baseline window on its own, and for the incident window with '
        'baseline_start and baseline_end set to the baseline window. Then, when the entity is a pod, analyse the '
        'node it runs on (entity_type k8s:node, the node name from the metadata): get_entity_metadata, '
        'analyze_cpu_metrics, analyze_memory_metrics and analyze_logs over the incident window against the '
        'baseline, all at once. Finally answer with an AnomalyReport about the entity, or NoAnomaly when nothing is '
        f'anomalous. {MERGING_RULE}'
    ),
)
"""The agent of open requests: the same workflow, after finding the entity and windows with the resolution tools
it holds beside the four others. A clear request never reaches it, so the requests of clear cases are unchanged."""

_ANALYSES = [t.__name__ for t in ANALYSIS_TOOLS]


# Nothing but its instructions makes the agent follow the workflow, but an answer never rests on a step that did not
# happen: an answer given before the entity was looked up (and, when it exists, analysed) is sent back with
# `ModelRetry`, and after the retries the run fails instead of answering from nothing.
@_AGENT.output_validator
def _rests_on_its_steps(
    ctx: RunContext[AnalysisRequest], output: AnomalyReport | NoAnomaly
) -> AnomalyReport | NoAnomaly:
    require_steps(ctx.messages, [ctx.deps.entity], get_entity_metadata.__name__, _ANALYSES)
    return output


@_OPEN_AGENT.output_validator
def _rests_on_its_resolution_and_steps(
    ctx: RunContext[OpenRequest], output: AnomalyReport | NoAnomaly
) -> AnomalyReport | NoAnomaly:
    # The entity answered about must be one the search found, and the windows computed, before the usual steps.
    computed = [r for _, r in tool_results(ctx.messages, 'incident_windows') if isinstance(r, dict)]
    problem = resolution_problem(ctx.messages, output.entity, computed[-1] if computed else {})
    if problem is not None:
        raise ModelRetry(problem)
    require_steps(ctx.messages, [output.entity], get_entity_metadata.__name__, _ANALYSES)
    return output


@_BATCH_AGENT.output_validator
def _rests_on_every_entitys_steps(ctx: RunContext[BatchRequest], output: BatchReport) -> BatchReport:
    require_steps(ctx.messages, ctx.deps.entities, get_entity_metadata.__name__, _ANALYSES)
    return output


@architecture(
    'single',
    description='one agent with every tool; the model decides the sequence',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def single(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """One agent, all four tools, a union output converted to `AnomalyReport`; a batch case goes to one agent that
    answers with the whole `BatchReport`."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        scale = len(batch.entities)
        limits = UsageLimits(request_limit=20 * scale, tool_calls_limit=30 * scale)
        with steps_enforced('single_batch'):
            return (await _BATCH_AGENT.run(batch.task_text(), model=model, deps=batch, usage_limits=limits)).output
    open_request = OpenRequest.of(inputs)
    if open_request is not None:
        with steps_enforced('single_open'), tool_assessments(open_request.tool_assessments):
            opened = await _OPEN_AGENT.run(
                open_request.task_text(), model=model, deps=open_request, usage_limits=_OPEN_LIMITS
            )
        return opened.output.to_report() if isinstance(opened.output, NoAnomaly) else opened.output
    request = AnalysisRequest.parse(inputs)
    with steps_enforced('single'), tool_assessments(request.tool_assessments):
        result = await _AGENT.run(request.task_text(), model=model, deps=request, usage_limits=_LIMITS)
    output = result.output
    return output.to_report() if isinstance(output, NoAnomaly) else output
