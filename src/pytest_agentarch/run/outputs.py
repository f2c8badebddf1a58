"""A run's output checked against the return type its architecture declares (`async def f(inputs, model) -> T`).

A case's inputs and expected output are validated against the architecture's types at collection; the output it
returns is checked here, once per run. The check is pydantic's strict mode, and the output must already *be* a `T`
(a `Report` instance, not a dict pydantic could build one from: validation must give back the output itself or an
equal value), since evaluators compare what the architecture returned, not a converted copy. A mismatch is the
architecture's behaviour: the run raises `OutputTypeError`, which counts like any other error of the run.
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

from .registry import Architecture

__all__ = ('OutputTypeError', 'check_output', 'type_name')


class OutputTypeError(TypeError):
    """An architecture returned a value that is not of the return type it declares."""


def type_name(t: Any) -> str:
    """A type as a reader knows it: `str`, `AnomalyReport | BatchReport`, `dict[str, int]`."""
    if isinstance(t, type) and not typing.get_args(t):
        return t.__name__
    # Module paths dropped: `list[myapp.models.Report] | None` reads `list[Report] | None`.
    return re.sub(r'\b(?:\w+\.)+(\w+)', r'\1', repr(t))


def declared_return(arch: Architecture) -> Any:
    """The return annotation of the architecture's function; `Any` when it has none or it cannot be resolved
    (collection reports an annotation that does not resolve)."""
    try:
        return typing.get_type_hints(arch.func).get('return', Any)
    except Exception:
        return Any


@functools.cache
def _checker(arch: Architecture) -> tuple[Any, TypeAdapter[Any] | None]:
    declared = declared_return(arch)
    if declared is Any:
        return declared, None
    try:
        return declared, TypeAdapter(declared)
    except PydanticSchemaGenerationError:
        # A class pydantic cannot describe (an arbitrary object): checked with isinstance below.
        return declared, None


def check_output(arch: Architecture, output: Any) -> OutputTypeError | None:
    """None when `output` is of the type `arch` declares with `-> T` (or it declares none); otherwise the error
    naming both types and what pydantic found wrong."""
    declared, adapter = _checker(arch)
    if declared is Any:
        return None
    if adapter is None:
        if not isinstance(declared, type) or isinstance(output, declared):
            return None
        detail = ''
    else:
        try:
            validated = adapter.validate_python(output, strict=True)
        except ValidationError as exc:
            detail = '\n' + '\n'.join(
                f'  {".".join(map(str, e["loc"])) or "(output)"}: {e["msg"]}' for e in exc.errors(include_url=False)[:5]
            )
        else:
            # Strict mode still builds a model from a dict: what it returns differs from the output only then.
            if validated is output or validated == output:
                return None
            detail = f' (pydantic can convert it into a {type_name(declared)}, but it is not one)'
    return OutputTypeError(
        f'architecture {arch.name!r} ({arch.origin}) is declared to return {type_name(declared)} but returned '
        f'{type(output).__name__}: return a {type_name(declared)}, or change the return annotation{detail}'
    )
