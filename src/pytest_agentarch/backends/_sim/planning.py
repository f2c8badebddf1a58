"""Which tool(s) to call next: relevance scoring, what is still missing, retries, parallel or sequential emission."""

from __future__ import annotations

import difflib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from pydantic_ai.tools import ToolDefinition

from . import schema as js
from .arguments import Filled, Filler, Operator, canonical, quoted_options, same_number, time_label, time_role
from .following import WANDER, complains, offers, own_generator, unexplained
from .intent import QUESTION_STEMS, action_stems, catalogue, effect, is_identifier, purpose_stems, read_prompt, without
from .reading import Call, Conversation
from .text import count_tokens, find_word, is_code, label_stems, stem, stem_set, stems, without_examples, words

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
"""For a tool with one argument set; each further set the text asks for adds one call."""
_FOLLOWS_TOGETHER = 1.8
"""How much more willing to emit calls in one response when the text asks for them together (0.9 at parallel=0.5)."""
_JOIN = 0.45
"""A call joins the response when its willingness (above) reaches this: the greedy threshold of that choice."""
_SPREAD = 0.2
"""Yes/no choices are logistic in margin / (_SPREAD x temperature): at 0.7 a margin of 0.45 gives 96% yes."""
_FIRST_SPREAD = 0.25
"""The first call is a softmax over utilities / (_FIRST_SPREAD x temperature x best score)."""
_PLACE = 0.05
"""Each place in the greedy order of preference costs this fraction of the best score in the softmax: no two
options are ever exactly tied, so a temperature near 0 stays near the greedy choice, as a real model's logits do."""
_TOGETHER = re.compile(r'\b(at once|in parallel|together|simultaneously|at the same time|concurrently)\b')
_EXISTENCE = frozenset({'exists', 'exist', 'found', 'present'})
_CARES_IF_MISSING = re.compile(r'\b(exist\w*|not found|present|missing|absent)\b')
"""The text cares whether its subject exists ('check it exists', 'if it does not exist, ...')."""
_DESTRUCTIVE = frozenset(
    {
        'delete', 'remove', 'cancel', 'refund', 'drop', 'destroy', 'erase', 'purge', 'wipe', 'revoke', 'terminate',
        'kill', 'uninstall', 'unsubscribe', 'truncate', 'discard', 'deactivate', 'disable', 'void', 'overwrite',
    }
)  # fmt: skip
"""Actions that destroy or cannot be undone: a tool whose name or description starts with one waits until the task
asks for such an action."""
_DESTRUCTIVE_STEMS = frozenset(stem(w) for w in _DESTRUCTIVE)
_NEGATION = frozenset({'never', 'not', 'no', 'don', 'dont', 'without', 'avoid', 'nor', 't'})
"""Words that, just before a destructive word, forbid the action instead of asking for it ("don't" -> 'don', 't')."""
_STEP_MARK = re.compile(r'\b(first(?:ly)?|then|next|afterwards|after that|finally|lastly|second(?:ly)?)\b')
_CONDITION = frozenset({'if', 'unless', 'when', 'only', 'whenever'})
_DETERMINERS = frozenset({'the', 'a', 'an', 'its', 'their', 'his', 'her', 'our', 'your', 'my', 'this', 'that'})
"""'the first free slot' is a slot, not a step."""


@dataclass(frozen=True, kw_only=True)
class ToolProfile:
    """What the model keeps about one tool definition (cached: definitions repeat across thousands of requests)."""

    name: str
    name_stems: frozenset[str]
    description_stems: frozenset[str]
    parameter_stems: frozenset[str]
    time_labels: frozenset[str]
    """Window words of its time parameters (e.g. {'basel'} for `baseline_start`)."""
    destructive: bool
    """Its name (or the verb its description starts with) is an action that destroys or cannot be undone."""
    changes: bool
    """Its name (or the verb its description starts with) is an action that changes state (see `intent.effect`)."""
    actions: frozenset[str]
    """Stems of the actions it performs, when it changes state ('lock' for `lock_door`)."""
    code_labels: frozenset[frozenset[str]]
    """Label stems of its parameters whose examples are upper-case codes ('USD'): fields like them take codes."""
    operator: Operator | None
    """For a tool of two required numbers ('a plus b'): its words and the two parameters, in order."""
    tokens: int
    """Token count of the definition (name, description, schema JSON) for usage."""
    labels: frozenset[str] = frozenset()
    """Label stems of its parameters that are not identifiers (see `Filler.parameter_labels`)."""
    identifier_labels: frozenset[str] = frozenset()
    """Label stems of its identifier parameters (see `Filler.identifier_labels`)."""


_profiles: dict[tuple[str, str, str], ToolProfile] = {}
_by_identity: dict[tuple[str, str, int], tuple[dict[str, Any], ToolProfile]] = {}
"""Each request gets fresh definition objects that share the agent's schema dict: look a profile up by the schema's
identity, without serialising it. Entries keep their schema alive, so an id is never reused while it is cached."""


