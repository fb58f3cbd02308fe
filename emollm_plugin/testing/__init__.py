"""Test tooling that ships with the package: tiny random-initialised models (``tiny.py``,
``tiny_audio.py``), synthetic media (``synth.py``) and the demo data set (``demo_data.py``)."""
