"""The model-request layer: every request an architecture makes goes through the model the plugin hands it, wrapped
here in one stack (settings, limits, retries, recording or replay, metering), assembled by `stack.build_model`."""
