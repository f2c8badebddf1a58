"""`hybrid`: a pydantic-graph workflow mixing deterministic nodes (code calls the tools) and adaptive agent nodes.

The graph (`BaseNode` classes wired by `GraphBuilder`, the form pydantic-ai's own agent graph uses):

    LookUp -> AnalyseWindows -> Merge -> NodeChecks | NodeInvestigation -> Summarise -> End
       \\----------------------------------------------------------------/   (entity not found)

Decision rule, per stage, from what is known when the stage starts:
- metadata and window analyses: always deterministic. The entity and windows are given, and the workflow fixes
  which six analyses to run, so there is nothing for a model to decide.
- node stage (pods only; the node comes from the pod's metadata): deterministic (`NodeChecks`, the fixed four calls)
  when the pod's merged report is an anomaly with confidence >= `CONFIDENT`: the pod's own data explains the
  incident and the node is only context. Adaptive (`NodeInvestigation`, an agent holding the four tools that
  chooses what to check, shown the user's question and the pod's merged report) otherwise: the pod looks healthy or
  the signal is weak, so the cause may sit on the node and judgement about where to look pays. Its tools reach any
  entity, so it can look at the node's other pods, which the fixed node stage never does (the separating dataset's
  cases need that).

An open request (no entity or windows named) is resolved first by the resolver's LLM step (`architectures.resolve`);
the graph then runs on the resolved request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import Agent, ModelRetry, RunContext, Tool
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits
from pydantic_graph import BaseNode, End, GraphBuilder, GraphRunContext

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
    findings_prompt,
    merge_agent,
    merge_prompt,
    metadata_call,
    node_calls,
    node_entity,
    steps_enforced,
    summary_agent,
    summary_prompt,
    tool_results,
    window_calls,
)
from architectures.report import AnomalyReport
from architectures.resolve import resolved
from architectures.tools import ALL_TOOLS
from architectures.tools.setting import tool_assessments
from pytest_agentarch import architecture, call_tool

__all__ = ('CONFIDENT', 'hybrid')

CONFIDENT = 0.8
"""A merged pod report at least this confident in an anomaly makes the node stage deterministic."""

_MERGE = merge_agent()
_SUMMARY = summary_agent()
_NODE_AGENT: Agent[str, AnomalyReport] = Agent(
    name='node_investigator',
    deps_type=str,  # the node's entity reference
    output_type=AnomalyReport,
    tools=[Tool(tool, max_retries=2, docstring_format='google') for tool in ALL_TOOLS],
    instructions=(
        'You investigate the Kubernetes node a troubled pod runs on. Call the tools you judge relevant '
        '(get_entity_metadata, analyze_cpu_metrics, analyze_memory_metrics, analyze_logs) for the node over the '
        'incident window against the baseline window, then answer with an AnomalyReport about the node.'
    ),
)
_NODE_LIMITS = UsageLimits(request_limit=10, tool_calls_limit=12)


@_NODE_AGENT.output_validator
def _rests_on_a_check(ctx: RunContext[str], report: AnomalyReport) -> AnomalyReport:
    # The agent chooses which checks to run, not whether to run any: a report on a node it never checked is sent
    # back, and after the retries the run fails instead of summarising a made-up node stage.
    if not any(result.get('entity') == ctx.deps for result in _node_results(ctx.messages)):
        raise ModelRetry(f'You answered without checking {ctx.deps}. Call at least one tool for it, then answer.')
    return report


def _node_results(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    return [r for t in ALL_TOOLS for _, r in tool_results(messages, t.__name__) if isinstance(r, dict)]


@dataclass(kw_only=True)
class _State:
    """What the graph has learnt so far."""

    request: AnalysisRequest
    model: Model
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    meta_finding: dict[str, Any] = field(default_factory=dict[str, Any])
    merged: AnomalyReport | None = None
    node_findings: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


async def _gather(calls: list[PlannedCall]) -> list[dict[str, Any]]:
    results = await asyncio.gather(*(call_tool(c.tool, **c.kwargs) for c in calls))
    return [findings(c.label, r) for c, r in zip(calls, results, strict=True)]


@dataclass
class LookUp(BaseNode[_State, None, AnomalyReport]):
    """Deterministic: the entity's metadata; a missing entity goes straight to the summary."""

    async def run(self, ctx: GraphRunContext[_State, None]) -> AnalyseWindows | Summarise:
        state = ctx.state
        call = metadata_call(state.request)
        state.metadata = await call_tool(call.tool, **call.kwargs)
        state.meta_finding = findings(call.label, state.metadata)
        return AnalyseWindows() if exists(state.metadata) else Summarise()


