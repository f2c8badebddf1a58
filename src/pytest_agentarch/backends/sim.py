"""`sim`: an embedded simulated model that behaves like a tool-calling LLM with any PydanticAI agent.

It reads the request (instructions, prompts, tool definitions, earlier calls and returns), scores the tools by
relevance to the task, fills their arguments from values the conversation holds, and answers through the output
tool with arguments that validate. At temperature 0 it is fully deterministic; above 0 it samples only among the
choices the agent leaves open, seeded from the current run (see `pytest_agentarch.run.context`), so a session is
reproducible. It is a heuristic stand-in for an LLM, documented in docs/sim.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, ModelResponsePart, TextPart, ToolCallPart
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from ..run.context import current_counters, current_run
from ._sim import schema as js
from ._sim.answering import answer
from ._sim.planning import plan, profile, slips
from ._sim.reading import Conversation, read
from ._sim.text import count_tokens

__all__ = ('SimulatedModel', 'explain')

_OPTIONS: dict[str, tuple[type, float, float, str]] = {
    'temperature': (float, 0.0, 2.0, 'sampling temperature; 0 is greedy and deterministic'),
    'latency': (float, 0.0, 60.0, 'seconds each request waits (asyncio.sleep)'),
    'seed': (int, 0, 2**63 - 1, 'seed used when no run is current'),
    'parallel': (float, 0.0, 1.0, 'willingness to emit several independent calls in one response'),
    'jitter': (float, 0.0, 60.0, 'extra random seconds per request, in [0, jitter], to perturb scheduling'),
    'slip': (float, 0.0, 1.0, 'chance at temperature 0.7 that a response which would call tools answers at once'),
}


class SimulatedModel(Model):
    """A PydanticAI `Model` that simulates a tool-calling LLM, for any agent, without a network or weights."""

    def __init__(
        self,
        *,
        temperature: float = 0.7,
        latency: float = 0.0,
        seed: int = 0,
        parallel: float = 0.5,
        jitter: float = 0.0,
        slip: float = 0.0,
    ) -> None:
        """Create the model.

        Args:
            temperature: 0 is greedy and deterministic; higher values sample more among close choices (0..2).
            latency: Seconds each request waits without blocking the event loop (0..60).
            seed: Seed for requests made outside a run (`pytest_agentarch.run.context.run_scope`).
            parallel: Willingness to emit several independent tool calls in one response (0..1).
            jitter: Each request also waits a uniformly random extra time in [0, jitter] seconds (0..60), drawn
                from an OS-seeded generator that decides nothing else: it perturbs the scheduling of concurrent
                runs and agents, which must never change what the model answers.
            slip: How often a response that would call tools answers at once instead, without them (0..1), as a
                small model sometimes does whatever its instructions say: the chance at temperature 0.7, following
                temperature like every yes/no choice (none at 0 below 0.5). 0 (the default) draws nothing.
        """
        for option, value in (
            ('temperature', temperature),
            ('latency', latency),
            ('seed', seed),
            ('parallel', parallel),
            ('jitter', jitter),
            ('slip', slip),
        ):
            _check(option, value)
        self.temperature = float(temperature)
        self.latency = float(latency)
        self.seed = int(seed)
        self.parallel = float(parallel)
        self.jitter = float(jitter)
        self.slip = float(slip)
        # Deliberately not seeded from the run or the session: the delays must differ between sessions to shake
        # the scheduling, and this generator is never used for a choice of the model (those use `_seed_for`).
        self._jitter_rng = random.SystemRandom()
        super().__init__()

    @classmethod
    def from_spec(cls, spec: str) -> SimulatedModel:
        """Build from a spec such as `'sim'` or `'sim:temperature=0,latency=0.05,seed=3'`.

        Raises:
            ValueError: for another model name, an unknown option or a value of the wrong type or out of range.
        """
        name, _, rest = spec.strip().partition(':')
        if name.strip() != 'sim':
            raise ValueError(f'not a simulated model spec: {spec!r} (expected "sim" or "sim:option=value,...")')
        values: dict[str, Any] = {}
        for item in filter(None, (x.strip() for x in rest.split(','))):
            option, eq, raw = item.partition('=')
            option = option.strip()
            if option not in _OPTIONS or not eq:
                raise ValueError(f'{spec!r}: unknown or malformed option {item!r}; {_usage()}')
            kind = _OPTIONS[option][0]
            try:
                values[option] = kind(raw.strip())
            except ValueError:
                raise ValueError(
                    f'{spec!r}: {option}={raw.strip()!r} is not a valid {kind.__name__}; {_usage()}'
                ) from None
            _check(option, values[option], spec)
        return cls(**values)

    @property
    def model_name(self) -> str:
        """The model name: `'sim'`."""
        return 'sim'

    @property
    def system(self) -> str:
        """The provider name: `'sim'`."""
        return 'sim'

    def __repr__(self) -> str:
        return (
            f'SimulatedModel(temperature={self.temperature}, latency={self.latency}, seed={self.seed}, '
            f'parallel={self.parallel}, jitter={self.jitter}, slip={self.slip})'
        )

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """Answer one request: tool calls, an output tool call, or text."""
        model_settings, params = self.prepare_request(model_settings, model_request_parameters)
        response = self.respond(messages, params, settings=model_settings)
        delay = self.latency + (self._jitter_rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
        if delay:
            await asyncio.sleep(delay)
        return response

    def respond(
        self, messages: list[ModelMessage], params: ModelRequestParameters, *, settings: ModelSettings | None = None
    ) -> ModelResponse:
        """The synchronous core of `request` (no latency); `params` must already be prepared.

        `temperature` and `seed` in the request's model settings (an agent's own, or the session's
        `--agentarch-model-settings`) take the place of the model's, as they would with a provider.
        """
        temperature = float(settings['temperature']) if settings and 'temperature' in settings else self.temperature
        _check('temperature', temperature)
        seed = int(settings['seed']) if settings and 'seed' in settings else self.seed
        conversation = read(messages, params)
        rng = random.Random(self._seed_for(conversation, seed))
        tools = [t for t in params.function_tools if params.visibility_of(t.name) != 'withheld']
        options, filler, notes = plan(tools, conversation, rng, temperature, self.parallel, _verdicts(params))
        can_answer = bool(params.output_tools) or params.allow_text_output
        if options and can_answer and slips(rng, self.slip, temperature):
            options = []
            notes.append('slip: answered at once although a tool was due (the `slip` option)')
        parts: list[ModelResponsePart]
        why: list[str] = []
        if options:
            calls = [ToolCallPart(o.tool.name, o.filled.args) for o in options]
            parts = list(calls)
            why = [f'{o.why}; {_sources(o.filled.args, o.tool.parameters_json_schema, conversation)}' for o in options]
            counters = current_counters()
            if counters is not None:
                # The run's record keeps each call's reason (by call id) for the report's "where runs diverge".
                counters.reasons.update((p.tool_call_id, w) for p, w in zip(calls, why, strict=True))
        else:
            output_schema = params.output_object.json_schema if params.output_object is not None else None
            final = answer(params.output_tools, output_schema, conversation, filler, rng, temperature)
            if final.tool is not None:
                args = _repair(final.tool, final.args or {}, params, conversation)
                parts = [ToolCallPart(final.tool, args)]
                why = ['the answer: no tool left worth calling']
            else:
                parts = [TextPart(final.text or '')]
        input_tokens = conversation.input_tokens + sum(profile(t).tokens for t in [*tools, *params.output_tools])
        output_tokens = sum(
            count_tokens(p.content)
            if isinstance(p, TextPart)
            else count_tokens(p.tool_name) + count_tokens(p.args_as_json_str())
            for p in parts
            if isinstance(p, (TextPart, ToolCallPart))
        )
        return ModelResponse(
            parts=parts,
            usage=RequestUsage(input_tokens=input_tokens, output_tokens=output_tokens),
            model_name='sim',
            provider_name='sim',
            provider_details={'why': why, 'notes': notes},
        )

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        """Streaming is not simulated: use `agent.run()` / `run_sync()`, not `run_stream()`."""
        raise NotImplementedError('SimulatedModel does not stream; run the agent with run() or run_sync() instead.')
        yield  # pragma: no cover

    def _seed_for(self, conversation: Conversation, seed: int) -> int:
        run = current_run()
        if run is not None:
            return run.derive_seed('sim', str(seed), conversation.fingerprint)
        material = f'{seed}\x1f{conversation.fingerprint}'.encode()
        return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), 'big')


def explain(messages: Sequence[ModelMessage]) -> list[str]:
    """What led `sim` to each tool call in `messages` (e.g. `result.all_messages()`), one line per call.

    Each line names the response, the call and the rule with the words or arguments that triggered it, so that a
    call made because a word matched can be told from one the agent's instructions or tools leave open. Responses
    of other models are skipped.
    """
    lines: list[str] = []
    step = 0
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        step += 1
        reasons = (message.provider_details or {}).get('why') if message.provider_name == 'sim' else None
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if not isinstance(reasons, list) or len(reasons) != len(calls):
            continue
        for part, reason in zip(calls, reasons, strict=True):
            lines.append(f'response {step}: {part.tool_name}({part.args_as_json_str()}) <- {reason}')
        notes = (message.provider_details or {}).get('notes')
        lines.extend(f'response {step}: {note}' for note in notes or ())
    return lines


def _verdicts(params: ModelRequestParameters) -> frozenset[str]:
    """The yes/no fields of the answer (`alarm_raised`), from every output tool and the output object's schema."""
    schemas = [t.parameters_json_schema for t in params.output_tools]
    if params.output_object is not None:
        schemas.append(params.output_object.json_schema)
    return frozenset(
        name
        for root in schemas
        for name, sub in (js.resolve(root, root).get('properties') or {}).items()
        if js.kind(js.resolve(sub, root)) == 'boolean'
    )


