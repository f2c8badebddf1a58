"""What a report says about where it came from: versions, the git commit, start time and duration, the options and
thresholds in force, and a fingerprint of each case, so that a comparison knows it compares the same thing.
No pytest here."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import to_json, to_jsonable_python
from pydantic_evals.evaluators import Evaluator

__all__ = ('ReportMetadata', 'case_fingerprint', 'git_commit', 'package_version', 'session_metadata')


class ReportMetadata(BaseModel):
    """Where a report came from."""

    plugin_version: str | None = Field(description='pytest-agentarch')
    pydantic_ai_version: str | None = Field(description='pydantic-ai-slim')
    pydantic_evals_version: str | None
    python: str = Field(description='implementation and version, e.g. CPython 3.11.7')
    platform: str
    started_at: str = Field(description='when the session started, ISO 8601 in UTC')
    duration: float = Field(description='wall seconds from the session start to the report')
    git_commit: str | None = Field(description='HEAD of the git checkout the session ran in; null outside one')
    options: dict[str, Any] = Field(description='every agentarch option and ini key, as resolved (command line, ini)')
    thresholds: dict[str, Any] = Field(
        description='the gates in force: the session thresholds and the per-architecture ones (`overrides`)'
    )


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def git_commit(directory: Path) -> str | None:
    """The commit checked out in `directory`'s git work tree; None when it is not one (or git is missing)."""
    try:
        done = subprocess.run(
            ['git', 'rev-parse', '--verify', '--quiet', 'HEAD'],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _plain(value: Any) -> Any:
    """A JSON-safe form of an option value (paths, patterns and mappings included)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, 'pattern') and isinstance(value.pattern, str):
        return value.pattern
    return to_jsonable_python(value, fallback=str)


def session_metadata(
    *,
    started: float,
    duration: float,
    rootdir: Path,
    options: Mapping[str, Any],
    thresholds: Mapping[str, Any],
) -> ReportMetadata:
    """The metadata of a session that started at `started` (a POSIX timestamp) and ran `duration` seconds."""
    return ReportMetadata(
        plugin_version=package_version('pytest-agentarch'),
        pydantic_ai_version=package_version('pydantic-ai-slim'),
        pydantic_evals_version=package_version('pydantic-evals'),
        python=f'{platform.python_implementation()} {sys.version.split()[0]}',
        platform=platform.platform(),
        started_at=datetime.fromtimestamp(started, UTC).isoformat(timespec='seconds'),
        duration=round(duration, 3),
        git_commit=git_commit(rootdir),
        options=_plain(options),
        thresholds=_plain(thresholds),
    )


def case_fingerprint(inputs: Any, expected_output: Any, evaluators: Sequence[Evaluator[Any, Any, Any]]) -> str:
    """A stable hash of a case's inputs, expected output and evaluators (in their pydantic-evals serialized form,
    `Name: arguments`): two reports whose fingerprints of a case differ ran different versions of it.

    The JSON is written with sorted keys, so the order of keys in a dataset file does not matter; the order of the
    evaluators does (it is the order they run in). The case name and metadata are left out: renaming a case makes it
    another item anyway, and metadata does not change what is asked or judged."""
    form = {
        'inputs': to_jsonable_python(inputs, fallback=repr),
        'expected_output': to_jsonable_python(expected_output, fallback=repr),
        'evaluators': [
            {
                'name': e.get_serialization_name(),
                'arguments': to_jsonable_python(e.build_serialization_arguments(), fallback=_kind),
            }
            for e in evaluators
        ],
    }
    canonical = to_json(_sorted(form)).decode()
    return 'sha256:' + hashlib.sha256(canonical.encode()).hexdigest()


def _kind(value: Any) -> str:
    # An argument JSON cannot hold (a model object, say): its type, since its repr may hold a memory address.
    return f'<{type(value).__qualname__}>'


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
