"""Writes the session's report wherever the settings ask: JSON, HTML, Markdown and `$GITHUB_STEP_SUMMARY`.

Building the report (session.Collector.build) and writing it are apart: a report is built once, when the items are
done, and written at the end of the session; one output that cannot be written (a full disk, a path removed during
the session) keeps none of the others from being written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..reports.markdown import append_markdown, render_markdown
from ..reports.report import Report, write_json
from .options import Settings

__all__ = ('write_report',)


def write_report(report: Report, settings: Settings) -> list[str]:
    """Write `report` to every output `settings` names; returns one line per output that could not be written."""
    writes: list[tuple[str, Path, Callable[[], None]]] = []
    if (json_path := settings.json_path) is not None:
        writes.append(('JSON report', json_path, lambda: write_json(report, json_path)))
    if (html_path := settings.html_path) is not None:
        # Imported here: most sessions write no HTML, and every pytest session of the user imports this module.
        from ..reports.html import write_html

        writes.append(('HTML report', html_path, lambda: write_html(report, html_path)))
    if settings.markdown_path is not None or os.environ.get('GITHUB_STEP_SUMMARY'):
        text = render_markdown(report)
        if settings.markdown_path is not None:
            md = settings.markdown_path
            writes.append(('Markdown summary', md, lambda: append_markdown(text, md, append=False)))
        if summary := os.environ.get('GITHUB_STEP_SUMMARY'):
            step = Path(summary)
            writes.append(('$GITHUB_STEP_SUMMARY', step, lambda: append_markdown(text, step, append=True)))
    errors: list[str] = []
    for what, path, write in writes:
        try:
            write()
        except OSError as exc:
            errors.append(f'{what} could not be written to {path}: {exc}')
    return errors
