"""Peak memory of the xdist controller as --runs grows: it must hold records, never message histories.

Writes a throwaway project (one trivial architecture on a FunctionModel whose every request carries a 20 KiB
prompt, two cases), runs `pytest -n 2 --runs N` for several N, and reads the controller's own peak RSS
(`getrusage(RUSAGE_SELF)`, written by the project's conftest at the end of the session, so workers do not count).
If the controller held message histories, 1000 runs x 2 cases x 2 requests x 20 KiB would add about 80 MiB.

Usage: python benchmarks/controller_memory.py [--runs 10 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFTEST = """
import json
import os
import resource

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pytest_agentarch import architecture

PADDING = 'x' * 20_480


def lookup(key: str) -> str:
    return key.upper() + PADDING


async def respond(messages, info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart('lookup', {'key': 'a'})])
    return ModelResponse(parts=[TextPart('done')])


@architecture('trivial')
async def trivial(inputs, model):
    agent = Agent(FunctionModel(respond), tools=[lookup])
    return (await agent.run(inputs + PADDING)).output


def pytest_sessionfinish(session):
    if not hasattr(session.config, 'workerinput'):
        with open(os.environ['CONTROLLER_PEAK_FILE'], 'w') as f:
            json.dump(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, f)
"""

DATASET = """
name: bench
cases:
  - name: one
    inputs: hello
  - name: two
    inputs: world
"""

INI = """
[pytest]
agentarch_datasets = *.yaml
agentarch_memory = off
"""


def controller_peak_kib(project: Path, runs: int) -> int:
    peak_file = project / 'peak.json'
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-n', '2', '-p', 'no:cacheprovider', f'--runs={runs}'],
        cwd=project,
        env={**os.environ, 'CONTROLLER_PEAK_FILE': str(peak_file)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f'pytest failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}')
    return int(json.loads(peak_file.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, nargs='+', default=[10, 1000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / 'conftest.py').write_text(textwrap.dedent(CONFTEST))
        (project / 'bench.yaml').write_text(DATASET)
        (project / 'pytest.ini').write_text(INI)
        peaks = {runs: controller_peak_kib(project, runs) for runs in args.runs}
    base = peaks[min(peaks)]
    print('controller peak RSS (xdist -n 2, 2 cases, 20 KiB per message):')
    for runs, peak in peaks.items():
        print(f'  --runs {runs:>5}: {peak / 1024:7.1f} MiB  (+{(peak - base) / 1024:.1f} MiB over --runs {min(peaks)})')


if __name__ == '__main__':
    main()
