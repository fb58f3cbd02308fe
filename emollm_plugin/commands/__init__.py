"""The entry points: ``emollm`` (``cli.py``), ``emollm-run`` (``run.py`` + ``_sitecustomize/``),
``doctor``, and the ``python -m`` commands (``infer``, ``train``, ``merge``, the lmms-eval model).
They register the plugin before loading a model."""
