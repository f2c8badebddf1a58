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
"""Numbers that say how sure an answer is: without evidence the model answers them low."""
_LIST_CAP = 8
_RANKING = re.compile(r'\b(wins?|winner|winning|prefer\w*|ties?|tied|pick\w*|choose|chosen|select\w*|first|best)\b')
"""A sentence that says which of several findings to go by."""
_HIGH = frozenset({'highest', 'higher', 'largest', 'larger', 'greatest', 'greater', 'most', 'maximum', 'max', 'top'})
_LOW = frozenset({'lowest', 'lower', 'smallest', 'smaller', 'least', 'minimum', 'min', 'fewest'})
_LATER = frozenset({'later', 'latest', 'last', 'newest', 'newer', 'recent'})
_EARLIER = frozenset({'earlier', 'earliest', 'oldest', 'older'})
_CLOSE = 0.05
"""Candidates whose first stated number is within this of the best may be sampled at temperature > 0."""


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


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """One clause of a ranking rule the instructions state: which field, and what wins."""

    field: str
    kind: str
    """'boolean' (`wanted` wins), 'number' or 'enum' (`high`: the larger value, or the later enum option, wins)."""
    wanted: bool = True
    high: bool = True


@dataclass(frozen=True, kw_only=True)
class Rule:
    """How to rank the findings: the stated criteria in the order stated, then position."""

    criteria: tuple[Criterion, ...]
    later: bool = True
    """Ties go to the later finding (the default, and what 'then the later one' states)."""


def stated_rule(instructions: str, props: dict[str, js.Schema], root: js.Schema) -> Rule:
    """The ranking rule the instructions state about the output's fields, read generically.

    In every sentence that speaks of winning, preferring, choosing or ties, each output field named (as written,
    `alarm_raised`, or in words, 'alarm raised') becomes a criterion, in the order named: a boolean with
    the `true`/`false` written right after it, a number or an enum with the comparative or superlative written
    next to it ('the highest confidence', 'higher priority'; an enum ranks by the order of its options). 'then
    the later/earlier one' sets the last tie-break. With nothing stated, the latest finding wins: which
    value of a boolean is the alarm, or whether a higher number is better, is the agent's to say, not the model's
    to guess.
    """
    criteria: list[Criterion] = []
    later = True
    names = {n: js.resolve(p, root) for n, p in props.items()}
    for sentence in re.split(r'(?<=[.!?])\s+', instructions):
        lowered = sentence.lower()
        if not _RANKING.search(lowered):
            continue
        said = list(words(lowered))
        hits: list[tuple[int, str]] = []
        for name in names:
            own = list(words(name))
            at = next((k for k in range(len(said) - len(own) + 1) if own and said[k : k + len(own)] == own), None)
            if at is not None:
                hits.append((at, name))
        for at, name in sorted(hits):
            if any(c.field == name for c in criteria):
                continue
            sub = names[name]
            size = len(words(name))
            after = said[at + size : at + size + 3]
            near = set(said[max(0, at - 3) : at]) | set(after[:2])
            if js.kind(sub) == 'boolean':
                value = next((w for w in after if w in ('true', 'false')), None)
                if value is not None:
                    criteria.append(Criterion(field=name, kind='boolean', wanted=value == 'true'))
            elif js.kind(sub) in ('number', 'integer') or sub.get('enum'):
                kind = 'enum' if sub.get('enum') else 'number'
                if near & _HIGH:
                    criteria.append(Criterion(field=name, kind=kind, high=True))
                elif near & _LOW:
                    criteria.append(Criterion(field=name, kind=kind, high=False))
        if set(said) & _EARLIER and not set(said) & _LATER:
            later = False
    return Rule(criteria=tuple(criteria), later=later)


def _rank(
    objects: list[dict[str, Any]], props: dict[str, js.Schema], root: js.Schema, rule: Rule
) -> list[tuple[Any, ...]]:
    """A sort key per object (larger is better): the rule's criteria, then position."""
    keys: list[tuple[Any, ...]] = []
    for i, obj in enumerate(objects):
        key: list[Any] = []
        for c in rule.criteria:
            value = obj.get(c.field)
            if c.kind == 'boolean':
                key.append(value is c.wanted)
            elif c.kind == 'number':
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                key.append(-math.inf if number is None else (number if c.high else -number))
            else:
                enum = js.resolve(props[c.field], root).get('enum') or []
                index = enum.index(value) if value in enum else None
                key.append(-math.inf if index is None else (index if c.high else -index))
        key.append(i if rule.later else -i)
        keys.append(tuple(key))
    return keys


def rank(
    objects: list[dict[str, Any]],
    props: dict[str, js.Schema],
    root: js.Schema,
    rng: random.Random,
    temperature: float,
    instructions: str = '',
) -> list[dict[str, Any]]:
    """The objects sharing at least two keys with `props`, best first by the rule the instructions state (or the
    fallback); above temperature 0 the winner is sampled among those its first stated number barely beats."""
    names = set(props)
    relevant = [o for o in objects if len(names & set(o)) >= min(2, len(names))]
    if not relevant:
        return []
    rule = stated_rule(instructions, props, root)
    keys = _rank(relevant, props, root, rule)
    order = sorted(range(len(relevant)), key=lambda i: keys[i], reverse=True)
    number = next((k for k, c in enumerate(rule.criteria) if c.kind == 'number'), None)
    if temperature > 0 and len(order) > 1 and number is not None:
        top = keys[order[0]]

        def gap(i: int) -> float:
            return float(top[number] - keys[i][number])

        close = [i for i in order if keys[i][:number] == top[:number] and gap(i) <= _CLOSE]
        if len(close) > 1:
            weights = [math.exp(-gap(i) / (_CLOSE * temperature)) for i in close]
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
        ranked = rank(conversation.objects, props, root, rng, temperature, conversation.instructions)
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
            # Latest first, but a value the task itself names (its subject) before one only a result names. When the
            # prompt names no subject at all, the first value a result gave is the one the investigation started
            # from (what a look-up found), not the latest one (a neighbour looked at on the way).
            held = [c for _, c in reversed(_find(conversation.objects, name))]
            if filler.names_no_subject():
                held.reverse()
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
    is penalised, so clear evidence always picks the type that can express it.
    """
    union: dict[str, js.Schema] = {}
    for tool in output_tools:
        root = tool.parameters_json_schema
        for name, sub in (js.resolve(root, root).get('properties') or {}).items():
            union.setdefault(name, js.resolve(sub, root))
    ranked = None
    if len(output_tools) > 1:
        ranked = rank(conversation.objects, union, {}, rng, temperature, conversation.instructions)
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
            # False is what a model answers without evidence: only a true value needs a field to be said.
            count += value is True
        elif general.get('enum'):
            count += value in general['enum'] and value != general['enum'][0]
    return count


def _build_value(
    schema: js.Schema, conversation: Conversation, filler: Filler, rng: random.Random, temperature: float
) -> tuple[Any, float]:
    resolved = js.resolve(schema, schema)
    if js.kind(resolved) == 'object':
        return build(schema, conversation, filler, rng, temperature)
    if js.kind(resolved) in ('number', 'integer', 'boolean'):
        # A question with a one-value answer ('what is 3 times 7, plus 2?') is answered by the latest result that is
        # such a value: the last step's result is the answer.
        for call in reversed(conversation.calls):
            if call.status == 'ok' and isinstance(call.result, (int, float, bool)):
                ok, fitted = js.coerce(call.result, resolved, schema)
                if ok:
                    return fitted, 1.0
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
