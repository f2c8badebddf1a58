"""A recording's files: the header line, reading and indexing an item's file, and the packed (gzip) form."""

from __future__ import annotations

import gzip
import json
import os
import typing
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.profiles import DEFAULT_PROFILE, ModelProfile

from .keys import Key, RecordingError, default_output_mode, stored_hash

__all__ = (
    'FORMAT',
    'FORMAT_VERSION',
    'READABLE_VERSIONS',
    'Entry',
    'RecordedFile',
    'check_header',
    'first_jsonl',
    'first_line',
    'json_line',
    'locate',
    'pack',
    'packed_path',
    'profile_from_json',
    'profile_json',
    'rekeyed_slot',
    'response_of',
    'unpack',
    'unpack_file',
)

FORMAT_VERSION = 2
"""Version of the recording format this module writes. Version 2 keys a request by what of it reaches the model
(`keys.canonical_messages`), stores each exchange's duration and the pydantic-ai release that recorded it."""

READABLE_VERSIONS = (1, FORMAT_VERSION)
"""Versions this module reads. A version-1 file is keyed again on the fly from the requests it stores (its own keys
hashed pydantic-ai's whole JSON form, which changes between releases); `agentarch recording rekey DIR` rewrites it as
version 2 once and for all."""

FORMAT = 'pytest-agentarch recording'
"""The `format` of every header: what tells a recording file from any other JSON Lines file."""


def profile_json(profile: ModelProfile) -> dict[str, Any]:
    """The JSON-safe part of a model profile (flags, modes, names); types and callables are left out."""
    out: dict[str, Any] = {}
    for key, value in profile.items():
        if key not in DEFAULT_PROFILE:
            continue
        if value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, timedelta):
            out[key] = {'timedelta_seconds': value.total_seconds()}
        elif isinstance(value, frozenset | set) and key == 'supported_native_tools':
            out[key] = sorted(t.__name__ for t in value if isinstance(t, type))
        elif isinstance(value, frozenset | set | tuple | list) and all(isinstance(v, str) for v in value):
            out[key] = sorted(value) if isinstance(value, frozenset | set) else list(value)
    return out


def profile_from_json(data: Any) -> ModelProfile:
    """A model profile back from `profile_json` (unknown keys and values of another shape are dropped)."""
    from pydantic_ai import native_tools

    if not isinstance(data, dict):
        return ModelProfile()
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in DEFAULT_PROFILE:
            continue
        default = DEFAULT_PROFILE.get(key)
        if isinstance(value, dict) and 'timedelta_seconds' in value:
            out[key] = timedelta(seconds=float(value['timedelta_seconds']))
        elif key == 'supported_native_tools' and isinstance(value, list):
            found = (getattr(native_tools, name, None) for name in value)
            out[key] = frozenset(t for t in found if isinstance(t, type))
        elif isinstance(value, list):
            out[key] = frozenset(value) if isinstance(default, frozenset) else tuple(value)
        else:
            out[key] = value
    return typing.cast(ModelProfile, out)


def json_line(data: dict[str, Any]) -> bytes:
    """One line of a recording file: compact JSON and a newline."""
    return (json.dumps(data, ensure_ascii=False, separators=(',', ':')) + '\n').encode()


def check_header(header: Any, path: Path) -> dict[str, Any]:
    """`header` if it is the header of a recording of a version this module reads, else `RecordingError` naming
    `path`."""
    if not isinstance(header, dict) or header.get('format') != FORMAT or 'version' not in header:
        raise RecordingError(f'{path} is not a pytest-agentarch recording (its first line is not a recording header)')
    if header['version'] not in READABLE_VERSIONS:
        newer = isinstance(header['version'], int) and header['version'] > FORMAT_VERSION
        raise RecordingError(
            f'{path} is a recording of format version {header["version"]!r}; this pytest-agentarch reads versions '
            f'{", ".join(map(str, READABLE_VERSIONS))}. '
            + (
                'Upgrade pytest-agentarch to replay it.'
                if newer
                else 'Record again with this version, or replay with the version that recorded it.'
            )
        )
    return header


