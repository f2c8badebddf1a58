"""The published JSON Schema of the report matches the pydantic model that writes reports; the file is written
whole, durably, with the mode any new file gets."""

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_agentarch.core.records import Assertion, RunRecord
from pytest_agentarch.reports.report import ItemResult, Report, build_report, json_schema, write_json

SCHEMA = Path(__file__).parent.parent / 'src' / 'pytest_agentarch' / 'reports' / 'schema.json'


def test_published_schema_is_current() -> None:
    assert SCHEMA.read_text(encoding='utf-8') == json_schema(), (
        'src/pytest_agentarch/reports/schema.json is stale: regenerate it with\n'
        '  python -c "from pytest_agentarch.reports.report import json_schema; print(json_schema(), end=\'\')" '
        '> src/pytest_agentarch/reports/schema.json'
    )


def test_schema_describes_the_nesting_users_read() -> None:
    schema = json.loads(SCHEMA.read_text(encoding='utf-8'))
    defs = schema['$defs']
    assert schema['properties']['architectures']['items']['$ref'] == '#/$defs/ArchitectureReport'
    assert defs['ArchitectureReport']['properties']['cases']['items']['$ref'] == '#/$defs/CaseReport'
    assert defs['CaseReport']['properties']['variants']['items']['$ref'] == '#/$defs/Variant'
    assert set(Report.model_fields) == set(schema['properties'])
    for model in ('CaseReport', 'ArchitectureStats'):
        levels = defs[model]['properties']['determinism_by_level']
        assert levels['propertyNames']['enum'] == ['tools', 'steps', 'strict']
        assert {'infra', 'scores', 'labels', 'total', 'level', 'model'} <= set(defs[model]['properties'])
    judged_on = defs['Miss']['properties']['judged_on']['enum']
    assert judged_on == ['value', 'wilson-low', 't-low', 'sequential', 'undecided']
    assert defs['CaseReport']['properties']['sequential']['anyOf'][0]['$ref'] == '#/$defs/SequentialItem'


def small_report() -> Report:
    records = [
        RunRecord(index=0, duration=0.1, trajectory='a', cost=0.5, assertions=[Assertion(name='s', value=0.5)]),
        RunRecord(index=1, duration=0.1, error_type='TimeoutError', error_kind='behaviour', cost=0.25),
        RunRecord(index=2, duration=0.1, error_type='ModelServerError', error_kind='infrastructure'),
    ]
    item = ItemResult(nodeid='n', architecture='x', description='', case='c', dataset=None, records=records)
    return build_report([item], model='m', seed=0, runs=3, missing={})


def test_report_lists_each_run_with_its_variant_and_the_session_total() -> None:
    report = small_report()
    case = report.architectures[0].cases[0]
    assert [v.trajectory for v in case.variants] == ['a', 'error: TimeoutError']
    assert [(r.variant, r.error_kind) for r in case.run_results] == [
        (0, None),
        (1, 'behaviour'),
        (None, 'infrastructure'),
    ]
    assert (report.total.runs, report.total.cost, report.total.unpriced_runs) == (3, 0.75, 1)
    assert report.architectures[0].summary.total == report.total


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask the test changes."""
    saved = os.umask(0o022)
    yield
    os.umask(saved)


@pytest.mark.skipif(os.name != 'posix', reason='file modes are POSIX')
@pytest.mark.parametrize(('mask', 'mode'), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_report_gets_the_mode_of_any_new_file(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    target = tmp_path / 'out' / 'report.json'
    write_json(small_report(), target)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert Report.model_validate_json(target.read_text()) == small_report()
    assert [p.name for p in target.parent.iterdir()] == ['report.json']


@pytest.mark.skipif(os.name != 'posix', reason='directories are fsynced on POSIX only')
def test_the_report_is_fsynced_before_the_rename_and_its_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        events.append('fsync dir' if stat.S_ISDIR(os.fstat(fd).st_mode) else 'fsync file')
        fsync(fd)

    def spy_replace(src: str, dst: str) -> None:
        events.append('replace')
        replace(src, dst)

    monkeypatch.setattr(os, 'fsync', spy_fsync)
    monkeypatch.setattr(os, 'replace', spy_replace)
    write_json(small_report(), tmp_path / 'report.json')
    assert events == ['fsync file', 'replace', 'fsync dir']


def test_a_failed_write_keeps_the_old_report_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / 'report.json'
    target.write_text('old')

    def fail(src: str, dst: str) -> None:
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        write_json(small_report(), target)
    assert [p.name for p in tmp_path.iterdir()] == ['report.json']
    assert target.read_text() == 'old'
