"""What the cyclic garbage collector costs the K8s suite, and what the plugin's run-time threshold saves.

Every architecture runs one case of `evals/k8s_anomaly.yaml` N times through the plugin's run path
(`runner.run_case`, on `sim`), once with CPython's default collector threshold and once with the threshold the
plugin sets while items run. Rounds are interleaved and the median round is reported, because this machine is
shared and noisy. Then the Python heap peak of one such item under each threshold, to show what garbage that waits
longer costs in memory.

Usage: python benchmarks/gc_threshold.py [--runs 20] [--rounds 5] [--case cpu_saturation_checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from pydantic_evals import Dataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import architectures  # noqa: E402, F401  (registers the six architectures)
from pytest_agentarch.backends.sim import SimulatedModel  # noqa: E402
from pytest_agentarch.plugin.collection import user_evaluator_types  # noqa: E402
from pytest_agentarch.run.capture import install  # noqa: E402
from pytest_agentarch.run.memory import RUN_GC_THRESHOLD as _RUN_GC_THRESHOLD  # noqa: E402
from pytest_agentarch.run.registry import registered  # noqa: E402
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case  # noqa: E402


def load_case(name: str) -> CaseSpec:
    dataset = Dataset[Any, Any, Any].from_file(
        ROOT / 'evals' / 'k8s_anomaly.yaml', custom_evaluator_types=user_evaluator_types()
    )
    case = next((c for c in dataset.cases if c.name == name), None)
    if case is None:
        raise SystemExit(f'no case {name!r} in evals/k8s_anomaly.yaml; pick one of {[c.name for c in dataset.cases]}')
    return CaseSpec.from_dataset(case, dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--case', default='cpu_saturation_checkout')
    args = parser.parse_args()

    install()
    case = load_case(args.case)
    model = SimulatedModel()
    settings = RunSettings(runs=args.runs)
    archs = list(registered().values())
    default = gc.get_threshold()
    tuned = (_RUN_GC_THRESHOLD, 10, 10)

    def item_seconds() -> float:
        t0 = time.perf_counter()
        for arch in archs:
            asyncio.run(run_case(arch, model, case, settings))
        return time.perf_counter() - t0

    item_seconds()  # warm-up: imports, schemas, caches
    times: dict[tuple[int, ...], list[float]] = {default: [], tuned: []}
    try:
        for _ in range(args.rounds):
            for thresholds in (default, tuned):
                gc.set_threshold(*thresholds)
                gc.collect()
                times[thresholds].append(item_seconds())

        peaks: dict[tuple[int, ...], int] = {}
        specialized = registered()['specialized']
        for thresholds in (default, tuned):
            gc.set_threshold(*thresholds)
            gc.collect()
            tracemalloc.start()
            asyncio.run(run_case(specialized, model, case, settings))
            peaks[thresholds] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        gc.set_threshold(*default)

    a, b = (statistics.median(times[t]) for t in (default, tuned))
    print(f'{len(archs)} architectures x case {args.case} x {args.runs} runs, median of {args.rounds} rounds:')
    print(f'  default threshold {default}  {a:.2f} s')
    print(f'  plugin threshold  {tuned}  {b:.2f} s')
    print(f'  tuned/default = {b / a:.2f}')
    print(
        f'heap peak of one specialized item ({args.runs} concurrent runs): '
        f'default {peaks[default] / 2**20:.1f} MiB, tuned {peaks[tuned] / 2**20:.1f} MiB'
    )


if __name__ == '__main__':
    main()
