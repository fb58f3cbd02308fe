"""The remote code of an exported EmoLLM folder, copied into it verbatim: it imports torch and
transformers only (never ``emollm_plugin``, ``llava``, ``torch_geometric`` or ``whisper``)."""
