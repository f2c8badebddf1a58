"""`specialized`: one agent per tool, orchestrated by code; tool-less agents merge and summarise.

Each specialist holds exactly one tool, so the model chooses only that tool's arguments; code decides which
specialist runs when. A specialist's answer is validated before code builds on it: a report given without a
successful call of its tool, or contradicting the verdict of the tool's own assessment, is sent back with
`ModelRetry` (twice at most; then the run fails with `UnexpectedModelBehavior` instead of carrying on past a step
that did not happen). All runs of one invocation add their usage to one `RunUsage`, and every run checks the same
invocation-wide `UsageLimits` against it, so the budget bounds the whole investigation, not each agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_ai import Agent, ModelRetry, RunContext, Tool
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelRequest, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage, UsageLimits

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
    AnalysisRequest,
    exists,
    merge_agent,
    merge_prompt,
    node_entity,
    steps_enforced,
    summary_agent,
    summary_prompt,
)
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

_LIMITS = UsageLimits(request_limit=60, tool_calls_limit=30)
"""For the whole invocation: the canonical workflow takes 11 specialist runs and two LLM steps (about 26 requests
and 11 tool calls); the rest is room for retries."""


_VERDICT = ('anomaly_detected', 'severity', 'category')
"""The fields of a specialist's report that must agree with its tool's assessment."""


def _returned(messages: list[Any], tool_name: str) -> list[Any]:
    """The results of successful calls of `tool_name` in `messages`, oldest first."""
    return [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        # A call whose arguments did not validate comes back as a return marked `retried`: it did not happen.
        if isinstance(part, ToolReturnPart) and part.tool_name == tool_name and part.outcome == 'success'
    ]


def check_specialist_report(tool_name: str, messages: list[Any], report: AnomalyReport) -> AnomalyReport:
    """`report` if it rests on a successful call of `tool_name` and agrees with that result's assessment (when the
    result has one); otherwise `ModelRetry` saying what to fix."""
    results = _returned(messages, tool_name)
    if not results:
        raise ModelRetry(f'You answered without calling {tool_name}. Call it first, then report what it returned.')
    assessment = results[-1].get('assessment') if isinstance(results[-1], dict) else None
    if isinstance(assessment, dict):
        wrong = [f for f in _VERDICT if f in assessment and getattr(report, f) != assessment[f]]
        if wrong:
            said = ', '.join(f'{f}={getattr(report, f)!r} (the assessment says {assessment[f]!r})' for f in wrong)
            raise ModelRetry(f'Your report contradicts the assessment of {tool_name}: {said}. Copy the assessment.')
    return report


def _specialist(tool: ToolFunction, subject: str) -> Agent[None, AnomalyReport]:
    agent: Agent[None, AnomalyReport] = Agent(
        name=f'{tool.__name__}_agent',
        output_type=AnomalyReport,
        retries=2,
        tools=[Tool(tool, max_retries=2, docstring_format='google')],
        instructions=(
            f'You are the {subject} specialist of a Kubernetes anomaly investigation. Call {tool.__name__} once for '
            'the entity and the window(s) given in the prompt, then answer with an AnomalyReport that copies the '
            'assessment of its result (anomaly_detected, severity, category, confidence, evidence, '
            'recommended_actions) for that entity.'
        ),
    )

    @agent.output_validator
    def validate(ctx: RunContext[None], report: AnomalyReport) -> AnomalyReport:
        return check_specialist_report(tool.__name__, ctx.messages, report)

    return agent


_METADATA = _specialist(get_entity_metadata, 'metadata')
_ANALYSTS = (
    _specialist(analyze_cpu_metrics, 'CPU'),
    _specialist(analyze_memory_metrics, 'memory'),
    _specialist(analyze_logs, 'logs'),
)
_MERGE = merge_agent()
_SUMMARY = summary_agent()


def _finding(label: str, report: AnomalyReport) -> dict[str, Any]:
    return {'source': label, **report.model_dump(exclude={'entity'})}


def _metadata_returned(messages: list[Any]) -> dict[str, Any] | None:
    """The raw result of the metadata agent's tool: code needs `exists` and the node, not the model's reading."""
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, ToolReturnPart) and part.tool_name == get_entity_metadata.__name__:
                content: object = part.content
                if part.outcome == 'success' and isinstance(content, dict):
                    return content  # pyright: ignore[reportUnknownVariableType]
    return None


class _Investigation:
    """One invocation: the model, the shared usage and the budget every run checks."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.usage = RunUsage()

    async def ask(self, agent: Agent[None, AnomalyReport], prompt: str) -> tuple[AnomalyReport, list[Any]]:
        with steps_enforced(agent.name or 'specialist'):
            result = await agent.run(prompt, model=self.model, usage=self.usage, usage_limits=_LIMITS)
        return result.output, result.new_messages()

    async def metadata(self, request: AnalysisRequest) -> tuple[AnomalyReport, dict[str, Any]]:
        report, messages = await self.ask(_METADATA, request.incident_text())
        metadata = _metadata_returned(messages)
        if metadata is None:
            # The output validator sends back a report given without the tool's result; never carry on without one.
            raise UnexpectedModelBehavior('the metadata specialist answered without a result of get_entity_metadata')
        return report, metadata

    async def incident(self, request: AnalysisRequest) -> list[AnomalyReport]:
        prompt = f'{request.windows_text()} Analyse the incident window against the baseline window.'
        return [r for r, _ in await asyncio.gather(*(self.ask(a, prompt) for a in _ANALYSTS))]


