"""What a request asks for: a question or an action, which tools change state, and which only describe tools.

Three readings, all from words any agent uses (never a domain's own):
- a tool *changes state* when its name, or the verb its description starts with, is an action (freeze, book,
  reserve, cancel, assign, send...); it *reads* when they are a look-up (get, list, find, search, check...);
- a prompt *asks a question* when it has a question and no sentence of it asks for an action ("What is my
  balance?", "Is my card frozen?"); "Can you freeze it?" and "Please book it." ask for one;
- an instruction sentence that names tools without ordering them ("Use `fetch_x` for balances and `block_y` to
  stop a card") is a *catalogue*: it says what each tool is for, it asks for none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .text import stem, stems, words

_CHANGE_VERBS = frozenset(
    {
        'apply', 'approve', 'archive', 'assign', 'block', 'book', 'borrow', 'buy', 'cancel', 'change', 'charge',
        'close', 'create', 'deactivate', 'decline', 'delete', 'deploy', 'destroy', 'disable', 'drop', 'edit', 'enable',
        'enroll', 'erase', 'file', 'freeze', 'grant', 'hold', 'invite', 'issue', 'kill', 'lock', 'mark', 'move',
        'order', 'pay', 'place', 'post', 'publish', 'purchase', 'purge', 'record', 'refund', 'register', 'reject',
        'release', 'remove', 'rename', 'renew', 'reopen', 'reorder', 'request', 'reschedule', 'reserve', 'restart',
        'return', 'revoke', 'roll', 'save', 'schedule', 'send', 'submit', 'subscribe', 'suspend', 'terminate',
        'transfer', 'unblock', 'unfreeze', 'uninstall', 'unlock', 'unsubscribe', 'update', 'upload', 'void', 'wipe',
        'write',
    }
)  # fmt: skip
"""Verbs that change something outside the conversation: a tool named for one (or described by one) acts."""
_READ_VERBS = frozenset(
    {
        'calculate', 'check', 'compute', 'convert', 'count', 'describe', 'estimate', 'fetch', 'find', 'get', 'how',
        'inspect', 'is', 'list', 'look', 'lookup', 'preview', 'query', 'read', 'search', 'show', 'sum', 'the',
        'track', 'validate', 'verify', 'view', 'what', 'when', 'where', 'whether', 'which', 'who',
    }
)  # fmt: skip
"""Words a look-up's name or description starts with ("The current balance...", "Whether copies are...")."""
_ASKING = frozenset({'can', 'could', 'would', 'will', 'shall', 'may'})
"""A question starting with one of these asks for something ("Can you freeze it?"), unless it asks permission."""
_WANTING = frozenset({'please', 'want', 'wants', 'need', 'needs', 'like', 'let'})
"""Words of a request inside a statement ("I want to book", "I'd like to cancel", "please")."""
_TELLING = frozenset({'tell', 'show', 'know', 'explain'})
"""A sentence with one of these asks to be told something ("tell me the last payment"): a question."""
_NEGATION = frozenset({'never', 'not', 'no', 'don', 'dont', 'without', 'avoid', 'nor', 't'})
_STEP = re.compile(r'\b(first(?:ly)?|then|next|afterwards|after that|finally|lastly|call|always|must)\b')
"""An instruction sentence with one of these orders its tools: naming a tool there asks for it."""
_PURPOSE_END = re.compile(r'[,;:()]|\band\b|\bor\b')
_SENTENCE = re.compile(r'(?<=[.!?])\s+|\n+')
QUESTION_STEMS = frozenset(stem(w) for w in ('many', 'much', 'long', 'often', 'far', 'left', 'now', 'still'))
"""Words of how a question is asked ('how many', 'how much ... left'), not of what it is about."""
_IDENTIFIER_WORDS = frozenset({'id', 'ids', 'uuid', 'ref', 'reference'})
_ID_SHAPE = re.compile(r'[A-Za-z0-9]+(?:[-_.:/#][A-Za-z0-9]+)*')


def effect(name: str, description: str) -> str | None:
    """'changes' or 'reads' for a tool by its name (its first word), else by the first word of its description;
    None when neither says."""
    for said in (words(name), words(description)):
        if said and said[0] in _CHANGE_VERBS:
            return 'changes'
        if said and said[0] in _READ_VERBS:
            return 'reads'
    return None


