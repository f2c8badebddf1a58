"""The pytest edge: options, dataset collection, the `arch` fixture, the session collector and the hooks."""
