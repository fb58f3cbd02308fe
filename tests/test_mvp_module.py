"""MVPProjector on images, its config round trip, and the builder the seam calls."""
from __future__ import annotations

import argparse

import pytest
import torch
from transformers import PretrainedConfig

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector, build_mvp_projector
from emollm_plugin.projectors.mvp.dpc_knn import multi_step_merge
from emollm_plugin.projectors.mvp.graph import block_diagonal, relation_adjacency

SMALL = MVPConfig(num_clusters=(12, 6, 3), knn=(5, 3, 3), tau=0.2, alpha=0.5)


def make(config: MVPConfig = SMALL, in_dim: int = 16, out_dim: int = 24, seed: int = 0):
    torch.manual_seed(seed)
    return MVPProjector(in_dim, out_dim, config)


def test_image_shapes_values_and_gradients():
    mvp = make()
    x = torch.randn(3, 32, 16, requires_grad=True)
    out = mvp(x)
    assert out.shape == (3, mvp.num_tokens_image, 24) and mvp.num_tokens_image == 21
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in mvp.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fusion_is_alpha_content_plus_relation():
    mvp = make()
    x = torch.randn(2, 32, 16)
    steps = multi_step_merge(x, SMALL.num_clusters, SMALL.knn)
    tokens = torch.cat(steps, 1)
    adjacency = block_diagonal([relation_adjacency(z, SMALL.tau) for z in steps])
    expected = SMALL.alpha * mvp.content_proj(tokens) + mvp.gcn(tokens, adjacency)
    torch.testing.assert_close(mvp(x), expected)


def test_default_config_gives_112_tokens_per_image():
    mvp = MVPProjector(32, 8)
    out, trace = mvp(torch.randn(1, 256, 32), return_trace=True)
    assert out.shape == (1, 112, 8)
    assert len(trace.edges_per_node) == 3


def test_trace_edges_per_node_per_step():
    mvp = make()
    x = torch.randn(2, 32, 16)
    _, trace = mvp(x, return_trace=True)
    steps = multi_step_merge(x, SMALL.num_clusters, SMALL.knn)
    expected = [relation_adjacency(z, SMALL.tau).sum(-1).mean().item() for z in steps]
    assert trace.edges_per_node == pytest.approx(expected)
    assert any(e > 0 for e in expected)


def test_output_is_deterministic():
    mvp = make()
    x = torch.randn(2, 32, 16)
    assert torch.equal(mvp(x), mvp(x))


def test_bf16_module_matches_float32_module():
    mvp = make()
    x = torch.randn(2, 32, 16).bfloat16()
    reference = mvp(x.float())
    mvp_bf16 = make().bfloat16()
    out = mvp_bf16(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    # same clusters (clustering ran in float32) -> only bf16 rounding of the linear layers
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.05)


def test_parameter_names_are_stable_checkpoint_keys():
    linear = make(MVPConfig(num_clusters=(4, 2), knn=(3, 3), gcn_layers=2))
    assert sorted(linear.state_dict()) == [
        "content_proj.bias", "content_proj.weight",
        "gcn.layers.0.bias", "gcn.layers.0.lin.weight",
        "gcn.layers.1.bias", "gcn.layers.1.lin.weight"]
    mlp = make(MVPConfig(content_proj="mlp2x_gelu", gcn_layers=1))
    assert sorted(k for k in mlp.state_dict() if k.startswith("content_proj")) == [
        "content_proj.0.bias", "content_proj.0.weight", "content_proj.2.bias",
        "content_proj.2.weight"]


def test_bad_inputs_raise_clear_errors():
    mvp = make()
    with pytest.raises(ValueError, match="B x N x 16"):
        mvp(torch.randn(2, 32, 15))
    with pytest.raises(ValueError, match="mvp_num_clusters"):
        mvp(torch.randn(2, 8, 16))
    x = torch.randn(1, 32, 16)
    x[0, 3, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        mvp(x)


def test_config_round_trip_through_pretrained_config(tmp_path):
    config = MVPConfig(num_clusters=(20, 10, 5, 2), knn=(4, 3, 3, 2), tau=0.25, alpha=2.0,
                       gcn_layers=3, content_proj="mlp2x_gelu", frames_per_event=8,
                       event_knn=4, contiguous_events=False)
    hf = PretrainedConfig(mm_hidden_size=16, hidden_size=24)
    config.write_to(hf)
    hf.save_pretrained(tmp_path)
    loaded = PretrainedConfig.from_pretrained(tmp_path)
    assert loaded.mvp_num_clusters == [20, 10, 5, 2]            # JSON turned tuples into lists
    assert MVPConfig.from_model_config(loaded) == config
    mvp = build_mvp_projector(loaded)
    assert mvp.mvp_config == config and mvp.num_tokens_image == 37
    assert len(mvp.gcn.layers) == 3


def test_missing_keys_take_defaults_and_builder_records_them():
    hf = PretrainedConfig(mm_hidden_size=16, hidden_size=24, mvp_tau=0.3)
    mvp = build_mvp_projector(hf)
    assert mvp.mvp_config == MVPConfig(tau=0.3)
    assert hf.mvp_num_clusters == [64, 32, 16] and hf.mvp_contiguous_events is True
    with pytest.raises(ValueError, match="mm_hidden_size"):
        build_mvp_projector(PretrainedConfig(hidden_size=24))


@pytest.mark.parametrize("field,value,hint", [
    ("num_clusters", (16, 32), "strictly decreasing"),
    ("knn", (5, 3), "one neighbour count per merge step"),
    ("knn", (5, 70, 3), r"knn\[1\] <= 64"),
    ("tau", 1.5, r"\[0, 1\]"),
    ("gcn_layers", 0, "1 or more"),
    ("content_proj", "mlp3x", "linear"),
    ("frames_per_event", 0, "1 or more"),
    ("alpha", float("nan"), "finite"),
    ("contiguous_events", "maybe", "true or false"),
])
def test_invalid_config_names_field_and_fix(field, value, hint):
    with pytest.raises(ValueError, match=rf"mvp_{field}=.*{hint}"):
        MVPConfig(**{field: value})


def test_values_from_a_command_line_are_coerced():
    config = MVPConfig(num_clusters="32,16", knn="[4, 2]", tau="0.2", contiguous_events="false")
    assert config == MVPConfig(num_clusters=(32, 16), knn=(4, 2), tau=0.2,
                               contiguous_events=False)


def test_cli_fields_build_a_parser_that_round_trips():
    parser = argparse.ArgumentParser()
    names = []
    for name, typ, default, help_text in MVPConfig.cli_fields():
        assert help_text and "default" in help_text
        names.append(name)
        if typ is bool:
            parser.add_argument(f"--{name}", type=lambda s: s.lower() == "true",
                                default=default)
        elif typ == list[int]:
            parser.add_argument(f"--{name}", type=int, nargs="+", default=default)
        else:
            parser.add_argument(f"--{name}", type=typ, default=default)
    assert names == list(MVPConfig().to_dict())  # flags are the mvp_<field> config keys
    args = parser.parse_args(["--mvp_num_clusters", "8", "4", "--mvp_knn", "3", "2",
                              "--mvp_tau", "0.3", "--mvp_contiguous_events", "false"])
    assert MVPConfig.from_model_config(args) == MVPConfig(
        num_clusters=(8, 4), knn=(3, 2), tau=0.3, contiguous_events=False)
    assert MVPConfig.from_model_config(parser.parse_args([])) == MVPConfig()