def profile(tool: ToolDefinition) -> ToolProfile:
    """The cached profile of `tool`."""
    schema = tool.parameters_json_schema
    key = (tool.name, tool.description or '', id(schema))
    known = _by_identity.get(key)
    if known is not None and known[0] is schema:
        return known[1]
    result = _profile(tool)
    if len(_by_identity) >= _CACHE_SIZE:
        _by_identity.clear()
    _by_identity[key] = (schema, result)
    return result


def _profile(tool: ToolDefinition) -> ToolProfile:
    schema_json = json.dumps(tool.parameters_json_schema, sort_keys=True)
    key = (tool.name, tool.description or '', schema_json)
    cached = _profiles.get(key)
    if cached is not None:
        return cached
    props: dict[str, Any] = tool.parameters_json_schema.get('properties') or {}
    # An identifier's example ("e.g. 'AC-1001'") shows the shape of a value, not what the tool is about: its
    # words would match any prompt that gives such a value, for every tool that takes one.
    parameter_text = ' '.join(
        f'{n} {without_examples(d) if is_identifier(n) else d}'
        for n, p in props.items()
        if isinstance(p, dict) and isinstance(d := str(p.get('description', '')), str)
    )
    labels: set[str] = set()
    code_labels: set[frozenset[str]] = set()
    for n, p in props.items():
        description = str(p.get('description', '')) if isinstance(p, dict) else ''
        if time_role(n) is not None:
            labels |= time_label(n, description)
        if any(is_code(q) for q in quoted_options(description)) and label_stems(f'{n} {description}'):
            code_labels.add(label_stems(f'{n} {description}'))
    required = [n for n in tool.parameters_json_schema.get('required') or () if isinstance(props.get(n), dict)]
    numbers = [
        n for n in required if js.kind(js.resolve(props[n], tool.parameters_json_schema)) in ('number', 'integer')
    ]
    name_stems = frozenset(stems(tool.name))
    description_stems = frozenset(stems(tool.description or ''))
    verbs = set(words(tool.name)[:1]) | set(words(tool.description or '')[:1])
    result = ToolProfile(
        name=tool.name,
        name_stems=name_stems,
        description_stems=description_stems,
        parameter_stems=frozenset(stems(parameter_text)),
        time_labels=frozenset(labels),
        destructive=bool(verbs & _DESTRUCTIVE),
        changes=effect(tool.name, tool.description or '') == 'changes',
        actions=action_stems(tool.name, tool.description or ''),
        code_labels=frozenset(code_labels),
        operator=Operator(words=name_stems | description_stems, operands=(numbers[0], numbers[1]))
        if len(numbers) == 2 and len(required) == 2
        else None,
        tokens=count_tokens(tool.name) + count_tokens(tool.description or '') + count_tokens(schema_json),
        labels=frozenset().union(*(_labels(n, p) for n, p in props.items() if not is_identifier(n))),
        identifier_labels=frozenset().union(*(_labels(n, p) for n, p in props.items() if is_identifier(n))),
    )
    if len(_profiles) >= _CACHE_SIZE:
        _profiles.clear()
    _profiles[key] = result
    return result


def _labels(name: str, schema: Any) -> frozenset[str]:
    return label_stems(f'{name} {schema.get("description", "") if isinstance(schema, dict) else ""}')


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
    tier: int = 0
    """0 for what the text asks for, 1 for follow-ups found in results (see `Candidate.tier`)."""
    why: str = ''
    """What led the model to this call: the rule and the words that triggered it (see `sim.explain`)."""

    @property
    def complete(self) -> bool:
        """True when every required argument came from the conversation."""
        return self.filled.grounded >= self.filled.required


@lru_cache(maxsize=_CACHE_SIZE)
def _relevance(profiles: tuple[ToolProfile, ...], text_stems: frozenset[str]) -> tuple[float, ...]:
    """Each tool's relevance to the text: IDF-weighted stems shared with it (name x2, description x1, parameters x0.5).

    The terms are summed with `math.fsum`, the correctly rounded sum, never in set iteration order: float addition
    is not associative, and the order in which a frozenset of strings yields its items follows the process's hash
    salt (and how the set was built), so a running sum gave scores that differed in the last bits from one process
    to the next. Tools whose terms are the same multiset (`ask_metrics_specialist` / `ask_logs_specialist`) must
    tie exactly in every process, because ties are broken by position in the text, and a one-bit difference
    reorders the options the seeded draws pick from.
    """
    n = len(profiles)
    df: dict[str, int] = {}
    for p in profiles:
        for s in p.name_stems | p.description_stems | p.parameter_stems:
            df[s] = df.get(s, 0) + 1
    scores: list[float] = []
    for p in profiles:
        terms = [2.0 * math.log(1 + n / df[s]) for s in p.name_stems & text_stems]
        terms.extend(math.log(1 + n / df[s]) for s in (p.description_stems - p.name_stems) & text_stems)
        terms.extend(
            0.5 * math.log(1 + n / df[s]) for s in (p.parameter_stems - p.name_stems - p.description_stems) & text_stems
        )
        terms.append(0.3 / n)
        scores.append(math.fsum(terms))
    return tuple(scores)


