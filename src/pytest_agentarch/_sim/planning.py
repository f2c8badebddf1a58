"""Which tool(s) to call next: relevance scoring, what is still missing, retries, parallel or sequential emission."""

from __future__ import annotations

import difflib
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any

from pydantic_ai.tools import ToolDefinition

from .arguments import Filled, Filler, time_label, time_role
from .reading import Call, Conversation
from .text import count_tokens, stems

_OFFER = re.compile(r'did you mean|\buse\b|\btry\b|instead|should be|must be|expected')
_SEQUENCE_WORDS = re.compile(r'\b(then|after|afterwards|next|before|first|finally|followed)\b', re.IGNORECASE)
_CACHE_SIZE = 1024
_RELEVANT = 0.5
"""A tool is relevant when it scores at least this fraction of the best tool."""
_MARGINAL = 0.2
"""Between this fraction and `_RELEVANT` a tool is marginal: called only sometimes, and only when sampling."""
_FLOOR = 0.15
"""Below this absolute score nothing is worth calling."""
_MAX_SAME_CALL = 2
_MAX_CALLS_PER_TOOL = 3


@dataclass(frozen=True, kw_only=True)
class ToolProfile:
    """What the model keeps about one tool definition (cached: definitions repeat across thousands of requests)."""

    name: str
    name_stems: frozenset[str]
    description_stems: frozenset[str]
    parameter_stems: frozenset[str]
    time_labels: frozenset[str]
    """Window words of its time parameters (e.g. {'basel'} for `baseline_start`)."""
    tokens: int
    """Token count of the definition (name, description, schema JSON) for usage."""


_profiles: dict[tuple[str, str, str], ToolProfile] = {}


def profile(tool: ToolDefinition) -> ToolProfile:
    """The cached profile of `tool`."""
    schema_json = json.dumps(tool.parameters_json_schema, sort_keys=True)
    key = (tool.name, tool.description or '', schema_json)
    cached = _profiles.get(key)
    if cached is not None:
        return cached
    props: dict[str, Any] = tool.parameters_json_schema.get('properties') or {}
    parameter_text = ' '.join(f'{n} {p.get("description", "")}' for n, p in props.items() if isinstance(p, dict))
    labels: set[str] = set()
    for n, p in props.items():
        if time_role(n) is not None:
            labels |= time_label(n, str(p.get('description', '')) if isinstance(p, dict) else '')
    result = ToolProfile(
        name=tool.name,
        name_stems=frozenset(stems(tool.name)),
        description_stems=frozenset(stems(tool.description or '')),
        parameter_stems=frozenset(stems(parameter_text)),
        time_labels=frozenset(labels),
        tokens=count_tokens(tool.name) + count_tokens(tool.description or '') + count_tokens(schema_json),
    )
    if len(_profiles) >= _CACHE_SIZE:
        _profiles.clear()
    _profiles[key] = result
    return result


@dataclass(kw_only=True)
class Option:
    """A tool the model could call now."""

    tool: ToolDefinition
    filled: Filled
    score: float
    explicit: int | None
    """Position of the tool's name in the task text, when the text names it."""
    fixing: bool
    """True when this call retries an earlier call with corrected arguments."""

    @property
    def complete(self) -> bool:
        """True when every required argument came from the conversation."""
        return self.filled.grounded >= self.filled.required


def _relevance(profiles: list[ToolProfile], text_stems: frozenset[str]) -> list[float]:
    n = len(profiles)
    df: dict[str, int] = {}
    for p in profiles:
        for s in p.name_stems | p.description_stems | p.parameter_stems:
            df[s] = df.get(s, 0) + 1
    scores: list[float] = []
    for p in profiles:
        score = 0.0
        for s in p.name_stems & text_stems:
            score += 2.0 * math.log(1 + n / df[s])
        for s in (p.description_stems - p.name_stems) & text_stems:
            score += math.log(1 + n / df[s])
        for s in (p.parameter_stems - p.name_stems - p.description_stems) & text_stems:
            score += 0.5 * math.log(1 + n / df[s])
        scores.append(score + 0.3 / n)
    return scores


def _give_up(call: Call) -> bool:
    budget = call.max_retries if call.max_retries is not None else 1
    attempt = call.attempt if call.attempt is not None else 1
    return attempt >= budget


