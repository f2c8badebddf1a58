"""`rekey`: a recording of an older format version rewritten in this one, its keys computed again from the requests
it stores (`agentarch recording rekey DIR`). No model is needed: every exchange stores the request it answered."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from .files import FORMAT_VERSION, check_header, json_line, rekeyed_slot
from .keys import RecordingError

__all__ = ('Rekeyed', 'rekey')


@dataclass(kw_only=True)
class Rekeyed:
    """What `rekey` did to one file."""

    path: Path
    """The file (plain or packed, kept in its form)."""
    version: int
    """Its format version before."""
    exchanges: int
    """Exchanges it holds."""
    changed: int
    """Exchanges whose hash or occurrence changed."""


def rekey(directory: Path) -> list[Rekeyed]:
    """Rewrite every recording file under `directory` (plain `.jsonl` or packed `.jsonl.gz`) in this format version:
    each exchange's hash and occurrence computed again from the request and parameters it stores
    (`keys.stored_hash`), the header's version set to `FORMAT_VERSION`. Everything else is kept as it is: an
    exchange recorded without a duration keeps none (its recorded latency stays unknown), a header without the
    pydantic-ai release keeps none. A file already in this version is rewritten only if its keys differ. Each file is
    replaced whole (written beside it, then renamed), so a stopped command leaves every file either old or new.

    Every file is read and checked before any is written: a file that is not a recording, or of a version this
    module does not read, raises `RecordingError` and nothing is changed."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordingError(f'{directory} is not a directory')
    paths = sorted([*directory.rglob('*.jsonl'), *directory.rglob('*.jsonl.gz')])
    planned = [_rekeyed(path) for path in paths]
    done = []
    for path, (data, report) in zip(paths, planned, strict=True):
        if data is not None:
            if path.name.endswith('.gz'):
                data = gzip.compress(data, compresslevel=9, mtime=0)
            partial = path.with_name(path.name + '.partial')
            partial.write_bytes(data)
            os.replace(partial, path)
        done.append(report)
    return done


def _rekeyed(path: Path) -> tuple[bytes | None, Rekeyed]:
    """The file's new bytes (None: unchanged) and what changed."""
    raw = path.read_bytes()
    if path.name.endswith('.gz'):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise RecordingError(f'{path} is not a whole gzip file ({exc}); nothing was changed') from None
    lines = raw.split(b'\n')
    if lines and not lines[-1]:
        lines.pop()
    elif len(lines) > 1:
        lines.pop()  # the last line of a session stopped while writing it: never complete, dropped like replay does
    try:
        header = check_header(json.loads(lines[0]) if lines else None, path)
    except ValueError:
        raise RecordingError(f'{path} is not a pytest-agentarch recording; nothing was changed') from None
    seen: dict[tuple[int | None, str], int] = {}
    out = [json_line({**header, 'version': FORMAT_VERSION})]
    exchanges = changed = 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            exchange = json.loads(line)
            digest, occurrence = rekeyed_slot(exchange, seen, header)
        except (ValueError, KeyError, TypeError):
            raise RecordingError(f'{path}, line {number}: not a recorded exchange; nothing was changed') from None
        exchanges += 1
        if (digest, occurrence) != (exchange.get('hash'), exchange.get('occurrence')):
            changed += 1
        out.append(json_line({**exchange, 'hash': digest, 'occurrence': occurrence}))
    report = Rekeyed(path=path, version=header['version'], exchanges=exchanges, changed=changed)
    if header['version'] == FORMAT_VERSION and not changed:
        return None, report
    return b''.join(out), report
