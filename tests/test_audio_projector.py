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


def test_standardize_follows_its_equation_and_fit_sets_mean_and_inverse_std():
    torch.manual_seed(2)
    projector = AudioProjector(8, 5, num_tokens=3, input_norm="standardize")
    clips = [torch.randn(7, 8) * 3 + 10, torch.randn(12, 8) + 4]
    assert projector.needs_input_fit
    # before the fit the shift/scale are the identity: the plain projector's output
    plain = AudioProjector(8, 5, num_tokens=3)
    plain.mlp.load_state_dict(projector.mlp.state_dict())
    torch.testing.assert_close(projector(clips)[0], plain(clips)[0])
    projector.fit_input_norm(clips)
    assert not projector.needs_input_fit
    tokens = torch.cat([reference_pool(c, 3) for c in clips])
    mean = tokens.mean(0)
    std = ((tokens - mean) ** 2).mean(0).sqrt()
    torch.testing.assert_close(projector.input_shift.data, mean)
    torch.testing.assert_close(projector.input_scale.data, 1 / std)
    q = (reference_pool(clips[1], 3) - mean) / std
    first, second = projector.mlp[0], projector.mlp[2]
    expected = F.gelu(q @ first.weight.T + first.bias) @ second.weight.T + second.bias
    torch.testing.assert_close(projector(clips)[1], expected)
    # the fitted tokens are standardised: mean 0, std 1 per feature
    standardised = (tokens - projector.input_shift) * projector.input_scale
    torch.testing.assert_close(standardised.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardised.std(0, unbiased=False), torch.ones(8))


def test_standardize_parameters_are_trainable_and_a_constant_feature_does_not_divide_by_zero():
    projector = AudioProjector(4, 3, num_tokens=2, input_norm="standardize")
    clip = torch.randn(6, 4)
    clip[:, 0] = 5.0
    projector.fit_input_norm([clip])
    assert torch.isfinite(projector([clip])[0]).all()
    projector([clip])[0].sum().backward()
    assert projector.input_shift.grad is not None and projector.input_scale.grad is not None
    assert "input_norm='standardize'" in repr(projector)
    with pytest.raises(ValueError, match="input_norm='standardize'"):
        AudioProjector(4, 3).fit_input_norm([clip])
    with pytest.raises(ValueError, match="unknown audio input norm 'layer'"):
        AudioProjector(4, 3, input_norm="layer")


def test_build_reads_the_input_norm_and_a_saved_model_without_it_keeps_none():
    new = SimpleNamespace(mm_audio_hidden_size=16, hidden_size=32, mm_audio_tower="w.pt",
                          mm_audio_input_norm="standardize")
    assert build_audio_projector(new).input_norm == "standardize"
    assert {"input_shift", "input_scale"} <= {n for n, _ in build_audio_projector(new).named_parameters()}
    old = SimpleNamespace(mm_audio_hidden_size=16, hidden_size=32, mm_audio_tower="w.pt")
    projector = build_audio_projector(old)
    assert projector.input_norm == "none" and not projector.needs_input_fit
    assert not any("input_" in n for n, _ in projector.named_parameters())  # old state dicts load as saved
