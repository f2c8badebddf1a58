"""The catalogue of shipped K8s scenarios: which entity, which windows, and what a correct diagnosis says.

`evals/k8s_anomaly.yaml` is built from this table and `generate.py` writes the telemetry for it, so the expected
answers and the data cannot drift apart. Every scenario has a 60-minute baseline window immediately followed by
a 30-minute incident window, at one-minute resolution; windows are half-open, `[start, end)`.

How a scenario's data is made lives beside this table, one module per scenario (`<id with underscores>.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from architectures.report import Category, Severity

__all__ = (
    'ADAPTIVE_SCENARIOS',
    'BASELINE_MINUTES',
    'CONFOUNDED_SCENARIOS',
    'CORE_SCENARIOS',
    'INCIDENT_MINUTES',
    'SCENARIOS',
    'TAXONOMY_SCENARIOS',
    'EntityType',
    'Reading',
    'Scenario',
    'scenario_by_id',
)

EntityType = Literal['k8s:pod', 'k8s:node']
"""The entity types the tools understand."""

BASELINE_MINUTES = 60
"""Length of every baseline window."""
INCIDENT_MINUTES = 30
"""Length of every incident window."""


def _iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One evaluation case: an entity, its windows and the diagnosis the merged tool assessments must yield."""

    id: str
    """Stable identifier; also the data file's stem (`data/<id>.json`) when the entity exists."""
    entity_type: EntityType
    """`'k8s:pod'` or `'k8s:node'`."""
    name: str
    """Entity name, unique across all scenarios."""
    incident_start: str
    """Start of the incident window (ISO 8601 UTC); the baseline window is the hour before it."""
    expected_anomaly: bool
    """Whether a correct diagnosis reports an anomaly."""
    expected_category: Category
    """The correct category."""
    expected_severity: Severity
    """The correct severity."""
    description: str
    """What happens in the scenario, for people writing or reading the dataset."""

    @property
    def entity(self) -> str:
        """The entity as written in an `AnomalyReport`, e.g. `'k8s:pod/checkout-7f9c4d-x2k1'`."""
        return f'{self.entity_type}/{self.name}'

    @property
    def incident_start_dt(self) -> datetime:
        """`incident_start` as an aware datetime."""
        return datetime.strptime(self.incident_start, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)

    @property
    def baseline_start(self) -> str:
        """Start of the baseline window."""
        return _iso(self.incident_start_dt - timedelta(minutes=BASELINE_MINUTES))

    @property
    def baseline_end(self) -> str:
        """End of the baseline window (equal to `incident_start`)."""
        return self.incident_start

    @property
    def incident_end(self) -> str:
        """End of the incident window."""
        return _iso(self.incident_start_dt + timedelta(minutes=INCIDENT_MINUTES))


ReadingSource = Literal['pod', 'node', 'autoscaler', 'event', 'log', 'series']
"""Where in a scenario's data file a reading is."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One line of a scenario's data from which a competent SRE reaches its verdict, and what it tells them.

    `source` and `text` locate it (the tests check the data holds it): `'pod'`/`'node'` the entity's last observed
    object, `'autoscaler'` its workload's last observed HorizontalPodAutoscaler (each as compact JSON, `text` a
    fragment of it such as `"reason": "ImagePullBackOff"`), `'event'` an event as `<reason>: <message>`, `'log'`
    a log line as `<level> <message>` (`text` a fragment of either); `'series'` the median of the entity's metric
    `text` over the incident window, which lies in `[low, high]`.
    """

    source: ReadingSource
    """Where the line is."""
    text: str
    """A fragment of the line, or for `'series'` the metric."""
    meaning: str
    """What the line tells the SRE."""
    low: float | None = None
    """For `'series'`: the least median the scenario promises."""
    high: float | None = None
    """For `'series'`: the greatest median the scenario promises."""


