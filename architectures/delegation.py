"""`delegation`: a coordinator agent whose tools delegate to specialist sub-agents.

The coordinator decides which specialist to ask about which entity, in which order; each specialist is an agent
holding only its own tools (metadata; CPU and memory metrics; logs). Every sub-agent runs with `usage=ctx.usage`,
so its requests, tokens and tool calls add up in the coordinator's usage, and the coordinator's `UsageLimits`
bound the whole delegation tree.

An open request (no entity or windows named) is resolved first by the resolver's LLM step (`architectures.resolve`):
the specialists take the windows from the request, and the coordinator's tools name only an entity, so the
coordinator starts from the resolved request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from pydantic_ai import Agent, AgentRunResult, ModelRetry, RunContext, Tool
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
from architectures.common import MERGING_RULE, AnalysisRequest, require_steps, steps_enforced, tool_results
from architectures.report import AnomalyReport
from architectures.resolve import resolved
from architectures.tools import (
    ToolFunction,
    analyze_cpu_metrics,
    analyze_logs,
    analyze_memory_metrics,
    get_entity_metadata,
)
from architectures.tools.setting import tool_assessments
from pytest_agentarch import architecture

__all__ = ('delegation', 'investigate')

_LIMITS = UsageLimits(request_limit=60, tool_calls_limit=40)
"""For the whole tree (sub-agent usage rolls into the coordinator's): the canonical workflow takes about 30
requests and 17 tool calls, delegations included."""
_ENTITY = re.compile(r'^k8s:(pod|node)/\S+$')


def _specialist(name: str, subject: str, tools: Sequence[ToolFunction]) -> Agent[None, AnomalyReport]:
    listed = ' and '.join(t.__name__ for t in tools)
    agent: Agent[None, AnomalyReport] = Agent(
        name=name,
        output_type=AnomalyReport,
        tools=[Tool(t, max_retries=2, docstring_format='google') for t in tools],
        instructions=(
            f'You are the {subject} specialist of a Kubernetes anomaly investigation. Call {listed} once each for '
            'the entity and the window(s) in the prompt, then answer with one AnomalyReport about that entity. '
            f'{MERGING_RULE}'
        ),
    )

    @agent.output_validator
    def rests_on_its_tools(ctx: RunContext[None], report: AnomalyReport) -> AnomalyReport:
        # A report given without its tools' results is made up: send it back; after the retries the run fails
        # (through the coordinator's tool) instead of carrying on as if the specialist had looked.
        skipped = [t.__name__ for t in tools if not tool_results(ctx.messages, t.__name__)]
        if skipped:
            raise ModelRetry(f'You answered without calling {", ".join(skipped)}. Call it, then report its result.')
        return report

    return agent


_METADATA = _specialist('metadata_specialist', 'metadata', [get_entity_metadata])
_METRICS = _specialist('metrics_specialist', 'CPU and memory metrics', [analyze_cpu_metrics, analyze_memory_metrics])
_LOGS = _specialist('logs_specialist', 'logs', [analyze_logs])


def _subjects(request: AnalysisRequest | BatchRequest) -> list[str]:
    """The entities under investigation: the case's entity, or every entity of a batch."""
    return request.entities if isinstance(request, BatchRequest) else [request.entity]


def _budget(request: AnalysisRequest | BatchRequest) -> UsageLimits:
    """The tree's limits: `_LIMITS` per entity under investigation (every sub-agent checks them against the
    coordinator's usage)."""
    scale = len(_subjects(request))
    if scale == 1:
        return _LIMITS
    return UsageLimits(request_limit=60 * scale, tool_calls_limit=40 * scale)


def _target(ctx: RunContext[AnalysisRequest], entity: str) -> AnalysisRequest:
    if not _ENTITY.match(entity.strip()):
        raise ModelRetry(
            f'entity {entity!r} is not an entity reference: write "k8s:pod/<name>" or "k8s:node/<name>", '
            f'e.g. {_subjects(ctx.deps)[0]!r}'
        )
    return ctx.deps.for_entity(entity.strip())


def _model(ctx: RunContext[AnalysisRequest]) -> Model:
    """The coordinator's model, for its specialists (the run context types it as any model, realtime ones too)."""
    if not isinstance(ctx.model, Model):
        raise TypeError(f'delegation needs a request-response model for its specialists, not {ctx.model!r}')
    return ctx.model


def _flat(label: str, report: AnomalyReport) -> dict[str, Any]:
    return {'source': label, **report.model_dump()}


async def _ask(
    ctx: RunContext[AnalysisRequest], agent: Agent[None, AnomalyReport], prompt: str
) -> AgentRunResult[AnomalyReport]:
    """One specialist run, its usage rolled into the coordinator's; a specialist that keeps skipping its tools stops
    the whole run (`SkippedStepError`), never the coordinator's answer."""
    with steps_enforced(agent.name or 'specialist'):
        return await agent.run(prompt, model=_model(ctx), usage=ctx.usage, usage_limits=_budget(ctx.deps))


async def _windows(
    ctx: RunContext[AnalysisRequest], agent: Agent[None, AnomalyReport], entity: str
) -> list[dict[str, Any]]:
    """The specialist on the incident window against the baseline and, for the entity under investigation, also on
    the baseline window alone; the runs go concurrently and roll their usage into the coordinator's."""
    target = _target(ctx, entity)
    prompts = {
        'incident window against the baseline': f'{target.windows_text()} Analyse the incident window '
        'against the baseline window.'
    }
    if target.entity in _subjects(ctx.deps):
        prompts['baseline window on its own'] = target.baseline_alone_text()
    results = await asyncio.gather(*(_ask(ctx, agent, p) for p in prompts.values()))
    return [_flat(f'{agent.name}: {label}', r.output) for label, r in zip(prompts, results, strict=True)]


async def ask_metadata_specialist(ctx: RunContext[AnalysisRequest], entity: str) -> dict[str, Any]:
    """Ask the metadata specialist whether an entity exists and what state it is in (for a pod: its node).

    Args:
        entity: The entity, as "k8s:pod/<name>" or "k8s:node/<name>".
    """
    target = _target(ctx, entity)
    result = await _ask(ctx, _METADATA, target.incident_text())
    answer = _flat('metadata_specialist', result.output)
    for message in result.new_messages():
        for part in message.parts:
            content = getattr(part, 'content', None)
            if getattr(part, 'tool_name', None) == get_entity_metadata.__name__ and isinstance(content, dict):
                # The coordinator needs the facts only the raw lookup holds: does it exist, which node.
                answer['exists'] = content.get('exists', True)
                if content.get('node_name'):
                    answer['node'] = f'k8s:node/{content["node_name"]}'
    return answer


async def ask_metrics_specialist(ctx: RunContext[AnalysisRequest], entity: str) -> list[dict[str, Any]]:
    """Ask the metrics specialist to analyse an entity's CPU and memory (incident window against the baseline).

    Args:
        entity: The entity, as "k8s:pod/<name>" or "k8s:node/<name>".
    """
    return await _windows(ctx, _METRICS, entity)


async def ask_logs_specialist(ctx: RunContext[AnalysisRequest], entity: str) -> list[dict[str, Any]]:
    """Ask the logs specialist to analyse an entity's logs and events (incident window against the baseline).

    Args:
        entity: The entity, as "k8s:pod/<name>" or "k8s:node/<name>".
    """
    return await _windows(ctx, _LOGS, entity)


_COORDINATOR_TOOLS = [
    Tool(f, max_retries=2, docstring_format='google')
    for f in (ask_metadata_specialist, ask_metrics_specialist, ask_logs_specialist)
]

_COORDINATOR: Agent[AnalysisRequest, AnomalyReport] = Agent(
    name='coordinator',
    deps_type=AnalysisRequest,
    output_type=AnomalyReport,
    tools=_COORDINATOR_TOOLS,
    instructions=(
        'You coordinate a Kubernetes anomaly investigation by delegating to specialists. First call '
        'ask_metadata_specialist for the entity; if it does not exist, answer with category entity_not_found. '
        'Then call ask_metrics_specialist and ask_logs_specialist for the entity, both at once. When the entity is '
        'a pod, then call ask_metadata_specialist, ask_metrics_specialist and ask_logs_specialist, all at once, '
        'for the node named in the metadata answer (entity "k8s:node/<node>"). Finally answer with an '
        f'AnomalyReport about the entity. {MERGING_RULE}'
    ),
)


_BATCH_COORDINATOR: Agent[BatchRequest, BatchReport] = Agent(
    name='batch_coordinator',
    deps_type=BatchRequest,
    output_type=BatchReport,
    tools=_COORDINATOR_TOOLS,
    instructions=(
        'You coordinate a Kubernetes anomaly investigation of several entities by delegating to specialists. For '
        'each entity named in the prompt: first call ask_metadata_specialist for the entity; if it does not exist, '
        'its report has category entity_not_found. Then call ask_metrics_specialist and ask_logs_specialist for the '
        'entity, both at once. When the entity is a pod, then call ask_metadata_specialist, ask_metrics_specialist '
        'and ask_logs_specialist, all at once, for the node named in the metadata answer (entity '
        '"k8s:node/<node>"). Finally answer with a BatchReport holding one AnomalyReport per entity, in the order '
        f"the prompt names them, each drawn from that entity's own answers and its node's. {MERGING_RULE}"
    ),
)
"""The coordinator of batch cases: the same specialists, every entity, one report each."""

_ASKED_ABOUT_ANALYSES = [ask_metrics_specialist.__name__, ask_logs_specialist.__name__]


# The coordinator decides the order, not whether a step happened: an answer before the metadata specialist was asked
# about the entity (and, when it exists, the metrics and logs specialists) is sent back; after the retries the run
# fails instead of answering from nothing.
@_COORDINATOR.output_validator
def _rests_on_its_delegations(ctx: RunContext[AnalysisRequest], report: AnomalyReport) -> AnomalyReport:
    entities = [ctx.deps.entity]
    require_steps(ctx.messages, entities, ask_metadata_specialist.__name__, _ASKED_ABOUT_ANALYSES, by_argument=True)
    return report


@_BATCH_COORDINATOR.output_validator
def _rests_on_every_entitys_delegations(ctx: RunContext[BatchRequest], report: BatchReport) -> BatchReport:
    entities = ctx.deps.entities
    require_steps(ctx.messages, entities, ask_metadata_specialist.__name__, _ASKED_ABOUT_ANALYSES, by_argument=True)
    return report


async def investigate(request: AnalysisRequest, model: Model) -> AgentRunResult[AnomalyReport]:
    """The coordinator's whole run; its `usage` includes the usage of every specialist it delegated to."""
    with steps_enforced('coordinator'):
        return await _COORDINATOR.run(request.task_text(), model=model, deps=request, usage_limits=_LIMITS)


@architecture(
    'delegation',
    description='coordinator agent delegating to metadata, metrics and logs sub-agents (usage rolled up)',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def delegation(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """The coordinator runs the investigation; its usage includes every specialist's. A batch case goes to one
    coordinator naming every entity, with the budget scaled by their number."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        prompt = batch.task_text()
        with steps_enforced('batch_coordinator'):
            return (await _BATCH_COORDINATOR.run(prompt, model=model, deps=batch, usage_limits=_budget(batch))).output
    request = await resolved(inputs, model)  # an open request is resolved by an LLM step first
    with tool_assessments(request.tool_assessments):
        return (await investigate(request, model)).output
