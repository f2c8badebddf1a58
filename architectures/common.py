"""What every K8s architecture shares: the request, the prompts, the canonical workflow's calls and a rule-based report.

All six architectures follow one workflow (docs/k8s-contract.md holds the tools and the merging rule):

1. look up the entity's metadata over the incident window;
2. analyse CPU, memory and logs twice, concurrently: the baseline window on its own and the incident window against
   the baseline;
3. merge those analyses into one report (an LLM step);
4. for a pod, analyse the node it runs on (metadata, and CPU, memory and logs of the incident against the
   baseline), concurrently;
5. summarise everything into the final `AnomalyReport` (an LLM step).

An entity that does not exist stops after step 1; the summary then reports `entity_not_found`.
`expected_steps` is that workflow as unordered steps of tool names (the tests compare runs with it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry, capture_run_messages
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from architectures.report import SEVERITY_RANK, AnomalyReport
from architectures.tools import (
    ToolFunction,
    analyze_cpu_metrics,
    analyze_logs,
    analyze_memory_metrics,
    get_entity_metadata,
)

__all__ = (
    'ANALYSIS_TOOLS',
    'LLM_STEP_LIMITS',
    'MERGING_RULE',
    'AnalysisRequest',
    'PlannedCall',
    'SkippedStepError',
    'Undegraded',
    'exists',
    'expected_steps',
    'findings',
    'findings_prompt',
    'incident_alone_calls',
    'merge_agent',
    'merge_by_rule',
    'merge_prompt',
    'metadata_call',
    'missing_steps',
    'node_calls',
    'node_entity',
    'require_steps',
    'steps_enforced',
    'summary_agent',
    'summary_prompt',
    'tool_results',
    'window_calls',
)

ANALYSIS_TOOLS: tuple[ToolFunction, ...] = (analyze_cpu_metrics, analyze_memory_metrics, analyze_logs)
"""The three window analyses, in the order prompts and calls list them."""

MERGING_RULE = (
    'Merging rule: among all assessments, the one with anomaly_detected true and the highest confidence wins '
    '(ties: higher severity, then the later one); with no anomalous assessment, the highest-confidence one wins. '
    'Copy its anomaly_detected, severity, category and confidence, and keep evidence and recommended actions '
    'from the assessments that agree with it.'
)
"""The contract's merging rule in words, for the instructions of merge and summary agents."""


class AnalysisRequest(BaseModel):
    """The inputs of one K8s case: which entity, what the user asked, and the two windows."""

    entity: str = Field(pattern=r'^k8s:(pod|node)/\S+$')
    """`'k8s:pod/<name>'` or `'k8s:node/<name>'`."""
    prompt: str
    """The user's question, as they wrote it."""
    baseline_start: str
    """Start of the baseline window (ISO 8601 UTC)."""
    baseline_end: str
    """End of the baseline window."""
    incident_start: str
    """Start of the incident window."""
    incident_end: str
    """End of the incident window."""
    tool_assessments: bool | None = None
    """False: the tools return statistics without their rule-based assessment for this case (the `k8s_anomaly_raw`
    dataset); None: as `K8S_TOOL_ASSESSMENT` says. Never shown to a model."""

    @classmethod
    def parse(cls, inputs: Any) -> AnalysisRequest:
        """The request from a dataset case's inputs (a mapping) or from a request already built."""
        return inputs if isinstance(inputs, cls) else cls.model_validate(inputs)

    @property
    def entity_type(self) -> Literal['k8s:pod', 'k8s:node']:
        """`'k8s:pod'` or `'k8s:node'`."""
        return 'k8s:pod' if self.entity.startswith('k8s:pod/') else 'k8s:node'

    @property
    def name(self) -> str:
        """The entity's name, without its type."""
        return self.entity.partition('/')[2]

    @property
    def is_pod(self) -> bool:
        """Whether the entity is a pod (which then has a node to analyse)."""
        return self.entity_type == 'k8s:pod'

    def for_entity(self, entity: str) -> AnalysisRequest:
        """The same windows and question about another entity (the node a pod runs on)."""
        return self.model_copy(update={'entity': entity})

    def windows_text(self) -> str:
        """Entity and both windows, in words a model can act on."""
        return (
            f'Entity: {self.entity}. Baseline window {self.baseline_start} to {self.baseline_end}. '
            f'Incident window {self.incident_start} to {self.incident_end}.'
        )

    def incident_text(self) -> str:
        """Entity and incident window only: for the metadata lookup and single-window questions."""
        return f'Entity: {self.entity}. Incident window {self.incident_start} to {self.incident_end}.'

    def baseline_alone_text(self) -> str:
        """Entity and the baseline window as the one window to describe, with no comparison."""
        return (
            f'Entity: {self.entity}. Analysis window {self.baseline_start} to {self.baseline_end}. '
            'Describe this window on its own, without comparing it to another window.'
        )

    def task_text(self) -> str:
        """The user's question followed by the facts a model needs: what a top-level agent gets as its prompt."""
        return f'{self.prompt}\n\n{self.windows_text()}'


