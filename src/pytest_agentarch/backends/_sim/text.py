"""Words, stems, token counts and the values a text mentions (times, entities, identifiers, numbers, quotes)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_WORD = re.compile(r'[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+')
_TOKEN = re.compile(r'\w+|[^\w\s]')
_TIME = re.compile(r'\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?')
_ENTITY_REF = re.compile(r'\b([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)/([A-Za-z0-9][\w.-]*[A-Za-z0-9]|[A-Za-z0-9])')
_QUOTED = re.compile(
    r'"([^"\s](?:[^"\n]{0,78}[^"\s])?)"|(?<!\w)\'([^\'\s](?:[^\'\n]{0,78}[^\'\s])?)\'(?!\w)|`([^`\n]{1,80})`'
)
_IDENT = re.compile(r'(?<![\w:/.-])([A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)+)(?![\w/-])')
_PROPER = re.compile(r'(?<![.!?]\s)(?<!^)(?<!\n)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)\b')
_PATH = re.compile(r'(?<![\w/:.])(/[\w.-]+(?:/[\w.-]+)+)')
"""A file-system path ('/etc/app/config.yaml')."""
_NUMBER = re.compile(r'(?<![\w.:-])(-?\d+(?:\.\d+)?)(?![\w:-])')
_CLOCK_TIME = re.compile(
    r'(?<![\w:.-])([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(?![\w:])(\s*[ap]\.?m\b\.?)?', re.IGNORECASE
)
"""A time of day written on its own ('10:00', '8:15', '9:30 pm'), not inside an ISO time ('T10:00:00Z')."""
_PERIOD = re.compile(
    r'\b(?:the\s+)?(?:last|past|previous)\s+(?:(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|ten|twelve|'
    r'fifteen|twenty|thirty|forty-five|half an?)\s+)?(minute|min|hour|hr|day|week)s?\b',
    re.IGNORECASE,
)
"""A period counted back from now ('the last hour', 'the past 30 minutes', 'the previous two days')."""
_COUNTS = {
    'a': 1.0, 'an': 1.0, 'one': 1.0, 'two': 2.0, 'three': 3.0, 'four': 4.0, 'five': 5.0, 'six': 6.0, 'ten': 10.0,
    'twelve': 12.0, 'fifteen': 15.0, 'twenty': 20.0, 'thirty': 30.0, 'forty-five': 45.0, 'half a': 0.5,
    'half an': 0.5,
}  # fmt: skip
_MINUTES = {'minute': 1.0, 'min': 1.0, 'hour': 60.0, 'hr': 60.0, 'day': 1440.0, 'week': 10080.0}
_CODE = re.compile(r'(?<![\w:/.-])([A-Z]{2,5}[0-9]?)(?![\w/-])')
"""An upper-case code ('USD', 'EUR', 'LHR'): a value only for a parameter whose own examples look like one."""
_TOWARDS = re.compile(r'\b(?:to|into|how many|how much)\s*$')
_AWAY = re.compile(r'\b(?:from|for|per)(?:\s+(?:a|an|one|each|every|\d+(?:\.\d+)?))?\s*$')
"""Words right before a value that make it the target ('to EUR', 'how many EUR') or the source ('from USD',
'for one USD', 'per USD') of a conversion, a transfer or a route."""
_ABBREVIATION = re.compile(r'\b(?:[A-Za-z]\.){2,}|\b(?:etc|vs|approx|cf|incl|resp)\.', re.IGNORECASE)
"""'e.g.', 'i.e.', 'etc.': words of examples and asides, never what a label is about."""
_EXAMPLE = re.compile(r'\b(?:e\.g\.|for example|for instance|such as)\s*([\'"`])[^\'"`\n]*\1', re.IGNORECASE)
"""A quoted example value ("e.g. 'checkout-1'"): its words describe one value, not what the parameter is."""
_CONTEXT_WORDS = 6

STOPWORDS = frozenset(
    ' '.join(
        (
            'a an the and or but if then than of to in on at by for from with without into onto over under about',
            'as is are was were be been being it its this that these those there here you your we our us i me my',
            'he she they them their what which who whom whose when where why how all any each every some no not',
            'only own same so too very can could will would should shall may might must do does did done have has',
            'had having just also please using use used call calls via per out up down off again further once',
            'both few more most other such return returns given get gets set make answer report result results',
            'tool tools function value values one two',
        )
    ).split()
)


def without_examples(text: str) -> str:
    """`text` without its quoted examples ("e.g. 'AC-1001'")."""
    return _EXAMPLE.sub(' ', text)


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[str, ...]:
    """Lower-case words of `text`, splitting snake_case, kebab-case and camelCase (cached: texts repeat)."""
    return tuple(w.lower() for w in _WORD.findall(text))


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """A light stem: plural and common suffixes off, then the first five letters ('analyze' ~ 'analysis')."""
    if len(word) > 4 and word.endswith('ies'):
        word = word[:-3] + 'y'
    elif len(word) > 3 and word.endswith('s') and not word.endswith('ss'):
        word = word[:-1]
    for suffix in ('ing', 'ed'):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:5]


@lru_cache(maxsize=8192)
def stems(text: str) -> tuple[str, ...]:
    """Stems of the content words of `text`, in order (cached)."""
    return tuple(stem(w) for w in words(text) if w not in STOPWORDS)


@lru_cache(maxsize=4096)
def stem_set(text: str) -> frozenset[str]:
    """The stems of `text` as a set (cached: the task text is matched against every tool on every request)."""
    return frozenset(stems(text))


@lru_cache(maxsize=8192)
def count_tokens(text: str) -> int:
    """A deterministic token count: words and punctuation marks (cached: the same parts are re-sent each request)."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, kw_only=True)
