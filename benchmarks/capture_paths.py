"""The main job's runs recorded by both captures: every record field compared, run by run.

Every case of the K8s datasets under every architecture on `sim` (the main job's workload, as `main_job.py` loads
it), each run index made twice: once with the architecture on the span path (pydantic-ai's instrumentation
capability and capture's tracer) and once on the model-request layer (`capture_requests`). The two records of one
run index must be equal in every field but timing (duration, time waited, the event counter's values) and the
path's own name: trajectories at every level, flattened steps and flow, tool calls with arguments and results, model
requests with usage, cost and context, output, assertions, metrics, errors.

Usage: python benchmarks/capture_paths.py [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import main_job

from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.requests.specs import resolve_model
from pytest_agentarch.run import capture_requests
from pytest_agentarch.run.runner import RunSettings, run_case


def comparable(record: RunRecord) -> dict[str, Any]:
    """The record without its timing and without the name of the path that made it."""
    wire = record.to_wire()
    for key in ('index', 'duration', 'capture', 'waited'):
        wire.pop(key)
    wire['tool_calls'] = [{**t, 'order': 0} for t in wire['tool_calls']]
    wire['model_requests'] = [{**m, 'order': 0, 'duration': 0} for m in wire['model_requests']]
    return wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=2, help='run indexes per (architecture, case)')
    args = parser.parse_args()
    model = resolve_model('sim')
    same = differ = 0
    for dataset, case, archs in main_job.load_cases():
        for arch in archs:
            made: dict[str, list[dict[str, Any]]] = {}
            for path in ('spans', 'requests'):
                capture_requests.VERDICTS.paths[arch.func] = path
                settings = RunSettings(runs=args.runs, model='sim', dataset=dataset)
                records = asyncio.run(run_case(arch, model, case, settings))
                assert {r.capture for r in records} == {path}
                made[path] = [comparable(r) for r in records]
            for spans, layer in zip(made['spans'], made['requests'], strict=True):
                if spans == layer:
                    same += 1
                    continue
                differ += 1
                print(f'{case.name}[{arch.name}] differs in', ', '.join(k for k in spans if spans[k] != layer[k]))
    print(f'{same + differ} runs made both ways: {same} records identical, {differ} differ')


if __name__ == '__main__':
    main()