@dataclass(kw_only=True)
class Entry:
    """Where one exchange is in its file, and what it is filed under."""

    index: int | None
    """Run index."""
    digest: str
    """Hash of the request."""
    occurrence: int
    """Occurrence among identical requests of the run."""
    offset: int
    """Byte offset of the line."""
    length: int
    """Byte length of the line."""
    duration: float | None
    """Seconds the recorded model took to answer; None when the recording did not store it (format version 1)."""


@dataclass(kw_only=True)
class RecordedFile:
    """One item's recording, indexed (exchanges are read from the file when needed)."""

    path: Path
    """The file."""
    header: dict[str, Any]
    """Its header line."""
    entries: dict[tuple[int | None, str, int], Entry] = field(default_factory=dict)
    """Exchanges by (run index, hash, occurrence)."""
    runs: dict[int | None, list[Entry]] = field(default_factory=dict)
    """Exchanges of each run, in file order."""
    data: bytes | None = None
    """A packed file's lines, held in memory (a plain file is read where an exchange is, when it is needed)."""

    @classmethod
    def load(cls, path: Path, key: Key) -> RecordedFile:
        """The file at `path` (plain or packed), indexed; it must hold the item of `key`."""
        data = _read_file(path)
        lines = data.split(b'\n')
        if data.endswith(b'\n'):
            lines.pop()
        elif len(lines) > 1:
            lines.pop()  # the last line of a session that was stopped while writing it: never complete
        if not lines or not lines[0].strip():
            raise RecordingError(f'{path} is empty: it is not a pytest-agentarch recording')
        try:
            header = check_header(json.loads(lines[0]), path)
        except ValueError:
            raise RecordingError(f'{path} is not a pytest-agentarch recording (its first line is not JSON)') from None
        # A header without `role` predates judge recordings: it holds a run's requests.
        held = {k: header.get(k, 'run' if k == 'role' else None) for k in key.item()}
        if held != key.item():
            raise RecordingError(f'{path} holds {held}, not {key.item()}: the recording directory was altered')
        recorded = cls(path=path, header=header, data=data if _is_packed(path) else None)
        rekeyed: dict[tuple[int | None, str], int] = {}
        offset = len(lines[0]) + 1
        for number, raw in enumerate(lines[1:], start=2):
            if raw.strip():
                try:
                    exchange = json.loads(raw)
                    entry = Entry(
                        index=exchange['index'],
                        digest=exchange['hash'],
                        occurrence=exchange['occurrence'],
                        offset=offset,
                        length=len(raw),
                        duration=_duration(exchange.get('duration')),
                    )
                    if header['version'] == 1:
                        entry.digest, entry.occurrence = rekeyed_slot(exchange, rekeyed, header)
                except (ValueError, KeyError, TypeError):
                    raise RecordingError(f'{path}, line {number}: not a recorded exchange') from None
                recorded.entries.setdefault((entry.index, entry.digest, entry.occurrence), entry)
                recorded.runs.setdefault(entry.index, []).append(entry)
            offset += len(raw) + 1
        return recorded

    def read(self, entry: Entry) -> dict[str, Any]:
        """The exchange at `entry`."""
        if self.data is not None:
            line = self.data[entry.offset : entry.offset + entry.length]
        else:
            with self.path.open('rb') as f:
                f.seek(entry.offset)
                line = f.read(entry.length)
        return typing.cast(dict[str, Any], json.loads(line))


