"""Relation graph (off-diagonal min-max adjacency) and the GCN against hand-written references."""
from __future__ import annotations

import math

import pytest
import torch

from emollm_plugin.projectors.mvp.graph import (
    RelationGCN, block_diagonal, edges_per_node, relation_adjacency)


def reference_adjacency(z: torch.Tensor, tau: float) -> list[list[int]]:
    """Pair by pair for ONE sample (M x C): min-max over i != j only, no self-loops."""
    rows = z.double().tolist()
    m = len(rows)
    dist = {(i, j): math.dist(rows[i], rows[j]) for i in range(m) for j in range(m) if i != j}
    lo, hi = min(dist.values()), max(dist.values())
    return [[int(i != j and (dist[i, j] - lo) / (hi - lo) <= tau) for j in range(m)]
            for i in range(m)]


def reference_gcn_layer(h, adjacency, weight, bias):
    """D^-1/2 (A + I) D^-1/2 H W^T + b, written out for one sample."""
    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    d_inv_sqrt = torch.diag(a_hat.sum(1).pow(-0.5))
    return d_inv_sqrt @ a_hat @ d_inv_sqrt @ h @ weight.T + bias


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.35, 1.0])
def test_adjacency_matches_reference(tau):
    torch.manual_seed(0)
    z = torch.randn(3, 12, 16)
    adjacency = relation_adjacency(z, tau)
    assert adjacency.dtype == torch.float32
    for b in range(3):
        assert adjacency[b].tolist() == reference_adjacency(z[b], tau)
    assert torch.all(adjacency.diagonal(dim1=1, dim2=2) == 0)
    assert torch.equal(adjacency, adjacency.transpose(1, 2))


def test_min_max_runs_over_off_diagonal_pairs_only():
    # points on a line at 0, 10, 20.5: pair distances 10, 10.5, 20.5.
    # off-diagonal min-max -> 0, 0.048, 1: two edges at tau=0.1; with the zero diagonal
    # inside the min-max they would be 0.49, 0.51, 1: no edge at all.
    z = torch.zeros(1, 3, 4)
    z[0, :, 0] = torch.tensor([0.0, 10.0, 20.5])
    expected = [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert relation_adjacency(z, 0.1)[0].tolist() == expected


def test_high_dimensional_tokens_keep_edges():
    # 1024-d tokens have 0 edges per node at tau=0.1 if the diagonal enters the
    # min-max; over off-diagonal pairs there must be some.
    torch.manual_seed(1)
    z = torch.randn(2, 16, 1024)
    assert edges_per_node(relation_adjacency(z, 0.1)).min() > 0


def test_degenerate_graphs():
    equal = torch.eye(4).unsqueeze(0) * 5                     # all pair distances equal
    assert relation_adjacency(equal, 0.0)[0].tolist() == (1 - torch.eye(4)).tolist()
    single = torch.randn(2, 1, 8)
    assert torch.equal(relation_adjacency(single, 0.5), torch.zeros(2, 1, 1))


def test_edges_per_node_statistic():
    adjacency = torch.tensor([[[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]],
                              [[0] * 4] * 4], dtype=torch.float32)
    assert edges_per_node(adjacency).tolist() == [1.5, 0.0]


def test_block_diagonal_places_blocks():
    a = torch.ones(2, 2, 2)
    b = torch.full((2, 3, 3), 2.0)
    out = block_diagonal([a, b])
    assert out.shape == (2, 5, 5)
    assert torch.equal(out[:, :2, :2], a) and torch.equal(out[:, 2:, 2:], b)
    assert out[:, :2, 2:].abs().sum() == 0 and out[:, 2:, :2].abs().sum() == 0


def test_gcn_layer_matches_hand_written_formula():
    torch.manual_seed(2)
    gcn = RelationGCN(16, 24, num_layers=1).double()
    with torch.no_grad():
        gcn.layers[0].bias.normal_()
    h = torch.randn(2, 7, 16, dtype=torch.float64)
    adjacency = relation_adjacency(h, 0.4).double()
    assert adjacency.sum() > 0                                # the test needs real edges
    out = gcn(h, adjacency)
    layer = gcn.layers[0]
    for b in range(2):
        ref = reference_gcn_layer(h[b], adjacency[b], layer.lin.weight, layer.bias)
        torch.testing.assert_close(out[b], ref)


def test_two_layer_gcn_has_gelu_between_and_none_after():
    torch.manual_seed(3)
    gcn = RelationGCN(16, 24, num_layers=2).double()
    assert [(l.in_channels, l.out_channels) for l in gcn.layers] == [(16, 16), (16, 24)]
    h = torch.randn(1, 6, 16, dtype=torch.float64)
    adjacency = relation_adjacency(h, 0.5).double()
    first, second = gcn.layers
    hidden = torch.nn.functional.gelu(
        reference_gcn_layer(h[0], adjacency[0], first.lin.weight, first.bias))
    ref = reference_gcn_layer(hidden, adjacency[0], second.lin.weight, second.bias)
    torch.testing.assert_close(gcn(h, adjacency)[0], ref)
    assert (gcn(h, adjacency) < 0).any()                       # no activation after the last


def test_block_diagonal_gcn_equals_separate_steps():
    torch.manual_seed(4)
    gcn = RelationGCN(16, 8, num_layers=2)
    steps = [torch.randn(2, m, 16) for m in (6, 4, 2)]
    adjacencies = [relation_adjacency(z, 0.3) for z in steps]
    joint = gcn(torch.cat(steps, 1), block_diagonal(adjacencies))
    separate = torch.cat([gcn(z, a) for z, a in zip(steps, adjacencies)], 1)
    torch.testing.assert_close(joint, separate)
