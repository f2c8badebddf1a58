"""MkDocs hooks of the documentation site (mkdocs.yml): pages that show a file kept at the repository root, and the
report schema the package ships.

The README, CONTRIBUTING.md and CHANGELOG.md stay where GitHub and PyPI show them; a page that holds only
`<!-- include FILE -->` (or `<!-- include FILE until HEADING -->`) shows that file, its links into docs/ rewritten
to point at the site's pages, so the text exists once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).parent.parent
SCHEMA = ROOT / 'src' / 'pytest_agentarch' / 'reports' / 'schema.json'
INCLUDE = re.compile(r'<!-- include (?P<file>\S+)(?: until "(?P<until>[^"]+)")? -->')
# Root files that are pages of the site; a link to any other root file would point outside it.
PAGES = {'README.md': 'index.md', 'CONTRIBUTING.md': 'contributing.md', 'CHANGELOG.md': 'changelog.md'}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Serve the report's JSON Schema as `report.schema.json`, from the file the package ships."""
    files.append(File.generated(config, 'report.schema.json', abs_src_path=str(SCHEMA)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files, **kwargs: Any) -> str:
    """Replace an include marker with the root file it names."""
    return INCLUDE.sub(_included, markdown)


def _included(match: re.Match[str]) -> str:
    name, until = match['file'], match['until']
    text = (ROOT / name).read_text(encoding='utf-8')
    if until is not None:
        if until not in text:
            raise ValueError(f'{name} has no {until!r}: the include in the docs needs a heading that exists')
        text = text.split(until, 1)[0]
    text = text.replace('](docs/', '](')
    for root_file, page in PAGES.items():
        text = text.replace(f']({root_file}', f']({page}')
    return text
