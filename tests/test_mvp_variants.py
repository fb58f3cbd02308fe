"""--mvp_variant paper|chatunivi and its four switches against float64 per-token references.

The references are written from EmoLLM eq. 2 (DPC-KNN) and eq. 4 (relation graph) as printed,
with the Chat-UniVi reading as the alternative of each switch; loops, small inputs.
"""
from __future__ import annotations

import math

import pytest
import torch

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import DensityRule, dpc_knn_cluster, merge_clusters
from emollm_plugin.projectors.mvp.graph import relation_adjacency


def reference_dpc_knn(z: torch.Tensor, num_clusters: int, k: int, rule: DensityRule):
    """DPC-KNN of ONE sample (N x C) token by token in float64.

    rho_i = exp(-1/K sum_{z_k in KNN(z_i)} dist(z_k, z_i)^2); delta_i = min over denser z_j of
    dist (squared for eq. 2), the max for the densest; centres = top-M of rho_i * delta_i taken
    literally (the inputs are small enough that nothing underflows); density and score ties go
    to the earlier token; every token joins its nearest centre.
    """
    rows = z.double().tolist()
    n, c = len(rows), len(rows[0])
    scale = math.sqrt(c) if rule.scale == "sqrt_dim" else 1.0
    dist = [[math.dist(rows[i], rows[j]) / scale for j in range(n)] for i in range(n)]
    rho = []
    for i in range(n):
        if rule.knn_self == "exclude":
            candidates = [dist[i][j] for j in range(n) if j != i]   # "after removing z_i"
        else:
            candidates = dist[i]
        nearest = sorted(candidates)[:min(k, len(candidates))]
        rho.append(math.exp(-sum(v * v for v in nearest) / len(nearest)))
    assert min(rho) > 0, "reference inputs must not underflow"

    def power(v):
        return v * v if rule.delta == "squared" else v

    delta = []
    for i in range(n):
        denser = [power(dist[i][j]) for j in range(n)
                  if rho[j] > rho[i] or (rho[j] == rho[i] and j < i)]
        delta.append(min(denser) if denser else max(power(v) for v in dist[i]))
    score = [rho[i] * delta[i] for i in range(n)]
    centres = sorted(sorted(range(n), key=lambda i: (-score[i], i))[:num_clusters])
    assign = [centres.index(i) if i in centres else
              min(range(num_clusters), key=lambda m: (dist[i][centres[m]], m)) for i in range(n)]
    merged = [[sum(col) / len(members) for col in zip(*members)]
              for members in ([rows[i] for i in range(n) if assign[i] == m]
                              for m in range(num_clusters))]
    return centres, assign, torch.tensor(merged, dtype=torch.float64)


def reference_adjacency(z: torch.Tensor, tau: float, norm: str) -> list[list[int]]:
    """Eq. 4 for ONE sample: min-max over all (i, j) ("all_pairs", as printed: min = 0 on the
    diagonal) or over i != j; A_ij = [d_hat_ij <= tau] for i != j."""
    rows = z.double().tolist()
    m = len(rows)
    pairs = [(i, j) for i in range(m) for j in range(m) if norm == "all_pairs" or i != j]
    dist = {(i, j): math.dist(rows[i], rows[j]) for i in range(m) for j in range(m)}
    lo, hi = min(dist[p] for p in pairs), max(dist[p] for p in pairs)
    return [[int(i != j and (dist[i, j] - lo) / (hi - lo) <= tau) for j in range(m)]
            for i in range(m)]


RULES = {"paper": DensityRule.paper(), "chatunivi": DensityRule(),
         "paper_but_include_self": DensityRule("squared", "include", "none"),
         "chatunivi_but_squared": DensityRule("squared", "include", "sqrt_dim")}


@pytest.mark.parametrize("rule_name", list(RULES))
@pytest.mark.parametrize("n,c,m,k", [(24, 8, 6, 5), (30, 16, 10, 3), (12, 8, 4, 20)])
def test_clustering_matches_printed_equation(rule_name, n, c, m, k):
    rule = RULES[rule_name]
    torch.manual_seed(n + m)
    z = torch.randn(2, n, c) * torch.rand(2, n, 1) * 0.4        # uneven densities, no underflow
    result = dpc_knn_cluster(z, m, k, rule)
    merged = merge_clusters(z, result.assign, m)
    for b in range(2):
        centres, assign, ref_merged = reference_dpc_knn(z[b], m, k, rule)
        assert result.centres[b].tolist() == centres
        assert result.assign[b].tolist() == assign
        torch.testing.assert_close(merged[b].double(), ref_merged, rtol=1e-5, atol=1e-5)


def test_the_switches_change_which_tokens_become_centres():
    torch.manual_seed(3)
    z = torch.randn(4, 40, 16) * torch.rand(4, 40, 1) * 0.5
    centres = {name: dpc_knn_cluster(z, 8, 5, rule).centres for name, rule in RULES.items()}
    assert not torch.equal(centres["paper"], centres["chatunivi"])


