"""Just enough JSON Schema: resolve references, read a property's type, check and coerce a value, invent a fallback."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def resolve(schema: Schema, root: Schema) -> Schema:
    """Follow `$ref` and collapse `anyOf`/`oneOf` with a null branch to the non-null branch."""
    for _ in range(8):
        ref = schema.get('$ref')
        if isinstance(ref, str) and ref.startswith('#/'):
            target: Any = root
            for key in ref[2:].split('/'):
                target = target.get(key, {}) if isinstance(target, dict) else {}
            merged = {k: v for k, v in schema.items() if k != '$ref'}
            schema = {**target, **merged}
            continue
        branches = schema.get('anyOf') or schema.get('oneOf')
        if isinstance(branches, list):
            options = [b for b in branches if isinstance(b, dict) and b.get('type') != 'null']  # pyright: ignore[reportUnknownVariableType]
            if options:
                merged = {k: v for k, v in schema.items() if k not in ('anyOf', 'oneOf')}
                schema = {**options[0], **merged}  # pyright: ignore[reportUnknownArgumentType]
                continue
        break
    return schema


def kind(schema: Schema) -> str:
    """The JSON type of a resolved schema ('string', 'number', 'integer', 'boolean', 'array', 'object')."""
    t = schema.get('type')
    if isinstance(t, list):
        t = next((x for x in t if x != 'null'), 'string')  # pyright: ignore[reportUnknownVariableType]
    if isinstance(t, str):
        return t
    if 'enum' in schema:
        return 'string'
    if 'properties' in schema:
        return 'object'
    if 'items' in schema:
        return 'array'
    return 'string'


def coerce(value: Any, schema: Schema, root: Schema) -> tuple[bool, Any]:
    """(True, value converted to fit `schema`) when it can be made to fit, else (False, None)."""
    schema = resolve(schema, root)
    if 'const' in schema:
        return (value == schema['const'], value)
    t = kind(schema)
    enum = schema.get('enum')
    if enum is not None:
        if value in enum:
            return True, value
        if isinstance(value, str):
            for option in enum:
                if isinstance(option, str) and option.lower() == value.lower():
                    return True, option
        return False, None
    if t == 'string':
        if isinstance(value, str):
            return True, value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, str(value)
        return False, None
    if t in ('number', 'integer'):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    return False, None
            else:
                return False, None
        if t == 'integer':
            if value != int(value):
                return False, None
            value = int(value)
        low, high = schema.get('minimum'), schema.get('maximum')
        if (low is not None and value < low) or (high is not None and value > high):
            return False, None
        return True, value
    if t == 'boolean':
        return (True, value) if isinstance(value, bool) else (False, None)
    if t == 'array':
        if not isinstance(value, list):
            return False, None
        items: Schema = schema.get('items') or {}
        out: list[Any] = []
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            ok, fitted = coerce(item, items, root)
            if ok and fitted not in out:
                out.append(fitted)
        if value and not out:
            return False, None
        return True, out[: schema.get('maxItems', len(out))]
    if t == 'object':
        return (True, value) if isinstance(value, dict) else (False, None)
    return True, value


def fallback(schema: Schema, root: Schema, text: str) -> Any:
    """A plausible value when nothing fits: an enum value the text mentions, a range midpoint, false, an empty list."""
    schema = resolve(schema, root)
    if 'default' in schema:
        return schema['default']
    if 'const' in schema:
        return schema['const']
    enum = schema.get('enum')
    if enum:
        lowered = text.lower()
        hits = [(lowered.find(str(o).lower()), i) for i, o in enumerate(enum) if str(o).lower() in lowered]
        return enum[min(hits)[1]] if hits else enum[0]
    t = kind(schema)
    if t in ('number', 'integer'):
        low, high = schema.get('minimum'), schema.get('maximum')
        if low is not None and high is not None:
            mid = (low + high) / 2
        elif low is not None:
            mid = low
        elif high is not None:
            mid = min(high, 0)
        else:
            mid = 0
        return int(mid) if t == 'integer' else float(mid)
    if t == 'boolean':
        return False
    if t == 'array':
        items = resolve(schema.get('items') or {}, root)
        count = schema.get('minItems', 0)
        return [fallback(items, root, text) for _ in range(count)]
    if t == 'object':
        props: dict[str, Schema] = schema.get('properties') or {}
        return {name: fallback(sub, root, text) for name, sub in props.items() if name in schema.get('required', ())}
    return ''
