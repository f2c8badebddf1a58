"""The K8s tools on a real Prometheus: the scenario series backfilled into its TSDB with `promtool` as cAdvisor,
node-exporter and kube-state-metrics expose them, the server started on 127.0.0.1, and the tools' results compared
with what they give from the scenario files; and each way the backfill is shaped like a real cluster (namespaces,
pause and pod-level series, counter resets at restarts, node-exporter's `instance`) shown on figures worked out by
hand.

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
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from architectures import tools
from architectures.telemetry import SCENARIOS, FixtureBackend, use_backend
from architectures.telemetry.backend import DEFAULT_DATA_DIR, parse_time
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


CHECKOUT = 'checkout-7f9c4d-x2k1'
"""The pod of `cpu-saturation-checkout` (namespace `shop`): data from 09:00, killed at 10:11, 10:16, 10:21 and 10:26
and restarted 0.9 minutes later each time."""
CANARY_CPU = 0.25
"""Cores used by the decoy: a pod of the same name as the checkout pod in another namespace, `shop-canary`."""
CANARY_MEMORY = 100 * 2**20
"""The decoy's working set."""


def canary() -> str:
    """The decoy pod's cAdvisor series in OpenMetrics: a constant load, scraped every 15 s over the checkout pod's
    90 minutes (a pod's name is unique only within its namespace)."""
    start = parse_time('2026-03-14T09:00:00Z').timestamp()
    labels = (
        '{job="kubelet",instance="10.0.1.40:10250",namespace="shop-canary",pod="checkout-7f9c4d-x2k1",'
        'container="checkout",image="registry.example.com/shop/checkout:v3.9.0-rc1"}'
    )
    return '\n'.join(
        [
            '# TYPE container_cpu_usage_seconds counter',
            *(
                f'container_cpu_usage_seconds_total{labels} {CANARY_CPU * 15 * k!r} {start + 15 * k:.3f}'
                for k in range(361)
            ),
            '# TYPE container_memory_working_set_bytes gauge',
            *(
                f'container_memory_working_set_bytes{labels} {CANARY_MEMORY} {start + 15 * k:.3f}'
                for k in range(1, 361)
            ),
            '# EOF',
            '',
        ]
    )


@pytest.fixture(scope='module')
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus server on 127.0.0.1 whose TSDB holds every scenario's series and the decoy's; its URL."""
    root = tmp_path_factory.mktemp('prometheus')
    (root / 'k8s.om').write_text(openmetrics(), encoding='utf-8')
    (root / 'canary.om').write_text(canary(), encoding='utf-8')
    for name in ('k8s.om', 'canary.om'):  # blocks that overlap in time: Prometheus merges them when it reads
        subprocess.run(
            # Blocks of a day, not promtool's default two hours: the scenarios are 90 minutes on days of their own,
            # and fewer, larger blocks take 14 s of CPU to write where two-hour ones took 23.
            [
                'promtool',
                'tsdb',
                'create-blocks-from',
                'openmetrics',
                '--max-block-duration=24h',
                str(root / name),
                str(root / 'data'),
            ],
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


def instant(url: str, query: str, at: str) -> list[tuple[dict[str, str], float]]:
    """`query` evaluated at `at` on the server: `(labels, value)` of every result series."""
    params = urllib.parse.urlencode({'query': query, 'time': f'{parse_time(at).timestamp():.3f}'})
    with urllib.request.urlopen(f'{url}/api/v1/query?{params}', timeout=30) as response:
        body = json.loads(response.read())
    return [(r['metric'], float(r['value'][1])) for r in body['data']['result']]


def one(url: str, query: str, at: str) -> float:
    """The value of `query`'s single result series at `at`."""
    results = instant(url, query, at)
    assert len(results) == 1, results
    return results[0][1]


def minute(served: PrometheusBackend, entity_type: Any, name: str, metric: Any, at: str) -> float:
    """The served sample of the minute starting at `at`."""
    start = parse_time(at)
    samples = asyncio.run(served.series(entity_type, name, metric, start, start + timedelta(minutes=1)))
    assert [t for t, _ in samples] == [start], samples
    return samples[0][1]


def test_selectors_name_the_namespace(prometheus: str) -> None:
    # The checkout pod used 0.582 cores and 344663006 bytes in the minute 10:00 (the data file's samples [60]); the
    # decoy of the same name in `shop-canary` 0.25 cores and 100 MiB. A selector on the pod name alone adds the two.
    served = PrometheusBackend(prometheus, cluster=FixtureBackend())
    assert minute(served, 'k8s:pod', CHECKOUT, 'cpu_cores', '2026-03-14T10:00Z') == 0.582
    assert minute(served, 'k8s:pod', CHECKOUT, 'memory_bytes', '2026-03-14T10:00Z') == 344663006
    containers = f'pod="{CHECKOUT}", container!="", container!="POD"'
    at = '2026-03-14T10:01:00Z'  # the minute 10:00's scrapes are 10:00:15 ... 10:01:00
    assert one(prometheus, f'sum(rate(container_cpu_usage_seconds_total{{{containers}}}[59s]))', at) == pytest.approx(
        0.832, rel=1e-12
    )
    assert one(
        prometheus, f'sum(avg_over_time(container_memory_working_set_bytes{{{containers}}}[59s]))', at
    ) == pytest.approx(344663006 + 104857600, rel=1e-12)


