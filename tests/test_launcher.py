from __future__ import annotations

import pytest

from emollm_plugin.plugin.compat import choose_attn_implementation
from emollm_plugin.commands.train import seed_from_argv


@pytest.mark.parametrize("argv, seed", [(["--seed", "7"], 7), (["--x", "1", "--seed=3"], 3), (["--lr", "1"], 42)])
def test_seed_is_read_before_llava_parses_arguments(argv, seed):
    assert seed_from_argv(argv) == seed


def test_attention_falls_back_to_sdpa_without_cuda_or_flash_attn(monkeypatch):
    import torch
    monkeypatch.delenv("EMOLLM_ATTN_IMPLEMENTATION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_attn_implementation() == "sdpa"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert choose_attn_implementation() == "sdpa"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    assert choose_attn_implementation() == "flash_attention_2"
    monkeypatch.setenv("EMOLLM_ATTN_IMPLEMENTATION", "eager")
    assert choose_attn_implementation() == "eager"
