"""Open requests: a question that names neither the entity nor the windows, and the LLM step that resolves them.

"Checkout has been slow since about 10:00, look into it", asked at 10:30, names a workload and a time of day. Before
any investigation the entity ('k8s:pod/checkout-7f9c4d-x2k1') and the two windows must be found: the resolver agent
holds the two resolution tools (`find_entities`, `incident_windows`) and answers with a `ResolvedTarget`, which must
rest on what those tools returned. The orchestrated architectures run it as their first step and then investigate
the resolved request exactly as a clear one; `single` resolves with its own agent, which holds these tools beside
the four others.

A clear request (entity and windows given) never reaches this module's agent: `resolved` returns it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_ai import Agent, ModelRetry, RunContext, Tool
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits

from architectures.common import AnalysisRequest, steps_enforced, tool_results
from architectures.telemetry.backend import parse_time
from architectures.tools.lookup import search_entities, windows_since

__all__ = (
    'WINDOW_FIELDS',
    'OpenRequest',
    'ResolvedTarget',
    'find_entities',
    'incident_windows',
    'resolution_problem',
    'resolution_tools',
    'resolved',
)

WINDOW_FIELDS = ('baseline_start', 'baseline_end', 'incident_start', 'incident_end')
"""The four window times of a request, in the order `incident_windows` returns them."""


class OpenRequest(BaseModel):
    """The inputs of an open K8s case: the user's question and when it was asked; no entity, no windows."""

    model_config = ConfigDict(extra='forbid')

    prompt: str
    """The user's question, as they wrote it (a workload and a time of day at most)."""
    now: str
    """When the question was asked (ISO 8601 UTC): the end of the incident window."""
    tool_assessments: bool | None = None
    """As `AnalysisRequest.tool_assessments`. Never shown to a model."""

    @classmethod
    def of(cls, inputs: Any) -> OpenRequest | None:
        """The open request when `inputs` is one (a mapping with `now` and no `entity`); None otherwise."""
        if isinstance(inputs, cls):
            return inputs
        if isinstance(inputs, Mapping) and 'now' in inputs and 'entity' not in inputs:
            return cls.model_validate(inputs)
        return None

    @field_validator('now')
    @classmethod
    def _a_time(cls, value: str) -> str:
        try:
            parse_time(value)
        except (ValueError, TypeError, AttributeError):
            raise ValueError(
                f'now={value!r} is not a time: write it in ISO 8601 UTC, e.g. 2026-03-14T10:30:00Z'
            ) from None
        return value

    @property
    def asked_at(self) -> datetime:
        """`now` as an aware datetime."""
        return parse_time(self.now)

    def task_text(self) -> str:
        """What a model is told: the question alone. The time it was asked is the system's clock, which the
        `incident_windows` tool reads itself, as a deployed assistant's tools read the current time."""
        return self.prompt

    def resolve(self, target: ResolvedTarget) -> AnalysisRequest:
        """The clear request the question becomes once its entity and windows are known."""
        return AnalysisRequest(
            entity=target.entity,
            prompt=self.prompt,
            tool_assessments=self.tool_assessments,
            **target.model_dump(include=set(WINDOW_FIELDS)),
        )


async def find_entities(ctx: RunContext[OpenRequest], question: str) -> dict[str, Any]:
    """Search the cluster's pods and nodes seen in the last hour for the ones a question is about, by the words of
    their names.

    Use it when a question names a workload ('the gateway', 'the image cache') or part of a node name instead of a
    full pod or node name. Returns the entities whose names hold words of the question, most matched words first,
    each as 'k8s:pod/<name>' or 'k8s:node/<name>' with the words it matched.

    Args:
        question: The question as the user asked it, or just the words that name the entity.
    """
    return await search_entities(question, ctx.deps.asked_at)


async def incident_windows(ctx: RunContext[OpenRequest], since: str) -> dict[str, str]:
    """The two windows to investigate: the incident window, from when the trouble started until the question was
    asked, and the baseline window, the hour before it.

    Args:
        since: When the trouble started, as the question says it: a time of day 'HH:MM' (UTC), e.g. '10:00', or
            ISO 8601 UTC.
    """
    return windows_since(since, ctx.deps.now)


