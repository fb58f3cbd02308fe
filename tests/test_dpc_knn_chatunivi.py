"""Our DPC-KNN gives exactly the clusters of Chat-UniVi's published algorithm (tests/chatunivi_reference.py)."""
from __future__ import annotations

import pytest
import torch

from chatunivi_reference import chatunivi_cluster, chatunivi_merge
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_cluster, merge_clusters


def _assert_identical(x: torch.Tensor, m: int, k: int) -> None:
    ours = dpc_knn_cluster(x, m, k)
    ref_assign, ref_centres = chatunivi_cluster(x, m, k)
    assert torch.equal(ours.centres, ref_centres)
    assert torch.equal(ours.assign, ref_assign)
    torch.testing.assert_close(merge_clusters(x, ours.assign, m), chatunivi_merge(x, ref_assign, m),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("b,n,c,m,k", [(4, 64, 32, 16, 5), (2, 144, 64, 32, 3), (3, 48, 16, 48, 3),
                                       (2, 40, 8, 1, 5)])
def test_identical_on_random_tokens(b, n, c, m, k):
    torch.manual_seed(n + m)
    _assert_identical(torch.randn(b, n, c) * torch.rand(b, n, 1) * 2, m, k)


@pytest.mark.parametrize("distinct,m,k", [(4, 8, 5), (10, 10, 3), (16, 12, 5), (1, 3, 3)])
def test_identical_on_duplicate_heavy_tokens(distinct, m, k):
    # 64 tokens drawn from a few distinct small-integer vectors: distances are exact in float32
    # (so neither implementation rounds a tie away) and densities, deltas and scores tie a lot
    torch.manual_seed(distinct)
    rows = torch.randint(-3, 4, (2, distinct, 16)).float()
    pick = torch.randint(0, distinct, (2, 64))
    x = torch.gather(rows, 1, pick[:, :, None].expand(2, 64, 16))
    _assert_identical(x, m, k)