def action_stems(name: str, description: str) -> frozenset[str]:
    """Stems of the actions a state-changing tool performs: the verbs its name and description start with."""
    return frozenset(stem(s[0]) for s in (words(name), words(description)) if s and s[0] in _CHANGE_VERBS)


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """What the user's prompt asks for."""

    question: bool
    """It asks a question and no sentence of it asks for an action: it wants to know, not to change anything."""
    requested: frozenset[str]
    """Stems of the words in sentences that ask for something (requests and request-form questions), negated ones
    left out: an action whose verb is here is asked for."""
    forbidden: frozenset[str] = frozenset()
    """Stems of the words a negation comes just before ("do not freeze", "don't cancel"), in any sentence: an action
    whose verb is here is not to be done."""


@lru_cache(maxsize=1024)
def read_prompt(prompt: str) -> Prompt:
    """How `prompt` asks: see `Prompt`."""
    questions = 0
    requesting = False
    requested: set[str] = set()
    forbidden: set[str] = set()
    for sentence in _SENTENCE.split(prompt.strip()):
        said = words(sentence)
        if not said:
            continue
        forbidden |= {stem(w) for k, w in enumerate(said) if set(said[max(0, k - 4) : k]) & _NEGATION}
        telling = bool(set(said) & _TELLING)
        asked = sentence.rstrip().endswith('?') or telling
        questions += asked
        if telling or (set(said[:3]) & _NEGATION and not asked):
            # "Please tell me the last payment" wants to know; "Do not freeze anything." forbids: neither asks for an
            # action.
            continue
        # "Can you freeze it?" and "Please freeze it" ask for it; "Is it frozen?" and "My card is C-1." do not.
        wanting = bool(set(said) & _WANTING) or (asked and said[0] in _ASKING and 'i' not in said[1:2])
        imperative = not asked and said[0] not in _SUBJECTS and _has_a_verb(sentence, said)
        if not (wanting or imperative):
            continue
        requesting = True
        for k, w in enumerate(said):
            if not set(said[max(0, k - 4) : k]) & _NEGATION:
                requested.add(stem(w))
    return Prompt(
        question=questions > 0 and not requesting, requested=frozenset(requested), forbidden=frozenset(forbidden)
    )


_SUBJECTS = frozenset(
    {
        'i', 'my', 'me', 'we', 'our', 'you', 'your', 'he', 'she', 'they', 'their', 'his', 'her', 'it', 'its', 'there',
        'this', 'that', 'these', 'those', 'the', 'a', 'an', 'some', 'someone', 'somebody', 'yesterday', 'today',
        'last', 'on', 'in', 'at', 'since', 'after', 'before', 'as', 'thanks', 'thank', 'hello', 'hi', 'dear',
    }
)  # fmt: skip
"""Words a statement starts with (a subject, a determiner, a time): a sentence starting otherwise is a command, if it
has a verb."""
_VERBS = (
    _CHANGE_VERBS
    | (_READ_VERBS - {'how', 'is', 'the', 'what', 'when', 'where', 'whether', 'which', 'who'})
    | _TELLING
    | frozenset(
        {
            'add', 'analyse', 'analyze', 'ask', 'audit', 'build', 'clean', 'clear', 'collect', 'compare', 'confirm',
            'contact', 'copy', 'correct', 'debug', 'decide', 'detect', 'determine', 'diagnose', 'do', 'download',
            'ensure', 'evaluate', 'examine', 'figure', 'fix', 'follow', 'gather', 'give', 'go', 'handle', 'help',
            'identify', 'investigate', 'keep', 'let', 'load', 'make', 'merge', 'monitor', 'notify', 'open', 'pick',
            'print', 'put', 'raise', 'rank', 'recommend', 'reset', 'resolve', 'respond', 'retry', 'review', 'run',
            'scan', 'see', 'select', 'sort', 'start', 'stop', 'summarise', 'summarize', 'take', 'test', 'triage',
            'try', 'turn', 'use', 'wait', 'watch',
        }
    )
)  # fmt: skip
"""Verbs a command starts with: an action, a look-up, or a general verb of doing ("Investigate ...", "Fix ...")."""
_LEADING = frozenset({'please', 'kindly', 'just', 'now', 'also', 'then', 'and', 'so', 'first', 'next', 'finally', 'ok'})
"""Words that may come before a command's verb ("Please freeze ...", "Then check ...")."""
_OBJECT_STARTS = frozenset(
    {
        'the', 'a', 'an', 'my', 'our', 'your', 'his', 'her', 'its', 'their', 'this', 'that', 'these', 'those', 'all',
        'every', 'each', 'any', 'some', 'it', 'them', 'me', 'us', 'him',
    }
)  # fmt: skip
"""Words an object starts with: after a sentence's first word, they show that word is a verb."""
_VALUE_START = re.compile(r'\s*[(\[{<"\'`]|\s*[-+]?[$€£]?\d')
"""A sentence starting with a bracket, a quote or a number is a value or an aside, not a clause."""


