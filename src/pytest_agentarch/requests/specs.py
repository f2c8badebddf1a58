"""Model selection: `--agentarch-model` as a list of specs, and each spec as the model it names (a pydantic-ai model
string, `sim[:options]` for the embedded simulated model or `llamacpp:...` for a local llama.cpp server), the
innermost layer of the stack."""

from __future__ import annotations

import re

from pydantic_ai.models import Model, infer_model
from pydantic_ai.settings import ModelSettings

from .errors import ModelSpecError
from .settings import SessionSettingsModel, SettingsPriority, split_top_level

__all__ = ('ModelSpecError', 'base_model', 'check_priced', 'resolve_model', 'split_model_specs')


_OPTION = re.compile(r'\s*[A-Za-z_][\w.-]*\s*=')
"""A `key=value` segment: an option of the model spec before it, not a model of its own."""


def split_model_specs(text: str) -> list[str]:
    """`--agentarch-model a,b`: the model specs, in order, each once.

    A model spec may carry its own comma-separated options (`sim:temperature=0.7,seed=3`), so a comma starts a new
    model only where the text after it is not `key=value`: `sim:temperature=0,openai:gpt-4o` is two models,
    `sim:temperature=0,seed=3` one. Raises ValueError for an empty spec or a model named twice.
    """
    specs: list[str] = []
    for part in split_top_level(text):
        if specs and _OPTION.match(part) and ':' not in part.partition('=')[0]:
            specs[-1] = f'{specs[-1]},{part}'
        else:
            specs.append(part)
    if not specs:
        raise ValueError("expected one or more model specs separated by commas, e.g. 'sim' or 'sim,openai:gpt-4o'")
    seen: set[str] = set()
    for spec in specs:
        if spec in seen:
            raise ValueError(f'model {spec!r} is given twice; name each model once')
        seen.add(spec)
    return specs


def resolve_model(spec: str, *, settings: ModelSettings | None = None, priority: SettingsPriority = 'session') -> Model:
    """The model for `--agentarch-model SPEC`, with `--agentarch-model-settings` applied when given."""
    model = base_model(spec)
    return SessionSettingsModel(model, settings, priority=priority) if settings else model


def base_model(spec: str) -> Model:
    """The model a spec names, nothing wrapped around it: `sim[:options]`, `llamacpp:WEIGHTS[,options]` (a local
    llama.cpp server, `local.py`) or a pydantic-ai model string."""
    spec = spec.strip()
    if spec.startswith('llamacpp:'):
        from ..backends.local import local_model

        return local_model(spec)  # LocalModelError is a ModelSpecError
    if spec == 'sim' or spec.startswith('sim:'):
        from ..backends.sim import SimulatedModel

        try:
            return SimulatedModel.from_spec(spec)
        except ValueError as exc:
            raise ModelSpecError(f'--agentarch-model {spec!r}: {exc}') from None
    try:
        return infer_model(spec)
    except ImportError as exc:
        # pydantic-ai's message names the pydantic-ai-slim extra; ours carry the same names (pyproject.toml).
        named = re.search(r'pydantic-ai-slim\[([\w-]+)\]', str(exc))
        extra = named.group(1) if named else spec.partition(':')[0]
        raise ModelSpecError(
            f'--agentarch-model {spec!r} needs a provider package that is not installed: '
            f'pip install "pytest-agentarch[{extra}]"'
        ) from None
    except Exception as exc:
        raise ModelSpecError(
            f'--agentarch-model {spec!r} is not a model this session can use: {exc}. '
            "Use 'sim' (embedded simulated model, e.g. 'sim:temperature=0') or a pydantic-ai model "
            "string such as 'openai:gpt-4o-mini' or 'test'."
        ) from None


def check_priced(spec: str) -> None:
    """A USD budget needs prices: raise ModelSpecError when genai-prices cannot price `spec`'s model."""
    from genai_prices import Usage, calc_price

    provider, _, name = spec.partition(':')
    if not name:
        raise ModelSpecError(
            f'--agentarch-budget-usd: {spec!r} has no price (genai-prices knows no such model); '
            'use --agentarch-budget-tokens instead'
        )
    try:
        calc_price(Usage(input_tokens=1000, output_tokens=1000), name, provider_id=provider.split('-')[0])
    except LookupError:
        raise ModelSpecError(
            f'--agentarch-budget-usd: genai-prices has no price for {spec!r}, so spend cannot be counted; '
            'use --agentarch-budget-tokens instead'
        ) from None