def _duration(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def rekeyed_slot(
    exchange: dict[str, Any], seen: dict[tuple[int | None, str], int], header: dict[str, Any]
) -> tuple[str, int]:
    """The hash and occurrence of a stored exchange under this format version, computed from the request it stores
    and the recorded model's profile (in `header`); `seen` counts the exchanges of each (run index, hash) met so far
    in file order (a file is in occurrence order: each exchange was appended as its answer arrived)."""
    profile = header.get('profile')
    mode = default_output_mode(profile if isinstance(profile, dict) else None)
    digest = stored_hash(exchange['request'], exchange['parameters'], default_mode=mode)
    slot = (exchange['index'], digest)
    occurrence = seen.get(slot, 0)
    seen[slot] = occurrence + 1
    return digest, occurrence


def response_of(exchange: dict[str, Any], path: Path) -> ModelResponse:
    """The model response a recorded exchange holds."""
    (response,) = ModelMessagesTypeAdapter.validate_json(json.dumps([exchange['response']]))
    if not isinstance(response, ModelResponse):
        raise RecordingError(f'{path}: a recorded response is not a model response')
    return response


_PACKED_SUFFIX = '.gz'


def _is_packed(path: Path) -> bool:
    return path.name.endswith('.jsonl' + _PACKED_SUFFIX)


def packed_path(path: Path) -> Path:
    """Where the packed form of the plain file `path` is."""
    return path.with_name(path.name + _PACKED_SUFFIX)


def locate(path: Path) -> Path | None:
    """The file holding the item whose plain file is `path`: that file, its packed form, or None."""
    packed = packed_path(path)
    if path.is_file() and packed.is_file():
        raise RecordingError(f'{path} and {packed.name} both hold this item; delete the one that is not its recording')
    return path if path.is_file() else packed if packed.is_file() else None


def _read_file(path: Path) -> bytes:
    """A recording file's lines, unpacked if it is packed."""
    if not _is_packed(path):
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise RecordingError(
            f'{path} is not a whole gzip file ({exc}): restore it from version control or a good copy'
        ) from None


def first_line(path: Path) -> bytes:
    """A recording file's header line (unpacked)."""
    if not _is_packed(path):
        with path.open('rb') as f:
            return f.readline()
    return _read_file(path).split(b'\n', 1)[0]


def first_jsonl(root: Path) -> Path | None:
    """The first recording file under `root` in path order, plain or packed."""
    return next(iter(sorted([*root.rglob('*.jsonl'), *root.rglob('*.jsonl' + _PACKED_SUFFIX)])), None)


def pack(directory: Path) -> list[tuple[Path, int, int]]:
    """Replace every plain recording file under `directory` by its packed form (`<case>.jsonl.gz`); returns
    (packed file, plain size, packed size) for each. The packed bytes are checked to unpack to the plain ones
    before the plain file is removed. Not while a session records into `directory`: its next exchange would start
    a plain file beside the packed one.

    Nothing is changed when an item is held both ways with different contents; the same contents both ways (a
    packing that stopped before removing the plain file) keep the packed file only."""
    plains = sorted(Path(directory).rglob('*.jsonl'))
    for plain in plains:
        _check_single_form(plain, packed_path(plain))
    done = []
    for plain in plains:
        target = packed_path(plain)
        if target.exists():
            plain.unlink()
            continue
        data = plain.read_bytes()
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        if gzip.decompress(packed) != data:  # pragma: no cover - a broken zlib
            raise RecordingError(f'{plain}: its packed form does not unpack to it; nothing was changed')
        partial = target.with_name(target.name + '.partial')
        partial.write_bytes(packed)
        os.replace(partial, target)
        plain.unlink()
        done.append((target, len(data), len(packed)))
    return done


def unpack(directory: Path) -> list[Path]:
    """Replace every packed recording file under `directory` by its plain form; returns the plain files."""
    packs = sorted(Path(directory).rglob('*.jsonl' + _PACKED_SUFFIX))
    for packed in packs:
        _check_single_form(_plain(packed), packed)
    return [unpack_file(packed) for packed in packs]


def _plain(packed: Path) -> Path:
    return packed.with_name(packed.name.removesuffix(_PACKED_SUFFIX))


def _check_single_form(plain: Path, packed: Path) -> None:
    """Refuse an item held both plain and packed with different contents."""
    if plain.is_file() and packed.is_file() and _read_file(packed) != plain.read_bytes():
        raise RecordingError(f'{plain} and {packed.name} both hold this item, differently; keep one of them')


def unpack_file(packed: Path) -> Path:
    """The packed file made plain; callers have refused an item held both ways differently."""
    plain = _plain(packed)
    if plain.exists():
        packed.unlink()  # the same lines both ways: a stopped unpacking
        return plain
    partial = plain.with_name(plain.name + '.partial')
    partial.write_bytes(_read_file(packed))
    os.replace(partial, plain)
    packed.unlink()
    return plain
