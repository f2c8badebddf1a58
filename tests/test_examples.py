"""The distribution examples (examples/): each parses, says what docs/scaling.md says it does, and its commands run
here as written, on a small slice of the main job (the size comes from the example's own variables)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from redis_server import REDIS, start_redis

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / 'examples'
SLICE = (
    '--arch manual,workflow --runs 3 -n 0 -p no:cacheprovider -p no:randomly '
    '-k crash_loop_ledger evals/k8s_anomaly.yaml'
)
"""What the examples' `AGENTARCH_ARGS` become here: 2 items x 3 runs (the case of the main dataset only: the
assessment-off dataset holds a case of the same name)."""


def project(tmp_path: Path) -> Path:
    """A copy of what the main job needs (datasets, architectures, configuration), to run commands in."""
    copy = tmp_path / 'project'
    copy.mkdir()
    for name in ('architectures', 'evals'):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('conftest.py', 'pyproject.toml'):
        shutil.copy(ROOT / name, copy / name)
    return copy


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'
    return subprocess.run(
        ['bash', '-euo', 'pipefail', '-c', script],
        cwd=cwd,
        env={**os.environ, 'PATH': path, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def step(job: dict[str, Any], name: str) -> str:
    (found,) = [s['run'] for s in job['steps'] if s.get('name') == name]
    return str(found)


def test_the_github_actions_workflow_shards_merges_and_gates(tmp_path: Path) -> None:
    workflow = yaml.safe_load((EXAMPLES / 'github-actions.yml').read_text())
    shards = int(workflow['env']['SHARDS'])
    shard_job, merge_job = workflow['jobs']['shard'], workflow['jobs']['merge']
    assert shard_job['strategy']['matrix']['shard'] == list(range(1, shards + 1))
    assert shard_job['strategy']['fail-fast'] is False, 'one shard failing must not cancel the others'
    assert merge_job['needs'] == 'shard' and merge_job['if'] == 'always()'
    uploads = [s for s in merge_job['steps'] if s.get('uses', '').startswith('actions/upload-artifact')]
    assert 'report.html' in uploads[0]['with']['path']

    where = project(tmp_path)
    for shard in range(1, shards + 1):
        done = bash(
            step(shard_job, 'Run shard'),
            where,
            SHARD=str(shard),
            SHARDS=str(shards),
            AGENTARCH_ARGS=SLICE,
            AGENTARCH_REDIS='',
            GITHUB_RUN_ID='1',
            GITHUB_RUN_ATTEMPT='1',
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (where / 'shards').mkdir()
    for path in where.glob('shard-*.json'):
        path.rename(where / 'shards' / path.name)
    merged = bash(step(merge_job, 'Merge and gate'), where)
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
    report = json.loads((where / 'report.json').read_text())
    runs = sorted(
        (c['architecture'], r['index']) for a in report['architectures'] for c in a['cases'] for r in c['run_results']
    )
    assert runs == [(arch, i) for arch in ('manual', 'workflow') for i in range(3)]
    for name in ('report.html', 'junit.xml', 'summary.md'):
        assert (where / name).stat().st_size > 0


def test_the_kubernetes_indexed_job_maps_the_index_to_a_shard(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all((EXAMPLES / 'k8s-indexed-job.yaml').read_text()))
    kinds = {(d['kind'], d['metadata']['name']): d for d in documents}
    service = kinds['Service', 'agentarch-redis']
    shards_job = kinds['Job', 'agentarch-shards']['spec']
    merge_job = kinds['Job', 'agentarch-merge']['spec']
    assert service['spec']['ports'][0]['port'] == 6379
    (container,) = shards_job['template']['spec']['containers']
    env = {e['name']: e['value'] for e in container['env']}
    assert shards_job['completionMode'] == 'Indexed'
    assert shards_job['completions'] == shards_job['parallelism'] == int(env['SHARDS'])
    assert env['AGENTARCH_STORE'].startswith('redis://agentarch-redis:6379/')

    where = project(tmp_path)
    reports = tmp_path / 'reports'
    reports.mkdir()
    if REDIS is None:
        store = 'file'
    else:
        server = start_redis(tmp_path)
        store = server.url(0, session='k8s-example')
    try:
        # The same limits the example sets (an RPM and a token budget), on this machine's Redis when it has one.
        limits = ' '.join(re.findall(r'--agentarch-(?:rpm|budget-tokens) \d+', env['AGENTARCH_ARGS']))
        for index in range(int(env['SHARDS'])):
            done = bash(
                container['args'][0],
                where,
                JOB_COMPLETION_INDEX=str(index),
                SHARDS=env['SHARDS'],
                AGENTARCH_ARGS=f'{SLICE} {limits}',
                AGENTARCH_STORE=store,
                REPORTS=str(reports),
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        if store != 'file':
            server.stop()
    assert sorted(p.name for p in reports.iterdir()) == [f'shard-{i}.json' for i in (1, 2, 3)]
    (merger,) = merge_job['template']['spec']['containers']
    merged = bash(merger['args'][0], where, REPORTS=str(reports))
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
    report = json.loads((reports / 'report.json').read_text())
    assert sum(len(c['run_results']) for a in report['architectures'] for c in a['cases']) == 6


def test_the_ssh_example_names_the_network_store() -> None:
    text = (EXAMPLES / 'ssh.md').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', text, re.S)
    command = blocks[-1]
    assert command.count('--tx 2*ssh=') == 2
    assert '--agentarch-store redis://' in command
