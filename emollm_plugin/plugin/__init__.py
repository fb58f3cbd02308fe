"""How the plugin plugs into LLaVA and transformers: the seams (``seams.py``), the wiring that
registers the built-in parts (``wiring.py``), the LLaVA names the data path needs (``compat.py``)
and the shims for what transformers versions changed (``stack.py``, ``hf_trainer.py``,
``resume.py``, ``training_arguments.py``)."""
