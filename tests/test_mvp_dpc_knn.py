"""DPC-KNN clustering and merging against a plain per-token Python reference."""
from __future__ import annotations

import math

import pytest
import torch

from emollm_plugin.projectors.mvp.dpc_knn import (
    density_peaks, dpc_knn_cluster, dpc_knn_merge, merge_clusters, multi_step_merge,
    pairwise_distances, pairwise_sq_distances)


def reference_dpc_knn(z: torch.Tensor, num_clusters: int, k: int):
    """DPC-KNN for ONE sample (N x C), token by token in float64.

    Returns (rho, delta, centres, assign, merged) with the conventions of the module docstring:
    KNN includes the token itself, density ties go to the earlier token, the densest token's
    delta is its largest distance, clusters are numbered by centre position.
    """
    rows = z.double().tolist()
    n, c = len(rows), len(rows[0])
    k = min(k, n)
    dist = [[math.sqrt(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j]))) / math.sqrt(c)
             for j in range(n)] for i in range(n)]
    rho = [math.exp(-sum(v * v for v in sorted(dist[i])[:k]) / k) for i in range(n)]

    def denser(j, i):
        return rho[j] > rho[i] or (rho[j] == rho[i] and j < i)

    delta = []
    for i in range(n):
        higher = [dist[i][j] for j in range(n) if denser(j, i)]
        delta.append(min(higher) if higher else max(dist[i]))
    score = [rho[i] * delta[i] for i in range(n)]
    by_score = sorted(range(n), key=lambda i: (-score[i], i))
    centres = sorted(by_score[:num_clusters])
    assign = []
    for i in range(n):
        if i in centres:
            assign.append(centres.index(i))
        else:
            assign.append(min(range(num_clusters), key=lambda m: (dist[i][centres[m]], m)))
    merged = []
    for m in range(num_clusters):
        members = [rows[i] for i in range(n) if assign[i] == m]
        merged.append([sum(col) / len(members) for col in zip(*members)])
    return rho, delta, centres, assign, torch.tensor(merged, dtype=torch.float64)


@pytest.mark.parametrize("n,c,m,k", [(24, 16, 6, 5), (40, 32, 12, 3), (16, 16, 16, 3),
                                     (20, 16, 1, 5), (8, 16, 3, 20)])
def test_clustering_matches_reference(n, c, m, k):
    torch.manual_seed(n * 100 + m)
    z = torch.randn(3, n, c) * torch.rand(3, n, 1) * 3          # uneven densities
    result = dpc_knn_cluster(z, m, k)
    merged = merge_clusters(z, result.assign, m)
    for b in range(3):
        _, _, centres, assign, ref_merged = reference_dpc_knn(z[b], m, k)
        assert result.centres[b].tolist() == centres
        assert result.assign[b].tolist() == assign
        torch.testing.assert_close(merged[b].double(), ref_merged, rtol=1e-5, atol=1e-5)