CORE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        id='cpu-saturation-checkout',
        entity_type='k8s:pod',
        name='checkout-7f9c4d-x2k1',
        incident_start='2026-03-14T10:00:00Z',
        expected_anomaly=True,
        expected_category='cpu_saturation',
        expected_severity='high',
        description=(
            'A flash sale drives the checkout pod to its 1-core CPU limit; it is CFS-throttled, its liveness probe '
            'times out, the kubelet kills and restarts it (exit 137) and backs off.'
        ),
    ),
    Scenario(
        id='memory-leak-cart',
        entity_type='k8s:pod',
        name='cart-5d8b7c9f4-m4q7p',
        incident_start='2026-03-15T14:00:00Z',
        expected_anomaly=True,
        expected_category='memory_leak',
        expected_severity='critical',
        description=(
            'A feature flag enabled at the incident start makes the cart service cache sessions without eviction: '
            'working set grows linearly to the 512Mi limit, the container is OOMKilled and grows again. Critical '
            'because the leak already caused an outage (OOMKilled) and will again within the hour.'
        ),
    ),
    Scenario(
        id='crash-loop-ledger',
        entity_type='k8s:pod',
        name='payments-ledger-0',
        incident_start='2026-03-16T09:30:00Z',
        expected_anomaly=True,
        expected_category='crash_loop',
        expected_severity='critical',
        description=(
            'A StatefulSet rollout to image tag v2.4.0 expects a renamed environment variable; the container exits '
            'with code 1 on start-up ("missing required config key") and sits in CrashLoopBackOff.'
        ),
    ),
    Scenario(
        id='node-memory-pressure',
        entity_type='k8s:node',
        name='ip-10-0-3-41.eu-west-1.compute.internal',
        incident_start='2026-03-17T02:00:00Z',
        expected_anomaly=True,
        expected_category='node_memory_pressure',
        expected_severity='high',
        description=(
            'A nightly ETL pod without a memory limit grows until the node reports MemoryPressure, is tainted '
            'memory-pressure:NoSchedule and the kubelet evicts best-effort pods.'
        ),
    ),
    Scenario(
        id='noisy-neighbor-search',
        entity_type='k8s:pod',
        name='search-api-6c9f8b7d4-qz7rt',
        incident_start='2026-03-18T11:00:00Z',
        expected_anomaly=True,
        expected_category='noisy_neighbor',
        expected_severity='medium',
        description=(
            'A reindexing batch job without CPU limits lands on the same node and saturates it; the search API '
            'stays below its own limit and is hardly throttled, but waits for a CPU 38% of the time (CPU pressure) '
            'and is slow.'
        ),
    ),
    Scenario(
        id='disk-pressure-node',
        entity_type='k8s:node',
        name='ip-10-0-5-77.eu-west-1.compute.internal',
        incident_start='2026-03-19T16:00:00Z',
        expected_anomaly=True,
        expected_category='disk_pressure',
        expected_severity='high',
        description=(
            'A transcoder writes scratch files to an emptyDir; node filesystem usage crosses the eviction '
            'threshold, image garbage collection cannot free enough, the node reports DiskPressure and evicts pods.'
        ),
    ),
    Scenario(
        id='network-errors-notifications',
        entity_type='k8s:pod',
        name='notification-worker-84c6d7f9b-r5s2d',
        incident_start='2026-03-20T08:00:00Z',
        expected_anomaly=True,
        expected_category='network_errors',
        expected_severity='medium',
        description=(
            'CoreDNS on the cluster is overloaded: the notification worker logs DNS lookup timeouts and refused '
            'connections to its SMTP relay while its CPU and memory stay normal.'
        ),
    ),
    Scenario(
        id='healthy-pod',
        entity_type='k8s:pod',
        name='inventory-api-5b7c8d9f6-w3x8k',
        incident_start='2026-03-21T13:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description='An inventory API pod serving steady traffic; nothing is wrong.',
    ),
    Scenario(
        id='healthy-node',
        entity_type='k8s:node',
        name='ip-10-0-8-90.eu-west-1.compute.internal',
        incident_start='2026-03-22T10:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description='A worker node at moderate utilisation with all conditions healthy.',
    ),
    Scenario(
        id='pod-not-found',
        entity_type='k8s:pod',
        name='checkout-7f9c4d-q8w3z',
        incident_start='2026-03-14T10:00:00Z',
        expected_anomaly=False,
        expected_category='entity_not_found',
        expected_severity='none',
        description=(
            'A pod name nobody has (it resembles the checkout pod of the first scenario); there is no data file.'
        ),
    ),
    Scenario(
        id='healthy-traffic-peak',
        entity_type='k8s:pod',
        name='web-frontend-7d5c9b8f6-j2m4n',
        incident_start='2026-03-23T18:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description=(
            'Evening traffic doubles the frontend CPU against its baseline, but usage stays at a third of its '
            'limit with no errors: a large shift that is not an anomaly.'
        ),
    ),
)
"""One clear failure mode each (or none), far from every threshold: the first suite."""