@dataclass(frozen=True, kw_only=True)
class PlannedCall:
    """One tool call the workflow makes, ready to be executed (through `call_tool`) or looked up in a cache."""

    tool: ToolFunction
    """The tool function."""
    kwargs: Mapping[str, str]
    """Its keyword arguments."""
    label: str
    """What the result describes, e.g. `'analyze_cpu_metrics, incident window vs baseline'`."""

    @property
    def key(self) -> str:
        """Tool name and arguments as canonical JSON: equal keys mean the same call."""
        return json.dumps([self.tool.__name__, dict(self.kwargs)], sort_keys=True)


def metadata_call(request: AnalysisRequest) -> PlannedCall:
    """Step 1: the entity's metadata over the incident window."""
    return PlannedCall(
        tool=get_entity_metadata,
        kwargs={
            'entity_type': request.entity_type,
            'name': request.name,
            'start': request.incident_start,
            'end': request.incident_end,
        },
        label=f'get_entity_metadata of {request.entity}',
    )


def _incident(tool: ToolFunction, request: AnalysisRequest) -> PlannedCall:
    return PlannedCall(
        tool=tool,
        kwargs={
            'entity_type': request.entity_type,
            'name': request.name,
            'start': request.incident_start,
            'end': request.incident_end,
            'baseline_start': request.baseline_start,
            'baseline_end': request.baseline_end,
        },
        label=f'{tool.__name__} of {request.entity}, incident window against the baseline',
    )


def _window_alone(tool: ToolFunction, request: AnalysisRequest, window: Literal['baseline', 'incident']) -> PlannedCall:
    start, end = (
        (request.baseline_start, request.baseline_end)
        if window == 'baseline'
        else (request.incident_start, request.incident_end)
    )
    return PlannedCall(
        tool=tool,
        kwargs={'entity_type': request.entity_type, 'name': request.name, 'start': start, 'end': end},
        label=f'{tool.__name__} of {request.entity}, {window} window on its own',
    )


def _baseline_alone(tool: ToolFunction, request: AnalysisRequest) -> PlannedCall:
    return _window_alone(tool, request, 'baseline')


def incident_alone_calls(request: AnalysisRequest) -> list[PlannedCall]:
    """The incident window's CPU, memory and logs analyses on their own, for an entity that may have no baseline (a
    pod that started during the incident)."""
    return [_window_alone(tool, request, 'incident') for tool in ANALYSIS_TOOLS]


def window_calls(request: AnalysisRequest) -> tuple[list[PlannedCall], list[PlannedCall]]:
    """Step 2: the baseline analysis and the incident analysis (each CPU, memory, logs), to run concurrently."""
    return [_baseline_alone(t, request) for t in ANALYSIS_TOOLS], [_incident(t, request) for t in ANALYSIS_TOOLS]


def node_calls(node_request: AnalysisRequest) -> list[PlannedCall]:
    """Step 4: the node's metadata and its incident analyses against the baseline, to run concurrently."""
    return [metadata_call(node_request), *(_incident(t, node_request) for t in ANALYSIS_TOOLS)]


@dataclass(repr=False)
class Undegraded(Evaluator[object, object, object]):
    """The run answered without falling back: its `llm_fallbacks` metric (reported by `workflow` when an LLM step
    failed and the merging rule answered instead) is 0 or absent. An outcome evaluator: a fallback answer is a
    degraded run, never a clean pass, however right its verdict."""

    evaluation_name: str | None = None

    def get_default_evaluation_name(self) -> str:
        """The configured name, else `Undegraded`."""
        return self.evaluation_name or 'Undegraded'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> EvaluationReason:
        """False, with the count, when the run fell back."""
        fallbacks = ctx.metrics.get('llm_fallbacks', 0)
        if fallbacks:
            return EvaluationReason(value=False, reason=f'{fallbacks:g} LLM step(s) fell back to the merging rule')
        return EvaluationReason(value=True)


def expected_steps(entity_type: str, *, exists: bool = True) -> list[list[str]]:
    """The canonical trajectory of the workflow: ordered steps of unordered concurrent tool names."""
    metadata = [get_entity_metadata.__name__]
    if not exists:
        return [metadata]
    analyses = sorted(t.__name__ for t in ANALYSIS_TOOLS)
    steps = [metadata, sorted(analyses * 2)]
    if entity_type == 'k8s:pod':
        steps.append(sorted([*metadata, *analyses]))
    return steps


