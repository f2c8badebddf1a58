"""Sharded sessions (`--agentarch-shard i/N`) and `agentarch merge`: the split, the merge, and the refusals.

The merge is checked against the real thing: a slice of the main job run as one session and split into 1, 2 and 3
shards (one of them under xdist), merged, must give the same report, case by case and as a whole JSON document apart
from timing; and the merge must exit as the one session did.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pytest_agentarch.cli import main
from pytest_agentarch.core.shards import Shard, ShardError, owner_of_test, parse_shard, run_owner, share

ROOT = Path(__file__).parent.parent

# ------------------------------------------------------------------------------------------------ the split


@pytest.mark.parametrize('count', [1, 2, 3, 4, 7])
@pytest.mark.parametrize('runs', [1, 2, 3, 5, 20])
def test_every_run_is_made_by_exactly_one_shard(count: int, runs: int) -> None:
    for case in ('a', 'b', 'crash_loop_ledger'):
        for architecture in ('single', 'manual'):
            identity = {'dataset': 'k8s', 'case': case, 'architecture': architecture, 'model': 'sim'}
            made = Counter(
                i for k in range(1, count + 1) for i in share(Shard(index=k, count=count), **identity, runs=runs)
            )
            assert made == Counter(range(runs))
            for k in range(1, count + 1):
                indexes = share(Shard(index=k, count=count), **identity, runs=runs)
                # runs // count or one more per shard, whatever the offset.
                assert len(indexes) in (runs // count, runs // count + 1)
                assert all(run_owner(**identity, index=i, count=count) == k for i in indexes)


def test_twenty_runs_over_three_shards_are_seven_seven_six() -> None:
    identity = {'dataset': 'k8s', 'case': 'crash_loop_ledger', 'architecture': 'single', 'model': 'sim'}
    sizes = sorted(len(share(Shard(index=k, count=3), **identity, runs=20)) for k in (1, 2, 3))
    assert sizes == [6, 7, 7]


def test_the_extra_runs_land_on_different_shards_for_different_items() -> None:
    # 1 run over 3 shards: which shard makes it is hashed from the item, so 60 items do not all land on shard 1.
    owners = Counter(
        run_owner(dataset='k8s', case=f'case{i}', architecture='single', model='sim', index=0, count=3)
        for i in range(60)
    )
    assert set(owners) == {1, 2, 3}
    assert min(owners.values()) >= 10


def test_other_tests_run_whole_in_one_shard() -> None:
    owners = {owner_of_test(f'tests/test_x.py::test_{i}', 4) for i in range(40)}
    assert owners == {1, 2, 3, 4}
    assert owner_of_test('tests/test_x.py::test_1', 4) == owner_of_test('tests/test_x.py::test_1', 4)


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('3', "expected 'i/N'"),
        ('a/b', "expected 'i/N'"),
        ('0/3', 'i in i/N counts from 1 to N'),
        ('4/3', 'shard 4 of 3 does not exist'),
        ('1/0', "expected 'i/N'"),
    ],
)
def test_bad_shards_are_refused(text: str, message: str) -> None:
    with pytest.raises(ShardError, match=re.escape(message)):
        parse_shard(text)
    assert parse_shard(' 2/3 ') == Shard(index=2, count=3)


# ------------------------------------------------------------------------------------------------ sessions

# Two architectures on three cases of the main job at one seed, 4 runs each (4 runs over 3 shards split unevenly), at
# a temperature where some items miss the determinism gate: the merge must judge the gates as the session did, not only
# count runs.
SLICE = [
    'evals/k8s_anomaly.yaml',
    '--arch',
    'single,delegation',
    '--runs',
    '4',
    '-k',
    'crash_loop_ledger or pod_not_found or ambiguous_search_is_slow',
    '--agentarch-model-settings',
    'temperature=1.2',
    '--min-determinism',
    '0.7',
    '-p',
    'no:cacheprovider',
    '-p',
    'no:randomly',
    '-q',
]

TIMING = frozenset(
    {'duration', 'latency', 'latency_p50', 'latency_p95', 'waited', 'started_at', 'peak_memory', 'capture'}
)
"""Keys whose values are measured, not computed from what the runs did; and `capture`, the path that recorded a run
(spans or the model-request layer): an architecture's first run in each process takes the span path to decide, so it
depends on which process made which run, while the record is the same either way."""


def _session(json_path: Path, *extra: str) -> int:
    args = [sys.executable, '-m', 'pytest', *SLICE, '--agentarch-json', str(json_path), *extra]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert json_path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done.returncode


def _merge(*args: str | Path) -> tuple[int, str, str]:
    """`agentarch merge` as a user runs it: its own process, its exit status, its output."""
    done = subprocess.run(
        [sys.executable, '-m', 'pytest_agentarch', 'merge', *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _merge_here(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """The same command in this process (`_merge` shows the process's exit status is the command's)."""
    capsys.readouterr()
    status = main(['merge', *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope='module')
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The slice as one session, and as 2 and 3 shards (shard 2/2 under two xdist workers)."""
    tmp = tmp_path_factory.mktemp('shards')
    out: dict[str, Any] = {'dir': tmp, 'whole': tmp / 'whole.json'}
    out['whole_status'] = _session(out['whole'], '-n', '0')
    for count in (1, 2, 3):
        paths = []
        for index in range(1, count + 1):
            path = tmp / f'n{count}-shard{index}.json'
            xdist = ['-n', '2'] if (count, index) == (2, 2) else ['-n', '0']
            _session(path, '--agentarch-shard', f'{index}/{count}', *xdist)
            paths.append(path)
        out[count] = paths
    return out


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in TIMING}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _comparable(path: Path) -> Any:
    report = json.loads(path.read_text())
    for key in ('json', 'html', 'markdown'):
        report['metadata']['options'].pop(key)
    return _strip(report)