CONFOUNDED_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        id='two-faults-orders',
        entity_type='k8s:pod',
        name='orders-api-5f6b7c8d9-t4v2k',
        incident_start='2026-03-24T09:00:00Z',
        expected_anomaly=True,
        expected_category='memory_leak',
        expected_severity='high',
        description=(
            'Two faults at once. A config reload at the incident start disables the expiry job of the orders '
            "API's idempotency store: memory grows about 10 MiB a minute from 300 MiB towards its 768 MiB limit. "
            'From two minutes later, cluster DNS timeouts make its stock reservations fail. The verdict is the '
            'leak, high (no OOM kill yet, so not critical): it takes the pod down within the next half hour, '
            'while the DNS errors (medium) degrade requests; a good report mentions both.'
        ),
    ),
    Scenario(
        id='red-herring-payments',
        entity_type='k8s:pod',
        name='payments-api-6c7d8e9f0-h3j5m',
        incident_start='2026-03-25T15:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description=(
            'A red herring: a healthy payments API (steady CPU and memory, no restarts) whose logs hold a '
            'recovered panic (one request answered 500) and four "connection refused" errors within half a minute '
            'while Redis failed over (one fewer than the five the network rule needs), with two readiness-probe '
            'failures at that moment. Alarming lines, no anomaly: nothing persists and the pod serves normally.'
        ),
    ),
    Scenario(
        id='node-disk-harms-pod',
        entity_type='k8s:pod',
        name='image-resizer-7b8c9d6f5-w2q8z',
        incident_start='2026-03-26T07:00:00Z',
        expected_anomaly=True,
        expected_category='disk_pressure',
        expected_severity='high',
        description=(
            'A pod harmed by its node: an image resizer whose CPU, memory and pod object are normal (Guaranteed '
            'QoS, no restarts) on a node whose disk fills from 62% to 92%, with DiskPressure from minute 6 of the '
            'incident, failed image garbage collection and a best-effort pod evicted. The resizer only logs '
            'warnings that its cache writes fail (no space left on device). Every analysis of the pod itself is '
            'healthy, so only its node shows the cause: disk_pressure, high, as the node reports it. In hybrid this '
            "is the adaptive node stage (the pod's merged report is not an anomaly)."
        ),
    ),
    Scenario(
        id='rolling-crash-consumers',
        entity_type='k8s:pod',
        name='order-events-consumer-84d5f6c7b-c8t2w',
        incident_start='2026-03-27T12:00:00Z',
        expected_anomaly=True,
        expected_category='crash_loop',
        expected_severity='critical',
        description=(
            'Replicas failing one after another: a poison message (a string where a number is expected) in '
            'partition 3 of order-events crashes each consumer replica that takes the partition over, replica '
            '2xk9p at minute 2 of the incident, 7mq4r at minute 11, c8t2w (this entity) at minute 26.8. Each exits '
            'with code 2 on every start, re-reading the same offset, and sits in CrashLoopBackOff. c8t2w has '
            'exactly 3 restarts in the window, the fewest the crash-loop rules accept: crash_loop, critical.'
        ),
    ),
    Scenario(
        id='scrape-gap-recommendations',
        entity_type='k8s:pod',
        name='recommendations-api-7c6b5a4d3-p9r2t',
        incident_start='2026-03-28T20:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description=(
            'Partial data: a steady recommendations API whose metrics have a 13-minute gap in the incident window '
            "(the monitoring lost its target; the node's own series are complete) and whose logs are not collected "
            'at all. What data there is is normal, so the verdict is no anomaly; the tools must say the data is '
            'partial (missing samples, no log lines) and lower their confidence instead of failing.'
        ),
    ),
    Scenario(
        id='cpu-near-limit-pricing',
        entity_type='k8s:pod',
        name='pricing-engine-6f8d7c9b5-k4m7s',
        incident_start='2026-03-29T11:00:00Z',
        expected_anomaly=True,
        expected_category='cpu_saturation',
        expected_severity='high',
        description=(
            'Near a threshold, on its anomalous side: a pricing engine whose CPU rises about 2.3 robust sigmas at '
            'the incident start (below the 3-sigma confirmation) to a p95 at 92% of its 2-core limit (the rule '
            'cuts at 90%), throttled in about 4% of periods. cpu_saturation, high, with the unconfirmed confidence.'
        ),
    ),
    Scenario(
        id='cpu-busy-below-limit-geo',
        entity_type='k8s:pod',
        name='geo-service-5d7c6b8f9-r6n3v',
        incident_start='2026-03-30T16:00:00Z',
        expected_anomaly=False,
        expected_category='none',
        expected_severity='none',
        description=(
            'Near the thresholds, on the healthy side: a geo service whose CPU rises about 2.7 robust sigmas '
            '(below 3) to a p95 at 75% of its 1-core limit (below 90%), throttled in about 6% of periods, with no '
            'errors: busier, not anomalous.'
        ),
    ),
)
"""The harder suite: two faults at once, a red herring, a pod harmed by its node, replicas failing one after
another, partial data, and values close to the rules' thresholds."""

