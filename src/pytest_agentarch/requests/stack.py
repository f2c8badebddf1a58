"""The session's model-request layer, assembled: every request of an architecture's agents passes through it.

From the outside in, a session model is

| layer | module | what it does |
| --- | --- | --- |
| `SessionSettingsModel` | `settings` | the session's model settings on every request |
| `RecordingModel` | `recording` | stores each exchange (`--agentarch-record`) |
| `RetryingModel` | `retries` | retries infrastructure failures, honours `Retry-After`, counts attempts |
| `MeteredModel` | `metering` | requests/tokens per minute, budget spend, time waited |
| `ConcurrencyLimitedModel` | `limits` (pydantic-ai's model) | requests in flight across the session |
| `FaultyModel` | `faults` | injected faults, seeded by the run (`--agentarch-faults`) |
| the model | `specs` | `sim`, `llamacpp:`, or a pydantic-ai model (provider, HTTP client) |

`--agentarch-replay` replaces the three inner layers and the model with a `ReplayModel`: no limit, retry or network.
The judge of `--agentarch-judge-model` gets the same layers but the settings one (`build_judge`): judging shares the
session's limits and budget, and its requests are recorded and replayed apart from the runs' own.
Everything sits at the model-request layer, never around a run or a tool: waiting delays a request, it never changes
what the model is asked or answers, so the limits cannot change a trajectory. The limits hold for the whole session:
their state lives in a `SessionStore` directory every process of the session opens (xdist workers get its path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model
from pydantic_ai.models.concurrency import ConcurrencyLimitedModel
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.settings import ModelSettings

from .errors import ModelSpecError
from .faults import FaultPlan, FaultyModel
from .limits import SessionLimits
from .metering import CountingLimiter, MeteredModel
from .recording import RecordingError, RecordingModel, ReplayModel, Role
from .retries import RetryingModel
from .settings import SessionSettingsModel, SettingsPriority
from .specs import base_model

__all__ = ('build_judge', 'build_model', 'no_live_judge')

Layer = Callable[[Model], Model]
"""One layer of the stack: wraps the model below it."""


def build_model(
    spec: str,
    *,
    limits: SessionLimits,
    retries: int,
    settings: ModelSettings | None = None,
    priority: SettingsPriority = 'session',
    record: Path | None = None,
    replay: Path | None = None,
    role: Role = 'run',
    resume: bool = False,
    faults: FaultPlan | None = None,
) -> Model:
    """The session model for one `--agentarch-model` spec, every layer in place (see the module docstring).

    The layers are listed from the outside in, as a request meets them; a layer the session does not ask for is
    left out. `role='judge'` builds the judge of `--agentarch-judge-model`: the same layers, so its requests share
    the session's limits and budget and are retried, recorded and replayed, filed apart from the runs' own.
    """
    label = spec if role == 'judge' else None
    layers: list[Layer | None]
    if replay is not None:
        layers = [
            (lambda m: SessionSettingsModel(m, settings, priority=priority)) if settings else None,
        ]
        model: Model = ReplayModel(replay, model_label=spec, role=role)
    else:
        model = base_model(spec)
        rate, ledger, limiter = limits.rate_limiter, limits.ledger, limits.limiter
        layers = [
            (lambda m: SessionSettingsModel(m, settings, priority=priority)) if settings else None,
            (lambda m: RecordingModel(m, record, model_label=label, role=role, resume=resume)) if record else None,
            # The simulated model never fails on infrastructure unless faults are injected: retrying it would
            # otherwise only add a layer to every request.
            (lambda m: RetryingModel(m, retries=retries))
            if retries and (model.system != 'sim' or faults is not None)
            else None,
            (lambda m: MeteredModel(m, rate=rate, ledger=ledger)) if rate or ledger else None,
            (lambda m: ConcurrencyLimitedModel(m, CountingLimiter(limiter))) if limiter else None,
            (lambda m: FaultyModel(m, faults)) if faults is not None else None,
        ]
    for layer in reversed(layers):
        if layer is not None:
            model = layer(model)
    return model


def build_judge(
    spec: str,
    *,
    limits: SessionLimits,
    retries: int,
    record: Path | None = None,
    replay: Path | None = None,
    resume: bool = False,
) -> Model:
    """The judge model of `--agentarch-judge-model`: `build_model` with `role='judge'`, and without the session's
    model settings (a judging evaluator passes its own)."""
    try:
        return build_model(
            spec, limits=limits, retries=retries, record=record, replay=replay, role='judge', resume=resume
        )
    except ModelSpecError as exc:
        raise ModelSpecError(str(exc).replace('--agentarch-model ', '--agentarch-judge-model ', 1)) from None
    except RecordingError as exc:
        if replay is None:
            raise
        raise RecordingError(
            f'--agentarch-judge-model {spec}: {exc}. A replayed session replays its judge too: give the judge model '
            'the session was recorded with, or leave --agentarch-judge-model out if it had none'
        ) from None


def _refuse_live_judge(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise RecordingError(
        "a judging evaluator called pydantic-evals' default judge model during --agentarch-replay, which sends "
        'nothing to any model. Record with --agentarch-judge-model SPEC and replay with the same '
        '--agentarch-judge-model SPEC: the judge is then replayed from the recording.'
    )


def no_live_judge() -> Model:
    """The default judge of a replayed session without `--agentarch-judge-model`: every request raises
    `RecordingError` saying how to replay a judge, so a replay never reaches pydantic-evals' default model."""
    return FunctionModel(_refuse_live_judge, model_name='no-live-judge-in-replay')