@pytest.mark.parametrize('count', [1, 2, 3])
def test_merged_shards_equal_the_one_session(
    sessions: dict[str, Any], count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = sessions['dir'] / f'merged-{count}.json'
    if count == 3:  # as its own process: the exit status a CI step sees
        status, out, err = _merge(*sessions[count], '-o', merged)
    else:
        status, out, err = _merge_here(capsys, *sessions[count], '-o', merged)
    assert err == ''
    # The session missed gates (items below 0.7 determinism) and so exits 1; the merge says the same.
    assert sessions['whole_status'] == 1
    assert status == 1, out
    whole = json.loads(sessions['whole'].read_text())
    assert whole['gate_misses'], 'the slice is chosen so that some items miss the gate'
    assert len([c for a in whole['architectures'] for c in a['cases']]) == 6
    assert sum(len(c['run_results']) for a in whole['architectures'] for c in a['cases']) == 24
    merged_cases = {
        (c['architecture'], c['case']): c for a in json.loads(merged.read_text())['architectures'] for c in a['cases']
    }
    for a in whole['architectures']:
        for c in a['cases']:
            other = merged_cases[c['architecture'], c['case']]
            assert [v['count'] for v in other['variants']] == [v['count'] for v in c['variants']]
            assert other['pass_rate']['successes'] == c['pass_rate']['successes']
    assert _comparable(merged) == _comparable(sessions['whole'])


def test_a_shard_holds_its_share_and_judges_no_gate(sessions: dict[str, Any]) -> None:
    shard = json.loads(sessions[3][0].read_text())
    assert shard['shard']['index'] == 1
    assert shard['shard']['count'] == 3
    assert shard['gate_misses'] == []
    made = {(i['nodeid'], r['index']) for i in shard['shard']['items'] for r in i['records']}
    # 6 items x 4 runs over 3 shards: 4/3 per item, so 1 or 2 runs of each item in this shard.
    per_item = Counter(nodeid for nodeid, _ in made)
    assert set(per_item.values()) <= {1, 2}
    assert len(per_item) == 6
    assert 6 <= len(made) <= 12


def _mutated(source: Path, target: Path, change: Any) -> Path:
    data = json.loads(source.read_text())
    change(data)
    target.write_text(json.dumps(data))
    return target


def test_mismatched_shards_are_refused_with_the_reason(
    sessions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp: Path = sessions['dir']
    one, two, three = sessions[3]
    out = tmp / 'refused.json'

    def _refused(*args: str | Path) -> str:
        status, stdout, err = _merge_here(capsys, *args)
        assert status == 4, stdout + err
        return err

    # The refusal as its own process: exit status 4 and the reason on stderr.
    status, stdout, err = _merge(one, two, '-o', out)
    assert status == 4, stdout + err
    assert 'shard(s) 3/3 missing' in err
    err = _refused(one, two, three, one, '-o', out)
    assert f'shard 1/3 is given twice: {one} and {one}' in err
    err = _refused(one, sessions[2][1], three, '-o', out)
    assert 'splits into different numbers of shards' in err

    def reseed(data: dict[str, Any]) -> None:
        data['seed'] = 7

    err = _refused(_mutated(one, tmp / 'seed.json', reseed), two, three, '-o', out)
    assert 'seed (--agentarch-seed) is 7 in' in err and str(two) in err

    def remodel(data: dict[str, Any]) -> None:
        data['models'] = ['sim:temperature=0']

    err = _refused(one, _mutated(two, tmp / 'model.json', remodel), three, '-o', out)
    assert "model (--agentarch-model) is ['sim'] in" in err

    def reoption(data: dict[str, Any]) -> None:
        data['metadata']['options']['output_fields'] = ['severity']

    err = _refused(one, two, _mutated(three, tmp / 'option.json', reoption), '-o', out)
    assert "option 'output_fields'" in err

    def refingerprint(data: dict[str, Any]) -> None:
        data['shard']['items'][0]['fingerprint'] = 'sha256:0'

    changed = _mutated(two, tmp / 'case.json', refingerprint)
    err = _refused(one, changed, three, '-o', out)
    case = json.loads(two.read_text())['shard']['items'][0]['case']
    assert f'case {case!r}' in err and 'but sha256:0 in' in err

    def steal(data: dict[str, Any]) -> None:
        # A run shard 1 makes, also claimed by shard 2: overlapping shards.
        donor = json.loads(one.read_text())['shard']['items'][0]
        for item in data['shard']['items']:
            if item['nodeid'] == donor['nodeid']:
                item['records'].append(copy.deepcopy(donor['records'][0]))

    err = _refused(one, _mutated(two, tmp / 'overlap.json', steal), three, '-o', out)
    assert 'which shard 1/3 makes' in err

    whole_err = _refused(sessions['whole'], '-o', out)
    assert 'is the report of a whole session, not of a shard' in whole_err
    assert not out.exists()


def test_merge_writes_html_markdown_and_junit(sessions: dict[str, Any]) -> None:
    tmp: Path = sessions['dir']
    status = main(
        [
            'merge',
            *map(str, sessions[2]),
            '-o',
            str(tmp / 'm.json'),
            '--html',
            str(tmp / 'm.html'),
            '--md',
            str(tmp / 'm.md'),
            '--junitxml',
            str(tmp / 'm.xml'),
        ]
    )
    assert status == 1
    assert '<html' in (tmp / 'm.html').read_text()[:500].lower()
    assert '| ' in (tmp / 'm.md').read_text()
    from xml.etree import ElementTree as ET

    suite = ET.parse(tmp / 'm.xml').getroot()[0]
    whole = json.loads(sessions['whole'].read_text())
    missed = {(m['architecture'], m['case']) for m in whole['gate_misses']}
    assert suite.get('tests') == '6'
    assert suite.get('failures') == str(len(missed))


def test_shard_options_are_checked_before_any_run(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, '-m', 'pytest', '--arch', 'single', '-n', '0', '-p', 'no:cacheprovider', *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    bad = run('--agentarch-shard', '4/3', '--agentarch-json', str(tmp_path / 'x.json'))
    assert bad.returncode == 4
    assert 'argument --agentarch-shard: shard 4 of 3 does not exist' in bad.stderr
    sequential = run('--agentarch-shard', '1/2', '--agentarch-json', str(tmp_path / 'x.json'), '--agentarch-sequential')
    assert sequential.returncode == 4
    assert '--agentarch-shard 1/2 and --agentarch-sequential exclude each other' in sequential.stderr
    no_json = run('--agentarch-shard', '1/2')
    assert no_json.returncode == 4
    assert 'add --agentarch-json PATH' in no_json.stderr
    assert not (tmp_path / 'x.json').exists()
