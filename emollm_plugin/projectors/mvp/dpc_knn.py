r"""Token merging by density-peak clustering with k nearest neighbours (DPC-KNN).

For tokens :math:`Z \in \mathbb{R}^{B \times N \times C}`, EmoLLM eq. 2 as printed reads

.. math::
    \rho_i = \exp\Big(-\frac{1}{K} \sum_{z_k \in \mathrm{KNN}(z_i)} \lVert z_k - z_i \rVert^2\Big),
    \qquad
    \delta_i = \begin{cases} \min_{j:\, \rho_j > \rho_i} \lVert z_j - z_i \rVert^2 \\
                             \max_j \lVert z_j - z_i \rVert^2 & \text{for the densest token}
               \end{cases}

with KNN(z_i) the K nearest neighbours of z_i after removing z_i. Chat-UniVi's DPC-KNN (the
other reading, this module's default) differs in three places, each switchable through
:class:`DensityRule`:

- ``scale``: distances are divided by :math:`\sqrt{C}` (``"sqrt_dim"``) or not (``"none"``);
- ``knn_self``: KNN(i) includes i itself at distance 0 (``"include"``) or not (``"exclude"``);
- ``delta``: :math:`\delta_i` over unsquared (``"distance"``) or squared (``"squared"``)
  distances.

``DensityRule.paper()`` is eq. 2 as printed; ``DensityRule()`` is Chat-UniVi's rule. They rank
tokens differently, so their centres differ.

The M tokens with the largest :math:`\rho_i \delta_i` are the centres; every token joins its
nearest centre (a centre always joins itself) and a cluster's token is the mean of its members:
:math:`z'_m = \frac{1}{|c_m|} \sum_{i \in c_m} z_i`, giving :math:`B \times M \times C`.

Conventions (each one changes results, so they are fixed and tested):

- K is capped at the number of candidate neighbours (N, or N - 1 when z_i is excluded).
- Ties in density are broken by token order (the earlier token counts as denser) instead of
  Chat-UniVi's random noise: deterministic, and exact duplicates still yield one centre.
- Scores are ranked as :math:`\log\rho_i + \log\delta_i` (same order as :math:`\rho_i\delta_i`,
  but nothing underflows: without the scale, :math:`\rho_i` of 1024-d CLIP tokens is
  :math:`e^{-1000}` or less, 0 in any float format). Score ties go to the earlier token.
- Clusters are numbered in the order of their centre's position, so merged tokens keep the raster
  (or time) order of the tokens they came from.
- The assignment runs in float32 under ``no_grad`` with autocast off, whatever the input dtype;
  the merge is a mean, differentiable with respect to the tokens.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import Tensor


class DensityRule(NamedTuple):
    """Which reading of eq. 2 DPC-KNN follows (see the module doc). Default: Chat-UniVi's."""

    delta: str = "distance"          # "distance" | "squared"
    knn_self: str = "include"        # "include" | "exclude"
    scale: str = "sqrt_dim"          # "sqrt_dim" | "none"

    @classmethod
    def paper(cls) -> "DensityRule":
        """Eq. 2 as printed: squared delta, KNN without z_i, unscaled distances."""
        return cls(delta="squared", knn_self="exclude", scale="none")


CHATUNIVI = DensityRule()


class Clustering(NamedTuple):
    """Result of :func:`dpc_knn_cluster`: ``assign`` (B x N, cluster of each token, in [0, M))
    and ``centres`` (B x M, token index of each cluster's centre, increasing)."""

    assign: Tensor
    centres: Tensor


