"""Write the fixed telemetry of every scenario in the catalogue (`scenarios/`) to `data/<scenario id>.json`.

The files are committed; this script documents how they were made and lets a test prove they are reproducible.
All randomness comes from one `random.Random(seed)` per scenario, values are rounded before serialisation, so
the output is byte-for-byte identical on every run and platform.

Each file holds Kubernetes-API-shaped objects and telemetry for one small slice of a cluster:

- `pods`, `nodes`: snapshots `{"observedAt": ..., "object": <v1 Pod or Node>}`, one at the start of the data and
  one at its last minute (objects change during an incident: restart counts, conditions, taints);
- `series`: per entity (`"k8s:pod/<name>"`), one-minute samples from `start`: `cpu_cores`, `memory_bytes`
  (working set), for pods `cpu_throttled_ratio` (throttled CFS periods / periods), for nodes
  `ephemeral_storage_used_bytes`; node series include their pods' usage;
- `events`: v1 Events (aggregated with `count`, `firstTimestamp`, `lastTimestamp`);
- `logs`: per entity, container log lines (pods) or kubelet journal lines (nodes): `timestamp`, `level`, `message`.
- `restarts` (only where a container restarts): per pod, the times the kubelet started a new container in it; its
  counters (CPU seconds, CFS periods) start again from zero then, as a Prometheus backfill of the data shows.

How each scenario is made lives in its own module, `scenarios/<id with underscores>.py` (a `SEED` and a `build`
function driving a `builder.Builder`), built from the shared pieces and fault injectors in the `faults` package.

Run `python -m architectures.telemetry.generate [--out DIR]` from the repository root.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from types import ModuleType

from architectures.telemetry.builder import Builder
from architectures.telemetry.scenarios import SCENARIOS, Scenario

__all__ = ('DATA_DIR', 'generate', 'main', 'render')

DATA_DIR = Path(__file__).parent / 'data'
"""Where the committed scenario files live."""


def _module(scenario: Scenario) -> ModuleType | None:
    """The scenario's module, or None for a scenario whose entity does not exist (pod-not-found has no file)."""
    if scenario.expected_category == 'entity_not_found':
        return None
    return importlib.import_module(f'architectures.telemetry.scenarios.{scenario.id.replace("-", "_")}')


def render(scenario: Scenario) -> str:
    """The JSON text of one scenario's data file."""
    module = _module(scenario)
    if module is None:
        raise ValueError(f'scenario {scenario.id!r} has no data: its entity does not exist')
    builder = Builder(scenario, module.SEED)
    module.build(builder)
    return json.dumps(builder.document(), indent=1) + '\n'


def generate(out_dir: Path = DATA_DIR) -> list[Path]:
    """Write every scenario's data file into `out_dir` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in SCENARIOS:
        if _module(scenario) is None:
            continue
        path = out_dir / f'{scenario.id}.json'
        path.write_text(render(scenario), encoding='utf-8')
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: `python -m architectures.telemetry.generate [--out DIR]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=DATA_DIR, help=f'output directory (default: {DATA_DIR})')
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f'wrote {path} ({path.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