TAXONOMY_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        id='image-pull-backoff-inventory',
        entity_type='k8s:pod',
        name='inventory-sync-0',
        incident_start='2026-03-31T09:00:00Z',
        expected_anomaly=True,
        expected_category='image_pull_error',
        expected_severity='high',
        description=(
            'A StatefulSet rollout to an image tag that was never pushed: the recreated pod waits in '
            'ImagePullBackOff for the whole incident ("not found" from the registry), its container never starts '
            'and it has no usage at all.'
        ),
    ),
    Scenario(
        id='config-error-billing',
        entity_type='k8s:pod',
        name='billing-worker-0',
        incident_start='2026-04-01T10:00:00Z',
        expected_anomaly=True,
        expected_category='config_error',
        expected_severity='high',
        description=(
            'A rollout whose new revision reads an environment variable from a Secret key nobody created: the '
            "kubelet cannot create the container (CreateContainerConfigError: couldn't find key ... in Secret) and "
            'the pod never runs.'
        ),
    ),
    Scenario(
        id='failed-scheduling-metrics-store',
        entity_type='k8s:pod',
        name='metrics-store-2',
        incident_start='2026-04-02T03:00:00Z',
        expected_anomaly=True,
        expected_category='scheduling_failure',
        expected_severity='high',
        description=(
            'A node drain for an upgrade evicts a StatefulSet replica; the recreated pod stays Pending: its node '
            'is cordoned, two nodes lack the memory it requests and three are in another zone than its volume '
            '(FailedScheduling every minute, and the cluster autoscaler cannot add a node).'
        ),
    ),
    Scenario(
        id='failed-mount-postgres',
        entity_type='k8s:pod',
        name='postgres-orders-1',
        incident_start='2026-04-03T04:00:00Z',
        expected_anomaly=True,
        expected_category='volume_mount_error',
        expected_severity='high',
        description=(
            'A drained node does not release its EBS volume: the database replica rescheduled on another node '
            'hits a Multi-Attach error and then FailedMount every two minutes, stuck in ContainerCreating.'
        ),
    ),
    Scenario(
        id='readiness-failing-reviews',
        entity_type='k8s:pod',
        name='reviews-api-6d8c7b9f5-n4k2p',
        incident_start='2026-04-04T12:00:00Z',
        expected_anomaly=True,
        expected_category='readiness_failure',
        expected_severity='medium',
        description=(
            'A schema migration holds a lock the reviews API checks in its readiness endpoint: the probe answers '
            '503 for 29 minutes, the pod is out of its Service endpoints but is never restarted (liveness passes), '
            'and its CPU falls as it gets no traffic. Medium: the other replicas serve.'
        ),
    ),
    Scenario(
        id='node-not-ready',
        entity_type='k8s:node',
        name='ip-10-0-16-40.eu-west-1.compute.internal',
        incident_start='2026-04-05T06:00:00Z',
        expected_anomaly=True,
        expected_category='node_not_ready',
        expected_severity='critical',
        description=(
            'containerd hangs on a worker node: PLEG is not healthy, the kubelet reports Ready=False from minute 4 '
            'of the incident, the node controller taints it not-ready and records NodeNotReady; its pods can no '
            'longer be started, stopped or probed.'
        ),
    ),
    Scenario(
        id='pid-pressure-node',
        entity_type='k8s:node',
        name='ip-10-0-17-12.eu-west-1.compute.internal',
        incident_start='2026-04-06T14:00:00Z',
        expected_anomaly=True,
        expected_category='pid_pressure',
        expected_severity='high',
        description=(
            'A report renderer leaks headless-browser processes that are never reaped: the node runs short of '
            'process IDs, reports PIDPressure from minute 12 of the incident, is tainted pid-pressure and the '
            'kubelet tries to reclaim PIDs; its CPU and memory stay moderate.'
        ),
    ),
    Scenario(
        id='oom-limit-too-low-pdf',
        entity_type='k8s:pod',
        name='pdf-export-5c7d8b9f6-t3m8q',
        incident_start='2026-04-07T11:00:00Z',
        expected_anomaly=True,
        expected_category='oom_killed',
        expected_severity='high',
        description=(
            'OOM kills that are not a leak: a PDF exporter with a 256Mi limit and a flat ~190Mi working set is '
            'OOMKilled three times when large exports spike its memory to the limit; after each restart it returns '
            'to the same flat level. The limit is too low for its peaks; nothing grows.'
        ),
    ),
    Scenario(
        id='hpa-at-max-storefront',
        entity_type='k8s:pod',
        name='storefront-6b8d9c7f5-k2p8w',
        incident_start='2026-04-08T19:00:00Z',
        expected_anomaly=True,
        expected_category='hpa_at_max',
        expected_severity='high',
        description=(
            'A campaign drives the storefront past what its autoscaler may give it: 12 of 12 replicas from minute '
            '3 (ScalingLimited, TooManyReplicas) at 142% of the CPU request against a 60% target; each pod runs '
            'at about three quarters of its CPU limit and answers slowly, none is saturated on its own.'
        ),
    ),
    Scenario(
        id='hpa-flapping-ranker',
        entity_type='k8s:pod',
        name='recs-ranker-7c9d8b6f4-h5t2m',
        incident_start='2026-04-09T15:00:00Z',
        expected_anomaly=True,
        expected_category='hpa_flapping',
        expected_severity='medium',
        description=(
            'An autoscaler whose scale-down stabilisation was set to zero follows every burst of a bursty ranker: '
            '10 rescales in the incident, 4 -> 8 and back, five times each way; pods start and stop over and over '
            'while no pod is short of CPU or memory.'
        ),
    ),
    Scenario(
        id='cpu-throttled-quota-thumbnailer',
        entity_type='k8s:pod',
        name='thumbnailer-7b6c5d8f9-w8r4j',
        incident_start='2026-04-10T13:00:00Z',
        expected_anomaly=True,
        expected_category='cpu_saturation',
        expected_severity='low',
        description=(
            'Throttled by its own quota, not by a neighbour: a thumbnailer with a 500m limit processes uploads in '
            'bursts, is CFS-throttled in ~40% of periods although its minute p95 is ~60% of the limit, and waits '
            'for a CPU only ~3% of the time on a node at ~70%. Bursts over its own quota: cpu_saturation, low.'
        ),
    ),
)
"""The wider taxonomy: workloads that never run (image, configuration, scheduling, volume), a pod that runs but is
never ready, node conditions (NotReady, PIDPressure), OOM kills that are not a leak, autoscalers at their maximum or
flapping, and throttling by a pod's own quota told from a noisy neighbour."""