def _sources(args: dict[str, Any], schema: js.Schema, conversation: Conversation) -> str:
    """Where each argument's value is found: the prompt, the instructions, an earlier result, the schema default."""
    props: dict[str, js.Schema] = js.resolve(schema, schema).get('properties') or {}
    found: list[str] = []
    for name, value in args.items():
        said = value if isinstance(value, str) else json.dumps(value)
        if isinstance(value, float) and value.is_integer():
            said = str(int(value))  # 2.0 is written '2'
        if not said:
            where = 'empty'
        elif said in conversation.prompt:
            where = 'prompt'
        elif said in conversation.instructions:
            where = 'instructions'
        else:
            default = js.resolve(props.get(name) or {}, schema).get('default', _NO_DEFAULT)
            where = next(
                (
                    f'result of {c.name}'
                    for c in reversed(conversation.calls)
                    if c.status == 'ok' and said in json.dumps(c.result, default=str)
                ),
                'default' if default == value else 'made up: nothing in the conversation gives it',
            )
        found.append(f'{name} from {where}')
    return 'arguments: ' + (', '.join(found) if found else 'none')


_NO_DEFAULT = object()


def _repair(
    tool: str, args: dict[str, Any], params: ModelRequestParameters, conversation: Conversation
) -> dict[str, Any]:
    """After a rejected output call with the same arguments, replace the fields the error names by safe values."""
    key = json.dumps(args, sort_keys=True, default=str, separators=(',', ':'))
    rejected = [c for c in conversation.calls if c.name == tool and c.status == 'retry']
    if not any(c.key == key for c in rejected):
        return args
    definition = next(t for t in params.output_tools if t.name == tool)
    root = definition.parameters_json_schema
    props: dict[str, js.Schema] = js.resolve(root, root).get('properties') or {}
    message = ' '.join(str(c.result) for c in rejected)
    repaired = dict(args)
    for name, sub in props.items():
        if name in message or name not in repaired:
            repaired[name] = js.fallback(sub, root, conversation.text)
    return repaired


def _check(option: str, value: Any, spec: str | None = None) -> None:
    kind, low, high, _ = _OPTIONS[option]
    where = f'{spec!r}: ' if spec else ''
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ValueError(f'{where}{option} must be a {kind.__name__}, got {value!r}; {_usage()}')
    if not low <= value <= high:
        raise ValueError(f'{where}{option}={value!r} is out of range [{low:g}, {high:g}]; {_usage()}')


def _usage() -> str:
    described = ', '.join(
        f'{name} ({kind.__name__} in [{low:g}, {high:g}]: {text})' for name, (kind, low, high, text) in _OPTIONS.items()
    )
    return f'options: {described}'
