"""The errors of the model-request stack: a model it cannot build, a store of limits it cannot use.

A leaf module: the backends raise them too, and the spec parser imports the backends, and both stores raise
`StoreError`, so they live below all of them.
"""

__all__ = ('ModelSpecError', 'StoreError')


class ModelSpecError(ValueError):
    """The model spec or settings cannot be turned into a model; the message says how to fix it."""


class StoreError(ValueError):
    """A store of limits (`--agentarch-store`) given in a form that cannot work, or one that cannot be reached."""
