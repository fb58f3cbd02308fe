"""Every registered projector builds from a model config and gives finite, differentiable tokens."""
from __future__ import annotations

import pytest
import torch

import emollm_plugin
from emollm_plugin.registry import PROJECTORS


@pytest.mark.parametrize("name", emollm_plugin.list_projectors())
def test_registered_projector_shape_nan_grad(name):
    from transformers import LlamaConfig

    from emollm_plugin.plugin import seams
    config = LlamaConfig(hidden_size=48, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    config.mm_hidden_size, config.mm_projector_type = 24, name
    if name == "mvp":
        config.mvp_num_clusters, config.mvp_knn = [16, 8, 4], [3, 3, 2]
    projector = seams.build_vision_projector(config)
    x = torch.randn(2, 64, 24, requires_grad=True)
    out = projector(x)
    assert out.ndim == 3 and out.shape[0] == 2 and torch.isfinite(out).all()
    expected_width = 24 if name == "identity" else 48
    assert out.shape[-1] == expected_width
    if name == "mvp":
        assert out.shape[1] == 28
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for param_name, p in projector.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), param_name


def test_unknown_projector_lists_the_registered_ones():
    from types import SimpleNamespace

    from emollm_plugin.plugin import seams
    emollm_plugin.list_projectors()
    with pytest.raises(ValueError, match=r"unknown projector type 'nope'; registered: .*mvp"):
        seams.build_vision_projector(SimpleNamespace(mm_projector_type="nope", mm_hidden_size=8, hidden_size=8))
    assert "mvp" in PROJECTORS
