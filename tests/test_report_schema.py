"""The published JSON Schema of the report matches the pydantic model that writes reports."""

import json
from pathlib import Path

from pytest_agentarch.report import Report, json_schema

SCHEMA = Path(__file__).parent.parent / 'docs' / 'report.schema.json'


def test_published_schema_is_current() -> None:
    assert SCHEMA.read_text(encoding='utf-8') == json_schema(), (
        'docs/report.schema.json is stale: regenerate it with\n'
        '  python -c "from pytest_agentarch.report import json_schema; print(json_schema(), end=\'\')" '
        '> docs/report.schema.json'
    )


def test_schema_describes_the_nesting_users_read() -> None:
    schema = json.loads(SCHEMA.read_text(encoding='utf-8'))
    defs = schema['$defs']
    assert schema['properties']['architectures']['items']['$ref'] == '#/$defs/ArchitectureReport'
    assert defs['ArchitectureReport']['properties']['cases']['items']['$ref'] == '#/$defs/CaseReport'
    assert defs['CaseReport']['properties']['variants']['items']['$ref'] == '#/$defs/Variant'
    assert set(Report.model_fields) == set(schema['properties'])
