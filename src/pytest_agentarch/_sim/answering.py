"""The final answer: pick an output tool, build arguments that validate from the objects seen, or write text."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any

from pydantic_ai.tools import ToolDefinition

from . import schema as js
from .arguments import Filler
from .reading import Conversation
from .text import find_word, stems, words

_CONFIDENCE = re.compile(r'confidence|score|probability|certainty|likelihood', re.IGNORECASE)
_RANKED_ENUM = re.compile(r'severity|level|priority|risk|impact|urgency', re.IGNORECASE)
_ALL_CLEAR = re.compile(
    r'^(?!.*\bnot?\b).*\b(healthy|ok|success|successful|valid|available|exists?|passed|alive|ready|found)\b'
)
"""Booleans whose true value means 'nothing to see': for them the object saying false is the one that matters."""
_LIST_CAP = 8
_ALL_WELL = re.compile(
    r'\b(healthy|fine|normal|normally|as expected|nothing (?:is )?wrong|no (?:anomal\w*|problems?|issues?)|'
    r'all good|ok|okay)\b'
)
"""A prompt that says all is well before anything was looked at."""
_LURE = 0.3
"""Per unit of temperature: how often such a prompt lures the model into an output type that cannot carry the
evidence."""
_CLOSE = 0.05
"""Candidates whose confidence is within this of the best may be sampled at temperature > 0."""


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What to send back: an output tool call (`tool` set) or text."""

    tool: str | None
    args: dict[str, Any] | None
    text: str | None


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    sa, sb = stems(a), stems(b)
    return bool(sa) and sa == sb


def _find(objects: list[dict[str, Any]], key: str) -> list[tuple[int, Any]]:
    """(object index, value) for every object holding `key` or a key with the same stems."""
    out: list[tuple[int, Any]] = []
    for i, obj in enumerate(objects):
        if key in obj:
            out.append((i, obj[key]))
            continue
        for k, v in obj.items():
            if _similar(k, key):
                out.append((i, v))
                break
    return out


def _rank(objects: list[dict[str, Any]], props: dict[str, js.Schema], root: js.Schema) -> list[tuple[Any, ...]]:
    """The merging rule as a sort key per object: flagged (bool true), confidence, severity, position."""
    flags = [n for n, p in props.items() if js.kind(js.resolve(p, root)) == 'boolean']
    confidences = [
        n for n, p in props.items() if js.kind(js.resolve(p, root)) in ('number', 'integer') and _CONFIDENCE.search(n)
    ]
    ranked = [n for n, p in props.items() if js.resolve(p, root).get('enum') and _RANKED_ENUM.search(n)]
    if not ranked:
        ranked = [n for n, p in props.items() if js.resolve(p, root).get('enum')]
    keys: list[tuple[Any, ...]] = []
    for i, obj in enumerate(objects):
        flag = any(obj.get(n) is (not _ALL_CLEAR.search(' '.join(words(n)))) for n in flags)
        conf = next((float(obj[n]) for n in confidences if isinstance(obj.get(n), (int, float))), 0.0)
        severity: list[int] = []
        for n in ranked:
            enum = js.resolve(props[n], root).get('enum') or []
            severity.append(enum.index(obj[n]) if obj.get(n) in enum else -1)
        keys.append((flag, conf, tuple(severity), i))
    return keys


def _alarm(name: str) -> bool:
    """The value of a boolean field named `name` that raises the alarm (false for 'healthy', 'exists', ...)."""
    return not _ALL_CLEAR.search(' '.join(words(name)))


def rank(
    objects: list[dict[str, Any]], props: dict[str, js.Schema], root: js.Schema, rng: random.Random, temperature: float
) -> list[dict[str, Any]]:
    """The objects sharing at least two keys with `props`, best first by the merging rule (sampled among close ones)."""
    names = set(props)
    relevant = [o for o in objects if len(names & set(o)) >= min(2, len(names))]
    if not relevant:
        return []
    keys = _rank(relevant, props, root)
    order = sorted(range(len(relevant)), key=lambda i: keys[i], reverse=True)
    if temperature > 0 and len(order) > 1:
        top = keys[order[0]]
        close = [i for i in order if keys[i][0] == top[0] and top[1] - keys[i][1] <= _CLOSE]
        if len(close) > 1:
            weights = [math.exp((keys[i][1] - top[1]) / (_CLOSE * temperature)) for i in close]
            winner = close[rng.choices(range(len(close)), weights=weights)[0]]
            order.remove(winner)
            order.insert(0, winner)
    return [relevant[i] for i in order]


