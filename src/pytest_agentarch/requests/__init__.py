"""The model-request layer: every request an architecture makes goes through the model the plugin hands it, wrapped
here in one stack, one module per layer (settings, recording, retries, metering, limits, specs), assembled from the
outside in by `stack.build_model`."""