@architecture(
    'specialized',
    description='one agent per tool, orchestrated by code; tool-less agents merge and summarise',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def specialized(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """Specialists for metadata, CPU, memory and logs; code runs the workflow, the LLM merges and summarises; a
    batch case runs it for every entity concurrently, each with its own budget."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        return await each_entity(batch, lambda request: _investigate(request, model))
    request = await resolved(inputs, model)  # an open request is resolved by an LLM step first
    with tool_assessments(request.tool_assessments):
        return await _investigate(request, model)


async def _investigate(request: AnalysisRequest, model: Model) -> AnomalyReport:
    run = _Investigation(model)
    meta_report, metadata = await run.metadata(request)
    meta_finding = _finding(f'metadata of {request.entity}', meta_report)
    if not exists(metadata):
        prompt = summary_prompt(request, meta_finding, None)
        return (await _SUMMARY.run(prompt, model=model, usage=run.usage, usage_limits=_LIMITS)).output

    baseline_prompt = request.baseline_alone_text()
    baseline, incident = await asyncio.gather(
        asyncio.gather(*(run.ask(a, baseline_prompt) for a in _ANALYSTS)), run.incident(request)
    )
    window_findings = [
        *(_finding(f'{a.name}, baseline window on its own', r) for a, (r, _) in zip(_ANALYSTS, baseline, strict=True)),
        *(
            _finding(f'{a.name}, incident window against the baseline', r)
            for a, r in zip(_ANALYSTS, incident, strict=True)
        ),
    ]
    merged = (
        await _MERGE.run(merge_prompt(request, window_findings), model=model, usage=run.usage, usage_limits=_LIMITS)
    ).output

    node_findings: list[dict[str, Any]] = []
    node = node_entity(metadata) if request.is_pod else None
    if node is not None:
        node_request = request.for_entity(node)
        (node_meta, _), node_reports = await asyncio.gather(run.metadata(node_request), run.incident(node_request))
        node_findings = [
            _finding(f'metadata of {node}', node_meta),
            *(_finding(f'{a.name} of {node}', r) for a, r in zip(_ANALYSTS, node_reports, strict=True)),
        ]

    prompt = summary_prompt(request, meta_finding, merged.model_dump(), node_findings)
    return (await _SUMMARY.run(prompt, model=model, usage=run.usage, usage_limits=_LIMITS)).output
