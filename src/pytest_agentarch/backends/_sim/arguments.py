"""Fill a JSON schema's properties with values the conversation holds (prompt, instructions, returns, earlier calls)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import schema as js
from .intent import is_identifier, looks_like_identifier
from .reading import Conversation
from .text import (
    Mention,
    TimeRange,
    direction,
    entity_parts,
    find_word,
    is_code,
    is_time,
    label_stems,
    mentions,
    periods,
    stem_set,
    stems,
    words,
)

_START = frozenset({'start', 'begin', 'from', 'since', 'after'})
_END = frozenset({'end', 'until', 'stop', 'to', 'before'})
_TIMEISH = frozenset({'time', 'timestamp', 'date', 'datetime', 'window', 'iso', 'utc', 'period', 'range', 'when'})
_GENERIC = frozenset(stems(' '.join(_TIMEISH | _START | _END)))
_TYPE_WORDS = frozenset({'type', 'kind', 'category'})
_NAME_WORDS = frozenset({'name', 'id', 'identifier'})
_KIND_PRIOR = {'entity': 1.5, 'quoted': 1.2, 'code': 1.2, 'path': 1.1, 'ident': 1.0, 'proper': 0.8}
_REPEAT = re.compile(
    r'\b(twice|two times|three times|for each window|for every window|for both windows|each window|both windows|'
    r'per window|separately|on its own|by itself|alone)\b'
)
"""The text asks for a tool to run once per window, not once in all."""
_ONCE = re.compile(r'(?<!at )\bonce\b')
_PAIR = re.compile(r'\b([A-Za-z_]\w*)\s*=\s*(?:\'([^\'\n]*)\'|"([^"\n]*)")')
_EXAMPLE_IN = re.compile(r'\b(?:e\.g\.|for example|for instance|such as)', re.IGNORECASE)
_EXAMPLE = re.compile(r'(for example|for instance|e\.g\.|such as|like)\W*$')
_ORDER = re.compile(
    r'\bmust (?:be|come|lie) (after|later than|greater than|above|more than|before|earlier than|less than|below)\b'
)
_SOURCE = frozenset({'from', 'source', 'origin', 'sender'})
_TARGET = frozenset({'into', 'target', 'destination', 'recipient'})
_DANGLING_TO = re.compile(r'\bto\b(?=\s*(?:[,.;:)]|$|e\.g\.))')
"""'Currency code to convert to, e.g. ...': the parameter is the target side."""
_CLOCK = re.compile(r'HH|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}')
"""A description asking for a time of day ('YYYY-MM-DDTHH:MM:SS', or an example with one)."""
_TIME_OF_DAY = re.compile(r'\bHH:MM\b|(?<![\dT:-])\d{1,2}:\d{2}(?![\d:])')
"""A description asking for a bare time of day ('HH:MM', or an example such as '10:00'), not a whole ISO time."""
_GAP_WORDS = 4
"""Numbers at most this many words apart, in one sentence, are read as one expression ('3 times 7, plus 2')."""
_BOOLEAN_TAIL = re.compile(r'^\W{0,2}\s*(?:[:=]|\bis\b|\bwas\b)\s*(true|yes|enabled|1|false|no|disabled|0)\b')


_ASKS_FOR_PROMPT = re.compile(
    r"\b(?:the user'?s (?:question|request|message|prompt)|(?:question|request|message|prompt) as (?:the user|they) "
    r'(?:asked|wrote|said|typed) it)\b'
)
"""A parameter that takes the user's own words ('the question as the user asked it')."""
_UNITS = {'second': 1 / 60, 'minute': 1.0, 'hour': 60.0, 'day': 1440.0}


def _unit(name: str, description: str) -> float | None:
    """Minutes per unit of a number parameter that counts a duration ('minutes', 'lookback_hours'), or None."""
    said = {w[:-1] if w.endswith('s') else w for w in words(f'{name} {description}')}
    found = [_UNITS[w] for w in _UNITS if w in said]
    return found[0] if len(found) == 1 else None