def _has_a_verb(sentence: str, said: tuple[str, ...]) -> bool:
    """Whether a sentence that starts with no subject is a command (a verb-initial clause: "Freeze the card", "Then
    check ...") rather than a fragment that gives context ("Account AC-1001.", "(order 12)", "13.99 at a shop.")."""
    if _VALUE_START.match(sentence):
        return False
    clause = [w for k, w in enumerate(said) if k > 0 or w not in _LEADING]
    if not clause:
        return False
    # A word outside the list is a verb when an object follows it ("Reindex the table.", "Escalate it."); a noun is
    # followed by a value, a label or nothing ("Card C-4421.", "Main account, AC-1001.", "Cheers.").
    return clause[0] in _VERBS or (len(clause) > 1 and clause[1] in _OBJECT_STARTS)


@dataclass(frozen=True, kw_only=True)
class Catalogue:
    """The instructions' catalogue sentences: where they are, and what each tool named there is said to be for."""

    spans: tuple[tuple[int, int], ...]
    """Start and end of each catalogue sentence in the instructions."""
    purposes: dict[str, str]
    """Tool name -> the words right after its name there ('for balances', 'to stop a card', 'finds flights')."""


@lru_cache(maxsize=1024)
def catalogue(instructions: str, tool_names: frozenset[str]) -> Catalogue:
    """The sentences of `instructions` that name tools without ordering them (no 'first', 'then', 'call'...)."""
    spans: list[tuple[int, int]] = []
    purposes: dict[str, str] = {}
    start = 0
    for match in [*_SENTENCE.finditer(instructions), None]:
        end = match.start() if match else len(instructions)
        sentence = instructions[start:end]
        lowered = sentence.lower()
        named = sorted(
            (m.start(), m.end(), name)
            for name in tool_names
            if (m := re.search(rf'(?<![\w]){re.escape(name.lower())}(?![\w])', lowered))
        )
        if named and not _STEP.search(_blank(lowered, [(a, b) for a, b, _ in named])):
            spans.append((start, end))
            for k, (_, after, name) in enumerate(named):
                upto = named[k + 1][0] if k + 1 < len(named) else len(sentence)
                tail = sentence[after:upto]
                cut = _PURPOSE_END.search(tail)
                purposes[name] = (tail[: cut.start()] if cut else tail).strip(' .')
        start = match.end() if match else end
    return Catalogue(spans=tuple(spans), purposes=purposes)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for a, b in spans:
        text = text[:a] + ' ' * (b - a) + text[b:]
    return text


def without(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """`text` with `spans` blanked out (same length, so positions still hold)."""
    return _blank(text, list(spans))


def purpose_stems(purpose: str) -> frozenset[str]:
    """The stems of a catalogue purpose, as words of the tool's description."""
    return frozenset(stems(purpose))


def is_identifier(name: str) -> bool:
    """A parameter that takes an identifier (`card_id`, `bookingId`, `ref`): its value comes from the text only when
    it looks like one, else from a result."""
    said = words(name)
    return bool(said) and said[-1] in _IDENTIFIER_WORDS


def looks_like_identifier(value: Any) -> bool:
    """An identifier has a digit and no spaces ('C-4421', 'OR-5512', '8812'); 'Oslo' or 'Dune' is a name."""
    return isinstance(value, str) and bool(_ID_SHAPE.fullmatch(value)) and any(c.isdigit() for c in value)
