"""Following the subjects a result lists: when what was asked is done and nothing found explains the task, a model may
look at the other subjects a result names ('hosts': ['alpha', 'beta']) with the tools it used on its own subject."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any

from pydantic_ai.tools import ToolDefinition

from . import schema as js
from .arguments import Filled, canonical, quoted_options
from .intent import is_identifier
from .reading import Call, Conversation, embedded_objects
from .text import find_word, stem, stem_set, words

WANDER = -0.12
"""Margin of the yes/no choice to follow listed subjects: never at temperature 0 (greedy), about 30% of the
decisions at 0.7. An investigation that found nothing sometimes widens its search, as an LLM does; it is an open
choice, not what the task asks for."""
MAX_FOLLOWED = 2
"""Listed subjects looked at in one conversation at most: a model widening its search checks a few, not all."""
_LISTED = re.compile(r'^[\w][\w.:/-]{0,200}$')
"""A value that can be an identifier or a name (no spaces): what a list of subjects holds."""
_NAME_WORDS = frozenset({'name', 'id', 'identifier'})
_TYPE_WORDS = frozenset({'type', 'kind', 'category'})
_ONCE = re.compile(r'(?<!at )\bonce\b')


@dataclass(frozen=True, kw_only=True)
class Follow:
    """One call on a listed subject."""

    tool: ToolDefinition
    filled: Filled
    why: str


_TROUBLE = frozenset(
    {
        'slow', 'slower', 'late', 'fail', 'fails', 'failing', 'failed', 'failure', 'failures', 'error', 'errors',
        'broken', 'breaks', 'crash', 'crashes', 'crashing', 'restarting', 'stuck', 'hangs', 'hanging', 'timeout',
        'timeouts', 'unavailable', 'unreachable', 'degraded', 'outage', 'trouble', 'problem', 'problems', 'wrong',
    }
)  # fmt: skip
"""Words a user states a symptom with ('checkout is slow', 'emails keep failing'): generic English, any domain."""
_DOUBT = frozenset({'not', 'no', 'nothing', 'never', 'without', 'whether', 'if', 'any', 'anything', 'don', 't'})
"""Words that, in the four before a symptom word, make it no statement ('nothing is wrong', 'whether it fails')."""


def complains(conversation: Conversation) -> bool:
    """The user states a symptom: a sentence of the prompt's prose, or of a question the prompt passes on as JSON
    (`{"question": "..."}`), that is no question uses a word of trouble with no word of negation or doubt in the four
    before it ('Users say quotes are slow.', not 'Is anything wrong?' or 'Confirm nothing is wrong.'). Data written
    in the prompt ('1 errors' in a report) states nothing."""
    prose = conversation.masked[len(conversation.instructions) + 1 :]
    passed = [
        value
        for obj in embedded_objects(conversation.prompt)
        for key, value in obj.items()
        if isinstance(value, str) and set(words(str(key))) & _ASKED
    ]
    return any(_states_trouble(text) for text in (prose, *passed))


_ASKED = frozenset({'question', 'prompt', 'request', 'query'})
"""Keys under which a prompt passes on what the user asked."""


def _states_trouble(text: str) -> bool:
    for sentence in re.split(r'(?<=[.!?;])\s+', text):
        if sentence.rstrip().endswith('?'):
            continue
        said = words(sentence)
        for k, w in enumerate(said):
            if w in _TROUBLE and not set(said[max(0, k - 4) : k]) & _DOUBT:
                return True
    return False


def unexplained(conversation: Conversation, verdicts: frozenset[str]) -> bool:
    """The results say whether something is wrong (they hold a yes/no field of the answer, `alarm_raised`) and every
    one says no. Results that never say are no reason to look further."""
    said = [obj[k] for obj in conversation.objects for k in verdicts if isinstance(obj.get(k), bool)]
    return bool(said) and not any(said)


def offers(tools: list[ToolDefinition], conversation: Conversation) -> dict[str, list[Follow]]:
    """The calls that would look at each subject a result lists and no call has looked at yet, by subject.

    A list of strings in a result (the values under a key such as `hosts`) whose key's words fit a name or identifier
    parameter of a tool used successfully (`name`: 'the host or cluster name') offers those subjects: that tool's
    latest successful call with the listed one in place of its subject (and a type parameter set to the one option
    that names the key's words). A subject the text already names is not new; nor is one a call already used, and
    once `MAX_FOLLOWED` listed subjects have been looked at, nothing more is offered. A tool the text says to call
    once is never used to follow.
    """
    once = _called_once(conversation.text, [t.name for t in tools])
    used: dict[str, Call] = {}
    for made in conversation.calls:
        if made.status == 'ok' and made.name not in once:
            used[made.name] = made  # the latest successful call of each tool: its subject and windows
    found: dict[str, list[Follow]] = {}
    followed: set[str] = set()
    sent = {(c.name, c.key) for c in conversation.calls}
    lowered = conversation.text.lower()
    for key, listed in _lists(conversation):
        for tool in tools:
            base = used.get(tool.name)
            target = _target(tool, key) if base is not None else None
            if base is None or target is None:
                continue
            name, typed = target
            for value in listed:
                args = {**base.args, name: value, **typed}
                if any(c.args.get(name) == value for c in conversation.calls):
                    followed.add(value)
                    continue
                if find_word(lowered, value.lower()) != -1 or (tool.name, canonical(args)) in sent:
                    continue
                why = f'follow-up: `{key}` of an earlier result lists {value}; nothing found so far explains the task'
                filled = Filled(args=args, grounded=len(args), required=len(args))
                found.setdefault(value, []).append(Follow(tool=tool, filled=filled, why=why))
    return found if len(followed) < MAX_FOLLOWED else {}


def own_generator(rng: random.Random) -> random.Random:
    """A generator for the choice to follow, seeded from the request's without drawing from it: where the model
    does not follow, every other draw of the request stays what it was."""
    digest = hashlib.blake2b(repr(rng.getstate()).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, 'big'))


def _called_once(text: str, names: list[str]) -> frozenset[str]:
    """Tools a sentence of the text says to call once ('call lookup once for the subject')."""
    found: set[str] = set()
    for sentence in re.split(r'(?<=[.!?])\s+', text):
        lowered = sentence.lower()
        if _ONCE.search(lowered):
            found |= {n for n in names if find_word(lowered, n.lower()) != -1}
    return frozenset(found)


def _lists(conversation: Conversation) -> list[tuple[str, tuple[str, ...]]]:
    """(key, values) for every list of identifier-like strings under a key of a successful result, first seen first."""
    found: dict[str, tuple[str, ...]] = {}
    for call in conversation.calls:
        if call.status != 'ok':
            continue
        stack: list[Any] = [call.result]
        while stack:
            value = stack.pop(0)
            if isinstance(value, dict):
                for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
                    if (
                        isinstance(item, list) and item and all(isinstance(x, str) and _LISTED.match(x) for x in item)  # pyright: ignore[reportUnknownVariableType]
                    ):
                        found.setdefault(str(key), tuple(dict.fromkeys(item)))  # pyright: ignore[reportUnknownArgumentType]
                    elif isinstance(item, (dict, list)):
                        stack.append(item)
            elif isinstance(value, list):
                stack.extend(value)  # pyright: ignore[reportUnknownArgumentType]
    return list(found.items())


def _nouns(text: str) -> frozenset[str]:
    """The stems of the words of `text`, plurals in -es read as their singular too ('boxes' -> 'box')."""
    found = set(stem_set(text))
    found |= {stem(w[:-2]) for w in words(text) if len(w) > 4 and w.endswith('es')}
    return frozenset(found)


def _target(tool: ToolDefinition, key: str) -> tuple[str, dict[str, Any]] | None:
    """The name parameter a listed value under `key` goes to, with the type option naming the key's words; None when
    no parameter speaks of what the key lists, or the type is not clear."""
    root = tool.parameters_json_schema
    props: dict[str, js.Schema] = js.resolve(root, root).get('properties') or {}
    listed = _nouns(key)
    if not listed:
        return None
    names = [
        n
        for n, sub in props.items()
        if (set(words(n)) & _NAME_WORDS or is_identifier(n))
        and js.kind(js.resolve(sub, root)) == 'string'
        and listed & _nouns(f'{n} {js.resolve(sub, root).get("description", "")}')
    ]
    if len(names) != 1:
        return None
    typed: dict[str, Any] = {}
    for n, sub in props.items():
        if n == names[0] or not set(words(n)) & _TYPE_WORDS:
            continue
        resolved = js.resolve(sub, root)
        options = resolved.get('enum') or quoted_options(str(resolved.get('description', '')))
        matching = [o for o in options if isinstance(o, str) and listed & _nouns(' '.join(words(o)))]
        if len(matching) != 1:
            return None
        typed[n] = matching[0]
    return names[0], typed
