"""Test-only DPC-KNN written from Chat-UniVi's published algorithm (``cluster_dpc_knn`` and
``merge_tokens`` of its token-merging module), for identity tests and benchmarks/bench_dpc_knn.py.

Steps, B x N x C tokens, as Chat-UniVi writes them:

1. ``d = torch.cdist(x, x) / sqrt(C)``;
2. density ``rho = exp(-mean(topk(d, K, smallest)^2))`` (the token itself is among its K);
3. parent search by a masked min: ``delta_i = min_j (d_ij * mask_ij + d_max * (1 - mask_ij))``
   with ``mask_ij = [rho_j > rho_i]`` and d_max the sample's largest distance;
4. centres = top-M of ``rho * delta``; every token takes the nearest centre (argmin over the
   centres' distance rows, gathered), and each centre is forced to its own cluster;
5. merge: per-cluster weights by ``index_add_``, normalised weights gathered back per token,
   features summed by ``index_add_``.

Adapted so that ties break as in ``emollm_plugin.projectors.mvp.dpc_knn`` and outputs can be
compared exactly: Chat-UniVi adds ``rand * 1e-6`` noise to the density; here the mask is
``rho_j > rho_i or (rho_j == rho_i and j < i)`` instead. Equal scores go to the earlier token,
centres are numbered by position, and the merge omits Chat-UniVi's ``+ 1e-6`` on the weights (a
cluster is never empty). The densest token's delta is d_max, not its own row's maximum: both
are >= every other delta (delta_i <= d(i, densest) <= row max of the densest), so it is the top
score either way and the centres are the same.
"""
from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def chatunivi_cluster(x: Tensor, cluster_num: int, k: int) -> tuple[Tensor, Tensor]:
    """Returns (assign B x N, centres B x M sorted by position)."""
    B, N, C = x.shape
    dist_matrix = torch.cdist(x.float(), x.float()) / (C ** 0.5)
    dist_nearest, _ = torch.topk(dist_matrix, k=min(k, N), dim=-1, largest=False)
    density = (-(dist_nearest ** 2).mean(dim=-1)).exp()                       # (B, N)

    index = torch.arange(N, device=x.device)
    earlier = index[None, :] < index[:, None]                                 # [i, j]: j < i
    mask = (density[:, None, :] > density[:, :, None]) | (
        (density[:, None, :] == density[:, :, None]) & earlier)               # [b, i, j]
    mask = mask.type(x.dtype)
    dist_max = dist_matrix.flatten(1).max(dim=-1)[0][:, None, None]
    dist, _ = (dist_matrix * mask + dist_max * (1 - mask)).min(dim=-1)        # (B, N)

    score = dist * density
    order = torch.sort(-score, dim=-1, stable=True).indices                   # ties: earlier
    index_down = order[:, :cluster_num].sort(dim=-1).values                   # (B, M)

    to_centres = torch.gather(dist_matrix, 1,
                              index_down[:, :, None].expand(B, cluster_num, N))  # (B, M, N)
    idx_cluster = to_centres.argmin(dim=1)                                    # (B, N)
    idx_batch = torch.arange(B, device=x.device)[:, None].expand(B, cluster_num)
    idx_tmp = torch.arange(cluster_num, device=x.device)[None, :].expand(B, cluster_num)
    idx_cluster[idx_batch.reshape(-1), index_down.reshape(-1)] = idx_tmp.reshape(-1)
    return idx_cluster, index_down


def chatunivi_merge(x: Tensor, idx_cluster: Tensor, cluster_num: int) -> Tensor:
    """Mean of each cluster's tokens by index_add_ and gathered weights: B x M x C."""
    B, N, C = x.shape
    token_weight = x.new_ones(B, N, 1)
    idx_batch = torch.arange(B, device=x.device)[:, None]
    idx = idx_cluster + idx_batch * cluster_num                               # (B, N)
    all_weight = token_weight.new_zeros(B * cluster_num, 1)
    all_weight.index_add_(dim=0, index=idx.reshape(B * N), source=token_weight.reshape(B * N, 1))
    norm_weight = token_weight / all_weight[idx]                              # (B, N, 1)
    x_merged = x.new_zeros(B * cluster_num, C)
    source = x * norm_weight
    x_merged.index_add_(dim=0, index=idx.reshape(B * N), source=source.reshape(B * N, C))
    return x_merged.reshape(B, cluster_num, C)


def chatunivi_dpc_knn_merge(x: Tensor, cluster_num: int, k: int) -> Tensor:
    idx_cluster, _ = chatunivi_cluster(x, cluster_num, k)
    return chatunivi_merge(x, idx_cluster, cluster_num)
