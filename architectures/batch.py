"""Batch cases: one question about several entities over the same windows, answered with one report per entity.

A batch case's inputs name `entities` instead of one `entity` (`BatchRequest`); every architecture answers it with
a `BatchReport`. The orchestrated architectures investigate each entity as they would a single case (`workflow` in
one batch sharing its cache, the others concurrently); the agentic ones get one prompt naming every entity and
answer with the whole `BatchReport`. `EntityVerdicts` checks each entity's verdict against the case's expected one.
Single-entity cases never reach this module: what they send a model is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field, computed_field
from pydantic_evals.evaluators import Evaluator, EvaluatorContext, EvaluatorOutput

from architectures.common import AnalysisRequest
from architectures.report import SEVERITY_RANK, AnomalyReport, Category, Diagnosis, Severity
from architectures.resolve import OpenRequest

__all__ = (
    'BATCH_DATASET',
    'RAW_DATASET',
    'SEPARATING_DATASET',
    'BatchDiagnosis',
    'BatchReport',
    'BatchRequest',
    'EntityVerdicts',
    'Expected',
    'Inputs',
    'each_entity',
)

BATCH_DATASET = 'k8s_anomaly_batch'
"""The dataset of batch cases (`evals/k8s_anomaly_batch.yaml`)."""

RAW_DATASET = 'k8s_anomaly_raw'
"""The single-entity cases again with the tools' assessments off (`evals/k8s_anomaly_raw.yaml`): the verdict must come
from the statistics."""

SEPARATING_DATASET = 'k8s_anomaly_separating'
"""Cases that separate the architectures (`evals/k8s_anomaly_separating.yaml`): cases the fixed workflow cannot solve
and open requests that name neither the entity nor the windows; measured by the main job, not gated."""

Entity = Annotated[str, Field(pattern=r'^k8s:(pod|node)/\S+$')]


class BatchRequest(BaseModel):
    """The inputs of a batch case: the entities, what the user asked, and the two windows they share."""

    entities: list[Entity] = Field(min_length=2)
    """`'k8s:pod/<name>'` or `'k8s:node/<name>'`, each once."""
    prompt: str
    """The user's question, as they wrote it."""
    baseline_start: str
    """Start of the baseline window (ISO 8601 UTC)."""
    baseline_end: str
    """End of the baseline window."""
    incident_start: str
    """Start of the incident window."""
    incident_end: str
    """End of the incident window."""

    @classmethod
    def of(cls, inputs: Any) -> BatchRequest | None:
        """The batch request when `inputs` names `entities`; None for a single-entity case."""
        if isinstance(inputs, cls):
            return inputs
        if isinstance(inputs, Mapping) and 'entities' in inputs:
            return cls.model_validate(inputs)
        return None

    def requests(self) -> list[AnalysisRequest]:
        """One single-entity request per entity, in order, with the same question and windows."""
        return [self.for_entity(entity) for entity in self.entities]

    def for_entity(self, entity: str) -> AnalysisRequest:
        """The same question and windows about one entity (one of the batch, or a node one of them runs on)."""
        return AnalysisRequest(entity=entity, **self.model_dump(exclude={'entities'}))

    def task_text(self) -> str:
        """The question followed by every entity and both windows: the prompt of an agentic architecture."""
        return (
            f'{self.prompt}\n\nEntities: {", ".join(self.entities)}. Baseline window {self.baseline_start} to '
            f'{self.baseline_end}. Incident window {self.incident_start} to {self.incident_end}.'
        )


class BatchReport(BaseModel):
    """One AnomalyReport per entity of the batch, in the order the request names them."""

    reports: list[AnomalyReport] = Field(description='One report per entity, in the order the entities were named.')

    def _worst(self) -> AnomalyReport | None:
        anomalous = [r for r in self.reports if r.anomaly_detected]
        return max(anomalous, key=lambda r: SEVERITY_RANK[r.severity]) if anomalous else None

    # Derived, not asked of a model (computed fields are not in the output schema): the batch's worst verdict, so
    # that output agreement over `anomaly_detected`/`severity`/`category` compares batches too.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def anomaly_detected(self) -> bool:
        """Whether any entity is anomalous."""
        return self._worst() is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def severity(self) -> Severity:
        """The most severe entity's severity (`'none'` when none is anomalous)."""
        worst = self._worst()
        return worst.severity if worst else 'none'

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category(self) -> Category:
        """The most severe entity's category (`'none'` when none is anomalous)."""
        worst = self._worst()
        return worst.category if worst else 'none'


class BatchDiagnosis(BaseModel):
    """A batch case's expected answer: one `Diagnosis` per entity, in the order the request names them."""

    reports: list[Diagnosis] = Field(min_length=2)
    """One verdict per entity."""


Inputs = AnalysisRequest | BatchRequest | OpenRequest
"""The inputs of a K8s case, single-entity, batch or open (no entity or windows named): what every architecture of
the suite declares it takes."""

Expected = Diagnosis | BatchDiagnosis
"""The expected output of a K8s case, single-entity or batch."""


async def each_entity(
    batch: BatchRequest, investigate: Callable[[AnalysisRequest], Awaitable[AnomalyReport]]
) -> BatchReport:
    """The batch answered by investigating every entity as a single case, concurrently."""
    return BatchReport(reports=list(await asyncio.gather(*(investigate(r) for r in batch.requests()))))


@dataclass
class EntityVerdicts(Evaluator[object, object, object]):
    """Each entity's verdict (`anomaly_detected`, `category`, `severity`) against the case's expected reports.

    The output and the expected output hold `reports`, lists of objects with an `entity`; one assertion per expected
    entity, named after it, true when the output has a report about that entity with the same three fields.
    """

    evaluation_name: str | None = None

    def get_default_evaluation_name(self) -> str:
        """The configured name, else `EntityVerdicts`."""
        return self.evaluation_name or 'EntityVerdicts'

    def evaluate(self, ctx: EvaluatorContext[object, object, object]) -> EvaluatorOutput:
        """One boolean per expected entity."""
        expected = _reports(ctx.expected_output)
        if not expected:
            raise ValueError('EntityVerdicts needs an expected output with a non-empty "reports" list')
        got = {str(r.get('entity')): r for r in _reports(ctx.output)}
        fields = ('anomaly_detected', 'category', 'severity')
        return {
            str(want['entity']): str(want['entity']) in got
            and all(got[str(want['entity'])].get(f) == want.get(f) for f in fields)
            for want in expected
        }


def _reports(value: object) -> list[dict[str, Any]]:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        return []
    reports = value.get('reports')
    return [dict(r) for r in reports if isinstance(r, Mapping)] if isinstance(reports, list) else []
