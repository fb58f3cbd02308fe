"""``emollm export``: a trained EmoLLM checkpoint as a self-contained transformers model folder
(docs/export.md)."""
