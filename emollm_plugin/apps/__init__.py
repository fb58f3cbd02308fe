"""Applications on a trained checkpoint: ``predict`` (your own media), ``serve`` (an
OpenAI-compatible HTTP API) and ``demo_ui`` (a Gradio page). Layer: apps (docs/architecture.md)."""
