"""What the main job's runs cost with and without the plugin around them, on the K8s workload itself.

`overhead.py` measures capture on a trivial agent. This measures it where the main job spends its time: every case of
the K8s datasets (`evals/*.yaml`, typed as the architectures declare), every architecture, on `sim`, the same runs
done two ways in one process, rounds interleaved:
  (a) bare: each architecture's function called on the case's inputs with the same per-run model randomness
      (`run_scope`), runs of a case gathered like the plugin gathers them, pydantic-ai's instrumentation off;
  (b) the plugin's run path (`runner.run_case`): capture, trajectories, the case's evaluators, records.
Each also runs under the collector threshold the plugin sets while items run (`memory.tune_gc`), marked `'`: a
pytest item always runs so, and it makes pydantic-ai's own work cheaper too, so (a') is the lowest floor.
Only CPU time is compared (the runs are CPU-bound; this machine is shared): the median round of each, per run, and
b/a. It then says what the main job's size implies: its runs' CPU at (a) and at (b), spread over the cores it is
given, is a floor under the session's wall time that no capture can lower.

With `--session`, the main job's own pytest session (`pytest --arch all --runs 20 --assert=plain -n 0`, the
repository's datasets on `sim`) also runs once, in a child process of this one, after the rounds: its CPU time
(user + system, start to exit: interpreter, collection, reports included) against the floor's CPU for the same
number of runs, measured in the rounds just before.

With `--paired N`, nothing else runs: the floor and the session are both measured as whole processes, in slices of
one architecture each (the session with `--arch NAME`, the floor process `--floor-process NAME` making the same runs:
every case the architecture serves, `--runs 20` gathered per item, one item after another, bare, under the collector
setting the session runs its items with), the two sides' slices alternating (floor first, then session first, ...),
N passes over the six architectures. Each side's CPU is summed over a pass. Each slice pays for its interpreter and
imports on both sides; the session's start-up (pytest, the plugin, collection) six times instead of once is counted
against it. Slices of a few minutes put the load of a shared machine on both sides alike: whole-job pairs (half an
hour each) gave 1.10 and 1.48 in one invocation, as the machine's load moved between the two halves of the second.

With `--paired N --side-by-side`, each slice's two sides run at the same time, each pinned to a core of its own
(`sched_setaffinity`), the cores swapped from one slice to the next. On a shared host the CPU cost of a second drifts
(the same floor slice, alone on a quiet machine, took 25 s and 33 s of CPU one after the other); run together, both
sides meet the same drift, where alternating puts one slice's drift on one side. Each side's CPU comes from its own
`wait4` usage. The two contend for the memory bus and the shared cache, alike; the longer side runs its tail alone.

Usage: python benchmarks/main_job.py [--runs 2] [--rounds 3] [--cores 2] [--session] [--paired N [--side-by-side]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_evals import Dataset

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

import architectures  # noqa: E402,F401  (registers the six K8s architectures)
from pytest_agentarch.plugin.collection import user_evaluator_types  # noqa: E402
from pytest_agentarch.requests.specs import resolve_model  # noqa: E402
from pytest_agentarch.run import capture, memory, registry  # noqa: E402
from pytest_agentarch.run.context import RunInfo, run_scope  # noqa: E402
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case  # noqa: E402

MAIN_JOB_RUNS = 20
"""`scripts/main.sh`: --runs 20."""


def load_cases() -> list[tuple[str, CaseSpec, list[registry.Architecture]]]:
    """(dataset name, case, architectures serving it) for every case of the repository's datasets."""
    found = []
    archs = list(registry.registered().values())
    for path in sorted((ROOT / 'evals').glob('*.yaml')):
        name = Dataset[Any, Any, Any].from_file(path, custom_evaluator_types=user_evaluator_types()).name
        serving = [a for a in archs if a.serves(name)]
        types = serving[0].dataset_types()
        typed: Any = Dataset
        dataset = typed[types.inputs, types.output, types.metadata].from_file(
            path, custom_evaluator_types=user_evaluator_types()
        )
        found += [(name, CaseSpec.from_dataset(case, dataset), serving) for case in dataset.cases]
    return found


RAISED: dict[str, dict[tuple[str, str, str, int], str]] = {'a': {}, 'b': {}}
"""What each side's runs raised, by (dataset, case, architecture, run index): the two sides must agree."""


async def bare_run(model: Any, dataset: str, case: CaseSpec, arch: registry.Architecture, index: int) -> None:
    """One run as the plugin makes it (same model, same per-run randomness), with nothing around it but what keeps
    a run that raises (an architecture that gives up, as the plugin records it) from ending the others."""
    info = RunInfo(session_seed=0, case=case.name, architecture=arch.name, index=index, model='sim', dataset=dataset)
    try:
        with run_scope(info):
            async with model:
                await arch.func(case.inputs, model)
    except Exception as exc:
        RAISED['a'][dataset, case.name, arch.name, index] = type(exc).__name__


