"""Audio projector: pooling against a plain loop, the MLP against its equation, config building."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig

from emollm_plugin.audio.projector import AudioProjector, build_audio_projector


def reference_pool(frames: torch.Tensor, budget: int) -> torch.Tensor:
    """Plain loop: n = min(T, N) bins [floor(jT/n), ceil((j+1)T/n)), each averaged."""
    length = frames.shape[0]
    n = min(length, budget)
    rows = []
    for j in range(n):
        start, end = math.floor(j * length / n), math.ceil((j + 1) * length / n)
        rows.append(frames[start:end].mean(dim=0))
    return torch.stack(rows)


@pytest.mark.parametrize("length", [1, 5, 31, 32, 33, 100, 150, 1500])
def test_pool_matches_reference(length):
    projector = AudioProjector(6, 4, num_tokens=32)
    frames = torch.randn(length, 6, generator=torch.Generator().manual_seed(length))
    pooled = projector.pool(frames)
    assert pooled.shape == (min(length, 32), 6)
    torch.testing.assert_close(pooled, reference_pool(frames, 32))


def test_pool_of_a_budget_multiple_is_block_means():
    frames = torch.arange(12.0)[:, None]
    pooled = AudioProjector(1, 1, num_tokens=4).pool(frames)
    torch.testing.assert_close(pooled[:, 0], torch.tensor([1.0, 4.0, 7.0, 10.0]))


def test_mlp2x_gelu_follows_its_equation():
    torch.manual_seed(0)
    projector = AudioProjector(8, 5, num_tokens=3)
    clip = torch.randn(7, 8)
    out = projector([clip])[0]
    first, second = projector.mlp[0], projector.mlp[2]
    p = reference_pool(clip, 3)
    expected = F.gelu(p @ first.weight.T + first.bias) @ second.weight.T + second.bias
    torch.testing.assert_close(out, expected)


def test_linear_kind():
    projector = AudioProjector(8, 5, num_tokens=4, kind="linear")
    clip = torch.randn(9, 8)
    expected = reference_pool(clip, 4) @ projector.mlp.weight.T + projector.mlp.bias
    torch.testing.assert_close(projector([clip])[0], expected)


def test_batch_equals_clip_by_clip_and_token_counts_follow_length():
    torch.manual_seed(1)
    projector = AudioProjector(8, 5, num_tokens=4)
    clips = [torch.randn(t, 8) for t in (2, 4, 50)]
    outs = projector(clips)
    assert [o.shape for o in outs] == [(2, 5), (4, 5), (4, 5)]
    assert [projector.tokens_for(2 * t) for t in (2, 4, 50)] == [2, 4, 4]
    for clip, out in zip(clips, outs):
        torch.testing.assert_close(out, projector([clip])[0])


def test_gradients_reach_projector_weights():
    projector = AudioProjector(8, 5)
    sum(o.sum() for o in projector([torch.randn(40, 8), torch.randn(3, 8)])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in projector.parameters())


def test_unknown_kind_lists_known():
    with pytest.raises(ValueError, match="known: linear, mlp2x_gelu"):
        AudioProjector(8, 5, kind="mlp3x_relu")


@pytest.mark.parametrize("bad, match", [
    ([], "non-empty list"),
    ([torch.randn(4, 7)], "expected T' x 8"),
    ([torch.randn(0, 8)], "T' >= 1"),
])
def test_rejects_bad_features(bad, match):
    with pytest.raises(ValueError, match=match):
        AudioProjector(8, 5)(bad)


def test_build_from_hf_config():
    config = LlamaConfig(hidden_size=48, num_attention_heads=4, num_hidden_layers=1, intermediate_size=64,
                         vocab_size=10)
    config.mm_audio_hidden_size = 16
    config.mm_audio_projector_type = "linear"
    config.mm_audio_num_tokens = 7
    projector = build_audio_projector(config)
    fields = (projector.in_dim, projector.out_dim, projector.num_tokens, projector.kind)
    assert fields == (16, 48, 7, "linear")
    assert "num_tokens=7" in repr(projector)


def test_build_defaults_and_missing_fields():
    projector = build_audio_projector(SimpleNamespace(mm_audio_hidden_size=16, hidden_size=32))
    assert (projector.num_tokens, projector.kind) == (32, "mlp2x_gelu")
    with pytest.raises(ValueError, match="lacks mm_audio_hidden_size"):
        build_audio_projector(SimpleNamespace(hidden_size=32))
    with pytest.raises(ValueError, match="unknown audio projector type 'conv'"):
        build_audio_projector(SimpleNamespace(mm_audio_hidden_size=16, hidden_size=32,
                                              mm_audio_projector_type="conv"))
