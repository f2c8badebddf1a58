"""The models the plugin ships: `sim`, the embedded simulated model, and `llamacpp:`, a local LLM on llama.cpp."""
