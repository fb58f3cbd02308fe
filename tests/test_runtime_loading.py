"""runtime.loading.load_model leaves torch's default dtype as it found it, also when LLaVA's loader
raises half-way (transformers 4.x sets the default to the requested dtype around the model's
construction and does not restore it when that raises)."""
from __future__ import annotations

import pytest
import torch


def test_a_load_that_raises_restores_the_default_dtype(monkeypatch, tmp_path):
    import llava.model.builder as builder

    from emollm_plugin.runtime.loading import load_model

    def failing_loader(*args, **kwargs):
        torch.set_default_dtype(torch.float16)
        raise ValueError("Unknown projector type: mvp")

    monkeypatch.setattr(builder, "load_pretrained_model", failing_loader)
    (tmp_path / "model.safetensors").write_bytes(b"")  # routed as a full checkpoint; never read here
    (tmp_path / "config.json").write_text("{}")
    assert torch.get_default_dtype() == torch.float32
    with pytest.raises(ValueError, match="Unknown projector type"):
        load_model(str(tmp_path), None, "cpu", torch.float32)
    assert torch.get_default_dtype() == torch.float32