def test_density_and_delta_match_reference():
    torch.manual_seed(1)
    z = torch.randn(2, 30, 16)
    d = pairwise_distances(z) / math.sqrt(16)
    sq_dist = pairwise_sq_distances(z)
    log_rho, delta, rank = density_peaks(sq_dist, 4, dim=16)
    # in place: an entry survives where its column token is denser than its row token
    denser = rank.unsqueeze(1) < rank.unsqueeze(2)
    torch.testing.assert_close(sq_dist[denser].sqrt() / 4, d[denser], rtol=1e-5, atol=1e-5)
    assert torch.isinf(sq_dist[~denser]).all()
    for b in range(2):
        rho, ref_delta, *_ = reference_dpc_knn(z[b], 5, 4)
        ref_rho = torch.tensor(rho, dtype=torch.float64)
        ref_delta = torch.tensor(ref_delta, dtype=torch.float64)
        torch.testing.assert_close(log_rho[b].double(), ref_rho.log(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(delta[b].double(), ref_delta, rtol=1e-5, atol=1e-5)
        densest = int(torch.tensor(rho).argmax())
        assert delta[b, densest] == pytest.approx(float(d[b, densest].max()), rel=1e-6)


def test_pairwise_distances_exact_diagonal_and_values():
    z = torch.randn(2, 20, 16) + 1000.0                        # large common offset
    d = pairwise_distances(z)
    assert torch.all(d.diagonal(dim1=1, dim2=2) == 0)
    ref = torch.cdist(z.double(), z.double())
    torch.testing.assert_close(d.double(), ref, rtol=1e-5, atol=1e-4)


def test_duplicate_tokens_make_one_centre():
    torch.manual_seed(2)
    base = torch.randn(6, 16)
    z = torch.cat([base, base[:3]]).unsqueeze(0)               # tokens 6..8 duplicate 0..2
    result = dpc_knn_cluster(z, 6, 3)
    assert result.centres[0].tolist() == list(range(6))
    assert result.assign[0, 6:].tolist() == result.assign[0, :3].tolist()
    _, _, centres, assign, _ = reference_dpc_knn(z[0], 6, 3)
    assert (centres, assign) == (result.centres[0].tolist(), result.assign[0].tolist())


def test_merge_is_mean_and_differentiable():
    torch.manual_seed(3)
    z = torch.randn(2, 12, 16, requires_grad=True)
    assign = torch.tensor([[0, 0, 1, 2, 2, 2, 1, 0, 3, 3, 3, 3]] * 2)
    merged = merge_clusters(z, assign, 4)
    torch.testing.assert_close(merged[0, 2], z[0, 3:6].mean(0))
    weights = torch.randn(2, 4, 16)
    (merged * weights).sum().backward()
    counts = torch.tensor([3.0, 2.0, 3.0, 4.0])
    expected = weights[:, assign[0]] / counts[assign[0]].view(1, 12, 1)
    torch.testing.assert_close(z.grad, expected)


def test_chained_steps_cluster_previous_output():
    torch.manual_seed(4)
    x = torch.randn(2, 48, 16)
    steps = multi_step_merge(x, (16, 8, 4), (5, 3, 3))
    assert [tuple(s.shape) for s in steps] == [(2, 16, 16), (2, 8, 16), (2, 4, 16)]
    for b in range(2):
        prev = x[b]
        for step, (m, k) in zip(steps, ((16, 5), (8, 3), (4, 3))):
            *_, ref = reference_dpc_knn(prev, m, k)
            torch.testing.assert_close(step[b].double(), ref, rtol=1e-5, atol=1e-5)
            prev = step[b]


def test_bf16_input_is_clustered_in_float32():
    torch.manual_seed(5)
    x = (torch.randn(2, 40, 32) * 4 + 50).bfloat16()   # bf16 distances would be rounded to ~8
    result = dpc_knn_cluster(x, 10, 5)
    for b in range(2):
        _, _, centres, assign, _ = reference_dpc_knn(x[b].float(), 10, 5)
        assert result.centres[b].tolist() == centres
        assert result.assign[b].tolist() == assign


def test_autocast_does_not_reach_clustering_or_merging():
    torch.manual_seed(6)
    x = torch.randn(2, 40, 32)
    plain = multi_step_merge(x, (12, 6), (5, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = multi_step_merge(x, (12, 6), (5, 3))
    for a, b in zip(plain, cast):
        assert b.dtype == torch.float32
        assert torch.equal(a, b)


def test_merge_keeps_dtype():
    x = torch.randn(1, 20, 16).bfloat16()
    assert dpc_knn_merge(x, 5, 3).dtype == torch.bfloat16


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="at least as many tokens"):
        multi_step_merge(torch.randn(1, 10, 16), (16, 8), (5, 3))
    with pytest.raises(ValueError, match="B x N x C"):
        multi_step_merge(torch.randn(10, 16), (4,), (3,))
    with pytest.raises(ValueError, match=r"clusters from 5 tokens"):
        dpc_knn_cluster(torch.randn(1, 5, 16), 6, 3)
