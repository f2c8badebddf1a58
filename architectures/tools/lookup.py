"""The resolution tools: which entity a question means, and which windows, when it names neither.

A question such as "checkout has been slow since about 10:00, look into it" names a workload, not a pod, and a time
of day, not two windows. `search_entities` searches the pods and nodes seen lately for the workload;
`windows_since` turns the time the trouble started and the time of the question into the incident window and its
baseline. `architectures.resolve` offers them as the tools `find_entities` and `incident_windows`, with the time of
the question filled in by the system, which knows it. Neither is among the four investigation tools (`ALL_TOOLS`):
only a step that resolves an open question holds them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic_ai import ModelRetry

from architectures.telemetry.backend import parse_time
from architectures.telemetry.current import get_backend
from architectures.telemetry.scenarios import BASELINE_MINUTES
from architectures.tools.arguments import iso

__all__ = ('SEEN_WITHIN', 'name_matches', 'search_entities', 'windows_since')

_WORD = re.compile(r'[a-z0-9]+')
_TIME_OF_DAY = re.compile(r'^(\d{1,2}):(\d{2})$')
_MIN_PREFIX = 4
"""A word this long matches a name part it begins ('notif' finds notification-worker); shorter words must equal a
part."""
_MIN_WORD = 3
"""Shorter words ('a', 'is', 'on') and numbers (times, counts, the octets of a node's name) say nothing about which
entity is meant: they are not searched for."""


def _search_words(text: str) -> list[str]:
    return [w for w in dict.fromkeys(_WORD.findall(text.lower())) if len(w) >= _MIN_WORD and not w.isdigit()]


def name_matches(text: str, name: str) -> list[str]:
    """The words of `text` that match a part of `name` (its `-` or `.` separated parts): equal to it, or, for a word
    of at least four letters, its beginning. Case is ignored; numbers and words under three letters are skipped."""
    parts = _WORD.findall(name.lower())
    return [
        word
        for word in _search_words(text)
        if any(part == word or (len(word) >= _MIN_PREFIX and part.startswith(word)) for part in parts)
    ]


SEEN_WITHIN = timedelta(hours=1)
"""An entity is a candidate when it was observed within this time before the question: a pod deleted last week is
not what a question about the last half hour means."""


async def search_entities(question: str, at: datetime) -> dict[str, Any]:
    """The pods and nodes observed within `SEEN_WITHIN` before `at` whose names hold words of `question`, most
    matched words first (then by name), each with the words it matched. `ModelRetry` when the question holds no word
    to search for."""
    if not _search_words(question):
        raise ModelRetry(
            f'question={question!r} holds no word to search for (numbers and words under three letters are '
            "skipped): pass the user's question or the words that name the entity."
        )
    backend = get_backend()
    matches: list[tuple[int, str, list[str]]] = []
    for entity_type in ('k8s:pod', 'k8s:node'):
        for name in await backend.entity_names(entity_type):
            words = name_matches(question, name)
            coverage = await backend.coverage(entity_type, name) if words else None
            if words and coverage is not None and coverage[0] < at and coverage[1] > at - SEEN_WITHIN:
                matches.append((len(words), f'{entity_type}/{name}', words))
    matches.sort(key=lambda match: (-match[0], match[1]))
    return {
        'searched_words': _search_words(question),
        'observed_since': iso(at - SEEN_WITHIN),
        'matches': [{'entity': entity, 'matched_words': words} for _, entity, words in matches],
        **({} if matches else {'hint': 'no pod or node seen lately has these words in its name: try other words'}),
    }


def _when(argument: str, value: str, now: datetime | None = None) -> datetime:
    clock = _TIME_OF_DAY.match(value.strip())
    if clock is not None and now is not None:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise ModelRetry(f'{argument}={value!r} is not a time of day: use HH:MM from 00:00 to 23:59.')
        moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        # A time of day later than now is yesterday's ("since 23:30", asked at 00:10).
        return moment - timedelta(days=1) if moment > now else moment
    try:
        return parse_time(value)
    except (ValueError, TypeError, AttributeError):
        example = "a time of day such as '08:15', or " if now is not None else ''
        raise ModelRetry(
            f"{argument}={value!r} is not a valid time: use {example}ISO 8601 UTC such as '2026-01-05T08:15:00Z'."
        ) from None


def windows_since(since: str, now: str) -> dict[str, str]:
    """The two windows of an investigation: the incident window, from when the trouble started (`since`: a time of
    day 'HH:MM', UTC, on the day of `now` or the day before when that is later than `now`, or ISO 8601 UTC) until
    `now` (ISO 8601 UTC), and the baseline window, the hour before it. `ModelRetry` naming the argument when a time
    is not valid or `since` is not before `now`."""
    current = _when('now', now)
    start = _when('since', since, current)
    if start >= current:
        raise ModelRetry(f'since ({since}) must be before now ({now}): the trouble started before the question.')
    return {
        'baseline_start': iso(start - timedelta(minutes=BASELINE_MINUTES)),
        'baseline_end': iso(start),
        'incident_start': iso(start),
        'incident_end': iso(current),
    }
