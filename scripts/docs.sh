#!/usr/bin/env bash
# The documentation site (MkDocs Material, mkdocs.yml): `bash scripts/docs.sh` builds it into site/ with --strict, so
# a broken link, anchor or API reference fails; `bash scripts/docs.sh serve` serves it on 127.0.0.1:8000.
set -euo pipefail
# Material for MkDocs prints a banner about its successor on every build; it is not a warning about these docs.
export NO_MKDOCS_2_WARNING=1
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = serve ]; then
    exec .venv/bin/mkdocs serve --dev-addr 127.0.0.1:8000
fi
exec .venv/bin/mkdocs build --strict --quiet
