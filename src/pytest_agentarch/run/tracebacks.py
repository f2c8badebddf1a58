"""A run's exception as a short traceback the user can act on: where their own code raised, first.

pytest's own traceback cannot help here: a run's exception is caught inside the item (it is one of N runs, counted
as a variant), so by the time a failure is reported the exception is gone. What is kept is this text, made when the
run raised. Frames of the user's code (an architecture, its tools) are shown with file, line and source; runs of
frames from installed libraries, the standard library and this plugin are folded into one line naming them, so a
`KeyError` raised in a tool called by pydantic-ai reads as three lines, not forty.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from collections.abc import Sequence
from pathlib import Path

__all__ = ('TRACEBACK_CHARS', 'folded_traceback', 'is_library')

TRACEBACK_CHARS = 4000
"""Characters kept of a run's traceback (records cross the xdist wire: they stay small)."""

_PLUGIN_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ('stdlib', 'platstdlib', 'purelib', 'platlib') if key in paths}
    roots.update(p for p in sys.path if p.rstrip(os.sep).endswith(('site-packages', 'dist-packages')))
    # Longest first: the standard library's directory may hold site-packages, whose packages are named, not it.
    return tuple(sorted({str(Path(r).resolve()) + os.sep for r in roots}, key=len, reverse=True))


_LIBRARY_ROOTS = _library_roots()


def is_library(filename: str) -> bool:
    """Whether a frame's file belongs to an installed library, the standard library or this plugin (not the user)."""
    if filename.startswith('<'):  # <frozen ...>, <string>: never the user's file on disk
        return True
    resolved = str(Path(filename).resolve())
    return resolved.startswith(_PLUGIN_DIR) or resolved.startswith(_LIBRARY_ROOTS)


def _package(filename: str) -> str:
    """The top-level package (or stdlib module) a library frame belongs to, for the folded line."""
    resolved = str(Path(filename).resolve())
    if resolved.startswith(_PLUGIN_DIR):
        return 'pytest_agentarch'
    for root in _LIBRARY_ROOTS:
        if resolved.startswith(root):
            head = resolved[len(root) :].split(os.sep, 1)[0]
            return head.removesuffix('.py') or '?'
    return Path(filename).stem


def _frames(summary: Sequence[traceback.FrameSummary]) -> list[str]:
    lines: list[str] = []
    folded: list[str] = []

    def fold() -> None:
        if folded:
            names = ', '.join(dict.fromkeys(folded))
            lines.append(f'  ... {len(folded)} library frame{"s" if len(folded) > 1 else ""} ({names})')
            folded.clear()

    for frame in summary:
        if is_library(frame.filename):
            folded.append(_package(frame.filename))
            continue
        fold()
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f'    {frame.line.strip()}')
    fold()
    return lines


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during, outermost cause first (as Python prints them)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain[::-1]


def _headline(exc: BaseException) -> str:
    text = str(exc)
    return f'{type(exc).__name__}: {text}' if text else type(exc).__name__


def folded_traceback(exc: BaseException) -> str | None:
    """`exc`'s traceback with the user's own frames and the library frames folded, headed by where the user's code
    raised (`raised at file:line in function`); None when the exception carries no traceback.

    Chained exceptions (`raise ... from`, or raised while handling another) are shown too, the cause first, as
    Python prints them; the headline names the innermost user frame of the first exception in the chain that has
    one, since a library often re-raises what the user's code raised as an exception of its own."""
    chain = _chain(exc)
    if all(e.__traceback__ is None for e in chain):
        return None
    blocks: list[str] = []
    where: traceback.FrameSummary | None = None
    for position, e in enumerate(chain):
        summary = traceback.extract_tb(e.__traceback__)
        if any(not is_library(f.filename) for f in summary):
            # What called the user's code (this plugin's runner, the event loop) is the same in every run: left out.
            while is_library(summary[0].filename):
                summary.pop(0)
        if where is None:  # the root cause's deepest frame of the user's code
            where = next((f for f in reversed(summary) if not is_library(f.filename)), None)
        if position:
            blocks.append(
                'The above exception was the direct cause of:'
                if e.__cause__ is chain[position - 1]
                else 'During handling of the above exception, another exception occurred:'
            )
        blocks.append('Traceback (most recent call last):')
        blocks.extend(_frames(summary))
        blocks.append(_headline(e))
    head = (
        f'raised at {where.filename}:{where.lineno} in {where.name}'
        if where is not None
        else 'raised inside library code (no frame of your own code in the traceback)'
    )
    text = '\n'.join([head, *blocks])
    if len(text) > TRACEBACK_CHARS:
        # The innermost frames and the exception line are at the end: keep the tail.
        text = head + '\n\u2026' + text[len(text) - TRACEBACK_CHARS + len(head) + 2 :]
    return text
