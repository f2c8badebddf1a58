"""Cluster state and telemetry for the K8s tools: the backend interface, the shipped fixture data and its scenarios."""

from architectures.telemetry.backend import (
    ENTITY_TYPES,
    FixtureBackend,
    Metric,
    Sample,
    TelemetryBackend,
    parse_bytes,
    parse_cpu,
    parse_time,
)
from architectures.telemetry.current import get_backend, use_backend
from architectures.telemetry.scenarios import SCENARIOS, EntityType, Scenario, scenario_by_id

__all__ = (
    'ENTITY_TYPES',
    'SCENARIOS',
    'EntityType',
    'FixtureBackend',
    'Metric',
    'Sample',
    'Scenario',
    'TelemetryBackend',
    'get_backend',
    'parse_bytes',
    'parse_cpu',
    'parse_time',
    'scenario_by_id',
    'use_backend',
)