@lru_cache(maxsize=_CACHE_SIZE)
def _frequencies(profiles: tuple[ToolProfile, ...]) -> dict[str, int]:
    """How many of the tools each stem belongs to (read only: the cached dict is shared)."""
    df: dict[str, int] = {}
    for p in profiles:
        for s in p.name_stems | p.description_stems | p.parameter_stems:
            df[s] = df.get(s, 0) + 1
    return df


@lru_cache(maxsize=_CACHE_SIZE)
def _distinctive(profiles: tuple[ToolProfile, ...], text_stems: frozenset[str]) -> tuple[bool, ...]:
    """Whether each tool shares with the text a stem that not every tool has."""
    n = len(profiles)
    df = _frequencies(profiles)
    return tuple(
        any(df[s] < n for s in (p.name_stems | p.description_stems | p.parameter_stems) & text_stems) for p in profiles
    )


@lru_cache(maxsize=_CACHE_SIZE)
def _asks_to_destroy(instructions: str, prompt: str) -> bool:
    """The task asks for a destructive action: the prompt uses a word of one with no negation in the four words
    before it ("don't delete"), or an instruction does in a sentence with neither a negation nor a condition
    before it ("never refund unless the customer asks for a refund" asks nothing)."""
    said = words(prompt)
    for k, w in enumerate(said):
        if stem(w) in _DESTRUCTIVE_STEMS and not set(said[max(0, k - 4) : k]) & _NEGATION:
            return True
    for sentence in re.split(r'(?<=[.!?])\s+', instructions):
        said = words(sentence)
        for k, w in enumerate(said):
            if stem(w) in _DESTRUCTIVE_STEMS and not set(said[:k]) & (_NEGATION | _CONDITION):
                return True
    return False


@lru_cache(maxsize=_CACHE_SIZE)
def _steps(text: str) -> tuple[frozenset[str], ...]:
    """The steps the text puts in order with sequence words, as stems: 'first check the stock, then hold them'
    gives two ('When someone wants items,' before 'first' is no step); in 'Run the tests first; after that, ...'
    the words before 'first' are the first step; 'Check it exists. Then look at ...' makes the sentence before
    'Then' the first step."""
    steps: list[str] = []
    previous = ''
    for sentence in re.split(r'(?<=[.!?])\s+', text):
        lowered = sentence.lower()
        marks = [m for m in _STEP_MARK.finditer(lowered) if not _after_determiner(lowered, m.start())]
        if not marks:
            previous = sentence
            continue
        ends = [m.start() for m in marks[1:]] + [len(lowered)]
        parts = [lowered[m.end() : end] for m, end in zip(marks, ends, strict=True)]
        head = lowered[: marks[0].start()]
        if marks[0].group(1).startswith('first'):
            if not stems(parts[0]):
                parts[0] = head
        elif stems(head):
            parts.insert(0, head)
        elif previous:
            parts.insert(0, previous)
        steps.extend(parts)
        previous = ''
    return tuple(s for s in (frozenset(stems(step)) for step in steps) if s)


def _after_determiner(lowered: str, at: int) -> bool:
    before = lowered[max(0, at - 12) : at].split()
    return bool(before) and before[-1] in _DETERMINERS


@lru_cache(maxsize=_CACHE_SIZE)
def _tool_steps(profiles: tuple[ToolProfile, ...], text: str) -> tuple[int | None, ...]:
    """The step of the text each tool serves (the step sharing most with it, by the words that tell the tools
    apart), or None when the text orders no steps or no step speaks of the tool."""
    steps = _steps(text)
    if len(steps) < 2:
        return tuple(None for _ in profiles)
    n = len(profiles)
    df = _frequencies(profiles)
    found: list[int | None] = []
    for p in profiles:
        best: tuple[float, int] | None = None
        for k, step in enumerate(steps):
            terms = [2.0 * math.log(1 + n / df[s]) for s in p.name_stems & step if df[s] < n]
            terms.extend(math.log(1 + n / df[s]) for s in (p.description_stems - p.name_stems) & step if df[s] < n)
            terms.extend(
                0.5 * math.log(1 + n / df[s])
                for s in (p.parameter_stems - p.name_stems - p.description_stems) & step
                if df[s] < n
            )
            score = math.fsum(terms)
            if score > 0 and (best is None or score > best[0]):
                best = (score, k)
        found.append(best[1] if best else None)
    return tuple(found)


