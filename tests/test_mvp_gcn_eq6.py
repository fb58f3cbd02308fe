"""The relation perspective against a float64 reference of EmoLLM eqs. 3-6, written plainly.

Eq. 3: d_ij = ||z_i - z_j|| between cluster tokens; eq. 4: min-max normalised d̃; eq. 5:
A_ij = [d̃_ij <= tau] over all pairs (so A_ii = 1); eq. 6: H' = σ(D̂^-1/2 Â D̂^-1/2 H W (+ b)),
with Â = A + I ("add", diagonal 2) or a self-loop of 1 ("set"), σ = GELU after the hidden layers
and, with ``last_activation``, after the last one too.
"""
from __future__ import annotations

import math

import pytest
import torch

from emollm_plugin.configs.mvp import LEGACY_GCN, MVPConfig
from emollm_plugin.projectors.mvp import MVPProjector
from emollm_plugin.projectors.mvp.graph import RelationGCN, relation_adjacency


def gelu(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def reference_relation(z, tau, norm, layers, self_loop, last_activation):
    """ONE sample: z is M x C (lists), layers a list of (W as C_in x C_out lists, b or None)."""
    m = len(z)
    d = [[math.dist(z[i], z[j]) for j in range(m)] for i in range(m)]            # eq. 3
    pairs = [(i, j) for i in range(m) for j in range(m) if norm == "all_pairs" or i != j]
    lo, hi = min(d[i][j] for i, j in pairs), max(d[i][j] for i, j in pairs)
    scaled = [[(d[i][j] - lo) / (hi - lo) for j in range(m)] for i in range(m)]   # eq. 4
    a = [[1.0 if scaled[i][j] <= tau else 0.0 for j in range(m)] for i in range(m)]  # eq. 5
    assert all(a[i][i] == 1.0 for i in range(m)), "eq. 5 puts 1 on the diagonal"
    if self_loop == "add":
        a_hat = [[a[i][j] + (1.0 if i == j else 0.0) for j in range(m)] for i in range(m)]
    else:
        a_hat = [[1.0 if i == j else a[i][j] for j in range(m)] for i in range(m)]
    deg = [sum(row) for row in a_hat]
    norm_a = [[a_hat[i][j] / math.sqrt(deg[i] * deg[j]) for j in range(m)] for i in range(m)]
    h = [list(row) for row in z]
    for n, (w, b) in enumerate(layers):
        hw = [[sum(h[i][k] * w[k][o] for k in range(len(w))) for o in range(len(w[0]))]
              for i in range(m)]
        h = [[sum(norm_a[i][j] * hw[j][o] for j in range(m)) + (b[o] if b else 0.0)
              for o in range(len(w[0]))] for i in range(m)]
        if n < len(layers) - 1 or last_activation:
            h = [[gelu(v) for v in row] for row in h]                             # eq. 6's σ
    return a_hat, h


def module_weights(gcn: RelationGCN):
    return [(layer.lin.weight.detach().double().T.tolist(),
             None if layer.bias is None else layer.bias.detach().double().tolist())
            for layer in gcn.layers]


@pytest.mark.parametrize("variant", ["paper", "chatunivi"])
@pytest.mark.parametrize("tau", [0.3, 0.6])
def test_relation_gcn_matches_eqs_3_to_6(variant, tau):
    cfg = MVPConfig(variant=variant, num_clusters=(6,), knn=(2,), tau=tau, gcn_layers=2)
    torch.manual_seed(0)
    gcn = RelationGCN(4, 3, cfg.gcn_layers, self_loop=cfg.gcn_self_loop,
                      bias=cfg.gcn_bias == "on",
                      last_activation=cfg.gcn_last_activation == "on").double()
    for layer in gcn.layers:
        if layer.bias is not None:
            torch.nn.init.normal_(layer.bias)           # a zero bias would hide its absence
    z = torch.randn(2, 6, 4, dtype=torch.float64)
    out = gcn(z, relation_adjacency(z, tau, cfg.graph_norm).double())
    for s in range(2):
        a_hat, expected = reference_relation(z[s].tolist(), tau, cfg.graph_norm, module_weights(gcn),
                                             cfg.gcn_self_loop, cfg.gcn_last_activation == "on")
        assert 0 < sum(map(sum, a_hat)) - sum(a_hat[i][i] for i in range(6)), "a graph with edges"
        torch.testing.assert_close(out[s], torch.tensor(expected, dtype=torch.float64),
                                   rtol=1e-10, atol=1e-12)


def test_paper_variant_is_eq_6_as_printed_and_chatunivi_is_unchanged():
    paper, default = MVPConfig(variant="paper"), MVPConfig()
    assert (paper.gcn_self_loop, paper.gcn_bias, paper.gcn_last_activation) == ("add", "off", "on")
    assert (default.gcn_self_loop, default.gcn_bias, default.gcn_last_activation) == ("set", "on", "off")
    proj = MVPProjector(8, 5, MVPConfig(variant="paper", num_clusters=(4, 2), knn=(2, 2)))
    assert all(layer.bias is None and layer.improved for layer in proj.gcn.layers)
    assert proj.gcn.last_activation


def test_each_switch_changes_the_output():
    torch.manual_seed(1)
    z = torch.randn(1, 6, 4, dtype=torch.float64)
    adjacency = relation_adjacency(z, 0.5, "all_pairs").double()
    base = RelationGCN(4, 3).double()
    reference = base(z, adjacency)
    for kwargs in ({"self_loop": "add"}, {"last_activation": True}):
        other = RelationGCN(4, 3, **kwargs).double()
        other.load_state_dict(base.state_dict())
        assert not torch.allclose(other(z, adjacency), reference), kwargs
    assert "bias" not in dict(RelationGCN(4, 3, bias=False).layers[0].named_parameters())


def test_chatunivi_default_output_is_bitwise_that_of_a_plain_kipf_gcn():
    """The default GCN is DenseGCNConv with its defaults and GELU between the layers only."""
    from torch_geometric.nn.dense import DenseGCNConv
    torch.manual_seed(2)
    gcn = RelationGCN(4, 3)
    plain = torch.nn.ModuleList([DenseGCNConv(4, 4), DenseGCNConv(4, 3)])
    plain.load_state_dict(gcn.layers.state_dict())
    z = torch.randn(2, 6, 4)
    adjacency = relation_adjacency(z, 0.3, "off_diagonal")
    expected = plain[1](torch.nn.functional.gelu(plain[0](z, adjacency)), adjacency)
    assert torch.equal(gcn(z, adjacency), expected)


def test_gcn_switches_round_trip_and_old_configs_keep_their_gcn():
    cfg = MVPConfig(variant="paper", gcn_self_loop="set")
    assert MVPConfig.from_model_config(cfg.to_dict()) == cfg
    saved_before = {k: v for k, v in MVPConfig(variant="paper").to_dict().items()
                    if not k.startswith("mvp_gcn_") or k == "mvp_gcn_layers"}
    old = MVPConfig.from_model_config(saved_before)
    assert {k: getattr(old, k) for k in LEGACY_GCN} == LEGACY_GCN
    assert old.graph_norm == "all_pairs"


@pytest.mark.parametrize("field,value", [("gcn_self_loop", "double"), ("gcn_bias", "yes"),
                                         ("gcn_last_activation", "relu")])
def test_invalid_gcn_switch_names_field(field, value):
    from emollm_plugin.configs import ConfigError
    with pytest.raises(ConfigError, match="mvp_" + field):
        MVPConfig(**{field: value})