ADAPTIVE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        id='dns-cache-timeouts-shipping',
        entity_type='k8s:pod',
        name='shipping-quotes-6d9c8b7f5-x4k2m',
        incident_start='2026-04-11T09:00:00Z',
        expected_anomaly=True,
        expected_category='network_errors',
        expected_severity='medium',
        description=(
            'Beyond the fixed workflow, a DNS fault: the cluster DNS stops answering the node-local DNS cache of the '
            "shipping pod's node in time (the cache logs upstream i/o timeouts, about eight a minute, none in the "
            "baseline); the cache retries and serves late, so the pod's carrier quotes take 2.5-3.5 s instead of "
            "0.3 s, all answered. The pod's own CPU, memory, object and logs (slow requests, no error) and its "
            "node's are normal: the evidence is in another pod of the node, the cache, which the fixed stages "
            'never analyse.'
        ),
    ),
    Scenario(
        id='dns-flood-neighbour-catalog',
        entity_type='k8s:pod',
        name='catalog-api-7f6e5d4c3-b8n2v',
        incident_start='2026-04-12T10:00:00Z',
        expected_anomaly=True,
        expected_category='noisy_neighbor',
        expected_severity='medium',
        description=(
            'Beyond the fixed workflow, a neighbour that hogs a shared resource of the node: a crawler job started '
            "on the catalog pod's node at the incident start resolves about 1,900 names a second through the "
            "node-local DNS cache both use; the cache's forwarder reaches its concurrency limit, the crawler's "
            "lookups time out, and the catalog pod's searches slow from 0.2 s to about 2 s. The catalog pod's own "
            "data and its node's hold only the symptom (node CPU and memory are moderate); the crawler and the "
            "cache are found only among the node's other pods."
        ),
    ),
)
"""Cases the fixed workflow cannot solve: the evidence is in another pod of the entity's node (the node lists its
pods), which only an investigation choosing its next step reaches."""

SCENARIOS: tuple[Scenario, ...] = CORE_SCENARIOS + CONFOUNDED_SCENARIOS + TAXONOMY_SCENARIOS + ADAPTIVE_SCENARIOS
"""All shipped scenarios, in dataset order."""


def scenario_by_id(scenario_id: str) -> Scenario:
    """The scenario with this id; `KeyError` naming the known ids otherwise."""
    for scenario in SCENARIOS:
        if scenario.id == scenario_id:
            return scenario
    raise KeyError(f'unknown scenario {scenario_id!r}; known: {", ".join(s.id for s in SCENARIOS)}')