def pairwise_sq_distances(z: Tensor) -> Tensor:
    r"""Squared Euclidean distances :math:`\lVert z_i - z_j \rVert^2` of B x N x C tokens: B x N x N.

    Computed in place from the Gram matrix :math:`G = Z Z^\top` of the mean-centred tokens (the
    centring keeps float32 cancellation small) as :math:`G_{ii} + G_{jj} - 2 G_{ij}`. The squared
    norms are G's own diagonal, so duplicate tokens get exactly 0 (their dot products come out of
    the same GEMM bit for bit); norms computed separately would leave rounding noise there, and
    that noise would decide DPC-KNN's density ties. The diagonal is exactly 0.
    """
    z = z - z.mean(dim=1, keepdim=True)                                   # (B, N, C)
    d2 = torch.bmm(z, z.transpose(1, 2))                                  # (B, N, N): G
    sq = d2.diagonal(dim1=1, dim2=2).clone()                              # (B, N)
    d2.mul_(-2).add_(sq.unsqueeze(2)).add_(sq.unsqueeze(1)).clamp_min_(0)
    d2.diagonal(dim1=1, dim2=2).zero_()
    return d2


def pairwise_distances(z: Tensor) -> Tensor:
    """Euclidean distances of B x N x C tokens: B x N x N (see :func:`pairwise_sq_distances`)."""
    return pairwise_sq_distances(z).sqrt_()


