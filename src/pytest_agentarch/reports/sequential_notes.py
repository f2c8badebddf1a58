"""Sequential gates that cannot stop early, said before any run and in the summary, with what to pass instead.

Under `--agentarch-sequential` an item stops as soon as every gate in force is decided. A gate of 1 (the default
pass-rate gate, and the default path-conformance gate of items with path evaluators: every run must pass, or
conform) is decided missed at the first run that fails but never decided met before the
last run, so items that pass run every run; a gate whose fewest runs to be met (`fewest_runs_to_meet`) fall at or
after the cap cannot stop early either. Users saw "0 of 4 decided" with no reason; these lines give it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ..core.sequential import SequentialItem, fewest_runs_to_meet

__all__ = ('gate_tallies', 'undecidable')


_FLAGS = {'pass_rate': '--min-pass-rate', 'path_conformance': '--min-path-conformance'}


def _flag(metric: str) -> str:
    return _FLAGS.get(metric, '--min-determinism')


def undecidable(gates: Sequence[tuple[str, str, float]], *, runs: int, batch: int, alpha: float) -> list[str]:
    """One line per gate in force (who, metric, threshold) that no run of an item can decide met before the run cap
    `runs`, with what to pass instead."""
    lines: list[str] = []
    for who, metric, threshold in gates:
        determinism = metric.startswith('determinism')
        fewest = fewest_runs_to_meet(threshold, alpha, determinism=determinism)
        # A path gate holds only where a case has path evaluators (trajectory expectations): say so, since the
        # default one (every run must conform) is in force without any option.
        where = '; items with path evaluators' if metric == 'path_conformance' else ''
        gate = f'{metric} >= {threshold:g} ({who}{where})'
        if fewest is None:
            alternative = fewest_runs_to_meet(0.9, alpha, determinism=determinism)
            lines.append(
                f'{gate} can never be decided met before the last of --runs {runs}: every run must count, so the '
                f'sequential test stops an item early only on a miss. Pass {_flag(metric)} 0.9 (met after '
                f'{alternative} runs that all count) or {_flag(metric)} 0 for no {metric} gate'
            )
            continue
        at = math.ceil(fewest / batch) * batch  # decisions are taken after whole batches
        if at >= runs:
            lines.append(
                f'{gate} cannot be decided met before the last of --runs {runs}: it needs {fewest} runs that all '
                f'count (decided after run {at} in batches of {batch}); pass --runs {at + batch} or more'
            )
    return lines


def gate_tallies(items: Sequence[SequentialItem]) -> str:
    """Each gate's decisions over `items`, e.g. `determinism:steps 4 met; pass_rate 4 undecided` (what `-v` lists
    item by item, counted)."""
    counts: dict[str, Counter[str]] = {}
    for item in items:
        for d in item.gates:
            counts.setdefault(d.metric, Counter())[d.decision] += 1
    order = ('met', 'missed', 'undecided')
    return '; '.join(
        f'{metric} ' + ', '.join(f'{c[k]} {k}' for k in order if c[k]) for metric, c in sorted(counts.items())
    )
