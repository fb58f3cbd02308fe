r"""MVP: EmoLLM's multi-perspective visual projector (arXiv 2406.16442; docs/mvp.md).

Image path, CLIP patch tokens :math:`X \in \mathbb{R}^{B \times N \times C}`:

.. math::
    Z_s = \mathrm{DPCKNN}_{M_s, K_s}(Z_{s-1}),\ Z_0 = X, \qquad
    Z = [Z_1 \,|\, Z_2 \,|\, Z_3] \in \mathbb{R}^{B \times L \times C},\ L = \textstyle\sum_s M_s

.. math::
    h = \alpha \, \underbrace{P(Z)}_{R_{content}} + \underbrace{\mathrm{GCN}(Z, A)}_{R_{relation}}
    \in \mathbb{R}^{B \times L \times D}

DPCKNN follows ``config.variant`` (eq. 2 as printed, or Chat-UniVi's reading; ``dpc_knn.py``).
P is ``content_proj`` (a Linear C -> D, or LLaVA's ``mlp2x_gelu``); A is block-diagonal with one
thresholded-distance graph per merge step (eq. 4, ``graph.py``). The GCN's weights are **shared
across steps**, as P is shared across all L tokens: the three steps describe the same image at
three granularities, and one GCN keeps the parameter count at one projector's (2 layers at
C=1024, D=4096: 5.2 M instead of 15.7 M) while the block-diagonal graph lets all steps run in one
batched call.

Video path, one clip :math:`T \times N \times C`: the frames go through the image merge steps as
a batch of T, are grouped into E events (``video.py``), each event's step-s tokens are merged
again to :math:`M_s`, and the E x L event tokens get the same fusion: :math:`(E \cdot L) \times D`.

Clustering runs in float32 without gradients; merged tokens are means of member tokens (so the
output is differentiable with respect to X) and the output has the input's dtype.

``forward(x, return_trace=True)`` (and ``forward_video``) also return an ``MVPTrace``: what the
forward computed on the way, for inspection (``emollm mvp show`` draws it). The module keeps no
per-call state.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ...configs.mvp import MVPConfig
from ...errors import EmoLLMError
from .dpc_knn import Clustering, DensityRule, multi_step_merge
from .graph import RelationGCN, block_diagonal, edges_per_node, relation_adjacency
from .video import merge_events, num_events, segment_events


class SingleEventWarning(EmoLLMError, UserWarning):
    """Every clip of this frame count is one event, so the event clustering (eq. 7) never runs.
    Python's default warning filter shows it once per call site and frame count."""


@dataclass(frozen=True)
class MVPTrace:
    """The intermediate results of one MVP forward (step s = 1..S, ``M_0 = N``).

    ``assignments[s]``: B x M_{s-1} long, the step-s cluster of every token step s merged
    (chain them to follow a patch: ``assignments[1][b][assignments[0][b]]``).
    ``centres[s]``: B x M_s long, the DPC-KNN centre of each step-s cluster, an index into the
    tokens step s merged. ``adjacency[s]``: the step-s relation graph (eq. 4), B x M_s x M_s for
    images, E x M_s x M_s for a clip (built on the event tokens). ``edges_per_node[s]``: mean
    off-diagonal edges per node of ``adjacency[s]`` (0: tau left the graph empty and the GCN acts
    per token). For a clip (B = T frames): ``events``, the frame indices of each event, and
    ``event_assignments[s][e]``, the cluster of each of event e's ``F_e * M_s`` frame tokens
    (frame-major) at step s.
    """
    assignments: list[Tensor]
    centres: list[Tensor]
    adjacency: list[Tensor]
    edges_per_node: list[float]
    events: Optional[list[list[int]]] = None
    event_assignments: Optional[list[list[Tensor]]] = None

    def edges(self, step: int, item: int = 0) -> list[tuple[int, int]]:
        """Graph edges (i < j) of ``adjacency[step][item]``."""
        upper = torch.triu(self.adjacency[step][item], 1)
        return [(int(i), int(j)) for i, j in torch.nonzero(upper)]