def _in_step_order(
    options: list[Option], steps: tuple[int | None, ...], tools: list[ToolDefinition], conversation: Conversation
) -> list[Option]:
    """Hold back tools of a later step while a tool of an earlier one is still to be called ('first check the
    stock, then hold the items'). Tools the text names have their own order; a tool already called goes on."""
    if all(s is None for s in steps):
        return options
    step_of = {t.name: steps[i] for i, t in enumerate(tools)}
    called = {c.name for c in conversation.calls if c.status == 'ok'}

    def step(o: Option) -> int | None:
        return None if o.fixing or o.explicit is not None or o.tool.name in called else step_of[o.tool.name]

    waiting = [s for o in options if (s := step(o)) is not None]
    if not waiting:
        return options
    first = min(waiting)
    return [o for o in options if (s := step(o)) is None or s <= first]


def _give_up(call: Call) -> bool:
    budget = call.max_retries if call.max_retries is not None else 1
    attempt = call.attempt if call.attempt is not None else 1
    return attempt >= budget


def plan(
    tools: list[ToolDefinition],
    conversation: Conversation,
    rng: random.Random,
    temperature: float,
    parallel: float,
    verdicts: frozenset[str] = frozenset(),
) -> tuple[list[Option], Filler, list[str]]:
    """The calls to emit now, in order (empty: time to answer), the filler used (reused for the answer), and notes on
    the tools the rules held back (for `sim.explain`). `verdicts` are the yes/no fields of the answer
    (`alarm_raised`): results that hold them say whether something is wrong (see `following`)."""
    notes: list[str] = []
    profiles = [profile(t) for t in tools]
    claimed = frozenset().union(*(p.time_labels for p in profiles)) if profiles else frozenset[str]()
    # Tool and parameter names are mentioned to be called or set ('set entity_type to ...'), never passed as values.
    names = {t.name for t in tools} | {n for t in tools for n in (t.parameters_json_schema.get('properties') or {})}
    parameter_labels = frozenset().union(*(p.labels for p in profiles)) if profiles else frozenset[str]()
    filler = Filler(
        conversation,
        claimed,
        frozenset(names),
        frozenset(t.name for t in tools),
        parameter_labels,
        code_labels=frozenset().union(*(p.code_labels for p in profiles)) if profiles else frozenset(),
        operators={p.name: p.operator for p in profiles if p.operator is not None},
        identifier_labels=frozenset().union(*(p.identifier_labels for p in profiles)) if profiles else frozenset(),
    )
    if not tools or _told_to_stop(conversation):
        return [], filler, notes
    text = conversation.masked
    listed = catalogue(conversation.instructions, frozenset(t.name for t in tools))
    if listed.spans:
        # A sentence that names tools without ordering them ("use X for balances and Y to stop a card") says what
        # each is for, not which to call: its words become the tool's own, and the rest of the text decides.
        text = without(text, listed.spans)
        profiles = [
            replace(p, description_stems=p.description_stems | purpose_stems(listed.purposes.get(p.name, '')))
            for p in profiles
        ]
    text_stems = stem_set(text) if listed.spans else filler.text_stems
    lowered = text.lower()
    key = tuple(profiles)
    scores = list(_relevance(key, text_stems))
    distinctive = _distinctive(key, text_stems)
    positions = [_mention_position(lowered, t.name) for t in tools]
    asking = read_prompt(conversation.prompt)
    prompt_lowered = conversation.prompt.lower()
    for i, p in enumerate(profiles):
        if (
            p.changes
            and asking.question
            and not p.actions & asking.requested
            and _mention_position(prompt_lowered, p.name) is None
        ):
            # A question wants to know, not to change anything: a tool that acts (freeze, book, cancel...) waits
            # until the user asks for its action, however well its words match or the instructions name it.
            scores[i] = 0.0
            notes.append(f'not called: {p.name}: it changes state and the prompt asks a question, not for this action')
        elif p.changes and p.actions & asking.forbidden:
            # "Do not freeze anything": a negated action is never done, whatever else the prompt asks.
            scores[i] = 0.0
            notes.append(
                f'not called: {p.name}: the prompt says not to ({", ".join(sorted(p.actions & asking.forbidden))})'
            )
    destroying = all(p.destructive for p in profiles) or _asks_to_destroy(
        without(conversation.instructions, listed.spans).lower(), conversation.prompt.lower()
    )
    named = [i for i, p in enumerate(positions) if p is not None]
    if named:
        top = max(scores)
        scores = [s + top + 3.0 if positions[i] is not None else s * 0.4 for i, s in enumerate(scores)]
    best = max(max(scores), _FLOOR)
    by_tool: dict[str, list[Call]] = {}
    for call in conversation.calls:
        by_tool.setdefault(call.name, []).append(call)
    asked = [p.name for p in profiles if p.changes and p.actions & asking.requested]
    if asked and all(any(c.status == 'ok' for c in by_tool.get(name, ())) for name in asked):
        # What the user asked to be done is done: a model reports it rather than looking further.
        notes.append(f'done: the action the prompt asks for succeeded ({", ".join(asked)}); nothing else was asked')
        return [], filler, notes

    # Once the work is under way and the text tells the tools apart, a tool it does not point at is no step of it.
    pointed = any(c.status == 'ok' for c in conversation.calls) and any(distinctive)
    covered = _covered(key, conversation, by_tool) if asking.question and pointed else None
    options: list[Option] = []
    for i, tool in enumerate(tools):
        score = scores[i]
        if score < _FLOOR or score < _MARGINAL * best:
            continue
        if profiles[i].destructive and not destroying and positions[i] is None:
            # Deleting, cancelling, refunding...: not done unless the task asks for it, however well the tool's
            # other words match (delete_file shares 'file' with "read the file").
            notes.append(
                f'not called: {tool.name}: it destroys or cannot be undone, and the task does not ask for that'
            )
            continue
        history = by_tool.get(tool.name, [])
        if pointed and not history and not distinctive[i] and positions[i] is None:
            # It shares with the task only words every tool has (the product, its unit): the task does not ask for
            # it, however fitting its arguments (reorder after "check the stock, then hold the items").
            continue
        if (
            covered is not None
            and not history
            and positions[i] is None
            and not covered[i]
            and not _takes_a_result(filler.fill(tool.parameters_json_schema, tool=tool.name), conversation)
        ):
            # A question is answered once the look-ups made cover its words: another tool that matches only those
            # words ('account' after the balance was read), and takes nothing a result gave, adds nothing asked for.
            notes.append(f"not called: {tool.name}: the question's words it matches are answered by the calls made")
            continue
        latest = [c for c in history if c.step == history[-1].step] if history else []
        retried = [c for c in latest if c.status == 'retry']
        if retried:
            # Fix what the last response got wrong before starting anything else with this tool.
            keys: set[str] = set()
            for call in retried:
                filled = _fix(tool, call, history, filler)
                if filled is None or canonical(filled.args) in keys:
                    continue
                keys.add(canonical(filled.args))
                options.append(Option(tool=tool, filled=filled, score=score * 1.5, explicit=positions[i], fixing=True))
            continue
        candidates = filler.candidates(tool.parameters_json_schema, tool.name)
        if len(history) >= _MAX_CALLS_PER_TOOL - 1 + len(candidates) or any(c.status == 'failed' for c in history):
            continue
        called = {c.key for c in history}
        for candidate in candidates:
            if candidate.key in called:
                continue
            filled = candidate.filled
            value = score
            if candidate is candidates[0] and any(c.status == 'ok' for c in history):
                value *= 0.3
            if filled.required:
                value *= 0.5 + 0.5 * filled.grounded / filled.required
            if value < _FLOOR:
                continue
            options.append(
                Option(tool=tool, filled=filled, score=value, explicit=positions[i], fixing=False, tier=candidate.tier)
            )

    options = _look_ups_first(options, tools, profiles, positions, by_tool, filler)
    if any(o.complete for o in options) or conversation.calls:
        # Never invent a required argument while something else can be done first (or was done): a tool whose
        # arguments a result may still provide waits for it, and does not set the bar below.
        options = [o for o in options if o.complete or o.fixing]
    # The bar is set by the best tool still worth calling: a tool already used (its own sets tried) must not push
    # the tools for the rest of the task below the cut.
    # Follow-ups wait for what the text asked for, so only the tools of the first open tier set the bar.
    first_tier = min((0 if o.fixing else o.tier for o in options), default=0)
    open_tools = {o.tool.name for o in options if o.fixing or o.tier == first_tier}
    bar = max((scores[i] for i, t in enumerate(tools) if t.name in open_tools), default=best)
    relevant = [o for o in options if o.score >= _RELEVANT * bar or o.fixing]
    for o in [o for o in options if o not in relevant]:
        # Marginal tools: a yes/no choice whose margin is how far the tool falls short of the relevance cut.
        if decide(rng, o.score / bar - _RELEVANT, temperature):
            relevant.append(o)
    if not relevant and not conversation.calls:
        needed = _needed(tools, profiles, scores, filler)
        relevant = [needed] if needed is not None else []
    if not relevant:
        return _followed(tools, conversation, verdicts, rng, temperature), filler, notes
    acting = [o for o in relevant if o.complete and o.tool.name in asked]
    if acting and len(_steps(text)) < 2:
        # The prompt asks for this action by its verb and gives all it needs: it is done now, without look-ups the
        # prompt did not ask for beside it (steps the instructions order still come first).
        relevant = [o for o in relevant if o in acting or o.fixing or o.explicit is not None]
    # Follow-ups (a subject found in a result) wait until what the text asked for is done.
    tier = min(o.tier for o in relevant)
    relevant = [o for o in relevant if o.tier == tier or o.fixing]
    relevant = _in_step_order(relevant, _tool_steps(key, text), tools, conversation)

    done = {c.name for c in conversation.calls if c.status == 'ok'}
    fresh = [o for o in relevant if o.explicit is not None and o.tool.name not in done]
    sequential = _sequence(lowered, fresh)
    if sequential is not None:
        relevant = [o for o in relevant if o.fixing or o.explicit is None or o.tool is sequential.tool]

    chosen = _order(relevant, rng, temperature, parallel, best, _together(text, frozenset(t.name for t in tools)))
    by_name = {p.name: p for p in profiles}
    for o in chosen:
        o.why = _why(o, by_name[o.tool.name], key, text, text_stems, len(conversation.instructions), asking.requested)
    return chosen, filler, notes


