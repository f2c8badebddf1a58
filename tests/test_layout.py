"""The package's layout: no module imports, directly or through others, a module that imports it back.

An import cycle makes the order modules are first imported in decide whether an import works, and blurs which layer
stands on which. Every import counts, module-level or inside a function (a late import hides a cycle from the
interpreter, not from the reader), `if TYPE_CHECKING:` blocks excepted: they never run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = {'pytest_agentarch': ROOT / 'src' / 'pytest_agentarch', 'architectures': ROOT / 'architectures'}
"""Each package checked, by import name, and where its source is."""


def module_name(path: Path, package: str, root: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix('').parts]
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def modules(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    return {module_name(p, package, root): p for p in sorted(root.rglob('*.py'))}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once for every test here."""
    return ast.parse(path.read_text(), str(path))


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or (
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING'
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    yield from _imports(node)


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (source at `path`) imports, at any depth of its code.

    `from package import name` imports the submodule `package.name` when there is one, else `package` itself.
    """
    is_package = path.name == '__init__.py'
    out: set[str] = set()
    for node in _imports(parsed(path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split('.')
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = '.'.join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ''
            below = [f'{source}.{alias.name}' for alias in node.names]
            targets = [sub if sub in known else source for sub in below]
        for target in targets:
            # `import a.b.c` names a.b.c; a name below a module (`from a.b import f`) resolves to that module.
            while target and target not in known:
                target = target.rpartition('.')[0]
            if target and target != name:
                out.add(target)
    return out


def graph(package: str) -> dict[str, set[str]]:
    found = modules(package)
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def path_within(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    trail = [start]
    seen = {start}
    while True:
        nxt = sorted(m for m in edges[trail[-1]] if m in members)
        back = [m for m in nxt if m == start]
        if back and len(trail) > 1:
            return [*trail, start]
        fresh = [m for m in nxt if m not in seen]
        if not fresh:
            return [*trail, nxt[0]] if nxt else trail
        trail.append(fresh[0])
        seen.add(fresh[0])


@pytest.mark.parametrize('package', sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    edges = graph(package)
    found = cycles(edges)
    assert not found, '\n'.join(
        ['import cycles (move the shared name to a module both can import, or invert one import):']
        + [' -> '.join(path_within(edges, c)) for c in found]
    )


def test_the_cycle_finder_finds_cycles_through_function_level_imports(tmp_path: Path) -> None:
    # A package built by hand: a -> b at module level, b -> a inside a function, c -> a only (no cycle through c),
    # d -> e only under TYPE_CHECKING and e -> d: no cycle (that import never runs).
    root = tmp_path / 'pkg'
    root.mkdir()
    (root / '__init__.py').write_text('')
    (root / 'a.py').write_text('from . import b\n')
    (root / 'b.py').write_text('def f():\n    from .a import thing\n    return thing\n')
    (root / 'c.py').write_text('import pkg.a\n')
    (root / 'd.py').write_text('from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .e import E\n')
    (root / 'e.py').write_text('from pkg.d import D\n')
    (root / 'sub').mkdir()
    (root / 'sub' / '__init__.py').write_text('from ..c import x\n')
    PACKAGES['pkg'] = root
    try:
        edges = graph('pkg')
    finally:
        del PACKAGES['pkg']
    assert edges == {
        'pkg': set(),
        'pkg.a': {'pkg.b'},
        'pkg.b': {'pkg.a'},
        'pkg.c': {'pkg.a'},
        'pkg.d': set(),
        'pkg.e': {'pkg.d'},
        'pkg.sub': {'pkg.c'},
    }
    assert cycles(edges) == [['pkg.a', 'pkg.b']]
    assert path_within(edges, ['pkg.a', 'pkg.b']) == ['pkg.a', 'pkg.b', 'pkg.a']


PRIVATE_OWNERS = ('pydantic_ai', 'pydantic_evals', 'pydantic_core', 'pydantic', '_pytest', 'pytest')


def test_private_modules_of_the_libraries_are_imported_in_compat_only() -> None:
    # `_compat.py` holds every private library name the package uses, each pinned by tests/test_compat.py.
    offenders: list[str] = []
    for name, path in modules('pytest_agentarch').items():
        if name == 'pytest_agentarch._compat':
            continue
        for node in _imports(parsed(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or '']
            for imported_name in names:
                parts = imported_name.split('.')
                if parts[0] in PRIVATE_OWNERS and any(p.startswith('_') for p in parts):
                    offenders.append(f'{name}: {imported_name}')
    assert not offenders, 'import these through pytest_agentarch._compat: ' + ', '.join(offenders)