@lru_cache(maxsize=1024)
def quoted_options(description: str) -> tuple[str, ...]:
    """Values a description lists in quotes ("'a' or 'b'"): the options of a string parameter without an enum
    (cached: descriptions repeat on every request)."""
    return tuple(m.group(1) or m.group(2) for m in re.finditer(r"'([^'\s]{1,60})'|\"([^\"\s]{1,60})\"", description))


@lru_cache(maxsize=1024)
def _repeat_for(text: str, tool_names: frozenset[str]) -> frozenset[str]:
    """The tools the text asks to call once per window: those named where it says so ('call X twice'), else those
    whose own name words the sentence uses ('read the gauges and the log for each window' -> `read_gauges`, `read_log`),
    else all tools; 'once' in the same sentence cancels it."""
    chosen: set[str] = set()
    name_stems = {t: set(stems(t)) for t in tool_names}
    shared = set.intersection(*name_stems.values()) if name_stems else set()
    for sentence in re.split(r'(?<=[.!?])\s+', text):
        lowered = sentence.lower()
        if not _REPEAT.search(lowered) or _ONCE.search(lowered):
            continue
        named = {t for t in tool_names if find_word(lowered, t.lower()) != -1}
        if not named:
            said = set(stems(sentence))
            named = {t for t, own in name_stems.items() if (own - shared) & said}
        chosen |= named or tool_names
    return frozenset(chosen)


def _result_ranges(objects: list[dict[str, Any]]) -> tuple[TimeRange, ...]:
    """The windows the objects give as `<label>_start` / `<label>_end` pairs of times, labelled by `<label>`, latest
    object first."""
    ranges: list[TimeRange] = []
    for obj in reversed(objects):
        for key, start in obj.items():
            if not isinstance(key, str) or not key.endswith('_start') or not is_time(start):
                continue
            end = obj.get(f'{key[: -len("_start")]}_end')
            if is_time(end):
                ranges.append(TimeRange(start=start, end=end, label=label_stems(key[: -len('_start')])))
    return tuple(ranges)


@dataclass(frozen=True, kw_only=True)
class Operator:
    """A tool of exactly two required numbers, read as an operation written between them ('a plus b')."""

    words: frozenset[str]
    """Stems of its name and description: a word of the text between two numbers that names the operation."""
    operands: tuple[str, str]
    """Its two number parameters in the schema's order: the number before the word, then the one after it."""


Chain = tuple[tuple[float, ...], tuple[frozenset[str], ...]]
"""Numbers written one after the other, and the stems of the words between each two."""


@lru_cache(maxsize=1024)
def _chains(text: str) -> tuple[Chain, ...]:
    """The runs of numbers the text writes a few words apart in one sentence ('3 times 7, plus 2')."""
    found, _ = mentions(text)
    chains: list[Chain] = []
    values: list[float] = []
    gaps: list[frozenset[str]] = []
    end = 0
    for m in found:
        if m.kind != 'number':
            continue
        between = text[end : m.position]
        if values and len(between.split()) <= _GAP_WORDS and not re.search(r'[.!?;\n]', between):
            values.append(float(m.value))
            gaps.append(frozenset(stems(between)))
        else:
            if gaps:
                chains.append((tuple(values), tuple(gaps)))
            values, gaps = [float(m.value)], []
        end = m.position + len(m.value)
    if gaps:
        chains.append((tuple(values), tuple(gaps)))
    return tuple(chains)