def _followed(
    tools: list[ToolDefinition],
    conversation: Conversation,
    verdicts: frozenset[str],
    rng: random.Random,
    temperature: float,
) -> list[Option]:
    """Before answering, when nothing asked for is left, the user states a symptom and every result that says so says
    nothing is wrong (the symptom is unexplained): the calls on one subject a result lists, if the model chooses to
    look further (a yes/no choice with margin `following.WANDER`, never at temperature 0; the subject drawn among the
    new ones). Empty: it answers."""
    if temperature <= 0 or not complains(conversation) or not unexplained(conversation, verdicts):
        return []
    found = offers(tools, conversation)
    if not found:
        return []
    own = own_generator(rng)
    if not decide(own, WANDER, temperature):
        return []
    subject = sorted(found)[own.randrange(len(found))]
    return [
        Option(tool=f.tool, filled=f.filled, score=0.0, explicit=None, fixing=False, tier=2, why=f.why)
        for f in found[subject]
    ]


def _covered(
    profiles: tuple[ToolProfile, ...], conversation: Conversation, by_tool: dict[str, list[Call]]
) -> list[bool]:
    """For each tool: whether it matches a word of the prompt that tells the tools apart and that no tool called
    successfully matches (True: it would bring something new)."""
    asked = stem_set(conversation.prompt) - QUESTION_STEMS
    df = _frequencies(profiles)
    n = len(profiles)
    done = [p for p in profiles if any(c.status == 'ok' for c in by_tool.get(p.name, ()))]
    answered = frozenset().union(*((p.name_stems | p.description_stems | p.parameter_stems) for p in done))
    return [
        any(df[s] < n for s in ((p.name_stems | p.description_stems | p.parameter_stems) & asked) - answered)
        for p in profiles
    ]