def build(
    schema: js.Schema,
    conversation: Conversation,
    filler: Filler,
    rng: random.Random,
    temperature: float,
    ranked: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], float]:
    """Arguments for an output schema, and how well the conversation covered it (0..1).

    `ranked` is the evidence already ordered by the merging rule (for a union output, ranked once for all types);
    without it the objects are ranked against this schema.
    """
    root = schema
    resolved = js.resolve(schema, root)
    props: dict[str, js.Schema] = resolved.get('properties') or {}
    if not props:
        return js.fallback(resolved, root, conversation.text) or {}, 0.0
    names = set(props)
    if ranked is None:
        ranked = rank(conversation.objects, props, root, rng, temperature)
    else:
        ranked = [o for o in ranked if len(names & set(o)) >= min(2, len(names))]
    winner = ranked[0] if ranked else None
    agreeing = [o for o in ranked if winner is None or _agrees(o, winner, props, root)]
    args: dict[str, Any] = {}
    covered = 0
    required = set(resolved.get('required') or ())
    for name, sub in props.items():
        sub = js.resolve(sub, root)
        value: Any = None
        found = False
        if js.kind(sub) == 'array' and agreeing:
            merged: list[Any] = []
            for obj in agreeing:
                ok, fitted = js.coerce(obj.get(name), sub, root) if name in obj else (False, None)
                if ok and isinstance(fitted, list):
                    merged.extend(x for x in fitted if x not in merged)
            if merged or any(name in o for o in agreeing):
                value, found = merged[: int(sub.get('maxItems', _LIST_CAP))], True
        if not found:
            for obj in ranked:
                if name in obj:
                    ok, fitted = js.coerce(obj[name], sub, root)
                    if ok:
                        value, found = fitted, True
                        break
        if not found:
            # Latest first, but a value the task itself names (its subject) before one only a result names.
            held = [c for _, c in reversed(_find(conversation.objects, name))]
            held.sort(key=lambda c: not (isinstance(c, str) and c in conversation.text))
            for candidate in held:
                ok, fitted = js.coerce(candidate, sub, root)
                if ok:
                    value, found = fitted, True
                    break
        if not found and not ranked and (js.kind(sub) in ('boolean', 'number', 'integer') or 'enum' in sub):
            unsupported = _without_evidence(name, sub, conversation)
            if unsupported is not None:
                value, found = unsupported, False
                args[name] = value
                continue
        if not found:
            filled = filler.fill(
                {'type': 'object', 'properties': {name: sub}, 'required': [name], '$defs': root.get('$defs', {})}
            )
            value, found = filled.args.get(name), bool(filled.grounded)
            if js.kind(sub) == 'string' and not value:
                value = _summary_string(name, conversation)
        if found:
            covered += 1
        if found or name in required:
            args[name] = value
    return args, covered / len(props)


def _without_evidence(name: str, sub: js.Schema, conversation: Conversation) -> Any:
    """What a careful model answers for a field nothing in the conversation supports: no alarm, the option the
    user's prompt names or the first (lowest) one, a low confidence. None: no such default (use the filler)."""
    kind = js.kind(sub)
    if kind == 'boolean':
        return False
    enum = sub.get('enum')
    if enum:
        lowered = conversation.prompt.lower()
        named = [(find_word(lowered, o.lower()), i) for i, o in enumerate(enum) if isinstance(o, str) and len(o) > 1]
        hits = [hit for hit in named if hit[0] != -1]
        return enum[min(hits)[1]] if hits else enum[0]
    if kind in ('number', 'integer') and _CONFIDENCE.search(name):
        low, high = sub.get('minimum', 0), sub.get('maximum', 1)
        value = low + 0.1 * (high - low)
        return int(value) if kind == 'integer' else round(value, 2)
    return None


def _agrees(obj: dict[str, Any], winner: dict[str, Any], props: dict[str, js.Schema], root: js.Schema) -> bool:
    for name, sub in props.items():
        if js.kind(js.resolve(sub, root)) == 'boolean' and name in obj and name in winner and obj[name] != winner[name]:
            return False
    return True


def _summary_string(name: str, conversation: Conversation) -> str:
    for obj in reversed(conversation.objects):
        for key in ('summary', 'message', 'description', 'text'):
            value = obj.get(key)
            if isinstance(value, str):
                return value
    prompt = ' '.join(conversation.prompt.split())
    return prompt[:200] if prompt else name.replace('_', ' ')


def answer(
    output_tools: list[ToolDefinition],
    output_schema: js.Schema | None,
    conversation: Conversation,
    filler: Filler,
    rng: random.Random,
    temperature: float,
) -> Answer:
    """The final answer for the request."""
    if output_tools:
        return _choose_output(output_tools, conversation, filler, rng, temperature)
    if output_schema is not None:
        value, _ = _build_value(output_schema, conversation, filler, rng, temperature)
        return Answer(tool=None, args=None, text=json.dumps(value))
    return Answer(tool=None, args=None, text=_summary_text(conversation))


