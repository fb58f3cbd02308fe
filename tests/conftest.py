"""Shared fixtures: tiny random-initialised models built offline once per test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    from emollm_plugin.tiny import make_tiny
    return make_tiny(tmp_path_factory.mktemp("tiny_models"))
