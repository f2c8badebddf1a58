"""Architectures: registered once with `@architecture`, selected per session with `--arch`.

An architecture is an async function `(inputs, model) -> output`. The decorator wraps it in an `Architecture`
record and adds it to the process-wide registry; the plugin reads that registry after conftest files and
plugins have been imported, and loads the entry-point group `pytest_agentarch.architectures` for architectures
shipped by other packages.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic_ai.models import Model

__all__ = (
    'ENTRY_POINT_GROUP',
    'Architecture',
    'ArchitectureFunc',
    'DatasetTypes',
    'RegistryError',
    'architecture',
    'registered',
    'select',
)

ENTRY_POINT_GROUP = 'pytest_agentarch.architectures'

ArchitectureFunc = Callable[[Any, Model], Awaitable[Any]]
"""`async def name(inputs, model) -> output`: `model` is the pydantic-ai model chosen for the session."""


class RegistryError(Exception):
    """A registration or selection the user must fix; the plugin reports it as a usage error."""


@dataclass(frozen=True)
class DatasetTypes:
    """The types an architecture gives its dataset's inputs, expected output and metadata; `Any` is untyped."""

    inputs: Any = Any
    output: Any = Any
    metadata: Any = Any

    @property
    def typed(self) -> bool:
        """Whether any of the three is declared (then the dataset is loaded with these types)."""
        return any(t is not Any for t in (self.inputs, self.output, self.metadata))


@dataclass(frozen=True, kw_only=True, eq=False)
class Architecture:
    """One registered architecture."""

    name: str
    """Unique name, used by `--arch` and in test ids."""
    description: str
    """One line for reports."""
    func: ArchitectureFunc
    """The async function that runs one case."""
    datasets: tuple[str, ...] = ()
    """Dataset names this architecture serves; empty means every dataset."""
    origin: str = field(default='')
    """`module:qualname` of the function, to tell a re-import from a clash."""
    inputs_type: Any = None
    """The dataset's inputs type as given to `@architecture`; None: the annotation of the function's `inputs`."""
    output_type: Any = None
    """The dataset's output type as given to `@architecture`; None: the function's return annotation."""
    metadata_type: Any = None
    """The dataset's metadata type as given to `@architecture`; None: untyped."""

    def dataset_types(self) -> DatasetTypes:
        """The inputs, output and metadata types of the datasets this architecture serves.

        An explicit `inputs_type=` / `output_type=` / `metadata_type=` wins; otherwise the annotation of the
        function's first parameter and its return annotation (string annotations resolved with
        `typing.get_type_hints`); `Any` or no annotation is untyped. Raises RegistryError when an annotation cannot
        be resolved.
        """
        inputs, output = self.inputs_type, self.output_type
        if inputs is None or output is None:
            try:
                hints = typing.get_type_hints(self.func)
                first = next(iter(inspect.signature(self.func).parameters), None)
            except Exception as exc:
                raise RegistryError(
                    f'architecture {self.name!r} ({self.origin}): its type annotations cannot be resolved ({exc!r}); '
                    'import the names they use at module level, or pass inputs_type=/output_type= to @architecture'
                ) from None
            if inputs is None:
                inputs = hints.get(first, Any) if first is not None else Any
            if output is None:
                output = hints.get('return', Any)
        return DatasetTypes(
            inputs=inputs, output=output, metadata=Any if self.metadata_type is None else self.metadata_type
        )

    def serves(self, dataset_name: str) -> bool:
        """Whether cases of `dataset_name` should run on this architecture."""
        return not self.datasets or dataset_name in self.datasets

    async def __call__(self, inputs: Any, model: Model) -> Any:
        return await self.func(inputs, model)


_REGISTRY: dict[str, Architecture] = {}
_CLASHES: list[str] = []