@dataclass
class AnalyseWindows(BaseNode[_State, None, AnomalyReport]):
    """Deterministic: the baseline and incident analyses, concurrently, then the LLM merge."""

    async def run(self, ctx: GraphRunContext[_State, None]) -> Merge:
        baseline, incident = window_calls(ctx.state.request)
        return Merge(await _gather([*baseline, *incident]))


@dataclass
class Merge(BaseNode[_State, None, AnomalyReport]):
    """LLM step, then the decision on the node stage."""

    window_findings: list[dict[str, Any]]

    async def run(self, ctx: GraphRunContext[_State, None]) -> NodeChecks | NodeInvestigation | Summarise:
        state = ctx.state
        prompt = merge_prompt(state.request, self.window_findings)
        state.merged = (await _MERGE.run(prompt, model=state.model, usage_limits=LLM_STEP_LIMITS)).output
        node = node_entity(state.metadata) if state.request.is_pod else None
        if node is None:
            return Summarise()
        if state.merged.anomaly_detected and state.merged.confidence >= CONFIDENT:
            return NodeChecks(node)
        return NodeInvestigation(node)


@dataclass
class NodeChecks(BaseNode[_State, None, AnomalyReport]):
    """Deterministic node stage: the node's metadata and incident analyses, concurrently."""

    node: str

    async def run(self, ctx: GraphRunContext[_State, None]) -> Summarise:
        ctx.state.node_findings = await _gather(node_calls(ctx.state.request.for_entity(self.node)))
        return Summarise()


@dataclass
class NodeInvestigation(BaseNode[_State, None, AnomalyReport]):
    """Adaptive node stage: an agent with the four tools decides which checks of the node to run."""

    node: str

    async def run(self, ctx: GraphRunContext[_State, None]) -> Summarise:
        state = ctx.state
        # The agent sees what the user reported and what the pod's own analyses concluded, so it can look for what
        # they leave unexplained.
        merged = state.merged.model_dump() if state.merged is not None else {}
        prompt = findings_prompt(
            f"{state.request.for_entity(self.node).windows_text()}\nThe user's question about the pod, then the merged "
            f'report of the pod {state.request.entity} that runs on this node:',
            [{'question': state.request.prompt}, merged],
        )
        with steps_enforced('node_investigator'):
            report = (
                await _NODE_AGENT.run(prompt, model=state.model, deps=self.node, usage_limits=_NODE_LIMITS)
            ).output
        state.node_findings = [{'source': f'investigation of {self.node}', **report.model_dump(exclude={'entity'})}]
        return Summarise()


@dataclass
class Summarise(BaseNode[_State, None, AnomalyReport]):
    """LLM step: the final report."""

    async def run(self, ctx: GraphRunContext[_State, None]) -> End[AnomalyReport]:
        state = ctx.state
        merged = state.merged.model_dump() if state.merged is not None else None
        prompt = summary_prompt(state.request, state.meta_finding, merged, state.node_findings)
        return End((await _SUMMARY.run(prompt, model=state.model, usage_limits=LLM_STEP_LIMITS)).output)


def _build() -> Any:
    g = GraphBuilder(
        name='hybrid', state_type=_State, input_type=LookUp, output_type=AnomalyReport, auto_instrument=False
    )
    g.add(
        g.edge_from(g.start_node).to(LookUp),
        g.node(LookUp),
        g.node(AnalyseWindows),
        g.node(Merge),
        g.node(NodeChecks),
        g.node(NodeInvestigation),
        g.node(Summarise),
    )
    return g.build()


_GRAPH = _build()


@architecture(
    'hybrid',
    description='pydantic-graph: deterministic tool nodes, an adaptive agent node chosen by a per-stage rule',
    datasets=('k8s_anomaly', RAW_DATASET, BATCH_DATASET, SEPARATING_DATASET),
    inputs_type=Inputs,
    output_type=Expected,  # a case expects the verdict (`Diagnosis`), not a whole report
)
async def hybrid(inputs: Inputs, model: Model) -> AnomalyReport | BatchReport:
    """Run the graph from `LookUp` with a fresh state; a batch case runs one graph per entity, concurrently."""
    batch = BatchRequest.of(inputs)
    if batch is not None:
        return await each_entity(batch, lambda request: _investigate(request, model))
    request = await resolved(inputs, model)  # an open request is resolved by an LLM step first
    with tool_assessments(request.tool_assessments):
        return await _investigate(request, model)


async def _investigate(request: AnalysisRequest, model: Model) -> AnomalyReport:
    state = _State(request=request, model=model)
    output: AnomalyReport = await _GRAPH.run(state=state, inputs=LookUp())
    return output
