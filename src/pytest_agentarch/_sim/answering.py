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
from .text import stems, words

_CONFIDENCE = re.compile(r'confidence|score|probability|certainty|likelihood', re.IGNORECASE)
_RANKED_ENUM = re.compile(r'severity|level|priority|risk|impact|urgency', re.IGNORECASE)
_ALL_CLEAR = re.compile(
    r'^(?!.*\bnot?\b).*\b(healthy|ok|success|successful|valid|available|exists?|passed|alive|ready|found)\b'
)
"""Booleans whose true value means 'nothing to see': for them the object saying false is the one that matters."""
_LIST_CAP = 8
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


def build(
    schema: js.Schema, conversation: Conversation, filler: Filler, rng: random.Random, temperature: float
) -> tuple[dict[str, Any], float]:
    """Arguments for an output schema, and how well the conversation covered it (0..1)."""
    root = schema
    resolved = js.resolve(schema, root)
    props: dict[str, js.Schema] = resolved.get('properties') or {}
    if not props:
        return js.fallback(resolved, root, conversation.text) or {}, 0.0
    names = set(props)
    relevant = [o for o in conversation.objects if len(names & set(o)) >= min(2, len(names))]
    order: list[int] = []
    if relevant:
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
    ranked = [relevant[i] for i in order]
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
                if ok:
                    merged.extend(x for x in fitted if x not in merged)
            if merged or any(name in o for o in agreeing):
                value, found = merged[: sub.get('maxItems', _LIST_CAP)], True
        if not found:
            for obj in ranked:
                if name in obj:
                    ok, fitted = js.coerce(obj[name], sub, root)
                    if ok:
                        value, found = fitted, True
                        break
        if not found:
            for _, candidate in reversed(_find(conversation.objects, name)):
                ok, fitted = js.coerce(candidate, sub, root)
                if ok:
                    value, found = fitted, True
                    break
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


def _agrees(obj: dict[str, Any], winner: dict[str, Any], props: dict[str, js.Schema], root: js.Schema) -> bool:
    for name, sub in props.items():
        if js.kind(js.resolve(sub, root)) == 'boolean' and name in obj and name in winner and obj[name] != winner[name]:
            return False
    return True


def _summary_string(name: str, conversation: Conversation) -> str:
    for obj in reversed(conversation.objects):
        for key in ('summary', 'message', 'description', 'text'):
            if isinstance(obj.get(key), str):
                return obj[key]
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
        prompt_stems = set(stems(conversation.text))
        best: tuple[float, int, ToolDefinition, dict[str, Any]] | None = None
        for index, tool in enumerate(output_tools):
            schema = tool.parameters_json_schema
            if tool.outer_typed_dict_key:
                inner = (schema.get('properties') or {}).get(tool.outer_typed_dict_key, {})
                wrapped = {**inner, '$defs': schema.get('$defs', {})}
                value = _build_value(wrapped, conversation, filler, rng, temperature)
                args, fit = {tool.outer_typed_dict_key: value[0]}, value[1]
            else:
                args, fit = build(schema, conversation, filler, rng, temperature)
            name_fit = len(prompt_stems & set(stems(f'{tool.name} {tool.description or ""}'))) * 0.01
            score = fit + name_fit
            if best is None or score > best[0]:
                best = (score, index, tool, args)
        assert best is not None
        return Answer(tool=best[2].name, args=best[3], text=None)
    if output_schema is not None:
        value, _ = _build_value(output_schema, conversation, filler, rng, temperature)
        return Answer(tool=None, args=None, text=json.dumps(value))
    return Answer(tool=None, args=None, text=_summary_text(conversation))


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
        words_ = words(conversation.prompt)
        return 'I have no tool results to report' + (f' about {" ".join(words_[:12])}.' if words_ else '.')
    lines = ['Here is what I found:']
    for call in results:
        rendered = call.result if isinstance(call.result, str) else json.dumps(call.result, sort_keys=True, default=str)
        lines.append(f'- {call.name}: {rendered[:400]}')
    return '\n'.join(lines)