def exists(metadata: Mapping[str, Any]) -> bool:
    """Whether a metadata result found the entity (the contract's `exists: false` marks a missing one)."""
    return metadata.get('exists') is not False


def node_entity(metadata: Mapping[str, Any]) -> str | None:
    """`'k8s:node/<name>'` of the node a pod's metadata names, or None when it names none."""
    for key in ('node', 'node_name', 'nodeName'):
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value if value.startswith('k8s:node/') else f'k8s:node/{value}'
    return None


def findings(label: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """One tool result as a flat finding: its source, then the fields of its `assessment` block.

    Flat, so that every finding is one JSON object holding the report's fields, which is how a reader (a model or
    `merge_by_rule`) compares assessments; the `entity` key is left out because findings about the node must not
    rename the entity the report is about. A result without an assessment (the tools run with
    `K8S_TOOL_ASSESSMENT=off`) gives its statistics instead, for the reader to judge.
    """
    assessment = result.get('assessment')
    body = dict(assessment) if isinstance(assessment, Mapping) else dict(result)
    body.pop('entity', None)
    return {'source': label, **body}


def findings_prompt(heading: str, items: Iterable[Mapping[str, Any]]) -> str:
    """A prompt section listing findings or reports, one JSON object per line."""
    lines = [heading]
    lines.extend(json.dumps(dict(item), sort_keys=False, default=str) for item in items)
    return '\n'.join(lines)


def _rank(assessment: Mapping[str, Any], position: int) -> tuple[bool, float, int, int]:
    confidence = assessment.get('confidence')
    severity = assessment.get('severity')
    return (
        assessment.get('anomaly_detected') is True,
        float(confidence) if isinstance(confidence, int | float) else 0.0,
        SEVERITY_RANK.get(severity, -1) if isinstance(severity, str) else -1,
        position,
    )


def merge_by_rule(entity: str, assessments: Iterable[Mapping[str, Any]]) -> AnomalyReport:
    """The merging rule of docs/k8s-contract.md applied without a model: the deterministic fallback report.

    `assessments` are findings or reports (anything with the report's fields), in the order they were produced.
    """
    items = [a for a in assessments if 'anomaly_detected' in a and 'category' in a]
    if not items:
        return AnomalyReport(
            entity=entity,
            anomaly_detected=False,
            severity='none',
            category='none',
            evidence=['no assessment was available to merge'],
            recommended_actions=['re-run the analysis'],
            confidence=0.0,
        )
    winner = max(enumerate(items), key=lambda pair: _rank(pair[1], pair[0]))[1]
    agreeing = [a for a in items if a.get('anomaly_detected') == winner.get('anomaly_detected')]
    evidence: list[str] = []
    actions: list[str] = []
    for item in [winner, *(a for a in agreeing if a is not winner)]:
        evidence.extend(str(e) for e in item.get('evidence') or () if str(e) not in evidence)
        actions.extend(str(r) for r in item.get('recommended_actions') or () if str(r) not in actions)
    return AnomalyReport(
        entity=entity,
        anomaly_detected=bool(winner['anomaly_detected']),
        severity=winner.get('severity', 'none'),
        category=winner['category'],
        evidence=evidence[:8],
        recommended_actions=actions[:8],
        confidence=float(winner.get('confidence') or 0.0),
    )


LLM_STEP_LIMITS = UsageLimits(request_limit=4, tool_calls_limit=0)
"""Merge and summary steps hold no tools: one answer, plus a few output retries at most."""


def merge_agent(model: Model | None = None) -> Agent[None, AnomalyReport]:
    """The LLM merge step (no tools): turns the baseline and incident findings into one report."""
    return Agent(
        model,
        name='merge',
        output_type=AnomalyReport,
        retries={'output': 2},
        instructions=(
            'You merge the findings of a Kubernetes anomaly investigation into one AnomalyReport about the entity '
            'named in the prompt. Each finding is one JSON object from a CPU, memory or log analysis of the '
            f'baseline window or of the incident window against the baseline. {MERGING_RULE}'
        ),
    )


def summary_agent(model: Model | None = None) -> Agent[None, AnomalyReport]:
    """The LLM summary step (no tools): the final report from the merged report, node findings and metadata."""
    return Agent(
        model,
        name='summary',
        output_type=AnomalyReport,
        retries={'output': 2},
        instructions=(
            'You write the final AnomalyReport of a Kubernetes anomaly investigation about the entity named in the '
            'prompt, from its metadata, the merged report of its own analyses and, for a pod, the findings about '
            'the node it runs on. The report is about the entity, never about its node. When the metadata says '
            f'the entity does not exist, report the category entity_not_found. {MERGING_RULE}'
        ),
    )


def merge_prompt(request: AnalysisRequest, items: Iterable[Mapping[str, Any]]) -> str:
    """The merge step's prompt: entity, windows and one finding per line."""
    return findings_prompt(f'Merge the findings below into one report.\n{request.windows_text()}\nFindings:', items)


def summary_prompt(
    request: AnalysisRequest,
    metadata: Mapping[str, Any],
    merged: Mapping[str, Any] | None,
    node_items: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The summary step's prompt: the user's question, entity, windows, then everything learnt, one object a line.

    `merged` is None when the entity does not exist (nothing was analysed).
    """
    items = [metadata]
    if merged is not None:
        items.append(merged)
    items.extend(node_items)
    return findings_prompt(
        f'Question: {request.prompt}\n{request.windows_text()}\n'
        'Metadata, merged report and node findings (one JSON object per line):',
        items,
    )


def tool_results(messages: Sequence[ModelMessage], tool_name: str) -> list[tuple[dict[str, Any], Any]]:
    """(arguments, result) of every successful call of `tool_name` in `messages`, oldest first.

    A call whose arguments did not validate, or whose tool raised `ModelRetry`, comes back marked `retried`: it did
    not happen, so it is left out.
    """
    calls = {
        part.tool_call_id: part.args_as_dict()
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.tool_calls
        if part.tool_name == tool_name
    }
    return [
        (calls.get(part.tool_call_id, {}), part.content)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == tool_name and part.outcome == 'success'
    ]


def _about(entity: str, arguments: Mapping[str, Any], result: Any, *, by_argument: bool) -> bool:
    if by_argument:
        return str(arguments.get('entity', '')).strip() == entity
    return isinstance(result, Mapping) and result.get('entity') == entity


def missing_steps(
    messages: Sequence[ModelMessage],
    entity: str,
    lookup: str,
    analyses: Sequence[str],
    *,
    by_argument: bool = False,
) -> str | None:
    """What an answer about `entity` skipped, or None: the `lookup` tool's successful call about it and, unless that
    found the entity missing (`exists: false`), a successful call of every tool of `analyses` about it.

    A call is about `entity` when its result names it (the K8s tools' results carry `entity`) or, with
    `by_argument`, when its `entity` argument does (tools that delegate to another agent).

    For an agent's output validator: an answer resting on a step that did not happen is sent back with this message
    (`ModelRetry`), and after its retries the run fails instead of carrying on as if the step had happened.
    """
    found = [r for a, r in tool_results(messages, lookup) if _about(entity, a, r, by_argument=by_argument)]
    if not found:
        return f'You answered without calling {lookup} for {entity}. Call it first, then answer from its result.'
    if isinstance(found[-1], Mapping) and not exists(found[-1]):
        return None
    skipped = [
        tool
        for tool in analyses
        if not any(_about(entity, a, r, by_argument=by_argument) for a, r in tool_results(messages, tool))
    ]
    if skipped:
        return (
            f'You answered without calling {", ".join(skipped)} for {entity}. Call them, then answer from their '
            'results.'
        )
    return None


def require_steps(
    messages: Sequence[ModelMessage],
    entities: Iterable[str],
    lookup: str,
    analyses: Sequence[str],
    *,
    by_argument: bool = False,
) -> None:
    """`ModelRetry` with `missing_steps`' messages when an answer about `entities` skipped a step."""
    found = [missing_steps(messages, e, lookup, analyses, by_argument=by_argument) for e in entities]
    missing = ' '.join(m for m in found if m is not None) or None
    if missing is not None:
        raise ModelRetry(missing)


_SENT_BACK = 'You answered without '
"""How every step check of the suite starts its `ModelRetry` message."""


class SkippedStepError(UnexpectedModelBehavior):
    """An agent kept answering without a step its answer rests on, after being sent back as often as it may be."""


@contextmanager
def steps_enforced(agent: str) -> Iterator[None]:
    """Around one agent run: when the run fails because the agent ran out of retries after being sent back for a
    skipped step, raise `SkippedStepError` naming the agent and what it skipped, instead of pydantic-ai's bare
    "Exceeded maximum output retries"."""
    with capture_run_messages() as messages:
        try:
            yield
        except UnexpectedModelBehavior as exc:
            sent_back = [
                str(part.content)
                for message in messages
                if isinstance(message, ModelRequest)
                for part in message.parts
                if isinstance(part, ToolReturnPart)
                and part.outcome == 'retried'
                and str(part.content).startswith(_SENT_BACK)
            ]
            if not sent_back or isinstance(exc, SkippedStepError):
                raise
            raise SkippedStepError(
                f'{agent} answered without a step its answer rests on and was sent back {len(sent_back)} time(s); the '
                f'run stops instead of carrying on. Last: {sent_back[-1]}'
            ) from exc