def _takes_a_result(filled: Filled, conversation: Conversation) -> bool:
    """Some argument is a value an earlier result gave and the text does not (the tracking number of an order)."""
    text = conversation.text
    results = [json.dumps(c.result, default=str) for c in conversation.calls if c.status == 'ok']
    for name, value in filled.args.items():
        if name in filled.missing or not isinstance(value, str) or not value or value in text:
            continue
        if any(value in r for r in results):
            return True
    return False


def _needed(
    tools: list[ToolDefinition], profiles: list[ToolProfile], scores: list[float], filler: Filler
) -> Option | None:
    """Before answering with no tool at all: the tool that takes exactly what the prompt gives.

    A prompt whose numbers (and the other values a tool needs) fill every required argument of one tool that reads
    ("I spent 12.5 and 7.25: how much is that?" for a tool of two amounts) asks for that tool's result, even when it
    shares no word with it: the numbers go to its number parameters in the order written. A tool that changes
    state is never chosen this way; neither is one when two fit equally (the prompt does not say which)."""
    numbers = [m.value for m in filler.found if m.kind == 'number' and m.position >= filler.prompt_start]
    fits: list[tuple[float, Option]] = []
    for i, tool in enumerate(tools):
        if profiles[i].changes or scores[i] <= 0:
            continue
        schema = tool.parameters_json_schema
        filled = filler.fill(schema, tool=tool.name)
        props: dict[str, Any] = js.resolve(schema, schema).get('properties') or {}
        numeric = [n for n in filled.missing if js.kind(js.resolve(props[n], schema)) in ('number', 'integer')]
        free = [v for v in numbers if not any(same_number(v, a) for a in filled.args.values())]
        if not filled.required or len(numeric) != len(filled.missing) or len(numeric) != len(free):
            continue
        args = dict(filled.args)
        for name, value in zip(numeric, free, strict=True):
            ok, fitted = js.coerce(value, props[name], schema)
            if not ok:
                break
            args[name] = fitted
        else:
            why = 'the prompt gives exactly what it takes (' + ', '.join(f'{n}={args[n]}' for n in numeric) + ')'
            complete = Filled(args=args, grounded=filled.required, required=filled.required)
            fits.append(
                (scores[i], Option(tool=tool, filled=complete, score=scores[i], explicit=None, fixing=False, why=why))
            )
    fits.sort(key=lambda f: -f[0])
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        return None
    return fits[0][1]


