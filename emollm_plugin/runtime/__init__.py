"""The inference runtime: checkpoint loading (quiet and checked: ``quiet_load``), media, prompts
to generation, the answers file and the batch loop. ``commands/infer.py`` (``emollm eval infer``),
``apps/`` (predict, serve, demo-ui) and the lmms-eval model all answer through it."""
