"""The structured answer every K8s anomaly-detection architecture returns, as fixed by docs/k8s-contract.md."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

__all__ = ('SEVERITY_RANK', 'AnomalyReport', 'Category', 'Diagnosis', 'Severity')

Severity = Literal['none', 'low', 'medium', 'high', 'critical']
"""How bad the anomaly is; `'none'` when there is none (or the entity does not exist)."""

SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(get_args(Severity))}
"""Severities in increasing order (the merging rule breaks confidence ties with it)."""

Category = Literal[
    'none',
    'cpu_saturation',
    'memory_leak',
    'crash_loop',
    'node_memory_pressure',
    'noisy_neighbor',
    'disk_pressure',
    'network_errors',
    'oom_killed',
    'node_not_ready',
    'pid_pressure',
    'image_pull_error',
    'scheduling_failure',
    'config_error',
    'readiness_failure',
    'volume_mount_error',
    'hpa_at_max',
    'hpa_flapping',
    'entity_not_found',
]
"""The failure mode diagnosed; `'none'` for a healthy entity."""


class AnomalyReport(BaseModel):
    """Diagnosis of one Kubernetes entity over an incident window."""

    entity: str = Field(description='The entity analysed, as "k8s:pod/<name>" or "k8s:node/<name>".')
    anomaly_detected: bool = Field(description='Whether the entity behaves anomalously in the incident window.')
    severity: Severity = Field(description="How bad the anomaly is; 'none' when no anomaly was detected.")
    category: Category = Field(
        description="The failure mode; 'none' for a healthy entity, 'entity_not_found' when it does not exist."
    )
    evidence: list[str] = Field(description='Observations (with numbers) that support the diagnosis.')
    recommended_actions: list[str] = Field(description='Concrete next steps for an operator.')
    confidence: float = Field(ge=0.0, le=1.0, description='Confidence in this diagnosis, from 0 to 1.')


class Diagnosis(BaseModel):
    """A case's expected answer: the verdict about one entity, the fields of `AnomalyReport` a case judges.

    Evidence, actions and confidence are left out: they are judged by what a case promises (its evaluators), not by
    equality with one written answer.
    """

    entity: str = Field(pattern=r'^k8s:(pod|node)/\S+$')
    """The entity the verdict is about, as in the request."""
    anomaly_detected: bool
    """Whether the entity behaves anomalously in the incident window."""
    severity: Severity
    """How bad the anomaly is; `'none'` when there is none."""
    category: Category
    """The failure mode; `'none'` for a healthy entity, `'entity_not_found'` when it does not exist."""
