"""What loading the plugin costs every pytest session of every user who has it installed: importing the entry point
(`pytest11`) leaves the optional pieces out, each imported where it is first used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OPTIONAL = (
    # The Redis store (`--agentarch-store redis://...`), an extra.
    'redis',
    'limits',
    'pytest_agentarch.requests.redis_store',
    # The local llama.cpp backend's server (`--agentarch-model llamacpp:...`), an extra.
    'xllamacpp',
    # Provider SDKs: pydantic-ai imports one when a model of that provider is built.
    'openai',
    'pydantic_ai.models.openai',
    # The simulated model, built only for `--agentarch-model sim`.
    'pytest_agentarch.backends.sim',
    # The HTML report (`--agentarch-html`), and the `agentarch` command line with its merge of shards.
    'pytest_agentarch.reports.html',
    'pytest_agentarch.reports.merge',
    'pytest_agentarch.cli',
)

PROBE = textwrap.dedent(
    """
    import json, sys

    optional = json.loads(sys.argv[1])
    import pytest_agentarch.plugin.hooks

    entry_point = sorted(m for m in optional if m in sys.modules)
    # The same look at sys.modules sees a module once it is imported: the check itself can fail.
    import pytest_agentarch.requests.redis_store
    import pytest_agentarch.reports.html

    print(json.dumps({'entry_point': entry_point, 'after': sorted(m for m in optional if m in sys.modules)}))
    """
)


def test_the_entry_point_imports_no_optional_module() -> None:
    done = subprocess.run(
        [sys.executable, '-c', PROBE, json.dumps(OPTIONAL)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen['entry_point'] == []
    assert {'redis', 'limits', 'pytest_agentarch.requests.redis_store', 'pytest_agentarch.reports.html'} <= set(
        seen['after']
    )