async def bare(model: Any, cases: list[tuple[str, CaseSpec, list[registry.Architecture]]], runs: int) -> int:
    done = 0
    for dataset, case, archs in cases:
        for arch in archs:
            await asyncio.gather(*(bare_run(model, dataset, case, arch, i) for i in range(runs)))
            done += runs
    return done


async def plugin(model: Any, cases: list[tuple[str, CaseSpec, list[registry.Architecture]]], runs: int) -> int:
    done = 0
    for dataset, case, archs in cases:
        for arch in archs:
            settings = RunSettings(runs=runs, model='sim', dataset=dataset)
            records = await run_case(arch, model, case, settings)
            for r in records:
                if r.error_type:
                    RAISED['b'][dataset, case.name, arch.name, r.index] = r.error_type
            done += len(records)
    return done


def check_same_errors() -> int:
    """The runs that raised, the same on both sides (a capture error or a different exception would say the two
    sides did not make the same runs, and their times would not compare)."""
    a, b = RAISED['a'], RAISED['b']
    assert a == b, f'the sides raised differently: bare {sorted(a.items())[:5]}, plugin {sorted(b.items())[:5]}'
    return len(a)


def cpu(run: Callable[[], Coroutine[Any, Any, int]]) -> tuple[float, int]:
    """CPU seconds of one event loop running the coroutine, and the runs it made."""
    c0 = time.process_time()
    made = asyncio.run(run())
    return time.process_time() - c0, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=2, help='runs per (architecture, case) in each round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cores', type=int, default=2, help='cores the main job is spread over')
    parser.add_argument('--session', action='store_true', help="also run the main job's pytest session once")
    parser.add_argument(
        '--paired', type=int, metavar='N', help='measure the floor and the session as whole processes, N pairs'
    )
    parser.add_argument(
        '--side-by-side',
        action='store_true',
        help="with --paired: run each slice's two sides at once, one core each, the cores swapped every slice",
    )
    parser.add_argument('--floor-process', metavar='ARCH', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side_by_side and args.paired is None:
        parser.error('--side-by-side: only with --paired N')
    if args.floor_process:
        floor_process(args.floor_process)
        return
    if args.paired is not None:
        if args.paired < 1:
            parser.error(f'--paired: must be at least 1, got {args.paired}')
        if args.side_by_side and len(os.sched_getaffinity(0)) < 2:
            parser.error('--side-by-side: needs two cores this process may run on, found one')
        paired(args.paired, side_by_side=args.side_by_side)
        return
    cases = load_cases()
    model = resolve_model('sim')
    per_run: dict[str, list[float]] = {k: [] for k in ('a', 'b', "a'", "b'")}
    made = 0
    for _ in range(args.rounds):
        for tuned in ('', "'"):
            if tuned:
                memory.tune_gc()
            capture.uninstall()
            Agent.instrument_all(False)
            seconds, made = cpu(lambda: bare(model, cases, args.runs))
            per_run['a' + tuned].append(seconds / made)
            seconds, made_b = cpu(lambda: plugin(model, cases, args.runs))
            assert made_b == made
            per_run['b' + tuned].append(seconds / made)
            memory.untune_gc()
    med = {k: statistics.median(v) for k, v in per_run.items()}
    items = sum(len(archs) for _, _, archs in cases)
    job = items * MAIN_JOB_RUNS
    raised = check_same_errors()
    print(
        f'main job workload: {len(cases)} cases, {items} items, {made} runs per round, {args.rounds} rounds '
        f'({raised} runs raised, the same on both sides)'
    )
    labels = {'a': 'bare architectures', 'b': 'plugin run path'}
    for key, value in med.items():
        print(f'  ({key:<2}) {labels[key[0]]:<20} {value * 1000:7.1f} ms CPU per run')
    a, b, a_tuned, b_tuned = med['a'], med['b'], med["a'"], med["b'"]
    print(f"  b/a = {b / a:.2f}   b'/a' = {b_tuned / a_tuned:.2f}   b'/a = {b_tuned / a:.2f}")
    floor = min(a, a_tuned)
    print(
        f'the main job ({job} runs): runs alone at least {job * floor:.0f} s CPU bare, {job * b_tuned:.0f} s '
        f'through the plugin as items run; on {args.cores} cores at best {job * floor / args.cores:.0f} s and '
        f'{job * b_tuned / args.cores:.0f} s of wall time (pytest start-up and reports not included)'
    )
    print(f"  run path against its floor: b/a = {b / a:.2f}, b'/min(a, a') = {b_tuned / floor:.2f} (target <= 1.2)")
    if args.session:
        session_cpu, wall, returncode = child_cpu([*SESSION, '--arch', 'all'])
        print(
            f'the main job session ({job} runs, -n 0, exit {returncode}): {session_cpu:.0f} s CPU, {wall:.0f} s '
            f"wall; {session_cpu / (job * floor):.2f}x the floor's {job * floor:.0f} s CPU (target <= 1.25)"
        )


SESSION = [sys.executable, '-m', 'pytest', '--runs', str(MAIN_JOB_RUNS), '--assert=plain', '-n', '0']
SESSION += ['-p', 'no:randomly', '-q']
"""The main job's pytest session on one core (`scripts/main.sh` spreads the same items over every core), without its
`--arch`: each slice adds its own."""

FLOOR = [sys.executable, str(Path(__file__).resolve()), '--floor-process']
"""The same runs made bare, in a process of their own, without its `--arch`."""


def _refuse_failure(command: list[str], returncode: int, output: str) -> None:
    """Stop the benchmark when a side's process failed: its CPU would not be the cost of the runs it was to make.
    Exit status 1 is no failure: some runs failed their evaluators, which the main job reports."""
    if returncode not in (0, 1):
        sys.exit(f'{" ".join(command[1:4])} exited {returncode}:\n{output}')


def child_cpu(command: list[str]) -> tuple[float, float, int]:
    """CPU seconds (user + system, start to exit) and wall seconds of a child process, and its exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _refuse_failure(command, done.returncode, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, done.returncode


def floor_process(architecture: str) -> None:
    """The main job's runs of one architecture, bare: every case it serves, `MAIN_JOB_RUNS` runs gathered per item,
    one item after another, as a `-n 0` session makes them, under the collector setting its items run with."""
    cases = [(d, c, [a for a in archs if a.name == architecture]) for d, c, archs in load_cases()]
    model = resolve_model('sim')
    capture.uninstall()
    Agent.instrument_all(False)
    memory.tune_gc()
    asyncio.run(bare(model, cases, MAIN_JOB_RUNS))


def together(commands: dict[str, list[str]], cores: list[int]) -> dict[str, float]:
    """CPU seconds (user + system, start to exit) of each command, all started at once, the i-th pinned to
    `cores[i]`; from each child's own `wait4` usage."""
    started = {}
    with tempfile.TemporaryDirectory() as logs:
        for (side, command), core in zip(commands.items(), cores, strict=True):
            out = open(Path(logs) / side, 'wb')  # noqa: SIM115  (closed below, once the child has ended)
            child = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda core=core: os.sched_setaffinity(0, {core}),
            )
            started[side] = (child, out)
        seconds = {}
        for side, (child, out) in started.items():
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            out.close()
            _refuse_failure(commands[side], child.returncode, (Path(logs) / side).read_text(errors='replace')[-4000:])
            seconds[side] = usage.ru_utime + usage.ru_stime
    return seconds


