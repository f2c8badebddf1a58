"""Evaluators a dataset file names: where the plugin finds them, and what it says about a name it does not know.

A dataset file names its evaluators (`- Contains: ...`); pydantic-evals resolves a name among its own evaluators and
the `custom_evaluator_types` its caller passes. A plugin user is not that caller, so the plugin passes every
`pydantic_evals.evaluators.Evaluator` subclass defined outside pydantic-evals that has been imported: a class in a
conftest.py or a pytest plugin module is usable by name as it is. Classes that live in a package of the project
(imported by nothing the session loads first) are named with the ini key `agentarch_evaluators`, a list of modules
imported before any dataset file is read.

The names an unknown-name message offers are the ones a user is meant to write: pydantic-evals' own evaluators, the
plugin's, and the user's registered ones (public classes of a conftest.py, of a plugin module or a module below it, or
of a module the ini key lists). Other subclasses the process happens to hold (a test's local class, a private helper)
stay usable but are not offered.
"""

from __future__ import annotations

import difflib
import importlib
import re
import sys
from collections.abc import Collection, Iterable
from types import ModuleType
from typing import Any

import pytest

__all__ = ('INI', 'add_option', 'import_evaluator_modules', 'unknown_evaluator', 'unlisted')

INI = 'agentarch_evaluators'

_HOW = (
    'To use an evaluator of your own, define a subclass of pydantic_evals.evaluators.Evaluator in conftest.py, or '
    f'in a module you list in the ini key {INI} (e.g. `{INI} = myproject.evaluators`).'
)

_UNKNOWN = re.compile(r"Evaluator '([^']+)' is not in the provided `custom_evaluator_types`\. Valid choices: \[(.*?)\]")


def add_option(parser: pytest.Parser) -> None:
    """The ini key listing modules whose evaluator classes dataset files may name."""
    parser.addini(
        INI,
        'modules imported before dataset files are read: the Evaluator subclasses they define are usable by name '
        '(classes in conftest.py files and plugins are without it)',
        type='linelist',
        default=[],
    )


def import_evaluator_modules(config: pytest.Config) -> None:
    """Import the modules `agentarch_evaluators` lists; one that does not import is a usage error naming it."""
    for name in config.getini(INI):
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise pytest.UsageError(
                f'ini option {INI}: module {name!r} cannot be imported ({type(exc).__name__}: {exc}); list modules '
                'importable from the rootdir (dotted names, e.g. myproject.evaluators), one per line'
            ) from None


def unlisted(config: pytest.Config, types: Iterable[type[Any]]) -> set[str]:
    """Names of the evaluator classes among `types` (those passed to pydantic-evals) that are not registered: private
    (`_Name`), defined inside a function, or from a module that is neither the plugin's, a conftest.py, a plugin
    module (or below one) nor a module `agentarch_evaluators` lists."""
    plugins = {p.__name__ for p in config.pluginmanager.get_plugins() if isinstance(p, ModuleType)}
    registered = plugins | set(config.getini(INI)) | {'pytest_agentarch'}
    hidden: set[str] = set()
    for cls in types:
        module = cls.__module__
        # The class its module holds now: a class left from an earlier import of a conftest of that name is not it.
        current = getattr(sys.modules.get(module), cls.__qualname__, None) is cls
        public = not cls.__name__.startswith('_') and current
        if not public or not any(module == m or module.startswith(f'{m}.') for m in registered):
            hidden.add(cls.get_serialization_name())
    return hidden


def unknown_evaluator(message: str, hidden: Collection[str] = ()) -> str | None:
    """pydantic-evals' error for an evaluator name it does not know, said for a plugin user: the closest known names
    (sorted; names in `hidden`, see `unlisted`, left out) and how to make one's own known. None when `message` is
    another error."""
    found = _UNKNOWN.search(message)
    if found is None:
        return None
    name = found.group(1)
    choices = (k.strip().strip('\'"') for k in found.group(2).split(','))
    known = sorted({k for k in choices if k and k not in hidden}, key=str.casefold)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == name.lower()]
    hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
    return f'unknown evaluator {name!r}.{hint} Known evaluators: {", ".join(known)}. {_HOW}'