def test_paper_variant_does_not_underflow_on_clip_sized_tokens():
    # unscaled 1024-d distances: rho_i = exp(-2000) or less is 0.0 even in float64, so the
    # printed product rho * delta is 0 for every token; log space keeps the ranking
    torch.manual_seed(0)
    z = torch.randn(2, 64, 1024)
    assert math.exp(-float(torch.cdist(z[0], z[0]).square().mean())) == 0.0
    result = dpc_knn_cluster(z, 16, 5, DensityRule.paper())
    for b in range(2):
        assert len(set(result.centres[b].tolist())) == 16
        log_rho = -torch.cdist(z[b].double(), z[b].double()).fill_diagonal_(float("inf")) \
            .topk(5, largest=False).values.square().mean(-1)
        assert int(log_rho.argmax()) in result.centres[b].tolist()   # the densest is a centre


@pytest.mark.parametrize("norm", ["all_pairs", "off_diagonal"])
@pytest.mark.parametrize("tau", [0.05, 0.3, 0.6, 1.0])
def test_adjacency_matches_printed_equation(norm, tau):
    torch.manual_seed(0)
    z = torch.randn(3, 12, 16)
    adjacency = relation_adjacency(z, tau, norm)
    for b in range(3):
        assert adjacency[b].tolist() == reference_adjacency(z[b], tau, norm)


def test_all_pairs_is_distance_over_max_distance():
    # points on a line at 0, 10, 20.5: all-pairs d_hat = d / 20.5 -> 0.49, 0.51, 1 (no edge at
    # tau = 0.5 between 0 and 20.5, edges 0-10 only); off-diagonal -> 0, 0.048, 1
    z = torch.zeros(1, 3, 4)
    z[0, :, 0] = torch.tensor([0.0, 10.0, 20.5])
    assert relation_adjacency(z, 0.5, "all_pairs")[0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert relation_adjacency(z, 0.1, "all_pairs")[0].sum() == 0
    assert relation_adjacency(z, 0.1, "off_diagonal")[0].sum() == 4


def test_variant_sets_all_switches_and_explicit_ones_win():
    paper = MVPConfig(variant="paper")
    assert (paper.delta, paper.knn_self, paper.distance_scale, paper.graph_norm) == (
        "squared", "exclude", "none", "all_pairs")
    chat = MVPConfig()
    assert (chat.variant, chat.delta, chat.knn_self, chat.distance_scale, chat.graph_norm) == (
        "chatunivi", "distance", "include", "sqrt_dim", "off_diagonal")
    mixed = MVPConfig(variant="paper", graph_norm="off_diagonal")
    assert mixed.graph_norm == "off_diagonal" and mixed.delta == "squared"
    assert MVPConfig.from_model_config(mixed.to_dict()) == mixed
    assert MVPProjector(16, 24, paper).density_rule == DensityRule.paper()


@pytest.mark.parametrize("field,value", [("variant", "literal"), ("delta", "cubed"),
                                         ("knn_self", "maybe"), ("graph_norm", "diag"),
                                         ("distance_scale", "sqrt")])
def test_invalid_switch_names_field_and_choices(field, value):
    with pytest.raises(ValueError, match=rf"mvp_{field}='{value}' is invalid: pass one of"):
        MVPConfig(**{field: value})


def test_paper_variant_runs_image_and_video_paths():
    config = MVPConfig(num_clusters=(8, 4), knn=(3, 2), frames_per_event=2, variant="paper",
                       tau=0.5)
    mvp = MVPProjector(16, 24, config)
    torch.manual_seed(0)
    out = mvp(torch.randn(2, 20, 16))
    assert out.shape == (2, 12, 24) and torch.isfinite(out).all()
    video = mvp.forward_video(torch.randn(5, 20, 16))
    assert video.shape == (3 * 12, 24) and torch.isfinite(video).all()


@pytest.mark.slow
def test_variant_flags_round_trip_through_save_and_load_pretrained_model(tiny_models, tmp_path):
    import json

    from e2e_helpers import first_batch_inputs, reload_in_subprocess, tiny_train_args, train_in_process
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=2, kinds=("image",))
    out = tmp_path / "emollm-llava-lora-tiny"
    mp = pytest.MonkeyPatch()
    try:
        trainer = train_in_process(mp, tiny_train_args(
            tiny_models, data, out, "--mvp_variant", "paper", "--mvp_graph_norm", "off_diagonal",
            "--mvp_tau", "0.3", "--mvp_gcn_bias", "on", max_steps=1))
    finally:
        mp.undo()
    config = json.loads((out / "config.json").read_text())
    assert (config["mvp_variant"], config["mvp_delta"], config["mvp_knn_self"],
            config["mvp_distance_scale"], config["mvp_graph_norm"]) == (
        "paper", "squared", "exclude", "none", "off_diagonal")
    assert (config["mvp_gcn_self_loop"], config["mvp_gcn_bias"],
            config["mvp_gcn_last_activation"]) == ("add", "on", "on")
    projector = trainer.model.get_model().mm_projector
    assert projector.density_rule == DensityRule.paper()
    assert projector.gcn.self_loop == "add" and projector.gcn.last_activation
    assert all(layer.bias is not None and layer.improved for layer in projector.gcn.layers)
    model = trainer.model.eval()
    inputs = first_batch_inputs(trainer)
    with torch.no_grad():
        expected = model(**inputs).logits
    proc, result = reload_in_subprocess(out, tiny_models.llm, inputs, tmp_path, "fp16_tower")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["projector"] == "MVPProjector"
    torch.testing.assert_close(result["logits"], expected, rtol=1e-4, atol=1e-4)