def _number(value: Any) -> float | None:
    """A tool result read as one number: a number, or an object holding exactly one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        numbers = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]  # pyright: ignore[reportUnknownVariableType]
        return float(numbers[0]) if len(numbers) == 1 else None  # pyright: ignore[reportUnknownArgumentType]
    return None


@lru_cache(maxsize=1024)
def _side(name: str, description: str) -> str:
    """'source' or 'target' for a parameter that is one side of a conversion, a transfer or a route, else ''."""
    said = set(words(f'{name} {description}'))
    if said & _SOURCE:
        return 'source'
    if said & _TARGET or _DANGLING_TO.search(description.lower()):
        return 'target'
    return ''


def same_number(value: Any, other: Any) -> bool:
    """Both are the same number, however written ('2' and 2.0)."""

    def read(x: Any) -> float | None:
        if isinstance(x, bool):
            return None
        try:
            return float(x)
        except (TypeError, ValueError):
            return None

    a = read(value)
    return a is not None and a == read(other)


def canonical(args: dict[str, Any]) -> str:
    """Canonical JSON of arguments: what 'the same call' means."""
    return json.dumps(args, sort_keys=True, default=str, separators=(',', ':'))


@dataclass(frozen=True, kw_only=True)
class Filled:
    """Arguments built for one schema."""

    args: dict[str, Any]
    """The arguments (optional properties without a grounded value are left out)."""
    grounded: int
    """Required properties whose value came from the conversation or a schema default."""
    required: int
    """Number of required properties."""
    missing: tuple[str, ...] = ()
    """Required properties the conversation gave no value for (they hold a fallback)."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One argument set a tool could be called with."""

    filled: Filled
    tier: int
    """0: asked for by the text (its subject, each window it names); 1: a follow-up found in a tool result."""

    @property
    def key(self) -> str:
        """Canonical JSON of the arguments."""
        return canonical(self.filled.args)


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
    """The words that tell one time property's window from another's ('baseline' in `baseline_start`).

    Example times and 'e.g.' in a description are not words of the window: they would label every window alike.
    """
    return frozenset(s for s in label_stems(f'{name} {description}') if s not in _GENERIC)