class MVPProjector(nn.Module):
    """Multi-perspective visual projector: B x N x C tokens -> B x L x D LLM tokens.

    Args:
        in_dim: vision token width C (``mm_hidden_size``).
        out_dim: LLM width D (``hidden_size``).
        config: hyperparameters (default: ``MVPConfig()``).

    ``forward(x, return_trace=True)`` returns ``(output, MVPTrace)``: clusters, centres, graphs
    and edges per node of each step. A clip that is a single event raises a
    ``SingleEventWarning`` (shown once per call site and frame count by the default filter).
    """

    def __init__(self, in_dim: int, out_dim: int, config: MVPConfig | None = None):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.mvp_config = config if config is not None else MVPConfig()
        self.content_proj = _content_projection(self.mvp_config.content_proj, in_dim, out_dim)
        cfg = self.mvp_config
        self.gcn = RelationGCN(in_dim, out_dim, cfg.gcn_layers, self_loop=cfg.gcn_self_loop,
                               bias=cfg.gcn_bias == "on",
                               last_activation=cfg.gcn_last_activation == "on")
        self.density_rule = DensityRule(cfg.delta, cfg.knn_self, cfg.distance_scale)

    @property
    def num_tokens_image(self) -> int:
        """Tokens per image: L = sum(num_clusters)."""
        return self.mvp_config.num_tokens

    def num_tokens_video(self, num_frames: int) -> int:
        """Tokens for a clip of ``num_frames`` frames: E * L with E = ceil(T / frames_per_event)."""
        return num_events(num_frames, self.mvp_config.frames_per_event) * self.num_tokens_image

    def forward(self, x: Tensor, return_trace: bool = False):
        """x: B x N x C image tokens -> B x L x D, in x's dtype; with ``return_trace``,
        ``(output, MVPTrace)``."""
        self._check_width(x)
        clusterings: list[Clustering] = []
        steps = multi_step_merge(x, self.mvp_config.num_clusters, self.mvp_config.knn,
                                 self.density_rule, clusterings)
        out, adjacencies, edges = self._fuse(steps, x.dtype)
        if not return_trace:
            return out
        return out, MVPTrace([c.assign for c in clusterings], [c.centres for c in clusterings],
                             adjacencies, edges)

    def forward_video(self, frames: Tensor, return_trace: bool = False):
        """frames: T x N x C tokens of ONE clip, in time order -> (E * L) x D, in frames' dtype;
        with ``return_trace``, ``(output, MVPTrace)``."""
        self._check_width(frames)
        cfg = self.mvp_config
        E = num_events(frames.shape[0], cfg.frames_per_event)
        if E == 1:
            warnings.warn(SingleEventWarning(
                f"MVP: a clip of {frames.shape[0]} frames is a single event "
                f"(mvp_frames_per_event={cfg.frames_per_event}), so with this frame sampling "
                "every clip is one event and the event clustering of eq. 7 never runs; sample "
                f"more than {cfg.frames_per_event} frames per clip (--num_video_frames) or "
                "lower --mvp_frames_per_event"), stacklevel=2)
        rule = self.density_rule
        clusterings: list[Clustering] = []
        steps = multi_step_merge(frames, cfg.num_clusters, cfg.knn, rule, clusterings)  # T x M_s x C
        frame_vectors = frames.detach().float().mean(1)                      # (T, C)
        events = segment_events(frame_vectors, E, cfg.event_knn, cfg.contiguous_events, rule)
        event_assignments: list[list[Tensor]] = [[] for _ in steps]
        with torch.autocast(device_type=frames.device.type, enabled=False):
            event_steps = [merge_events(tokens, events, m, k, rule, assigned)  # E x M_s x C each
                           for tokens, m, k, assigned in zip(steps, cfg.num_clusters, cfg.knn,
                                                             event_assignments)]
        out, adjacencies, edges = self._fuse(event_steps, frames.dtype)      # (E, L, D)
        out = out.reshape(E * self.num_tokens_image, self.out_dim)
        if not return_trace:
            return out
        return out, MVPTrace([c.assign for c in clusterings], [c.centres for c in clusterings],
                             adjacencies, edges, [e.tolist() for e in events], event_assignments)

    def fuse(self, steps: list[Tensor], dtype: torch.dtype) -> Tensor:
        """h = alpha * content_proj(Z) + GCN(Z, A) for per-step tokens B x M_s x C -> B x L x D.

        ``steps`` are the merged tokens of each step (any float dtype); the projection runs in
        ``dtype``.
        """
        return self._fuse(steps, dtype)[0]

    def _fuse(self, steps: list[Tensor], dtype: torch.dtype) -> tuple[Tensor, list[Tensor], list[float]]:
        """``fuse``'s output, the per-step adjacencies and their edges per node (one host sync,
        shared with the non-finite check)."""
        cfg = self.mvp_config
        adjacencies = [relation_adjacency(z, cfg.tau, cfg.graph_norm) for z in steps]
        tokens = torch.cat(steps, dim=1).to(dtype)                            # (B, L, C)
        content = self.content_proj(tokens)                                  # (B, L, D)
        relation = self.gcn(tokens, block_diagonal(adjacencies))             # (B, L, D)
        edges = torch.stack([edges_per_node(a).mean() for a in adjacencies])
        bad = torch.stack([(~torch.isfinite(z.detach())).sum() for z in steps]).sum()
        *edges_list, bad_count = torch.cat([edges, bad.float().reshape(1)]).tolist()  # one sync
        if bad_count:
            raise ValueError(
                f"MVP got non-finite vision tokens ({int(bad_count)} NaN/inf values after "
                "merging): the vision tower's output overflowed or is broken; check its dtype")
        return self.mvp_config.alpha * content + relation, adjacencies, edges_list

    def _check_width(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"MVPProjector(in_dim={self.in_dim}) expects tokens shaped B x N x {self.in_dim} "
                f"(images) or T x N x {self.in_dim} (one video clip), got {tuple(x.shape)}; "
                "check mm_hidden_size against the vision tower's output")

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, config={self.mvp_config}"


def _content_projection(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp2x_gelu":
        # LLaVA v1.5's projector layout (keys 0.* and 2.*), so its pretrained weights fit
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
    raise ValueError(f"unknown mvp_content_proj {kind!r}; use 'linear' or 'mlp2x_gelu'")


def build_mvp_projector(hf_config: Any) -> MVPProjector:
    """Build MVP from a LLaVA model config (``mm_hidden_size``, ``hidden_size``, ``mvp_*``).

    The resolved hyperparameters are written back as ``mvp_*`` so the saved config rebuilds
    exactly this projector even where the user left a field to its default.
    """
    missing = [key for key in ("mm_hidden_size", "hidden_size") if getattr(hf_config, key, None)
               is None]
    if missing:
        raise ValueError(f"cannot build the mvp projector: the model config has no "
                         f"{', '.join(missing)} (LLaVA sets mm_hidden_size from the vision tower)")
    config = MVPConfig.from_model_config(hf_config)
    config.write_to(hf_config)
    return MVPProjector(hf_config.mm_hidden_size, hf_config.hidden_size, config)