@lru_cache(maxsize=_CACHE_SIZE)
def _spellings(text: str) -> dict[str, str]:
    """Each stem of `text` and the first word that gives it (read only: the cached dict is shared)."""
    return {stem(w): w for w in reversed(words(text))}


def _look_ups_first(
    options: list[Option],
    tools: list[ToolDefinition],
    profiles: list[ToolProfile],
    positions: list[int | None],
    by_tool: dict[str, list[Call]],
    filler: Filler,
) -> list[Option]:
    """An action whose identifier (`card_id`) the conversation does not give waits for the look-up that returns it:
    a tool that reads, speaks of the same thing ('card transactions') and does not itself need that identifier. The
    look-up takes the action's place (and its score), so the two are never sent in one response."""
    result = list(options)
    for o in options:
        needs = [n for n in o.filled.missing if is_identifier(n)] if not o.fixing else []
        if needs and o in result:
            # An identifier is never made up: without a look-up that gives it, the call is not made at all.
            result.remove(o)
        for need in needs:
            subject = frozenset(stem(w) for w in words(need) if not is_identifier(w))
            for j, tool in enumerate(tools):
                p = profiles[j]
                props = tool.parameters_json_schema.get('properties') or {}
                if (
                    tool is o.tool
                    or p.changes
                    or not subject
                    or not subject <= (p.name_stems | p.description_stems)
                    or need in props
                    or any(c.status == 'ok' for c in by_tool.get(tool.name, ()))
                ):
                    continue
                hint = f'look-up first: it gives the {need} that {o.tool.name} needs'
                known = next((x for x in result if x.tool is tool and not x.fixing), None)
                if known is not None:
                    known.score = max(known.score, o.score)
                    known.why = known.why or hint
                    continue
                filled = filler.candidates(tool.parameters_json_schema, tool.name)[0].filled
                result.append(
                    Option(tool=tool, filled=filled, score=o.score, explicit=positions[j], fixing=False, why=hint)
                )
    return result


def _why(
    option: Option,
    tool: ToolProfile,
    profiles: tuple[ToolProfile, ...],
    text: str,
    text_stems: frozenset[str],
    prompt_start: int,
    requested: frozenset[str],
) -> str:
    """The rule that chose `option`, with the words that triggered it (computed for emitted calls only)."""
    if option.why:
        reason = option.why
    elif option.fixing:
        reason = 'retry: corrects the call the tool rejected'
    elif option.explicit is not None:
        reason = (
            'named in the prompt' if option.explicit > prompt_start else 'named in an ordered step of the instructions'
        )
    elif option.tier:
        reason = 'follow-up: an earlier result names a subject the task asks about'
    else:
        df = _frequencies(profiles)
        n = len(profiles)
        shared = sorted(
            (tool.name_stems | tool.description_stems | tool.parameter_stems) & text_stems,
            key=lambda s: (-(2.0 if s in tool.name_stems else 1.0) * math.log(1 + n / df.get(s, n)), s),
        )
        spelled = _spellings(text)
        said = ', '.join(repr(spelled.get(s, s)) for s in shared[:4])
        reason = f'its words match the task: {said}' if said else 'the only fitting tool (no word of it in the task)'
    if tool.changes:
        asked = sorted(tool.actions & requested)
        reason += f'; it changes state, asked by the prompt ({", ".join(asked)})' if asked else '; it changes state'
    return reason


def _fix(tool: ToolDefinition, call: Call, history: list[Call], filler: Filler) -> Filled | None:
    """The corrected arguments for a retried call, the same ones again while the budget allows, or None (give up)."""
    schema = tool.parameters_json_schema
    message = str(call.result)
    tried = {c.key for c in history}
    repaired = filler.repair(schema, call.args, message)
    base = filler.fill(schema)
    if repaired is not None and canonical(repaired) not in tried:
        return Filled(args=repaired, grounded=base.grounded, required=base.required)
    avoid: dict[str, set[str]] = {}
    for failed in history:
        if failed.status == 'retry':
            for key, value in failed.args.items():
                avoid.setdefault(key, set()).add(str(value))
    filled = filler.fill(schema, retry_text=message, avoid=_narrow(avoid, call))
    lowered = message.lower()
    pointed = {k for k, v in call.args.items() if find_word(lowered, k.lower()) != -1 or str(v).lower() in lowered}
    # Keep what the message does not point at: a fix changes the wrong value, not the rest of the call.
    args = {**call.args, **{k: v for k, v in filled.args.items() if k in pointed}} if pointed else filled.args
    if _acceptable_fix(call.args, args, message, schema) and canonical(args) not in tried:
        return Filled(args=args, grounded=filled.grounded, required=filled.required)
    if _give_up(call) or sum(c.key == call.key for c in history) >= _MAX_SAME_CALL:
        return None
    return Filled(args=call.args, grounded=filled.grounded, required=filled.required)