def density_peaks(sq_dist: Tensor, k: int, rule: DensityRule = CHATUNIVI,
                  dim: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    r"""log(rho), delta and the density rank (0 = densest) of DPC-KNN: three B x N tensors.

    ``sq_dist`` holds unscaled squared distances (B x N x N); ``dim`` is the token width C, used
    when ``rule.scale == "sqrt_dim"`` (:math:`d^2 / C`). Works in place to spare N x N copies:
    on return, ``sq_dist[b, i, j]`` is unchanged where token j is denser than token i and
    ``inf`` elsewhere (the diagonal included). As the matrix is symmetric, every pair keeps its
    distance in one of its two entries.
    """
    B, N, _ = sq_dist.shape
    inv_scale = 1.0 / dim if rule.scale == "sqrt_dim" else 1.0
    diagonal = sq_dist.diagonal(dim1=1, dim2=2)
    if rule.knn_self == "exclude" and N > 1:
        diagonal.fill_(float("inf"))                      # drop z_i itself, keep its duplicates
        nearest = sq_dist.topk(min(k, N - 1), dim=-1, largest=False).values
        diagonal.zero_()
    elif rule.knn_self == "exclude":
        nearest = sq_dist.new_zeros(B, N, 1)              # a lone token: no neighbour
    else:
        nearest = sq_dist.topk(min(k, N), dim=-1, largest=False).values   # (B, N, K)
    log_rho = nearest.mean(-1).mul_(-inv_scale)                           # (B, N)
    # rank 0 = densest; equal densities are ordered by token index (stable sort)
    order = log_rho.argsort(dim=-1, descending=True, stable=True)          # (B, N)
    rank = torch.empty_like(order).scatter_(1, order, _arange(N, sq_dist).expand(B, N))
    densest_row = sq_dist.gather(1, order[:, :1, None].expand(B, 1, N))    # (B, 1, N)
    not_denser = rank.unsqueeze(1) >= rank.unsqueeze(2)       # (B, N, N): [i, j] = j not denser
    nearest_denser = sq_dist.masked_fill_(not_denser, float("inf")).amin(-1)   # (B, N)
    sq_delta = torch.where(rank == 0, densest_row.amax(-1).expand(B, N), nearest_denser)
    sq_delta = sq_delta * inv_scale
    delta = sq_delta if rule.delta == "squared" else sq_delta.sqrt()
    return log_rho, delta, rank


@torch.no_grad()
def dpc_knn_cluster(z: Tensor, num_clusters: int, k: int,
                    rule: DensityRule = CHATUNIVI) -> Clustering:
    """Cluster B x N x C tokens into ``num_clusters`` clusters with DPC-KNN (see module doc)."""
    B, N, C = z.shape
    M = num_clusters
    if not 1 <= M <= N:
        raise ValueError(f"DPC-KNN cannot make {M} clusters from {N} tokens: "
                         f"the number of clusters must be in [1, {N}]")
    with torch.autocast(device_type=z.device.type, enabled=False):
        sq_dist = pairwise_sq_distances(z.float())                        # (B, N, N)
        log_rho, delta, rank = density_peaks(sq_dist, k, rule, C)        # sq_dist now masked
        log_score = log_rho + delta.log()                                 # (B, N)
        top = log_score.argsort(dim=-1, descending=True, stable=True)[:, :M]
        centres = top.sort(dim=-1).values                                 # (B, M)

        # distance centre -> token: entry [c, j] survived the masking if j is denser than c,
        # entry [j, c] otherwise; ranks are distinct, so one of the two holds it
        rows = sq_dist.gather(1, centres.unsqueeze(-1).expand(B, M, N))   # (B, M, N)
        cols = sq_dist.gather(2, centres.unsqueeze(1).expand(B, N, M)).transpose(1, 2)
        centre_rank = rank.gather(1, centres)                             # (B, M)
        to_centres = torch.where(rank.unsqueeze(1) < centre_rank.unsqueeze(2), rows, cols)
        assign = to_centres.argmin(dim=1)                                 # (B, N)
        assign.scatter_(1, centres, _arange(M, z).expand(B, M))
    return Clustering(assign, centres)


def merge_clusters(z: Tensor, assign: Tensor, num_clusters: int) -> Tensor:
    """Mean of each cluster's member tokens: B x N x C tokens, B x N assignment -> B x M x C.

    A dense one-hot product rather than a scatter: deterministic on every device (GPU scatters
    add in a varying order), and faster than ``index_add_`` on CPU at these sizes.
    """
    members = torch.nn.functional.one_hot(assign, num_clusters).to(z.dtype)  # (B, N, M)
    counts = members.sum(1).unsqueeze(-1)                                    # (B, M, 1)
    return torch.bmm(members.transpose(1, 2), z) / counts                    # (B, M, C)


def dpc_knn_merge(z: Tensor, num_clusters: int, k: int,
                  rule: DensityRule = CHATUNIVI) -> Tensor:
    """Cluster with :func:`dpc_knn_cluster` and merge: B x N x C -> B x M x C (same dtype)."""
    clustering = dpc_knn_cluster(z, num_clusters, k, rule)
    return merge_clusters(z, clustering.assign, num_clusters)


def multi_step_merge(x: Tensor, num_clusters: Sequence[int], knn: Sequence[int],
                     rule: DensityRule = CHATUNIVI, clusterings: list | None = None) -> list[Tensor]:
    """Chained merge steps: step s merges step s-1's tokens into ``num_clusters[s]`` clusters.

    x: B x N x C in any float dtype. Returns one float32 tensor B x M_s x C per step (autocast
    off), differentiable with respect to x. A list passed as ``clusterings`` receives each
    step's ``Clustering`` (assign B x M_{s-1}, centres B x M_s; M_0 = N).
    """
    if x.dim() != 3:
        raise ValueError(f"MVP expects tokens shaped B x N x C, got shape {tuple(x.shape)}")
    if x.shape[1] < num_clusters[0]:
        raise ValueError(
            f"MVP merges {x.shape[1]} tokens per image into {num_clusters[0]} clusters at step "
            f"0, which needs at least as many tokens: lower mvp_num_clusters (now "
            f"{list(num_clusters)}) or feed more patch tokens")
    steps = []
    with torch.autocast(device_type=x.device.type, enabled=False):
        z = x.float()
        for m, k in zip(num_clusters, knn):
            clustering = dpc_knn_cluster(z, m, k, rule)
            z = merge_clusters(z, clustering.assign, m)                       # (B, M_s, C)
            steps.append(z)
            if clusterings is not None:
                clusterings.append(clustering)
    return steps


def _arange(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, device=like.device).unsqueeze(0)