def architecture(
    name: str,
    *,
    description: str = '',
    datasets: Sequence[str] = (),
    inputs_type: Any = None,
    output_type: Any = None,
    metadata_type: Any = None,
) -> Callable[[ArchitectureFunc], Architecture]:
    """Register an async function `(inputs, model) -> output` as the architecture `name`.

    ```python
    @architecture('specialized', description='one agent per tool')
    async def specialized(inputs, model):
        ...
    ```
    `datasets` limits the architecture to cases of the named datasets; by default it serves all of them.

    The annotation of `inputs` is the type of the dataset's inputs, and the return annotation the type of its
    expected output: cases are validated (and coerced, e.g. ISO strings to `datetime`) against them at collection.
    `inputs_type=`, `output_type=` and `metadata_type=` say it explicitly and win over the annotations; `Any` (or no
    annotation) leaves the values as the file gives them.
    """
    if not isinstance(name, str) or not name.strip() or ',' in name or name != name.strip():
        raise RegistryError(f'architecture name {name!r} must be a non-empty string without commas or edge spaces')
    if isinstance(datasets, str):
        datasets = (datasets,)

    def decorate(func: ArchitectureFunc) -> Architecture:
        if not inspect.iscoroutinefunction(func):
            what = getattr(func, '__qualname__', None) or repr(func)
            raise RegistryError(
                f'architecture {name!r}: {what} must be an `async def` function taking (inputs, model); write '
                f'`async def {getattr(func, "__name__", "name")}(inputs, model): ...`'
            )
        arch = Architecture(
            name=name,
            description=description or (inspect.getdoc(func) or '').partition('\n')[0],
            func=func,
            datasets=tuple(datasets),
            origin=f'{func.__module__}:{func.__qualname__}',
            inputs_type=inputs_type,
            output_type=output_type,
            metadata_type=metadata_type,
        )
        _add(arch)
        return arch

    return decorate


def _add(arch: Architecture) -> None:
    existing = _REGISTRY.get(arch.name)
    if existing is not None and existing.origin != arch.origin:
        # Reported at selection time so that every clash is listed, not only the first one imported.
        _CLASHES.append(f'{arch.name!r} is registered twice: by {existing.origin} and by {arch.origin}')
        return
    _REGISTRY[arch.name] = arch


def registered() -> dict[str, Architecture]:
    """All architectures registered in this process, by name."""
    return dict(_REGISTRY)


def load_entry_points(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
    """Import architectures that installed packages expose in the `pytest_agentarch.architectures` group.

    An entry point may name a module (its `@architecture` functions register on import) or an `Architecture`.
    """
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in entry_points:
        try:
            obj = ep.load()
        except Exception as exc:
            raise RegistryError(
                f'entry point {ep.name!r} = {ep.value!r} in group {ENTRY_POINT_GROUP!r} failed to load: {exc!r}'
            ) from exc
        if isinstance(obj, Architecture):
            _add(obj)
        elif isinstance(obj, ModuleType):
            for value in vars(obj).values():
                if isinstance(value, Architecture):
                    _add(value)
        else:
            raise RegistryError(
                f'entry point {ep.name!r} = {ep.value!r} must name a module or an @architecture function, '
                f'got {type(obj).__name__}'
            )


def select(spec: str) -> list[Architecture]:
    """The architectures named by `--arch` (`all` or a comma-separated list), in registration order."""
    if _CLASHES:
        raise RegistryError('; '.join(_CLASHES) + '. Give each architecture its own name.')
    available = ', '.join(_REGISTRY) or '(none registered)'
    if not _REGISTRY:
        raise RegistryError(
            'no architectures are registered. Decorate an async function with '
            "@pytest_agentarch.architecture('name') in a conftest.py or plugin module."
        )
    if spec.strip() == 'all':
        return list(_REGISTRY.values())
    names = [n.strip() for n in spec.split(',')]
    if any(not n for n in names):
        raise RegistryError(f'--arch {spec!r} has an empty name. Registered architectures: {available}')
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RegistryError(f'--arch names {", ".join(duplicates)} more than once. Registered: {available}')
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise RegistryError(
            f'--arch: unknown architecture {", ".join(map(repr, unknown))}. Registered architectures: {available}'
        )
    return [_REGISTRY[n] for n in names]


def _reset() -> None:
    """Forget every registration (for tests that run pytest in-process several times)."""
    _REGISTRY.clear()
    _CLASHES.clear()
