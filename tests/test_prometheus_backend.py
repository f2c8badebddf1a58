"""The K8s tools on a real Prometheus: the scenario series backfilled into its TSDB with `promtool`, the server
started on 127.0.0.1, and the tools' results compared with what they give from the scenario files.

Needs Debian's `prometheus` package (`prometheus` and `promtool`); `.ci/run` installs it where it can. Without it
the tests are skipped with the reason."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from architectures import tools
from architectures.telemetry import SCENARIOS, FixtureBackend, use_backend
from architectures.telemetry.backend import parse_time
from architectures.telemetry.prometheus import PrometheusBackend, PrometheusError, openmetrics

ROOT = Path(__file__).resolve().parent.parent
MISSING = [name for name in ('prometheus', 'promtool') if shutil.which(name) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f'{" and ".join(MISSING)} not installed: apt-get install prometheus (Debian) to run the Prometheus tests',
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope='module')
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus server on 127.0.0.1 whose TSDB holds every scenario's series; its URL."""
    root = tmp_path_factory.mktemp('prometheus')
    (root / 'k8s.om').write_text(openmetrics(), encoding='utf-8')
    subprocess.run(
        ['promtool', 'tsdb', 'create-blocks-from', 'openmetrics', str(root / 'k8s.om'), str(root / 'data')],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (root / 'prometheus.yml').write_text('global:\n  scrape_interval: 1m\n', encoding='utf-8')
    port = _free_port()
    with (root / 'prometheus.log').open('wb') as log:
        server = subprocess.Popen(
            [
                'prometheus',
                f'--config.file={root / "prometheus.yml"}',
                f'--storage.tsdb.path={root / "data"}',
                '--storage.tsdb.retention.time=100y',  # the scenarios are dated; nothing may age out
                f'--web.listen-address=127.0.0.1:{port}',
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f'{url}/-/ready', timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail('Prometheus did not start:\n' + (root / 'prometheus.log').read_text(errors='replace'))
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def close(a: Any, b: Any, where: str = '') -> list[str]:
    """Where two JSON values differ, numbers compared to a relative 1e-9 (float rounding in PromQL's arithmetic)."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        if isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                return [f'{where}: keys {sorted(a)} != {sorted(b)}']
            return [d for k in a for d in close(a[k], b[k], f'{where}.{k}')]
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return [f'{where}: {len(a)} items != {len(b)}']
            return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in close(x, y, f'{where}[{i}]')]
        return [] if a == b else [f'{where}: {a!r} != {b!r}']
    return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f'{where}: {a!r} != {b!r}']


def test_every_series_reads_the_same_from_prometheus_as_from_the_files(prometheus: str) -> None:
    files = FixtureBackend()
    served = PrometheusBackend(prometheus, cluster=files)

    async def compare() -> tuple[int, list[str]]:
        count, differences = 0, []
        for entity_type, name, start, step, values in files.all_series():
            end = start + step * max(len(v) for v in values.values())
            for metric in values:
                expected = await files.series(entity_type, name, metric, start, end)  # type: ignore[arg-type]
                got = await served.series(entity_type, name, metric, start, end)  # type: ignore[arg-type]
                differences += close([[t.isoformat(), v] for t, v in expected], [[t.isoformat(), v] for t, v in got])
                count += len(expected)
        return count, differences

    count, differences = asyncio.run(compare())
    assert not differences, differences[:10]
    # 10 scenarios of 90 minutes (one of them with a pod that lives 77): a few thousand samples.
    assert count > 5000


def test_a_window_reads_the_minutes_it_covers(prometheus: str) -> None:
    # The checkout pod's series start at 09:00 and have 90 one-minute samples: 10:00-10:05 is samples 60-64, and a
    # window reaching past 10:30 stops at the last minute, 10:29, like the files.
    files = FixtureBackend()
    served = PrometheusBackend(prometheus, cluster=files)
    raw = json.loads((ROOT / 'architectures/telemetry/data/cpu-saturation-checkout.json').read_text())
    cpu = raw['series']['k8s:pod/checkout-7f9c4d-x2k1']['cpu_cores']
    pod = 'checkout-7f9c4d-x2k1'
    got = asyncio.run(
        served.series('k8s:pod', pod, 'cpu_cores', parse_time('2026-03-14T10:00:00Z'), parse_time('2026-03-14T10:05Z'))
    )
    assert [t.strftime('%H:%M') for t, _ in got] == ['10:00', '10:01', '10:02', '10:03', '10:04']
    assert [round(v, 9) for _, v in got] == [round(v, 9) for v in cpu[60:65]]
    tail = asyncio.run(
        served.series('k8s:pod', pod, 'memory_bytes', parse_time('2026-03-14T10:25Z'), parse_time('2026-03-14T11:00Z'))
    )
    assert [t.strftime('%H:%M') for t, _ in tail] == ['10:25', '10:26', '10:27', '10:28', '10:29']


@pytest.mark.parametrize('scenario', SCENARIOS, ids=lambda s: s.id)
def test_the_tools_give_the_same_results_from_prometheus(prometheus: str, scenario: Any) -> None:
    def investigate() -> list[Any]:
        results: list[Any] = []
        for tool in tools.ALL_TOOLS:
            for window in ((), (scenario.baseline_start, scenario.baseline_end)):
                args = (scenario.entity_type, scenario.name, scenario.incident_start, scenario.incident_end)
                if tool is tools.get_entity_metadata:
                    if window:
                        continue
                    results.append(asyncio.run(tool(*args)))
                    continue
                try:
                    results.append(asyncio.run(tool(*args, *window)))
                except Exception as exc:  # an unknown entity: the same ModelRetry from both
                    results.append(f'{type(exc).__name__}: {exc}')
        return results

    files = FixtureBackend()
    with use_backend(files):
        expected = investigate()
    with use_backend(PrometheusBackend(prometheus, cluster=files)):
        got = investigate()
    assert not close(expected, got), close(expected, got)[:10]


def test_an_unreachable_server_and_a_refused_query_are_clear_errors(prometheus: str) -> None:
    start, end = parse_time('2026-03-14T10:00Z'), parse_time('2026-03-14T10:05Z')
    gone = PrometheusBackend(f'http://127.0.0.1:{_free_port()}', timeout=5)
    with pytest.raises(PrometheusError, match=r'Prometheus at http://127\.0\.0\.1:\d+ could not be reached'):
        asyncio.run(gone.series('k8s:pod', 'checkout-7f9c4d-x2k1', 'cpu_cores', start, end))
    served = PrometheusBackend(prometheus, cluster=FixtureBackend())
    with pytest.raises(PrometheusError, match=r"refused 'sum\(rate\(\(': HTTP 400 bad_data"):
        asyncio.run(served.query_range('sum(rate((', start, end))
    # A step that does not divide the minute is still a step: 2-minute samples.
    coarse = PrometheusBackend(prometheus, cluster=FixtureBackend(), step=timedelta(minutes=2))
    assert len(asyncio.run(coarse.series('k8s:pod', 'checkout-7f9c4d-x2k1', 'cpu_cores', start, end))) == 3


def test_the_main_job_gives_the_same_report_on_prometheus(prometheus: str, tmp_path: Path) -> None:
    def session(name: str, **env: str) -> dict[str, Any]:
        report = tmp_path / name
        subprocess.run(
            [
                sys.executable,
                '-m',
                'pytest',
                'evals/k8s_anomaly.yaml',
                '-k',
                'cpu_saturation_checkout or noisy_neighbor_search or (healthy_node and not ambiguous)',
                '--arch',
                'manual,hybrid',
                '--runs',
                '3',
                '-n',
                '0',
                '--agentarch-memory',
                'off',
                '-p',
                'no:cacheprovider',
                '--agentarch-json',
                str(report),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            timeout=600,
            check=False,
        )
        return json.loads(report.read_text())

    def figures(report: dict[str, Any]) -> list[Any]:
        # Per run: verdict, trajectory variant, answer, and the tokens the model read (the tools' results included).
        return [
            (
                c['architecture'],
                c['case'],
                [(r['index'], r['passed'], r['variant'], r['output_key'], r['input_tokens']) for r in c['run_results']],
                [v['trajectory'] for v in c['variants']],
            )
            for a in report['architectures']
            for c in a['cases']
        ]

    from_files = session('files.json', K8S_PROMETHEUS_URL='')
    from_prometheus = session('prometheus.json', K8S_PROMETHEUS_URL=prometheus)
    assert len(figures(from_files)) == 6
    assert figures(from_prometheus) == figures(from_files)
