"""Running an architecture: the registry, the run context, the runner (execute, capture, judge) and its helpers."""
