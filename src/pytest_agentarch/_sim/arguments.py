"""Fill a JSON schema's properties with values the conversation holds (prompt, instructions, returns, earlier calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import schema as js
from .reading import Conversation
from .text import Mention, TimeRange, mentions, stems, words

_START = frozenset({'start', 'begin', 'from', 'since', 'after'})
_END = frozenset({'end', 'until', 'stop', 'to', 'before'})
_TIMEISH = frozenset({'time', 'timestamp', 'date', 'datetime', 'window', 'iso', 'utc', 'period', 'range', 'when'})
_GENERIC = frozenset(stems(' '.join(_TIMEISH | _START | _END)))
_TYPE_WORDS = frozenset({'type', 'kind', 'category'})
_NAME_WORDS = frozenset({'name', 'id', 'identifier'})
_KIND_PRIOR = {'entity': 1.5, 'quoted': 1.2, 'ident': 1.0, 'proper': 0.8}


@dataclass(frozen=True, kw_only=True)
class Filled:
    """Arguments built for one schema."""

    args: dict[str, Any]
    """The arguments (optional properties without a grounded value are left out)."""
    grounded: int
    """Required properties whose value came from the conversation or a schema default."""
    required: int
    """Number of required properties."""


def time_role(name: str) -> str | None:
    """'start', 'end' or 'time' when a property named `name` holds a time, else None."""
    w = set(words(name))
    if w & _START:
        return 'start'
    if w & _END:
        return 'end'
    if w & _TIMEISH:
        return 'time'
    return None


def time_label(name: str, description: str) -> frozenset[str]:
    """The words that tell one time property's window from another's ('baseline' in `baseline_start`)."""
    return frozenset(s for s in stems(f'{name} {description}') if s not in _GENERIC and not s.isdigit())


class Filler:
    """Fills schemas for one request; built once per request."""

    def __init__(self, conversation: Conversation, claimed_labels: frozenset[str], tool_names: frozenset[str]) -> None:
        self.conversation = conversation
        self.claimed = claimed_labels
        found, self.ranges = mentions(conversation.masked)
        # Tool names are mentioned to be called, not passed; the user's prompt outranks the instructions.
        self.found = tuple(m for m in found if m.value not in tool_names)
        self.prompt_start = len(conversation.instructions) + 1
        self.previous: dict[str, list[Any]] = {}
        for call in conversation.calls:
            if call.status == 'ok':
                for key, value in call.args.items():
                    self.previous.setdefault(key, []).append(value)

    def fill(self, schema: js.Schema, *, retry_text: str = '', avoid: dict[str, set[str]] | None = None) -> Filled:
        """Arguments for `schema`; values in `retry_text` come first, values in `avoid` are never reused."""
        root = schema
        resolved = js.resolve(schema, root)
        props: dict[str, js.Schema] = resolved.get('properties') or {}
        required = set(resolved.get('required') or ())
        avoid = avoid or {}
        retry_found = mentions(retry_text) if retry_text else ((), ())
        args: dict[str, Any] = {}
        grounded = 0
        has_type_param = any(set(words(n)) & _TYPE_WORDS for n in props)
        for name, sub in props.items():
            sub = js.resolve(sub, root)
            value = self._value(name, sub, root, retry_text, retry_found, avoid.get(name, set()), has_type_param)
            if value is not None:
                args[name] = value
                grounded += name in required
            elif name in required:
                args[name] = js.fallback(sub, root, self.conversation.text)
        return Filled(args=args, grounded=grounded, required=len(required))

    def _value(
        self,
        name: str,
        sub: js.Schema,
        root: js.Schema,
        retry_text: str,
        retry_found: tuple[tuple[Mention, ...], tuple[TimeRange, ...]],
        avoid: set[str],
        has_type_param: bool,
    ) -> Any:
        description = str(sub.get('description', ''))
        kind = js.kind(sub)
        if retry_text:
            value = self._from_text(name, description, sub, root, retry_text, retry_found, avoid, has_type_param)
            if value is not None:
                return value
        for value in reversed(self.previous.get(name, ())):
            ok, fitted = js.coerce(value, sub, root)
            if ok and str(fitted) not in avoid:
                return fitted
        value = self._from_text(
            name, description, sub, root, self.conversation.masked, (self.found, self.ranges), avoid, has_type_param
        )
        if value is not None:
            return value
        for obj in reversed(self.conversation.objects):
            if name in obj:
                ok, fitted = js.coerce(obj[name], sub, root)
                if ok and str(fitted) not in avoid:
                    return fitted
        if 'default' in sub:
            return sub['default']
        if kind == 'object' and sub.get('properties'):
            return self.fill(sub).args or None
        return None

    def _from_text(
        self,
        name: str,
        description: str,
        sub: js.Schema,
        root: js.Schema,
        text: str,
        found: tuple[tuple[Mention, ...], tuple[TimeRange, ...]],
        avoid: set[str],
        has_type_param: bool,
    ) -> Any:
        items, ranges = found
        kind = js.kind(sub)
        enum = sub.get('enum')
        if kind == 'array':
            element = js.resolve(sub.get('items') or {}, root)
            options = element.get('enum')
            if options:
                lowered = text.lower()
                hits = [o for o in options if isinstance(o, str) and o.lower() in lowered and o not in avoid]
                return hits or None
            return None
        if enum:
            return self._enum(name, enum, text, items, avoid)
        if kind == 'string':
            role = time_role(name) or ('time' if sub.get('format') in ('date-time', 'date') else None)
            if role is not None and any(m.kind == 'time' for m in items):
                return self._time(role, time_label(name, description), items, ranges, avoid)
            prompt_start = self.prompt_start if text is self.conversation.masked else len(text) + 1
            return self._string(name, description, items, avoid, has_type_param, prompt_start)
        if kind in ('number', 'integer'):
            label = set(stems(f'{name} {description}'))
            best: tuple[float, int, Any] | None = None
            for index, m in enumerate(items):
                if m.kind != 'number' or m.value in avoid:
                    continue
                overlap = len(label & m.context)
                ok, fitted = js.coerce(m.value, sub, root)
                if ok and overlap and (best is None or (overlap, -index) > best[:2]):
                    best = (overlap, -index, fitted)
            return best[2] if best else None
        if kind == 'boolean':
            lowered = text.lower()
            for phrase in (name.replace('_', ' '), name):
                at = lowered.find(phrase)
                if at != -1:
                    tail = lowered[at + len(phrase) : at + len(phrase) + 12]
                    if any(w in tail for w in ('true', 'yes', 'enabled', '=1')):
                        return True
                    if any(w in tail for w in ('false', 'no', 'disabled', '=0')):
                        return False
        return None

    def _enum(self, name: str, enum: list[Any], text: str, items: tuple[Mention, ...], avoid: set[str]) -> Any:
        label = set(stems(name))
        for m in items:
            if m.kind == 'entity':
                for option in enum:
                    if option == m.parts[0] and option not in avoid:
                        return option
        lowered = text.lower()
        best: tuple[int, int, Any] | None = None
        for option in enum:
            if not isinstance(option, str) or option in avoid:
                continue
            at = lowered.find(option.lower())
            if at == -1 or len(option) < 2:
                continue
            before = frozenset(stems(' '.join(lowered[max(0, at - 60) : at].split()[-4:])))
            key = (len(label & before), -at)
            if best is None or key > best[:2]:
                best = (key[0], key[1], option)
        return best[2] if best else None

    def _time(
        self,
        role: str,
        label: frozenset[str],
        items: tuple[Mention, ...],
        ranges: tuple[TimeRange, ...],
        avoid: set[str],
    ) -> str | None:
        others = self.claimed - label
        if ranges:
            scored = [(2 * len(label & r.label) - len(others & r.label), -i, r) for i, r in enumerate(ranges)]
            top, _, chosen = max(scored, key=lambda s: s[:2])
            if label and top <= 0 and not (label & chosen.label) and len(ranges) > 1:
                return None
            if label and not (label & chosen.label) and (others & chosen.label):
                return None
            value = chosen.end if role == 'end' else chosen.start
            return value if value not in avoid else None
        times = [m for m in items if m.kind == 'time' and m.value not in avoid]
        if not times:
            return None
        scored_times = sorted(times, key=lambda m: (-len(label & m.context), m.position))
        if role == 'end' and len(times) > 1:
            return max(scored_times[:2], key=lambda m: m.position).value
        return scored_times[0].value

    def _string(
        self,
        name: str,
        description: str,
        items: tuple[Mention, ...],
        avoid: set[str],
        has_type_param: bool,
        prompt_start: int,
    ) -> str | None:
        name_words = set(words(name))
        label = set(stems(f'{name} {description}'))
        wants_type = bool(name_words & _TYPE_WORDS)
        wants_name = bool(name_words & _NAME_WORDS) or (has_type_param and not wants_type)
        best: tuple[float, int, str] | None = None
        for index, m in enumerate(items):
            if m.kind not in _KIND_PRIOR:
                continue
            if m.kind == 'entity':
                value = m.parts[0] if wants_type else m.parts[1] if wants_name else m.value
            elif wants_type:
                continue
            else:
                value = m.value
            if value in avoid:
                continue
            score = _KIND_PRIOR[m.kind] + 2.0 * len(label & m.context) + 0.5 * (m.position >= prompt_start)
            if best is None or (score, -index) > best[:2]:
                best = (score, -index, value)
        return best[2] if best else None