def _choose_output(
    output_tools: list[ToolDefinition],
    conversation: Conversation,
    filler: Filler,
    rng: random.Random,
    temperature: float,
) -> Answer:
    """Build every output type's arguments and call the one that carries the evidence and fits the conversation.

    With several types (a union), the evidence is ranked once over all their fields; a type that cannot hold the
    winner's values (no field for its raised alarm or for an informative enum value, or an enum that excludes it)
    is penalised, so at temperature 0 clear evidence always picks the type that can express it. Above 0, a prompt
    that insists all is well may still lure the model into such a type, as it lures real models.
    """
    union: dict[str, js.Schema] = {}
    for tool in output_tools:
        root = tool.parameters_json_schema
        for name, sub in (js.resolve(root, root).get('properties') or {}).items():
            union.setdefault(name, js.resolve(sub, root))
    ranked = rank(conversation.objects, union, {}, rng, temperature) if len(output_tools) > 1 else None
    winner = ranked[0] if ranked else None
    prompt_stems = set(stems(conversation.text))
    scored: list[tuple[float, int, ToolDefinition, dict[str, Any], int]] = []
    for index, tool in enumerate(output_tools):
        schema = tool.parameters_json_schema
        if tool.outer_typed_dict_key:
            inner = (schema.get('properties') or {}).get(tool.outer_typed_dict_key, {})
            wrapped = {**inner, '$defs': schema.get('$defs', {})}
            value, fit = _build_value(wrapped, conversation, filler, rng, temperature)
            args = {tool.outer_typed_dict_key: value}
        else:
            args, fit = build(schema, conversation, filler, rng, temperature, ranked)
        misfit = _misfit(winner, schema, union) if winner is not None else 0
        name_fit = len(prompt_stems & set(stems(f'{tool.name} {tool.description or ""}'))) * 0.01
        scored.append((fit + name_fit - 2.0 * misfit, -index, tool, args, misfit))
    best = max(scored, key=lambda s: s[:2])
    if temperature > 0 and best[4] == 0 and _ALL_WELL.search(conversation.prompt.lower()):
        lured = _lure(best, scored, conversation)
        if lured is not None and rng.random() < min(0.5, _LURE * temperature):
            best = lured
    return Answer(tool=best[2].name, args=best[3], text=None)


def _misfit(winner: dict[str, Any], schema: js.Schema, union: dict[str, js.Schema]) -> int:
    """How many of the winning object's values the output type `schema` cannot express."""
    props: dict[str, js.Schema] = js.resolve(schema, schema).get('properties') or {}
    count = 0
    for key, value in winner.items():
        general = union.get(key)
        if general is None:
            continue
        if key in props:
            ok, _ = js.coerce(value, props[key], schema)
            count += not ok
        elif js.kind(general) == 'boolean':
            count += value is _alarm(key)
        elif general.get('enum'):
            count += value in general['enum'] and value != general['enum'][0]
    return count


def _lure(
    best: tuple[float, int, ToolDefinition, dict[str, Any], int],
    scored: list[tuple[float, int, ToolDefinition, dict[str, Any], int]],
    conversation: Conversation,
) -> tuple[float, int, ToolDefinition, dict[str, Any], int] | None:
    """The type a reassuring prompt speaks of more than of the right one (its description echoes the prompt)."""
    prompt = set(stems(conversation.prompt))

    def echo(entry: tuple[float, int, ToolDefinition, dict[str, Any], int]) -> int:
        return len(prompt & set(stems(f'{entry[2].name} {entry[2].description or ""}')))

    others = [s for s in scored if s is not best and echo(s) > echo(best)]
    return max(others, key=echo) if others else None


def _build_value(
    schema: js.Schema, conversation: Conversation, filler: Filler, rng: random.Random, temperature: float
) -> tuple[Any, float]:
    resolved = js.resolve(schema, schema)
    if js.kind(resolved) == 'object':
        return build(schema, conversation, filler, rng, temperature)
    wrapper = {
        'type': 'object',
        'properties': {'value': resolved},
        'required': ['value'],
        '$defs': schema.get('$defs', {}),
    }
    args, fit = build(wrapper, conversation, filler, rng, temperature)
    return args.get('value'), fit


def _summary_text(conversation: Conversation) -> str:
    results = [c for c in conversation.calls if c.status == 'ok']
    if not results:
        # With nothing looked up, summarise what the prompt gave, in its own words (names keep their case).
        given = ' '.join(conversation.prompt.split())
        return f'From what you gave me: {given[:400]}' if given else 'I have nothing to go on.'
    lines = ['Here is what I found:']
    for call in results:
        rendered = call.result if isinstance(call.result, str) else json.dumps(call.result, sort_keys=True, default=str)
        lines.append(f'- {call.name}: {rendered[:400]}')
    return '\n'.join(lines)
