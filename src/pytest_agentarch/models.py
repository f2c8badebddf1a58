"""Model selection: a pydantic-ai model string, or `sim[:options]` for the embedded simulated model."""

from __future__ import annotations

from pydantic_ai.models import Model, infer_model

__all__ = ('ModelSpecError', 'resolve_model')


class ModelSpecError(ValueError):
    """The model spec cannot be turned into a model; the message says how to fix it."""


def resolve_model(spec: str) -> Model:
    """The model for `--agentarch-model SPEC`."""
    spec = spec.strip()
    if spec == 'sim' or spec.startswith('sim:'):
        from .sim import SimulatedModel

        try:
            return SimulatedModel.from_spec(spec)
        except ValueError as exc:
            raise ModelSpecError(f'--agentarch-model {spec!r}: {exc}') from None
    try:
        return infer_model(spec)
    except ImportError as exc:
        provider = spec.partition(':')[0]
        raise ModelSpecError(
            f'--agentarch-model {spec!r} needs the {provider!r} provider package: '
            f'pip install "pydantic-ai-slim[{provider}]" ({exc})'
        ) from None
    except Exception as exc:
        raise ModelSpecError(
            f'--agentarch-model {spec!r} is not a model this session can use: {exc}. '
            "Use 'sim' (embedded simulated model, e.g. 'sim:temperature=0') or a pydantic-ai model "
            "string such as 'openai:gpt-4o-mini' or 'test'."
        ) from None