def paired(pairs: int, *, side_by_side: bool = False) -> None:
    """The session against the floor, both whole processes, one architecture a slice, `pairs` times over: each
    side's CPU is summed over the slices of a pass. The slices alternate (the first side alternating too), so load
    that comes and goes within a pass falls on both sides alike; or, `side_by_side`, each slice's two sides run at
    once on a core each, the cores swapped every slice, so both meet the same drift at the same time."""
    names = sorted(registry.registered())
    cores = sorted(os.sched_getaffinity(0))[:2]
    ratios = []
    for p in range(pairs):
        cpu_of = {'floor': 0.0, 'session': 0.0}
        for s, name in enumerate(names):
            floor, session = [*FLOOR, name], [*SESSION, '--arch', name]
            first = (p + s) % 2 == 0
            if side_by_side:
                spent = together({'floor': floor, 'session': session}, cores if first else cores[::-1])
                for side in cpu_of:
                    cpu_of[side] += spent[side]
            else:
                order = (('floor', floor), ('session', session)) if first else (('session', session), ('floor', floor))
                for side, command in order:
                    seconds, _, _ = child_cpu(command)
                    cpu_of[side] += seconds
            print(
                f'  pass {p + 1}, {name:<11}: floor and session so far {cpu_of["floor"]:6.1f} s, '
                f'{cpu_of["session"]:6.1f} s CPU',
                flush=True,
            )
        ratios.append(cpu_of['session'] / cpu_of['floor'])
        print(f'  pass {p + 1}: session / floor = {ratios[-1]:.2f}', flush=True)
    print(
        f'the main job session against its bare floor, {pairs} pass(es) of {len(names)} slices'
        f'{", each side by side" if side_by_side else ", interleaved"}: '
        f'median {statistics.median(ratios):.2f}x (passes {min(ratios):.2f}-{max(ratios):.2f}; target <= 1.25)'
    )


if __name__ == '__main__':
    main()