class Mention:
    """A value found in a text, with the words just before it (its label)."""

    kind: str
    """'time', 'clock' (a time of day, 'HH:MM'), 'entity', 'quoted', 'path', 'ident', 'code', 'proper' or 'number'."""
    value: str
    """The value as written."""
    position: int
    """Character offset in the text (orders mentions and pairs times)."""
    context: frozenset[str]
    """Stems of the content words just before the value."""
    parts: tuple[str, str] = ('', '')
    """For an entity reference `type/name`: the type and the name."""
    direction: str = ''
    """'target' ('to X', 'how many X'), 'source' ('from X', 'for one X') or '' (neither)."""


@dataclass(frozen=True, kw_only=True)
class TimeRange:
    """Two times written as a range ('X to Y', 'from X until Y', 'between X and Y')."""

    start: str
    end: str
    label: frozenset[str]
    """Stems of the words before the range (e.g. {'basel', 'windo'})."""


def find_word(lowered: str, phrase: str) -> int:
    """Where `phrase` occurs in `lowered` as a whole word ('high' not inside 'highest'), or -1."""
    at = lowered.find(phrase)
    while at != -1:
        end = at + len(phrase)
        if (at == 0 or not lowered[at - 1].isalnum()) and (end == len(lowered) or not lowered[end].isalnum()):
            return at
        at = lowered.find(phrase, at + 1)
    return -1


def is_time(value: Any) -> bool:
    """Whether `value` is one ISO 8601 time or date and nothing else."""
    return isinstance(value, str) and _TIME.fullmatch(value) is not None


def entity_parts(value: Any) -> tuple[str, str] | None:
    """(type, name) when `value` is exactly one entity reference `type:subtype/name`, else None."""
    match = _ENTITY_REF.fullmatch(value) if isinstance(value, str) else None
    return (match.group(1), match.group(2)) if match else None


@lru_cache(maxsize=4096)
def label_stems(text: str) -> frozenset[str]:
    """Stems that can label a value: no times, no 'e.g.'-like abbreviations, no numbers, no single letters."""
    cleaned = _ABBREVIATION.sub(' ', _TIME.sub(' ', _EXAMPLE.sub(' ', text)))
    return frozenset(s for s in stems(cleaned) if len(s) > 1 and not s.isdigit())


def is_code(value: Any) -> bool:
    """Whether `value` is an upper-case code such as 'USD' or 'LHR'."""
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def direction(text: str, start: int) -> str:
    """'target' when the words before `start` make what follows the target of a conversion ('to', 'how many'),
    'source' when they make it the source ('from', 'for one'), else ''."""
    before = ' '.join(text[max(0, start - 30) : start].lower().split()[-3:])
    if _TOWARDS.search(before):
        return 'target'
    if _AWAY.search(before):
        return 'source'
    return ''


def _context(text: str, start: int, floor: int) -> frozenset[str]:
    before = text[max(floor, start - 120) : start]
    return label_stems(' '.join(before.split()[-_CONTEXT_WORDS:]))


