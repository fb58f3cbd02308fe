r"""Relation perspective of MVP: a graph over the cluster tokens of each merge step, and a GCN.

Adjacency of one merge step with M cluster tokens :math:`Z' \in \mathbb{R}^{B \times M \times C}`
(EmoLLM eq. 4):

.. math::
    d_{ij} = \lVert z'_i - z'_j \rVert_2, \qquad
    \hat d_{ij} = \frac{d_{ij} - \min_{(k,l) \in P} d_{kl}}
                       {\max_{(k,l) \in P} d_{kl} - \min_{(k,l) \in P} d_{kl}}, \qquad
    A_{ij} = [\hat d_{ij} \le \tau] \, [i \ne j]

``norm`` picks the pairs P of the min-max:

- ``"all_pairs"``: every (k, l), diagonal included, as eq. 4 is printed; the minimum is then the
  diagonal's 0, so :math:`\hat d_{ij} = d_{ij} / \max d`, and tokens that are all far apart
  (high-dimensional cluster means) get no edge at small tau;
- ``"off_diagonal"`` (default): k != l only, so the closest pair always has :math:`\hat d = 0`
  and the graph is never empty. If every off-diagonal distance is equal, every pair is an edge.

``docs/mvp.md`` has the measured edges per node of both at several tau. The returned A carries
no self-loops; the GCN puts them on its diagonal (eq. 5 itself gives :math:`A_{ii} = 1`, since
:math:`\hat d_{ii} \le 0 \le \tau` under either norm).

GCN layer (Kipf & Welling's normalisation), :math:`H \in \mathbb{R}^{B \times L \times F}`:

.. math::
    \hat A = A + s I, \qquad \hat D_{ii} = \sum_j \hat A_{ij}, \qquad
    H' = \sigma\big(\hat D^{-1/2} \hat A \hat D^{-1/2} H W + b\big)

``self_loop`` picks s: ``"set"`` gives :math:`\hat A_{ii} = 1`, the conventional self-loop;
``"add"`` gives :math:`\hat A_{ii} = 2`, eq. 6's :math:`A + I` with A from eq. 5 over all pairs
(diagonal 1). ``bias`` keeps or drops b (eq. 6 has none). σ is GELU between layers;
``last_activation`` applies it after the last layer too (eq. 6), otherwise the last layer stays
linear (its output is added to the content tokens, like the last Linear of LLaVA's
``mlp2x_gelu``). Hidden layers keep the input width C; only the last maps C -> D, so a deep GCN
stays cheap next to the vision tower. One GCN serves every merge step: its input graph is
block-diagonal (``block_diagonal``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .dpc_knn import pairwise_distances


@torch.no_grad()
def relation_adjacency(z: Tensor, tau: float, norm: str = "off_diagonal") -> Tensor:
    """0/1 adjacency (B x M x M, float32, zero diagonal) of B x M x C cluster tokens.

    ``norm``: ``"off_diagonal"`` or ``"all_pairs"``, the pairs the min-max runs over.
    """
    if norm not in ("off_diagonal", "all_pairs"):
        raise ValueError(f"unknown graph norm {norm!r}; use 'off_diagonal' or 'all_pairs'")
    with torch.autocast(device_type=z.device.type, enabled=False):
        B, M, _ = z.shape
        if M < 2:
            return z.new_zeros(B, M, M, dtype=torch.float32)
        d = pairwise_distances(z.float())                                   # (B, M, M)
        off_diagonal = ~torch.eye(M, dtype=torch.bool, device=z.device)     # (M, M)
        hi = d.amax(dim=(1, 2), keepdim=True)                 # the diagonal's 0 never is the max
        if norm == "all_pairs":
            lo = d.new_zeros(B, 1, 1)                                        # the diagonal
        else:
            lo = d.masked_fill(~off_diagonal, float("inf")).amin(dim=(1, 2), keepdim=True)
        scaled = (d - lo) / (hi - lo).clamp_min(torch.finfo(d.dtype).tiny)  # (B, M, M)
        return ((scaled <= tau) & off_diagonal).float()


def block_diagonal(adjacencies: list[Tensor]) -> Tensor:
    """Stack per-step adjacencies (B x M_s x M_s) into one B x L x L block-diagonal matrix.

    One GCN call on the block-diagonal graph equals separate calls per step: no edge crosses
    steps, so degrees and messages stay inside each block.
    """
    B = adjacencies[0].shape[0]
    L = sum(a.shape[-1] for a in adjacencies)
    out = adjacencies[0].new_zeros(B, L, L)
    start = 0
    for a in adjacencies:
        m = a.shape[-1]
        out[:, start:start + m, start:start + m] = a
        start += m
    return out


def edges_per_node(adjacency: Tensor) -> Tensor:
    """Mean number of off-diagonal edges per node of each B x M x M adjacency: shape (B,)."""
    return adjacency.sum(-1).mean(-1)


class RelationGCN(nn.Module):
    """Stack of ``torch_geometric.nn.dense.DenseGCNConv`` layers: B x L x C -> B x L x D.

    Args:
        in_dim: token width C.
        out_dim: output width D (the LLM's hidden size).
        num_layers: graph-convolution layers (default: ``2``); widths C -> ... -> C -> D.
        self_loop: ``"set"`` (Â_ii = 1) or ``"add"`` (Â = A + I with eq. 5's unit diagonal,
            Â_ii = 2) (default: ``"set"``).
        bias: a bias in each layer (default: ``True``).
        last_activation: GELU after the last layer too (default: ``False``).
    """

    def __init__(self, in_dim: int, out_dim: int, num_layers: int = 2, self_loop: str = "set",
                 bias: bool = True, last_activation: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"RelationGCN needs num_layers >= 1, got {num_layers}")
        if self_loop not in ("set", "add"):
            raise ValueError(f"unknown GCN self-loop {self_loop!r}; use 'set' or 'add'")
        # imported here: torch_geometric takes seconds to import and is only needed once built
        from torch_geometric.nn.dense import DenseGCNConv
        widths = [in_dim] * num_layers + [out_dim]
        # DenseGCNConv's improved=True writes 2 on the diagonal: A + I for eq. 5's unit diagonal
        self.layers = nn.ModuleList(
            DenseGCNConv(a, b, improved=self_loop == "add", bias=bias)
            for a, b in zip(widths[:-1], widths[1:]))
        self.act = nn.GELU()
        self.self_loop, self.last_activation = self_loop, last_activation

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, h: Tensor, adjacency: Tensor) -> Tensor:
        """h: B x L x C, adjacency: B x L x L without self-loops -> B x L x D."""
        adjacency = adjacency.to(h.dtype)
        for i, layer in enumerate(self.layers):
            h = layer(h, adjacency)                                         # (B, L, width)
            if i < len(self.layers) - 1 or self.last_activation:
                h = self.act(h)
        return h

    def extra_repr(self) -> str:
        first, last = self.layers[0], self.layers[-1]
        return (f"{first.in_channels}, {last.out_channels}, num_layers={len(self.layers)}, "
                f"self_loop={self.self_loop}, bias={first.bias is not None}, "
                f"last_activation={self.last_activation}")
