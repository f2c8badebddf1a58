"""The error every layer of the model-request stack raises for a model it cannot build.

A leaf module: the backends raise it too, and the spec parser imports the backends, so it lives below both.
"""

__all__ = ('ModelSpecError',)


class ModelSpecError(ValueError):
    """The model spec or settings cannot be turned into a model; the message says how to fix it."""