def test_pause_and_pod_level_series_are_there_and_left_out(prometheus: str) -> None:
    # cAdvisor's three series of the pod: its container, the pause container (0.0002 cores, 512 KiB) and the
    # pod-level cgroup (the sum of both). Without the container filter the pod counts twice, the pause twice too:
    # 2 x 0.582 + 2 x 0.0002 = 1.1644 cores and 2 x 344663006 + 2 x 524288 = 690374588 bytes in the minute 10:00.
    pod, at = f'namespace="shop", pod="{CHECKOUT}"', '2026-03-14T10:01:00Z'
    series = instant(prometheus, f'container_memory_working_set_bytes{{{pod}}}', at)
    # An empty label is no label to Prometheus: the pod-level series has neither `container` nor `image`, and only it
    # keeps its cgroup's path (the Burstable pod's uid, from the data file).
    assert sorted(
        (labels.get('container', '-'), labels.get('image', '-'), labels.get('id', '-'), value)
        for labels, value in series
    ) == [
        ('-', '-', '/kubepods/burstable/pode88b7591-31db-4e32-98dc-b35f94c662cd', 344663006 + 524288),
        ('POD', 'registry.k8s.io/pause:3.9', '-', 524288),
        ('checkout', 'registry.example.com/shop/checkout:v3.8.2', '-', 344663006),
    ]
    assert one(prometheus, f'sum(rate(container_cpu_usage_seconds_total{{{pod}}}[59s]))', at) == pytest.approx(
        1.1644, rel=1e-12
    )
    assert one(prometheus, f'sum(avg_over_time(container_memory_working_set_bytes{{{pod}}}[59s]))', at) == 690374588
    served = PrometheusBackend(prometheus, cluster=FixtureBackend())
    assert minute(served, 'k8s:pod', CHECKOUT, 'cpu_cores', '2026-03-14T10:00Z') == 0.582


def test_counters_reset_at_restarts_and_rate_counts_through_them(prometheus: str) -> None:
    # The checkout container restarts at 10:11:54 (and 10:16:54, 10:21:54, 10:26:54): its CPU counter starts again
    # from the scrape at 10:11:45, so the one at 10:12:00 reads only the 15 s since, 15 x 0.5939 = 8.9085 (0.5939
    # cores is the data's minute 10:11). rate() counts that reading as growth, and serves the minute as 0.5939; the
    # minute's last reading minus its first, over the 45 s between them, is negative.
    container = f'namespace="shop", pod="{CHECKOUT}", container="checkout"'
    counter = f'container_cpu_usage_seconds_total{{{container}}}'
    assert one(prometheus, counter, '2026-03-14T10:12:00Z') == pytest.approx(8.9085, rel=1e-12)
    naive = (one(prometheus, counter, '2026-03-14T10:12:00Z') - one(prometheus, counter, '2026-03-14T10:11:15Z')) / 45
    assert naive < 0
    served = PrometheusBackend(prometheus, cluster=FixtureBackend())
    assert minute(served, 'k8s:pod', CHECKOUT, 'cpu_cores', '2026-03-14T10:11Z') == 0.5939
    # Four restarts, four resets; the pod-level cgroup outlives them: none. kube-state-metrics counts them too.
    assert one(prometheus, f'resets({counter}[90m])', '2026-03-14T10:30:00Z') == 4
    pod_level = f'container_cpu_usage_seconds_total{{namespace="shop", pod="{CHECKOUT}", container=""}}'
    assert one(prometheus, f'resets({pod_level}[90m])', '2026-03-14T10:30:00Z') == 0
    restarts = f'kube_pod_container_status_restarts_total{{{container}}}'
    assert [one(prometheus, restarts, at) for at in ('2026-03-14T10:11:00Z', '2026-03-14T10:12:00Z')] == [0, 1]
    assert one(prometheus, restarts, '2026-03-14T10:30:00Z') == 4
    # The ledger's StatefulSet pod is replaced at 09:30 by one of the same name, a new image and a new uid: new
    # series for its container and its pod-level cgroup.
    ledger = 'container_cpu_usage_seconds_total{namespace="payments", pod="payments-ledger-0", container="ledger"}'
    images = instant(prometheus, f'count by (image) (count_over_time({ledger}[90m]))', '2026-03-16T10:00:00Z')
    assert sorted(labels['image'] for labels, _ in images) == [
        'registry.example.com/payments/ledger:v2.3.7',
        'registry.example.com/payments/ledger:v2.4.0',
    ]
    pod_level = 'container_cpu_usage_seconds_total{namespace="payments", pod="payments-ledger-0", container=""}'
    paths = instant(prometheus, f'count by (id) (count_over_time({pod_level}[90m]))', '2026-03-16T10:00:00Z')
    assert sorted(labels['id'] for labels, _ in paths) == [
        '/kubepods/burstable/pod265a0574-e771-4b60-8baa-b6cc425c3179',
        '/kubepods/burstable/pod2c6d788c-bb9f-4198-a510-ed0b4948ee53',
    ]