def resolution_tools() -> list[Tool[OpenRequest]]:
    """The tools that turn an open question into an entity and windows, for an agent whose deps are the request."""
    return [
        Tool(find_entities, max_retries=2, docstring_format='google'),
        Tool(incident_windows, max_retries=2, docstring_format='google'),
    ]


class ResolvedTarget(BaseModel):
    """What an open question is about: the entity and the two windows to investigate."""

    entity: str = Field(
        pattern=r'^k8s:(pod|node)/\S+$', description='The entity, as "k8s:pod/<name>" or "k8s:node/<name>".'
    )
    baseline_start: str = Field(description='Start of the baseline window, ISO 8601 UTC.')
    baseline_end: str = Field(description='End of the baseline window, ISO 8601 UTC.')
    incident_start: str = Field(description='Start of the incident window, ISO 8601 UTC.')
    incident_end: str = Field(description='End of the incident window, ISO 8601 UTC.')


def resolution_problem(messages: list[ModelMessage], entity: str, windows: Mapping[str, Any]) -> str | None:
    """Why an answer about `entity` over `windows` does not rest on the resolution tools' results, or None.

    The entity must be one a successful `find_entities` call returned, and the windows those of the last successful
    `incident_windows` call: a resolution is looked up, never guessed.
    """
    found = [
        match.get('entity')
        for _, result in tool_results(messages, find_entities.__name__)
        if isinstance(result, Mapping)
        for match in result.get('matches') or ()
        if isinstance(match, Mapping)
    ]
    if not found:
        return (
            f'You answered without finding the entity: call {find_entities.__name__} with the words that name the '
            'workload or node the question is about, then answer with one of its matches.'
        )
    if entity not in found:
        return f'{entity} is not among the entities {find_entities.__name__} found ({", ".join(map(str, found))}).'
    computed = [r for _, r in tool_results(messages, incident_windows.__name__) if isinstance(r, Mapping)]
    if not computed:
        return (
            f'You answered without computing the windows: call {incident_windows.__name__} with the time the '
            'question says the trouble started.'
        )
    wrong = [
        f'{k}={windows.get(k)!r} (expected {computed[-1].get(k)!r})'
        for k in WINDOW_FIELDS
        if windows.get(k) != computed[-1].get(k)
    ]
    if wrong:
        return f'The windows must be those {incident_windows.__name__} returned: {", ".join(wrong)}.'
    return None


_RESOLVER: Agent[OpenRequest, ResolvedTarget] = Agent(
    name='resolver',
    deps_type=OpenRequest,
    output_type=ResolvedTarget,
    retries={'output': 2},
    tools=resolution_tools(),
    instructions=(
        'You find what a question about an incident in the cluster is about, before anyone investigates it. Call '
        'find_entities with the words that name the workload or node the question is about, and incident_windows '
        'with the time the question says the trouble started. Then answer with the entity find_entities found that '
        'the question means, and the four window times exactly as incident_windows returned them.'
    ),
)
_RESOLVER_LIMITS = UsageLimits(request_limit=8, tool_calls_limit=8)
"""Two tool calls and an answer, with room for a few retries."""


@_RESOLVER.output_validator
def _rests_on_lookups(ctx: RunContext[OpenRequest], target: ResolvedTarget) -> ResolvedTarget:
    problem = resolution_problem(ctx.messages, target.entity, target.model_dump())
    if problem is not None:
        raise ModelRetry(problem)
    return target


async def resolved(inputs: Any, model: Model) -> AnalysisRequest:
    """The request to investigate: a clear request as it is; an open one after the resolver's LLM step."""
    open_request = OpenRequest.of(inputs)
    if open_request is None:
        return AnalysisRequest.parse(inputs)
    with steps_enforced('resolver'):
        result = await _RESOLVER.run(
            open_request.task_text(), model=model, deps=open_request, usage_limits=_RESOLVER_LIMITS
        )
    return open_request.resolve(result.output)