def _mention(text: str, kind: str, value: str, start: int) -> Mention:
    return Mention(
        kind=kind,
        value=value,
        position=start,
        context=_context(text, start, 0),
        direction=direction(text, start),
    )


def _clock(match: re.Match[str]) -> str:
    """A time of day as 'HH:MM' on the 24-hour clock ('9:30 pm' -> '21:30')."""
    hour, minute = int(match.group(1)), int(match.group(2))
    meridiem = (match.group(3) or '').strip().lower()[:1]
    if meridiem == 'p' and hour < 12:
        hour += 12
    elif meridiem == 'a' and hour == 12:
        hour = 0
    return f'{hour:02d}:{minute:02d}'


@lru_cache(maxsize=512)
def periods(text: str) -> tuple[tuple[float, int], ...]:
    """Each period the text counts back from now ('the last hour', 'the past 30 minutes'), in minutes, with its
    position (cached)."""
    found: list[tuple[float, int]] = []
    for m in _PERIOD.finditer(text):
        count = (m.group(1) or 'one').lower()
        number = _COUNTS.get(count) if not count[0].isdigit() else float(count)
        if number is not None:
            found.append((number * _MINUTES[m.group(2).lower()], m.start()))
    return tuple(found)


@lru_cache(maxsize=512)
def mentions(text: str) -> tuple[tuple[Mention, ...], tuple[TimeRange, ...]]:
    """Every value-like mention in `text` and the time ranges among them (cached: texts repeat across requests)."""
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []

    def free(span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in taken)

    times: list[re.Match[str]] = list(_TIME.finditer(text))
    previous_end = 0
    for m in times:
        taken.append(m.span())
        found.append(
            Mention(kind='time', value=m.group(), position=m.start(), context=_context(text, m.start(), previous_end))
        )
        previous_end = m.end()
    for m in _CLOCK_TIME.finditer(text):
        if free(m.span()):
            taken.append(m.span())
            found.append(_mention(text, 'clock', _clock(m), m.start()))
    for m in _ENTITY_REF.finditer(text):
        if free(m.span()):
            taken.append(m.span())
            found.append(
                Mention(
                    kind='entity',
                    value=m.group(),
                    position=m.start(),
                    context=_context(text, m.start(), 0),
                    parts=(m.group(1), m.group(2)),
                )
            )
    for m in _QUOTED.finditer(text):
        value = m.group(1) or m.group(2) or m.group(3)
        if free(m.span()) and value.strip():
            taken.append(m.span())
            found.append(_mention(text, 'quoted', value, m.start()))
    for m in _PATH.finditer(text):
        if free(m.span()):
            taken.append(m.span())
            found.append(_mention(text, 'path', m.group(1), m.start()))
    for m in _IDENT.finditer(text):
        if free(m.span()):
            taken.append(m.span())
            found.append(_mention(text, 'ident', m.group(1), m.start()))
    for m in _CODE.finditer(text):
        if free(m.span()):
            taken.append(m.span())
            found.append(_mention(text, 'code', m.group(1), m.start()))
    for m in _PROPER.finditer(text):
        if free(m.span()) and m.group(1).lower() not in STOPWORDS:
            found.append(_mention(text, 'proper', m.group(1), m.start()))
    for m in _NUMBER.finditer(text):
        if free(m.span()):
            # The word right after a number is its unit ('30 minutes', '5 units'): part of what it is about.
            unit = label_stems(' '.join(text[m.end() : m.end() + 40].split()[:1]))
            context = _context(text, m.start(), 0) | unit
            found.append(Mention(kind='number', value=m.group(1), position=m.start(), context=context))
    found.sort(key=lambda mention: mention.position)

    ranges: list[TimeRange] = []
    for index, (first, second) in enumerate(itertools.pairwise(times)):
        between = text[first.end() : second.start()].strip().lower()
        if between in ('to', '-', '\u2013', 'until', 'till', 'and', '..', 'through', '->', '\u2192'):
            # A range's label is the words since the previous time: never the previous range's own words.
            floor = times[index - 1].end() if index else 0
            ranges.append(
                TimeRange(start=first.group(), end=second.group(), label=_context(text, first.start(), floor))
            )
    return tuple(found), tuple(ranges)
