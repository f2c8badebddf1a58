"""The hooks pytest-agentarch offers plugins and `conftest.py` files (registered in `pytest_addhooks`).

```python
# conftest.py
def pytest_agentarch_report(report, config):
    return {'build': os.environ.get('BUILD_ID'), 'cheapest': min(...)}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..reports.report import Report

__all__ = ('pytest_agentarch_report',)


@pytest.hookspec
def pytest_agentarch_report(report: Report, config: pytest.Config) -> Mapping[str, Any] | None:
    """Add fields to the session's report, once it is built (controller only, after every item ran).

    Return a mapping of field names to JSON-safe values (or None to add nothing). Every implementation is called;
    their fields land in the JSON report's `extra` object (`--agentarch-json`) and in an "Added fields" table of the
    Markdown summary (`--agentarch-md`, `$GITHUB_STEP_SUMMARY`), in the order the implementations ran. `report` is
    the whole report (`pytest_agentarch.reports.report.Report`), to compute fields from; change it only through
    what you return. A field named twice, or a value that is not JSON, is left out and named in the terminal summary.

    :param report: the session's report.
    :param config: the pytest config (options, stash).
    """
