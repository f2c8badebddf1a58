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

__all__ = ('BASELINE_MINUTES', 'INCIDENT_MINUTES', 'SCENARIOS', 'EntityType', 'Scenario', 'scenario_by_id')

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


SCENARIOS: tuple[Scenario, ...] = (
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
            'stays below its own limit but is throttled and slow.'
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
"""All shipped scenarios, in dataset order."""


def scenario_by_id(scenario_id: str) -> Scenario:
    """The scenario with this id; `KeyError` naming the known ids otherwise."""
    for scenario in SCENARIOS:
        if scenario.id == scenario_id:
            return scenario
    raise KeyError(f'unknown scenario {scenario_id!r}; known: {", ".join(s.id for s in SCENARIOS)}')
