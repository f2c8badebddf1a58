"""Per-run records: the plain, JSON-safe data that crosses from xdist workers to the controller.

A record keeps what statistics and failure messages need (canonical trajectory keys, the flat tool calls,
usage, timing, verdicts, the serialized output), never the message history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = (
    'CONTEXT_CHARS',
    'RESULT_CHARS',
    'Assertion',
    'ModelRequestRecord',
    'RequestContext',
    'RunRecord',
    'ToolCallRecord',
    'clip',
    'recorded_latency',
)

RESULT_CHARS = 200
"""Characters kept of a tool result (a record crosses the xdist wire: it stays small)."""
CONTEXT_CHARS = 240
"""Characters kept of a model request's instructions and of its prompt (their tails)."""


def clip(text: str, limit: int, *, tail: bool = False) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut: its head, or its tail with `tail`."""
    if len(text) <= limit:
        return text
    return '\u2026' + text[len(text) - limit + 1 :] if tail else text[: limit - 1] + '\u2026'


@dataclass(kw_only=True, frozen=True)
class ToolCallRecord:
    """One tool call, flattened out of the call tree in start order."""

    name: str
    args: str
    """Normalized JSON arguments."""
    failed: bool = False
    result: str | None = None
    """The result as JSON (or the retry prompt the model saw), truncated to `RESULT_CHARS`; None when the
    instrumentation kept no content."""
    order: int = 0
    """Where the call started among the run's events (comparable with `ModelRequestRecord.order`)."""
    why: str | None = None
    """What led the model to make the call, when the model says (the simulated model does: the rule and the words
    or arguments that triggered it); None otherwise."""


@dataclass(kw_only=True, frozen=True)
class RequestContext:
    """What a model request newly showed the model, truncated: enough to see why runs took different turns."""

    instructions: str = ''
    """The tail of the request's instructions (`CONTEXT_CHARS`)."""
    prompt: str = ''
    """The tail of the latest user prompt the agent answers (`CONTEXT_CHARS`)."""
    tool_results: list[str] = field(default_factory=list[str])
    """`name: result` of each tool result since the model's last response, truncated to `RESULT_CHARS`."""


@dataclass(kw_only=True, frozen=True)
class ModelRequestRecord:
    """One model request of a run, in start order."""

    model: str
    """Model name as the instrumentation reports it."""
    input_tokens: int
    output_tokens: int
    cost: float | None
    """USD, when pydantic-ai could price the model (genai-prices)."""
    duration: float
    """Seconds."""
    order: int = 0
    """Where the request started among the run's events (comparable with `ToolCallRecord.order`)."""
    context: RequestContext | None = None
    """What the request newly showed the model; None when the instrumentation kept no content."""


@dataclass(kw_only=True, frozen=True)
class Assertion:
    """One evaluator result of a run."""

    name: str
    value: bool | int | float | str
    """`bool` values are assertions (they decide pass/fail); numbers are scores; strings are labels."""
    reason: str | None = None
    side: Literal['outcome', 'path'] = 'outcome'
    """What the evaluator judged (`run.sides.side_of`): the run's outcome (its boolean assertions decide the pass
    rate) or the path it took (they decide path conformance)."""


def recorded_latency(durations: list[float | None] | None) -> float | None:
    """A replayed run's recorded latency from the recorded durations of its exchanges (`RunRecord.recorded_latency`):
    their sum, or None when nothing was replayed or any duration is unknown."""
    if durations is None:
        return None
    known = [d for d in durations if d is not None]
    return sum(known) if len(known) == len(durations) else None


def _context_wire(context: RequestContext) -> dict[str, Any]:
    return {**context.__dict__, 'tool_results': list(context.tool_results)}