class Filler:
    """Fills schemas for one request; built once per request."""

    def __init__(
        self,
        conversation: Conversation,
        claimed_labels: frozenset[str],
        names: frozenset[str],
        tool_names: frozenset[str] = frozenset(),
        parameter_labels: frozenset[str] = frozenset(),
        *,
        code_labels: frozenset[frozenset[str]] = frozenset(),
        operators: dict[str, Operator] | None = None,
        identifier_labels: frozenset[str] = frozenset(),
    ) -> None:
        self.conversation = conversation
        self.claimed = claimed_labels
        self.code_labels = code_labels
        """Labels of the parameters whose examples are codes ('USD'): a field labelled like one takes codes too."""
        self.operators = operators or {}
        """Tools read as an operation between two numbers ('a plus b'), by name."""
        self.parameter_labels = parameter_labels
        """Label stems of every parameter of the agent's tools: a value labelled for one of them ('my order A-1')
        is not passed to a parameter it does not label (a tracking number, a reason)."""
        self.identifier_labels = identifier_labels
        """Label stems of the identifier parameters (`card_id`): they label identifiers only, so a name written
        after one of their words ('the book "Dune"' beside `book_id`) is still free for a title."""
        found, self.ranges = mentions(conversation.masked)
        if not any(m.kind == 'time' for m in found):
            # No time in the text: the windows a result gives (`incident_start`, `incident_end`) are the ranges.
            self.ranges = _result_ranges(conversation.objects)
        # Tool and parameter names are mentioned to be called or set, not passed; the prompt outranks the instructions.
        self.found = tuple(m for m in found if m.value not in names)
        self.prompt_start = len(conversation.instructions) + 1
        self.repeat_for = _repeat_for(conversation.masked, tool_names)
        self.text_stems = stem_set(conversation.masked)
        self.previous: dict[str, list[Any]] = {}
        self.corrections: dict[tuple[str, str], Any] = {}
        """(parameter, rejected value) -> the value a later successful call of the same tool used instead."""
        rejected: dict[str, dict[str, Any]] = {}
        for call in conversation.calls:
            if call.status == 'ok':
                for key, value in call.args.items():
                    self.previous.setdefault(key, []).append(value)
                    old = rejected.get(call.name, {}).get(key)
                    if old is not None and str(old) != str(value):
                        self.corrections[(key, str(old))] = value
            elif call.status == 'retry':
                rejected[call.name] = call.args

    def fill(
        self,
        schema: js.Schema,
        *,
        retry_text: str = '',
        avoid: dict[str, set[str]] | None = None,
        tool: str = '',
    ) -> Filled:
        """Arguments for `schema` (of `tool`, when given); values in `retry_text` come first, values in `avoid` are
        never reused."""
        root = schema
        resolved = js.resolve(schema, root)
        props: dict[str, js.Schema] = resolved.get('properties') or {}
        required = set(resolved.get('required') or ())
        avoid = avoid or {}
        retry_found = mentions(retry_text) if retry_text else ((), ())
        args: dict[str, Any] = {}
        grounded = 0
        missing: list[str] = []
        has_type_param = any(set(words(n)) & _TYPE_WORDS for n in props)
        operator = self.operators.get(tool)
        operands = self._operands(tool) if operator is not None else None
        for name, sub in props.items():
            sub = js.resolve(sub, root)
            if operator is not None and operands is not None and name in operator.operands:
                # An operation of the expression the text writes takes the numbers around its word, and nothing
                # else: not a number an earlier call used, which would repeat a step of the expression.
                ok, value = js.coerce(operands[name], sub, root) if name in operands else (False, None)
                value = value if ok else None
            else:
                value = self._value(name, sub, root, retry_text, retry_found, avoid.get(name, set()), has_type_param)
            if value is not None:
                args[name] = value
                grounded += name in required
            elif name in required:
                args[name] = js.fallback(sub, root, self.conversation.text)
                missing.append(name)
        numeric = [n for n in missing if js.kind(js.resolve(props[n], root)) in ('number', 'integer')]
        if len(numeric) == 1 and operator is None and not retry_text:
            # The one quantity a tool needs, and the one number the prompt writes ('how many ml is 2 cup'): it is
            # that number, however the prompt words it.
            free = [m.value for m in self.found if m.kind == 'number' and m.position >= self.prompt_start]
            free = [v for v in free if not any(same_number(v, a) for a in args.values())]
            ok, fitted = (
                js.coerce(free[0], js.resolve(props[numeric[0]], root), root) if len(free) == 1 else (False, None)
            )
            if ok:
                args[numeric[0]] = fitted
                grounded += 1
                missing.remove(numeric[0])
        return Filled(args=args, grounded=grounded, required=len(required), missing=tuple(missing))

    def candidates(self, schema: js.Schema, tool: str) -> list[Candidate]:
        """The argument sets worth calling a tool with, in a fixed order.

        First the set the text asks for; then, when the text asks for one call per window, the same set over each
        other window it names; then follow-ups: the set with its subject replaced by one a tool result names under
        a key that matches a parameter (`host_name` -> `name`) and whose other words the text uses ('host').
        """
        main = self.fill(schema, tool=tool)
        found = [Candidate(filled=main, tier=0)]
        seen = {found[0].key}
        resolved = js.resolve(schema, schema)
        props: dict[str, js.Schema] = resolved.get('properties') or {}
        required = set(resolved.get('required') or ())
        windows = self._window_sets(main.args, props, required) if tool in self.repeat_for else []
        extra = [(0, args) for args in windows]
        extra += [(1, args) for args in self._follow_up_sets(main.args, props, schema)]
        for tier, args in extra:
            candidate = Candidate(
                filled=Filled(args=args, grounded=main.grounded, required=main.required, missing=main.missing),
                tier=tier,
            )
            if candidate.key not in seen:
                seen.add(candidate.key)
                found.append(candidate)
        return found

    def _operands(self, tool: str) -> dict[str, float] | None:
        """The numbers `tool` works on in the expression the text writes, taken left to right: the operation
        written first is done first, and its result takes the place of its two numbers ('3 times 7, plus 2': 3 x 7,
        then 21 + 2). {} while an operation written before it is still to do, or once its own is done; None when
        no expression of the text uses the tool's words (its arguments are then filled as any others)."""
        own = self.operators[tool]
        chains = _chains(self.conversation.masked)
        if not any(gap & own.words for _, gaps in chains for gap in gaps):
            return None
        done = [
            (self.operators[c.name], c.args, result)
            for c in self.conversation.calls
            if c.status == 'ok' and c.name in self.operators and (result := _number(c.result)) is not None
        ]
        for chain_values, chain_gaps in chains:
            values, gaps = list(chain_values), list(chain_gaps)
            for operator, args, result in done:
                a, b = args.get(operator.operands[0]), args.get(operator.operands[1])
                for k, gap in enumerate(gaps):
                    if gap & operator.words and values[k] == a and values[k + 1] == b:
                        values[k : k + 2] = [result]
                        del gaps[k]
                        break
            pending = next(
                (k for k, gap in enumerate(gaps) if any(gap & o.words for o in self.operators.values())), None
            )
            if pending is not None and gaps[pending] & own.words:
                return {own.operands[0]: values[pending], own.operands[1]: values[pending + 1]}
        return {}

    def _window_sets(
        self, main: dict[str, Any], props: dict[str, js.Schema], required: set[str]
    ) -> list[dict[str, Any]]:
        if len(self.ranges) < 2:
            return []
        roles = {n: time_role(n) for n in props}
        start = next((n for n in props if roles[n] == 'start' and n in required), None)
        end = next((n for n in props if roles[n] == 'end' and n in required), None)
        if start is None or end is None:
            return []
        sets: list[dict[str, Any]] = []
        for window in self.ranges:
            if (main.get(start), main.get(end)) == (window.start, window.end):
                continue
            args = {**main, start: window.start, end: window.end}
            for name in props:
                if name in (start, end) or roles[name] is None or args.get(name) not in (window.start, window.end):
                    continue
                # Another window's parameters pointing at this window would compare it with itself: leave them out.
                if name in required:
                    break
                del args[name]
            else:
                sets.append(args)
        return sets

    def _follow_up_sets(
        self, main: dict[str, Any], props: dict[str, js.Schema], root: js.Schema
    ) -> list[dict[str, Any]]:
        subjects = [m for m in self.found if m.kind == 'entity']
        sets: list[dict[str, Any]] = []
        for call in self.conversation.calls:
            if call.status != 'ok':
                continue
            results = call.result if isinstance(call.result, list) else [call.result]
            for result in results:
                if not isinstance(result, dict):
                    continue
                for key, value in result.items():  # pyright: ignore[reportUnknownVariableType]
                    if isinstance(value, str) and value:
                        args = self._follow_up(str(key), value, main, props, root, subjects)  # pyright: ignore[reportUnknownArgumentType]
                        if args is not None:
                            sets.append(args)
        return sets

    def _follow_up(
        self,
        key: str,
        value: str,
        main: dict[str, Any],
        props: dict[str, js.Schema],
        root: js.Schema,
        subjects: list[Mention],
    ) -> dict[str, Any] | None:
        key_words = words(key)
        parts = entity_parts(value)
        if parts is not None:
            # A whole reference (`host: 'type/name'`): it replaces the subject wherever the subject went.
            if not stem_set(key) <= self.text_stems:
                return None
            args = dict(main)
            changed = False
            for subject in subjects:
                for name, current in main.items():
                    replacement = {subject.value: value, subject.parts[0]: parts[0], subject.parts[1]: parts[1]}
                    if isinstance(current, str) and current in replacement:
                        ok, fitted = js.coerce(replacement[current], props.get(name, {}), root)
                        if not ok:
                            return None
                        args[name] = fitted
                        changed = True
            return args if changed else None
        if len(key_words) < 2:
            return None
        qualifier, last = key_words[:-1], key_words[-1]
        target = next((n for n in props if words(n) == (last,)), None)
        if target is None or target not in main or not stem_set(' '.join(qualifier)) <= self.text_stems:
            return None
        ok, fitted = js.coerce(value, props[target], root)
        if not ok or fitted == main[target]:
            return None
        args = {**main, target: fitted}
        # The type of the new subject is the enum option that names the key's qualifier ('host' -> 'svc:host').
        for name, sub in props.items():
            if name == target or not set(words(name)) & _TYPE_WORDS:
                continue
            resolved = js.resolve(sub, root)
            options = resolved.get('enum') or quoted_options(str(resolved.get('description', '')))
            if not options:
                continue
            matching = [o for o in options if isinstance(o, str) and set(qualifier) <= set(words(o))]
            if len(matching) != 1:
                return None
            args[name] = matching[0]
        return args

    def repair(self, schema: js.Schema, args: dict[str, Any], message: str) -> dict[str, Any] | None:
        """The arguments corrected as a retry message directs, or None when it directs nothing usable.

        Two kinds of direction are followed: `param='value'` pairs (an example value only when the conversation
        holds it too) and an order the message states between two parameters ('end must be after start').
        """
        root = schema
        props: dict[str, js.Schema] = js.resolve(schema, root).get('properties') or {}
        fixed = dict(args)
        for match in _PAIR.finditer(message):
            name, value = match.group(1), match.group(2) if match.group(2) is not None else match.group(3)
            if name not in props or str(fixed.get(name)) == value:
                continue
            example = _EXAMPLE.search(message[max(0, match.start() - 40) : match.start()].lower())
            if example and value not in self.conversation.text:
                continue
            ok, fitted = js.coerce(value, props[name], root)
            if ok:
                fixed[name] = fitted
        lowered = message.lower()
        for match in _ORDER.finditer(lowered):
            before = [n for n in props if lowered.rfind(n.lower(), max(0, match.start() - 60), match.start()) != -1]
            after = [n for n in props if lowered.find(n.lower(), match.end(), match.end() + 40) != -1]
            if not before or not after:
                continue
            first = max(before, key=lambda n: lowered.rfind(n.lower(), 0, match.start()))
            second = min(after, key=lambda n: lowered.find(n.lower(), match.end()))
            later = match.group(1) in ('after', 'later than', 'greater than', 'above', 'more than')
            high, low = (first, second) if later else (second, first)
            self._order(fixed, high, low)
        return fixed if fixed != args else None

    def _order(self, args: dict[str, Any], high: str, low: str) -> None:
        """Make `args[high] > args[low]`: the range holding one of them, a swap, or the next later time."""
        a, b = args.get(high), args.get(low)
        if a is None or b is None or not (is_time(a) and is_time(b)) or str(a) > str(b):
            return
        for window in self.ranges:
            if window.start == b and window.end > b:
                args[high] = window.end
                return
            if window.end == a and window.start < a:
                args[low] = window.start
                return
        if str(b) > str(a):
            args[high], args[low] = b, a
            return
        later = sorted(m.value for m in self.found if m.kind == 'time' and m.value > str(b))
        if later:
            args[high] = later[0]

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
        found = self._found_subject(name, sub, root, avoid) if kind == 'string' and not retry_text else None
        if found is not None:
            return found
        value = self._from_text(
            name, description, sub, root, self.conversation.masked, (self.found, self.ranges), avoid, has_type_param
        )
        if (
            value is not None
            and kind == 'string'
            and is_identifier(name)
            and (not looks_like_identifier(value) or self._labelled_for_another(name, description, value))
        ):
            # An id the text does not write ('Oslo', 'Dune' for `flight_id`) comes from the result of a look-up:
            # without one, the call waits for it instead of passing a name as an id.
            value = None
        if value is not None and kind == 'string' and not self._labelled(name, description, value):
            # A value the text gives without saying it is this one ('the paper "X"' for `url`) gives way to a
            # result that holds this very key.
            for obj in reversed(self.conversation.objects):
                held = obj.get(name)
                if isinstance(held, str) and held and held not in avoid:
                    return held
        if value is not None:
            corrected = self.corrections.get((name, str(value)))
            if corrected is None:
                return value
            ok, fitted = js.coerce(corrected, sub, root)
            if ok and str(fitted) not in avoid:
                return fitted
        for value in reversed(self.previous.get(name, ())):
            ok, fitted = js.coerce(value, sub, root)
            if ok and str(fitted) not in avoid:
                return fitted
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

    def _says(self, option: str) -> bool:
        return find_word(self.conversation.masked.lower(), option.lower()) != -1

    def _labelled_for_another(self, name: str, description: str, value: Any) -> bool:
        """The word right before `value` in the text labels another parameter, not this one ('customer CU-7' for
        `order_id`)."""
        label = label_stems(f'{name} {description}')
        for m in self.found:
            if m.value == value:
                before = stems(self.conversation.masked[max(0, m.position - 40) : m.position])
                others = self.parameter_labels | self.identifier_labels
                return bool(before) and before[-1] not in label and before[-1] in others
        return False

    def _labelled(self, name: str, description: str, value: Any) -> bool:
        """The text labels `value` for this parameter (its words come just before it), or it is a typed reference
        or a time, which say what they are themselves."""
        label = label_stems(f'{name} {description}')
        for m in self.found:
            if value in (m.value, m.parts[0], m.parts[1]) and (m.kind in ('entity', 'time') or label & m.context):
                return True
        return not any(value in (m.value, m.parts[0], m.parts[1]) for m in self.found)

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
            return self._enum(name, enum, text, items, avoid, _side(name, description))
        if kind == 'string':
            role = time_role(name) or ('time' if sub.get('format') in ('date-time', 'date') else None)
            if role is not None and _TIME_OF_DAY.search(description):
                # A time of day the text gives ('since about 10:00') for a parameter that asks for one, before any
                # window a result computed from it.
                clock = self._clock(role, items, avoid)
                if clock is not None:
                    return clock
            if role is not None and (
                any(m.kind == 'time' for m in items) or (ranges and text is self.conversation.masked)
            ):
                moment = self._time(role, time_label(name, description), items, ranges, avoid)
                if moment is not None and len(moment) == 10 and _CLOCK.search(description):
                    # The text gives the day, the parameter wants the time of day too: a careful model does not
                    # invent the hour, it takes one a result gives (a free slot) under this key.
                    return None
                return moment
            prompt_start = self.prompt_start if text is self.conversation.masked else len(text) + 1
            return self._asked(name, description, text, avoid) or self._string(
                name, description, items, avoid, has_type_param, prompt_start
            )
        if kind in ('number', 'integer'):
            unit = _unit(name, description)
            if unit is not None:
                counted = [minutes / unit for minutes, _ in periods(text)]
                ok, fitted = js.coerce(counted[0], sub, root) if len(counted) == 1 else (False, None)
                if ok and str(fitted) not in avoid:
                    # 'the last hour' for a parameter counted in minutes: 60.
                    return fitted
            label = label_stems(f'{name} {description}')
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
            # Only a stated value ('name: true', 'name is false'): 'the one with name true wins' states nothing.
            lowered = text.lower()
            for phrase in (name.replace('_', ' '), name):
                at = lowered.find(phrase)
                while at != -1:
                    stated = _BOOLEAN_TAIL.match(lowered[at + len(phrase) : at + len(phrase) + 16])
                    if stated:
                        return stated.group(1) in ('true', 'yes', 'enabled', '1')
                    at = lowered.find(phrase, at + 1)
        return None

    def _enum(
        self, name: str, enum: list[Any], text: str, items: tuple[Mention, ...], avoid: set[str], side: str = ''
    ) -> Any:
        label = set(stems(name))
        for m in items:
            if m.kind == 'entity':
                for option in enum:
                    if option == m.parts[0] and option not in avoid:
                        return option
        lowered = text.lower()
        best: tuple[int, int, Any] | None = None
        for option in enum:
            if not isinstance(option, str) or option in avoid or len(option) < 2:
                continue
            at = find_word(lowered, option.lower())
            if at == -1:
                continue
            before = frozenset(stems(' '.join(lowered[max(0, at - 60) : at].split()[-4:])))
            # One side of a conversion takes the option written on its side ('how many ml' is what is wanted).
            towards = direction(lowered, at) if side else ''
            key = (len(label & before) + (0 if not towards else 1 if towards == side else -1), -at)
            if best is None or key > best[:2]:
                best = (key[0], key[1], option)
        return best[2] if best else None

    def names_no_subject(self) -> bool:
        """The user's prompt writes no value a subject could be (no reference, identifier, quote, path, code or
        proper noun): 'Checkout has been slow since about 10:00'."""
        return not any(m.position >= self.prompt_start and m.kind in _KIND_PRIOR for m in self.found)

    def _found_subject(self, name: str, sub: js.Schema, root: js.Schema, avoid: set[str]) -> str | None:
        """When the prompt names no subject, the name (or type) of the latest whole `type/name` reference a result
        gives under a key the text uses ('the entity is the match the question means' and a search that returned
        `entity: 'svc:host/alpha'`): a model investigates what its look-up found, not a word of its instructions."""
        said = set(words(name))
        part = 1 if said & _NAME_WORDS else 0 if said & _TYPE_WORDS else None
        if part is None or not self.names_no_subject():
            return None
        for obj in reversed(self.conversation.objects):
            for key, value in obj.items():
                parts = entity_parts(value)
                if parts is None or not stem_set(str(key)) or not stem_set(str(key)) <= self.text_stems:
                    continue
                ok, fitted = js.coerce(parts[part], sub, root)
                if ok and isinstance(fitted, str) and fitted not in avoid:
                    return fitted
        return None

    def _clock(self, role: str, items: tuple[Mention, ...], avoid: set[str]) -> str | None:
        """The time of day the text writes for a parameter of this role: the first one, or for an end, the last of
        two or more (a single time of day is where something starts, as in 'since 10:00')."""
        clocks = [m.value for m in items if m.kind == 'clock' and m.value not in avoid]
        if not clocks or (role == 'end' and len(clocks) < 2):
            return None
        return clocks[-1] if role == 'end' else clocks[0]

    def _asked(self, name: str, description: str, text: str, avoid: set[str]) -> str | None:
        """The user's own words, for a parameter that asks for the question as asked ('question: the question as
        the user asked it'): only in the conversation's text, never in a retry message."""
        if text is not self.conversation.masked or not _ASKS_FOR_PROMPT.search(f'{name} {description}'.lower()):
            return None
        asked = ' '.join(self.conversation.prompt.split())
        return asked if asked and asked not in avoid else None

    def _time(
        self,
        role: str,
        label: frozenset[str],
        items: tuple[Mention, ...],
        ranges: tuple[TimeRange, ...],
        avoid: set[str],
    ) -> str | None:
        if ranges:
            # Only words that label some window count: 'state' in "the state shown is the last before it" does not.
            window_words = frozenset().union(*(r.label for r in ranges))
            others = (self.claimed - label) & window_words
            label = label & window_words
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
        label = label_stems(f'{name} {description}')
        # Options a description lists in quotes ("'today' or 'tomorrow'", not an example): the one the text says.
        options = quoted_options(description) if not _EXAMPLE_IN.search(description) else ()
        said = [o for o in options if o not in avoid and self._says(o)] if len(options) >= 2 else []
        if said and not (name_words & _TYPE_WORDS):
            return said[0]
        wants_type = bool(name_words & _TYPE_WORDS)
        wants_name = bool(name_words & _NAME_WORDS) or (has_type_param and not wants_type)
        wants_code = any(m.kind == 'code' for m in items) and (
            any(is_code(q) for q in quoted_options(description))
            or (bool(label) and any(label <= known for known in self.code_labels))
        )
        side = _side(name, description)
        identifier = is_identifier(name)
        best: tuple[float, int, str] | None = None
        for index, m in enumerate(items):
            if m.kind not in _KIND_PRIOR or (m.kind == 'code' and not wants_code):
                continue
            if m.kind == 'entity':
                value = m.parts[0] if wants_type else m.parts[1] if wants_name else m.value
            elif wants_type:
                continue
            else:
                value = m.value
            if value in avoid or (identifier and not looks_like_identifier(value)):
                continue
            others = self.parameter_labels
            if self.identifier_labels and looks_like_identifier(value):
                others = others | self.identifier_labels
            if m.kind != 'entity' and not (label & m.context) and (m.context & (others - label)):
                continue
            score = _KIND_PRIOR[m.kind] + 2.0 * len(label & m.context) + 0.5 * (m.position >= prompt_start)
            if side and m.direction:
                # 'for one USD' is what is converted from, 'how many EUR' what it is converted to.
                score += 1.5 if m.direction == side else -1.5
            elif m.direction == 'target':
                # Without a side of its own, a field takes what the question asks for ('how many EUR').
                score += 0.25
            if best is None or (score, -index) > best[:2]:
                best = (score, -index, value)
        return best[2] if best else None
