"""Credentials never reach a recording: `redact` replaces every credential-looking string of what is written."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

__all__ = ('REDACTED', 'redact')

REDACTED = '[redacted]'
"""What `redact` puts in place of a credential."""


_ALWAYS_SECRET_KEYS = frozenset(
    {
        'authorization',
        'proxy_authorization',
        'api_key',
        'apikey',
        'x_api_key',
        'x_goog_api_key',
        'api_token',
        'password',
        'passwd',
        'secret',
        'client_secret',
        'secret_key',
        'private_key',
        'aws_secret_access_key',
        'cookie',
        'set_cookie',
    }
)
"""Keys whose string value is a credential whatever it looks like (compared lowercased, `-` read as `_`)."""

_CREDENTIAL_PATTERNS = (
    re.compile(r'(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}'),  # OpenAI, Anthropic (sk-ant-...), and look-alikes
    re.compile(r'\bBearer\s+[A-Za-z0-9._~+/=-]{8,}'),
    re.compile(r'\bAKIA[0-9A-Z]{16}\b'),  # AWS access key id
    re.compile(r'\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,}'),  # GitHub tokens
    re.compile(r'\bgithub_pat_[A-Za-z0-9_]{20,}'),
    re.compile(r'\bxox[abprs]-[A-Za-z0-9-]{10,}'),  # Slack
    re.compile(r'\bAIza[0-9A-Za-z_-]{30,}'),  # Google API key
    re.compile(r'\b(?:gsk|hf)_[A-Za-z0-9]{20,}'),  # Groq, Hugging Face
)
"""Credentials recognized anywhere in a string; each match is replaced."""

_TOKEN_SHAPE = re.compile(r'[A-Za-z0-9._~+/=-]{32,}')


def _secret_key(key: str) -> str | None:
    """`always` for a key that holds credentials, `token` for one that may (a long random value is one)."""
    name = key.lower().replace('-', '_')
    if name in _ALWAYS_SECRET_KEYS:
        return 'always'
    if name.endswith(('token', '_key', 'secret')):
        return 'token'
    return None


def _high_entropy(value: str) -> bool:
    """A 32+ character token of letters and digits, random-looking (Shannon entropy of 3 bits a character or more)."""
    if not _TOKEN_SHAPE.fullmatch(value) or not re.search(r'\d', value) or not re.search(r'[A-Za-z]', value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.0


def _redact_credential(match: re.Match[str]) -> str:
    text = match.group(0)
    # `sk-` is common in ordinary text (`task-...`, `desk-...` are excluded by the look-behind); a key has digits.
    if text.startswith('sk-') and not re.search(r'\d', text):
        return text
    return REDACTED


def _redact_str(value: str) -> str:
    stripped = value.lstrip()
    if stripped[:1] in ('{', '['):
        # Tool-call arguments and structured results often travel as JSON text: look inside for secret keys.
        try:
            parsed = json.loads(value)
        except ValueError:
            pass
        else:
            cleaned = redact(parsed)
            if cleaned != parsed:
                return json.dumps(cleaned, ensure_ascii=False)
    for pattern in _CREDENTIAL_PATTERNS:
        value = pattern.sub(_redact_credential, value)
    return value


def redact(obj: Any) -> Any:
    """A copy of the JSON-like `obj` (dicts, lists, strings, numbers) with every credential replaced by
    `'[redacted]'`.

    - In any string: OpenAI/Anthropic-style keys (`sk-...` with digits), `Bearer <token>`, AWS access key ids,
      GitHub, Slack, Google, Groq and Hugging Face tokens; only the credential is replaced, the text around it stays.
    - The whole string value of a key that holds credentials (`authorization`, `api_key`, `x-api-key`, `password`,
      `secret`, `client_secret`, `private_key`, `cookie`, ...; compared lowercased, `-` read as `_`).
    - The string value of a key that may (`token`, `access_token`, any `..._token`, `..._key`, `...secret`) when it
      is a 32+ character high-entropy token.
    - A string holding a JSON object or array (tool arguments often do) is read, redacted the same way, and written
      back only if something was replaced.

    The input is not changed.
    """
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            kind = _secret_key(key) if isinstance(key, str) else None
            if isinstance(value, str) and value and (kind == 'always' or (kind == 'token' and _high_entropy(value))):
                out[key] = REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return _redact_str(obj)
    return obj