def plan(
    tools: list[ToolDefinition], conversation: Conversation, rng: random.Random, temperature: float, parallel: float
) -> tuple[list[Option], Filler]:
    """The calls to emit now, in order (empty: time to answer), and the filler used (reused for the answer)."""
    profiles = [profile(t) for t in tools]
    claimed = frozenset().union(*(p.time_labels for p in profiles)) if profiles else frozenset[str]()
    filler = Filler(conversation, claimed, frozenset(t.name for t in tools))
    if not tools:
        return [], filler
    text = conversation.masked
    lowered = text.lower()
    scores = _relevance(profiles, frozenset(stems(text)))
    positions = [_mention_position(lowered, t.name) for t in tools]
    named = [i for i, p in enumerate(positions) if p is not None]
    if named:
        top = max(scores)
        scores = [s + top + 3.0 if positions[i] is not None else s * 0.4 for i, s in enumerate(scores)]
    best = max(scores)
    by_tool: dict[str, list[Call]] = {}
    for call in conversation.calls:
        by_tool.setdefault(call.name, []).append(call)

    options: list[Option] = []
    for i, tool in enumerate(tools):
        score = scores[i]
        if score < _FLOOR or score < _MARGINAL * best:
            continue
        history = by_tool.get(tool.name, [])
        last = history[-1] if history else None
        fixing = last is not None and last.status == 'retry'
        if fixing:
            assert last is not None
            failed = [c for c in history if c.status == 'retry']
            avoid: dict[str, set[str]] = {}
            for call in failed:
                for key, value in call.args.items():
                    avoid.setdefault(key, set()).add(str(value))
            retry_text = str(last.result)
            filled = filler.fill(tool.parameters_json_schema, retry_text=retry_text, avoid=_narrow(avoid, last))
            if not _acceptable_fix(last.args, filled.args, retry_text, tool.parameters_json_schema):
                if _give_up(last):
                    continue
                filled = Filled(args=last.args, grounded=filled.grounded, required=filled.required)
        else:
            filled = filler.fill(tool.parameters_json_schema)
        key = json.dumps(filled.args, sort_keys=True, default=str, separators=(',', ':'))
        same = [c for c in history if c.key == key]
        if any(c.status in ('ok', 'pending', 'failed') for c in same) or len(same) >= _MAX_SAME_CALL:
            continue
        if len(history) >= _MAX_CALLS_PER_TOOL or (
            history and not fixing and any(c.status == 'failed' for c in history)
        ):
            continue
        if any(c.status == 'ok' for c in history):
            score *= 0.3
        if filled.required:
            score *= 0.5 + 0.5 * filled.grounded / filled.required
        if score < _FLOOR:
            continue
        options.append(
            Option(
                tool=tool, filled=filled, score=score * (1.5 if fixing else 1.0), explicit=positions[i], fixing=fixing
            )
        )

    relevant = [o for o in options if o.score >= _RELEVANT * best or o.fixing]
    marginal = [o for o in options if o not in relevant]
    if temperature > 0:
        for o in marginal:
            if rng.random() < min(0.9, temperature * o.score / best):
                relevant.append(o)
    if not relevant:
        return [], filler

    sequential_names = _sequence(lowered, [o for o in relevant if o.explicit is not None])
    if sequential_names is not None:
        relevant = [o for o in relevant if o.fixing or o.explicit is None or o is sequential_names]

    return _order(relevant, rng, temperature, parallel, best), filler


def _acceptable_fix(old: dict[str, Any], new: dict[str, Any], retry_text: str, schema: dict[str, Any]) -> bool:
    """Would a careful model make this correction? Enum fixes, near spellings, or values the message offers."""
    changed = [k for k in new if k in old and new[k] != old[k]] + [k for k in new if k not in old]
    if not changed:
        return False
    props: dict[str, Any] = schema.get('properties') or {}
    lowered = retry_text.lower()
    for key in changed:
        value, before = str(new[key]), str(old.get(key, ''))
        if not value.strip():
            return False
        if isinstance(props.get(key), dict) and ('enum' in props[key] or '$ref' in props[key]):
            continue
        if before and (before.lower() in value.lower() or value.lower() in before.lower()):
            continue
        if before and difflib.SequenceMatcher(None, before.lower(), value.lower()).ratio() >= 0.75:
            continue
        at = lowered.find(value.lower())
        if at != -1 and _OFFER.search(lowered[max(0, at - 30) : at]):
            continue
        return False
    return True


def _narrow(avoid: dict[str, set[str]], last: Call) -> dict[str, set[str]]:
    """Only avoid the values the retry message points at (or all of them when it names none)."""
    message = str(last.result).lower()
    pointed = {k: v for k, v in avoid.items() if any(str(x).lower() in message for x in v)}
    return pointed or avoid


def _mention_position(lowered: str, name: str) -> int | None:
    match = re.search(rf'(?<![\w]){re.escape(name.lower())}(?![\w])', lowered)
    return match.start() if match else None


def _sequence(lowered: str, named: list[Option]) -> Option | None:
    """The first named tool still to call when the text orders the named tools ('X then Y'), else None."""
    if len(named) < 2:
        return None
    ordered = sorted(named, key=lambda o: o.explicit or 0)
    first, second = ordered[0].explicit or 0, ordered[1].explicit or 0
    window = lowered[max(0, first - 40) : second]
    return ordered[0] if _SEQUENCE_WORDS.search(window) else None


def _order(options: list[Option], rng: random.Random, temperature: float, parallel: float, best: float) -> list[Option]:
    options = sorted(options, key=lambda o: (not o.fixing, -o.score, o.explicit if o.explicit is not None else 1 << 30))
    if temperature <= 0:
        first = options[0]
        rest = options[1:]
    else:
        scale = temperature * 0.25 * best
        top = max(o.score for o in options)
        weights = [math.exp((o.score - top) / scale) for o in options]
        pick = rng.choices(range(len(options)), weights=weights)[0]
        first = options[pick]
        rest = options[:pick] + options[pick + 1 :]
        rng.shuffle(rest)
        rest.sort(key=lambda o: -round(o.score / best, 1))
    chosen = [first]
    if not first.complete:
        return chosen
    for o in rest:
        if not o.complete:
            continue
        closeness = max(0.0, min(1.0, (o.score / first.score - 0.5) / 0.5)) if first.score else 0.0
        p = parallel * closeness
        if (temperature <= 0 and p >= 0.45) or (temperature > 0 and rng.random() < p):
            chosen.append(o)
    return chosen
