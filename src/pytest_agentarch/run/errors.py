"""Which failures are the architecture's behaviour and which are the provider's or the network's.

A run that raised because the agent looped into a usage limit, produced output that never validated, or ran past
the timeout *is* behaviour: it counts in determinism (as its own variant), pass rate and pass^k. A run that failed
because the provider rate-limited it, was unavailable, or the connection dropped says nothing about the
architecture: it is counted and shown, and kept out of determinism and pass^k, as tau2-bench does.

pydantic-ai already sorts provider failures into categories (`pydantic_ai.exceptions.ModelAPIError` subclasses,
since 2.59); this module only decides which of those are infrastructure. Before 2.59 a transport failure is a bare
`ModelAPIError` raised from the transport's own exception, so the chain is followed past it.
"""

from __future__ import annotations

from typing import Literal

from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError

from .. import _compat

__all__ = ('ErrorKind', 'classify')

ErrorKind = Literal['behaviour', 'infrastructure']

_INFRASTRUCTURE: tuple[type[BaseException], ...] = (*_compat.INFRASTRUCTURE_ERRORS, ConnectionError)


def classify(exc: BaseException) -> ErrorKind:
    """`infrastructure` for rate limits (HTTP 429), provider 5xx, unavailable or overloaded providers, connection
    failures and provider-side timeouts; `behaviour` for everything else, including the run's own timeout."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _INFRASTRUCTURE):
            return 'infrastructure'
        if isinstance(current, ModelHTTPError) and (current.status_code == 429 or current.status_code >= 500):
            return 'infrastructure'
        if isinstance(current, ModelAPIError) and (_compat.FAILURE_CATEGORIES or type(current) is not ModelAPIError):
            return 'behaviour'
        current = current.__cause__ or current.__context__
    return 'behaviour'
