"""The by-dataset breakdown as every writer shows it: which rows, in which order, with which columns.

The terminal table, the Markdown summary and the HTML report each lay the grid out in their own medium; what a row
holds is decided here once, and each writer passes only how it shows a rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.stats import Rate
from .formatting import fmt_number
from .report import Report

__all__ = ('DatasetGrid', 'by_dataset_grid', 'who')


def who(architecture: str, model: str | None) -> str:
    """A row's name: the architecture, and its model in a session with several."""
    return f'{architecture}@{model}' if model else architecture


@dataclass(frozen=True)
class DatasetGrid:
    """The header and the rows' cells, the dataset's name and the architecture's first."""

    header: list[str]
    rows: list[list[str]]


def by_dataset_grid(report: Report, rate: Callable[[Rate], str]) -> DatasetGrid | None:
    """One row per (dataset, architecture): the summary's counts and rates over that dataset's cases only
    (`ArchitectureReport.by_dataset`), grouped by dataset so that the architectures are compared on the same cases;
    None in a session of one dataset. `rate` shows a rate as the writer's medium reads best.

    Every architecture lists its datasets in the same order (by name, no dataset last): a stable sort keeps the
    architectures in the summary's order within each dataset. The path conformance column is there when some row
    has one; pass^k is headed with its k when every row has the same, and each cell carries its own k otherwise."""
    found = [d for a in report.architectures for d in a.by_dataset]
    if not found:
        return None
    found.sort(key=lambda d: (d.dataset is None, d.dataset or ''))
    ks = {d.summary.k for d in found}
    same_k = len(ks) == 1
    paths = any(d.summary.path_conformance is not None for d in found)
    header = [
        'dataset',
        'architecture',
        'cases',
        'runs',
        'err',
        'infra',
        f'determinism({report.level})',
        'pass rate',
        *(['path conformance'] if paths else []),
        f'pass^{min(ks)}' if same_k else 'pass^k',
    ]
    rows = []
    for d in found:
        s = d.summary
        hat = fmt_number(s.pass_hat_k[-1] if s.pass_hat_k else None, '{:.2f}')
        cells = [
            d.label,
            who(s.architecture, s.model),
            str(s.cases),
            str(s.runs),
            str(s.errors),
            str(s.infra),
            s.all_raised or rate(s.determinism),
            rate(s.pass_rate),
            *([rate(s.path_conformance) if s.path_conformance is not None else '-'] if paths else []),
            hat if same_k or not s.pass_hat_k else f'{hat} (k={s.k})',
        ]
        rows.append(cells)
    return DatasetGrid(header, rows)