def _told_to_stop(conversation: Conversation) -> bool:
    """The text cares whether its subject exists, and a result says it does not (`exists: false`): a careful model
    stops calling tools about something that is not there."""
    if not _CARES_IF_MISSING.search(conversation.masked.lower()):
        return False
    for call in conversation.calls:
        results = call.result if isinstance(call.result, list) else [call.result]
        for result in results:
            if call.status == 'ok' and isinstance(result, dict):
                for key, value in result.items():  # pyright: ignore[reportUnknownVariableType]
                    if value is False and set(words(str(key))) & _EXISTENCE:  # pyright: ignore[reportUnknownArgumentType]
                        return True
    return False


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
    ordered = sorted(named, key=lambda o: o.explicit or 0)
    ordered = [o for i, o in enumerate(ordered) if all(o.tool is not p.tool for p in ordered[:i])]
    if len(ordered) < 2:
        return None
    first, second = ordered[0].explicit or 0, ordered[1].explicit or 0
    window = lowered[first:second]
    return ordered[0] if _SEQUENCE_WORDS.search(window) else None


@lru_cache(maxsize=_CACHE_SIZE)
def _together(text: str, tools: frozenset[str]) -> frozenset[str]:
    """Tools the text asks to call together: named in one sentence that says so ('X and Y, both at once'), or
    listed in one sentence with no word of sequence between them ('call X and Y once each')."""
    chosen: set[str] = set()
    for sentence in re.split(r'(?<=[.!?;])\s+', text):
        lowered = sentence.lower()
        named = sorted((at, name) for name in tools if (at := find_word(lowered, name.lower())) != -1)
        if len(named) < 2:
            continue
        if _TOGETHER.search(lowered):
            chosen |= {name for _, name in named}
            continue
        for (at, first), (nxt, second) in itertools.pairwise(named):
            if not _SEQUENCE_WORDS.search(lowered[at:nxt]):
                chosen |= {first, second}
    return frozenset(chosen)


def decide(rng: random.Random, margin: float, temperature: float) -> bool:
    """A yes/no choice: yes with probability 1 / (1 + exp(-margin / (_SPREAD x temperature))).

    At temperature 0 it is greedy (yes when the margin is not negative) and draws nothing; above 0 it always draws once,
    so the per-request generator is consumed in the same order whatever the outcome.
    """
    if temperature <= 0:
        return margin >= 0
    x = margin / (_SPREAD * temperature)
    probability = 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0
    return rng.random() < probability


_SLIP_REFERENCE = 0.7
"""The temperature at which `slip` is the chance of answering at once."""


def slips(rng: random.Random, slip: float, temperature: float) -> bool:
    """Whether a response that would call tools answers at once instead: a yes/no choice like the others, whose margin
    makes its chance exactly `slip` at temperature 0.7 (so 0.308 at 1.2 and 6e-5 at 0.1 for slip=0.2; at 0 it is the
    greedy choice: yes only from slip=0.5)."""
    if slip <= 0:
        return False
    margin = math.inf if slip >= 1 else _SPREAD * _SLIP_REFERENCE * math.log(slip / (1 - slip))
    return decide(rng, margin, temperature)


def _order(
    options: list[Option],
    rng: random.Random,
    temperature: float,
    parallel: float,
    best: float,
    together: frozenset[str] = frozenset(),
) -> list[Option]:
    options = sorted(options, key=lambda o: (not o.fixing, -o.score, o.explicit if o.explicit is not None else 1 << 30))
    pick = 0
    if temperature > 0:
        # Softmax over the scores, each place in the greedy order costing a little more (see _PLACE).
        utilities = [o.score - _PLACE * best * place for place, o in enumerate(options)]
        scale = temperature * _FIRST_SPREAD * best
        weights = [math.exp((u - utilities[0]) / scale) for u in utilities]
        pick = rng.choices(range(len(options)), weights=weights)[0]
    first = options[pick]
    rest = options[:pick] + options[pick + 1 :]
    chosen = [first]
    if not first.complete or parallel <= 0:
        # parallel=0 switches parallel calls off, like a provider's `parallel_tool_calls=False`.
        return chosen
    # Calls the text asks for together (or the same tool over several argument sets) follow one decision.
    group = [
        o
        for o in rest
        if o.complete and (o.tool is first.tool or (o.tool.name in together and first.tool.name in together))
    ]
    if group and decide(rng, min(1.0, parallel * _FOLLOWS_TOGETHER) - _JOIN, temperature):
        chosen.extend(group)
    for o in rest:
        if not o.complete or o in group:
            continue
        closeness = max(0.0, min(1.0, (o.score / first.score - 0.5) / 0.5)) if first.score else 0.0
        if decide(rng, parallel * closeness - _JOIN, temperature):
            chosen.append(o)
    return chosen