def _json_copy(value: Any) -> Any:
    """A copy of JSON-like data (dicts and lists rebuilt, leaves shared: they are immutable)."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_copy(v) for v in value]
    return value


@dataclass(kw_only=True)
class RunRecord:
    """Everything measured about one run of one case by one architecture."""

    index: int
    """0-based run index within the case."""
    duration: float
    """Wall time of the run in seconds."""
    recorded_latency: float | None = None
    """In a replay, the recorded model's latency of the run: the sum of the recorded durations of the exchanges it was
    answered with, in seconds. None outside a replay, and when the recording stored no duration for one of them."""
    error_type: str | None = None
    """Exception class name if the run raised (or `CaptureError` when nothing was captured); else None."""
    error_message: str | None = None
    error_traceback: str | None = None
    """Where the run raised: its traceback with the user's own frames shown and library frames folded
    (`tracebacks.folded_traceback`), clipped to its tail; None when the run did not raise or its error was not raised
    (nothing captured, an output of the wrong type)."""
    error_kind: Literal['behaviour', 'infrastructure'] | None = None
    """Why the run raised: the architecture's own behaviour, or the provider or network (HTTP 429/5xx, connection
    errors, provider timeouts), which is kept out of determinism and pass^k. None when the run did not raise."""
    trajectory_tools: str = ''
    """Level `tools`: the multiset of tool names called, rendered (insensitive to batching and order)."""
    trajectory: str = ''
    """Level `steps`: ordered steps of concurrent groups, rendered (one string per distinct form)."""
    trajectory_args: str = ''
    """Level `strict`: steps with normalized arguments, rendered."""
    steps: list[list[str]] = field(default_factory=list[list[str]])
    """Flattened unordered steps of tool names (see `trajectory.flat_steps`)."""
    tool_calls: list[ToolCallRecord] = field(default_factory=list[ToolCallRecord])
    model_requests: list[ModelRequestRecord] = field(default_factory=list[ModelRequestRecord])
    requests: int = 0
    """Totals over `model_requests` (kept for statistics without a walk over the list)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    """USD; None when any request of the run could not be priced."""
    output: Any = None
    """The output as JSON-safe data."""
    output_key: str | None = None
    """Canonical JSON of the compared output fields (output agreement)."""
    assertions: list[Assertion] = field(default_factory=list[Assertion])
    evaluator_errors: list[str] = field(default_factory=list[str])
    """Evaluators that raised: they fail the run."""
    evaluator_infra_errors: list[str] = field(default_factory=list[str])
    """Evaluators whose model (a judge) could not be reached (`errors.classify`): not a failure of the run, which is
    left out of pass rate and pass^k (`unjudged`) and still counts in determinism."""
    judge_requests: int = 0
    """Model requests the run's evaluators made (judges), apart from the run's own."""
    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    judge_cost: float | None = None
    """USD the run's evaluators spent; None when they made no request or one could not be priced."""
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    """Metrics the run reported through `pydantic_evals.dataset.increment_eval_metric`."""
    attempts: int = 0
    """Model request attempts the session's model layer sent (retried ones included); 0 when it counted none."""
    retries: int = 0
    """Attempts retried after an infrastructure failure (HTTP 429/5xx, connection, provider timeout)."""
    waited: float = 0.0
    """Seconds the run waited on the session's request limits and on retry back-off (part of `duration`)."""
    capture: str = ''
    """Which capture recorded the run: `requests` (the model-request layer around the model the architecture was
    given) or `spans` (pydantic-ai's instrumentation: where real spans are needed, or for an architecture whose
    agents do not use the model they are given); empty in records from before the field existed."""
    flow: list[list[int]] = field(default_factory=list[list[int]])
    """Every tool call's flattened unordered step (`trajectory.flat_call_steps`, no tool left out), as positions in
    `tool_calls`: where runs of a case diverge is read from it."""
    path_checked: bool = False
    """The case has at least one path evaluator (`run.sides`): the run counts in path conformance."""
    path_errors: list[str] = field(default_factory=list[str])
    """Path evaluators that raised: the run does not conform (its outcome is judged apart)."""
    faults: dict[str, int] = field(default_factory=dict[str, int])
    """Faults injected into the run's model requests by kind (`--agentarch-faults`); empty when none was."""

    @property
    def errored(self) -> bool:
        """The run raised, timed out or captured nothing, for either `error_kind`.

        A behaviour error counts in determinism as the variant `error: <error_type>` and fails the run; an
        infrastructure failure (see `infrastructure`) is left out of determinism, pass rate and pass^k."""
        return self.error_type is not None

    @property
    def infrastructure(self) -> bool:
        """The run failed on infrastructure (rate limit, provider 5xx, connection): it counts in no rate."""
        return self.errored and self.error_kind == 'infrastructure'

    @property
    def unjudged(self) -> bool:
        """The run's evaluators could not all reach their model: its verdict is unknown, so it counts in no pass
        rate (it still counts in determinism, output agreement and usage)."""
        return bool(self.evaluator_infra_errors) and not self.errored

    @property
    def passed(self) -> bool:
        """No error of either kind, no outcome evaluator error, and every boolean outcome assertion true.

        Path assertions never decide it (see `conforms`); nor do scores (numbers) and labels (strings): gates on
        mean scores judge them per item."""
        if self.errored or self.evaluator_errors:
            return False
        return all(a.value for a in self.assertions if isinstance(a.value, bool) and a.side == 'outcome')

    @property
    def conforms(self) -> bool | None:
        """Whether the run took a path its case allows: no error, no path evaluator error, every boolean path
        assertion true. None when the case has no path evaluator. A run that raised did not finish its path: it does
        not conform."""
        if not self.path_checked:
            return None
        if self.errored or self.path_errors:
            return False
        return all(a.value for a in self.assertions if isinstance(a.value, bool) and a.side == 'path')

    @property
    def failed_assertions(self) -> list[Assertion]:
        """The boolean assertions that came out false, of either side (outcome evaluators first, then path ones)."""
        return [a for a in self.assertions if isinstance(a.value, bool) and not a.value]

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe dict (no Decimal, no tuples that matter, no custom classes), sharing nothing with the record.

        Written out rather than `dataclasses.asdict`, which costs ~14x as much (a deep copy through `copy.deepcopy`
        of every leaf), once per run of a session. Fields are taken from the instance, so a new scalar or string
        field needs nothing here; a new field holding records or containers needs a line below (a test compares
        this with `asdict`)."""
        wire = dict(self.__dict__)
        wire['steps'] = [list(step) for step in self.steps]
        wire['flow'] = [list(step) for step in self.flow]
        wire['tool_calls'] = [dict(c.__dict__) for c in self.tool_calls]
        wire['model_requests'] = [
            {**m.__dict__, 'context': None if m.context is None else _context_wire(m.context)}
            for m in self.model_requests
        ]
        wire['assertions'] = [dict(a.__dict__) for a in self.assertions]
        wire['evaluator_errors'] = list(self.evaluator_errors)
        wire['evaluator_infra_errors'] = list(self.evaluator_infra_errors)
        wire['path_errors'] = list(self.path_errors)
        wire['faults'] = dict(self.faults)
        wire['metrics'] = dict(self.metrics)
        wire['output'] = _json_copy(self.output)
        return wire

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs['tool_calls'] = [ToolCallRecord(**c) for c in data.get('tool_calls', [])]
        kwargs['assertions'] = [Assertion(**a) for a in data.get('assertions', [])]
        kwargs['model_requests'] = [
            ModelRequestRecord(**{**m, 'context': RequestContext(**m['context']) if m.get('context') else None})
            for m in data.get('model_requests', [])
        ]
        return cls(**kwargs)