def test_node_exporter_series_are_joined_to_their_node_by_instance(prometheus: str) -> None:
    # The healthy node (8 CPUs, InternalIP 10.0.8.90) used 3.8176 cores in the minute 10:00 on 2026-03-22.
    node, at = 'ip-10-0-8-90.eu-west-1.compute.internal', '2026-03-22T10:01:00Z'
    assert instant(prometheus, f'count(node_cpu_seconds_total{{node="{node}"}})', at) == []  # no node label
    uname = instant(prometheus, f'node_uname_info{{nodename="{node}"}}', at)
    assert [labels['instance'] for labels, _ in uname] == ['10.0.8.90:9100']
    assert one(prometheus, 'count(node_cpu_seconds_total{instance="10.0.8.90:9100"})', at) == 8 * 3  # user system idle
    # Each CPU's user seconds: three quarters of the busy cores, spread over 8 CPUs: 0.75 x 3.8176 / 8 = 0.3579.
    user = 'rate(node_cpu_seconds_total{instance="10.0.8.90:9100", cpu="0", mode="user"}[59s])'
    assert one(prometheus, user, at) == pytest.approx(0.3579, rel=1e-12)
    served = PrometheusBackend(prometheus, cluster=FixtureBackend())
    assert minute(served, 'k8s:node', node, 'cpu_cores', '2026-03-22T10:00Z') == 3.8176


def test_a_restart_the_scrapes_could_not_show_lands_on_a_later_scrape(tmp_path: Path) -> None:
    # The cart container restarts at 14:26:06 in the data; add a second restart at 14:26:16. The first resets its
    # counter from the scrape at 14:26:00, so the 14:26:15 scrape reads 15 x 0.2101 = 3.1515 (the minute 14:26 used
    # 0.2101 cores). The second, from 14:26:15, would make 14:26:30 read 3.1515 again: no drop, which Prometheus
    # would take for a stopped counter. It lands at the next scrape instead: 14:26:30 reads 6.303, 14:26:45 3.1515.
    document = json.loads((DEFAULT_DATA_DIR / 'memory-leak-cart.json').read_text())
    cart = 'cart-5d8b7c9f4-m4q7p'
    document['restarts'][f'k8s:pod/{cart}'].append('2026-03-15T14:26:16.000Z')
    (tmp_path / 'cart.json').write_text(json.dumps(document))
    # The pod's restart count (0 at the first observation, 1 at the last) must agree with the restarts recorded.
    with pytest.raises(
        ValueError,
        match=r'shop/cart-5d8b7c9f4-m4q7p: its restart count goes from 0 to 1 but the '
        r'scenario records 2 restarts in between; record each with Builder\.restart',
    ):
        openmetrics(FixtureBackend(tmp_path))
    last = [s['object'] for s in document['pods'] if s['object']['metadata']['name'] == cart][-1]
    last['status']['containerStatuses'][0]['restartCount'] = 2
    (tmp_path / 'cart.json').write_text(json.dumps(document))
    text = openmetrics(FixtureBackend(tmp_path))
    readings = {}
    for line in text.splitlines():
        if line.startswith('container_cpu_usage_seconds_total{') and 'container="cart"' in line:
            value, at = line.rsplit(' ', 2)[1:]
            readings[float(at)] = float(value)

    def reading(at: str) -> float:
        return readings[parse_time(at).timestamp()]

    assert [reading(f'2026-03-15T14:26:{s}Z') for s in ('15', '30', '45')] == pytest.approx(
        [3.1515, 6.303, 3.1515], rel=1e-12
    )
    restarts = [
        line.rsplit(' ', 2)[1:]
        for line in text.splitlines()
        if line.startswith('kube_pod_container_status_restarts') and f'pod="{cart}"' in line
    ]
    counts = {float(at): float(value) for value, at in restarts}
    assert [counts[parse_time(at).timestamp()] for at in ('2026-03-15T14:26:00Z', '2026-03-15T14:27:00Z')] == [0, 2]


def test_the_main_job_gives_the_same_report_on_prometheus(prometheus: str, tmp_path: Path) -> None:
    # A small slice, as the whole job is long: a pod case with restarts and throttling (namespaced cAdvisor series,
    # counter resets) and a node case (node-exporter joined by instance), through an architecture that runs the
    # tools in code and one whose model picks them, two runs each. Every scenario's tool results are compared above;
    # this shows the job reads the server when told to, and reports the same.
    def session(name: str, **env: str) -> dict[str, Any]:
        report = tmp_path / name
        subprocess.run(
            [
                sys.executable,
                '-m',
                'pytest',
                'evals/k8s_anomaly.yaml',
                '-k',
                'cpu_saturation_checkout or (healthy_node and not ambiguous)',
                '--arch',
                'manual,hybrid',
                '--runs',
                '2',
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
    assert len(figures(from_files)) == 4
    assert figures(from_prometheus) == figures(from_files)
