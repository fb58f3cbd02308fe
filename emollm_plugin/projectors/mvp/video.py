r"""Events of a video clip for MVP (EmoLLM eq. 7 and its event paragraph).

A clip's T frames of N tokens (T x N x C) become E = ceil(T / frames_per_event) events:

1. frame vectors :math:`f_t = \frac{1}{N} \sum_n z_{t,n}` (T x C);
2. DPC-KNN over the frame vectors picks E centre frames (K capped at T);
3. frames join events:

   - ``contiguous=True`` (default): events are runs of consecutive frames, one per centre.
     Between consecutive centres :math:`c_e < c_{e+1}` the boundary b (the first frame of
     event e+1, :math:`c_e < b \le c_{e+1}`) minimises
     :math:`\sum_{c_e < t < b} d(f_t, f_{c_e}) + \sum_{b \le t < c_{e+1}} d(f_t, f_{c_{e+1}})`;
     frames before the first centre join the first event, frames after the last the last.
   - ``contiguous=False``: every frame joins its nearest centre, as in Chat-UniVi; an event
     may then hold frames from anywhere in the clip.

   Contiguous is the default because events are then ordered in time without ambiguity and an
   emotional change inside a clip (a reaction after a line) is not averaged with the frames it
   follows; Chat-UniVi's users asked for the same (its grouping can merge a clip's first and
   last shots).
4. per event and merge step s, the step-s tokens of the event's frames (in time order, F x M_s
   tokens) are merged again into M_s tokens; events are concatenated in time order (by first
   frame). Events of equal frame count are merged in one batched call.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from .dpc_knn import CHATUNIVI, DensityRule, dpc_knn_cluster, merge_clusters, pairwise_distances


def num_events(num_frames: int, frames_per_event: int) -> int:
    """E = ceil(T / frames_per_event) for T >= 1 frames."""
    if num_frames < 1:
        raise ValueError(f"a video clip needs at least one frame, got {num_frames}")
    return math.ceil(num_frames / frames_per_event)


@torch.no_grad()
def segment_events(frame_vectors: Tensor, num_events: int, k: int,
                   contiguous: bool = True, rule: DensityRule = CHATUNIVI) -> list[Tensor]:
    """Group T frames (T x C frame vectors) into events.

    Returns ``num_events`` 1-D long tensors of frame indices (each increasing), ordered by their
    first frame; together they hold every frame once.
    """
    T = frame_vectors.shape[0]
    if not 1 <= num_events <= T:
        raise ValueError(f"cannot split {T} frames into {num_events} events")
    if num_events == 1:
        return [torch.arange(T, device=frame_vectors.device)]
    z = frame_vectors.float().unsqueeze(0)                                   # (1, T, C)
    clustering = dpc_knn_cluster(z, num_events, k, rule)
    if contiguous:
        event_of_frame = _contiguous_assignment(pairwise_distances(z)[0], clustering.centres[0])
    else:
        event_of_frame = clustering.assign[0]                                # (T,)
    events = [torch.nonzero(event_of_frame == e).flatten() for e in range(num_events)]
    return sorted(events, key=lambda frames: int(frames[0]))


def _contiguous_assignment(d: Tensor, centres: Tensor) -> Tensor:
    r"""Event index per frame (T,) for contiguous events around increasing centre frames (E,).

    With :math:`P_e(t) = \sum_{u \le t} d(u, c_e)`, the boundary cost between centres e and
    e+1 is a constant plus :math:`P_e(b-1) - P_{e+1}(b-1)`, minimised over
    :math:`c_e \le b-1 < c_{e+1}` (the first minimum on ties).
    """
    T = d.shape[0]
    cost = d[:, centres].cumsum(0)                                           # (T, E): P_e(t)
    gain = cost[:, :-1] - cost[:, 1:]                                        # (T, E-1)
    t = torch.arange(T, device=d.device).unsqueeze(1)                        # (T, 1)
    inside = (t >= centres[:-1]) & (t < centres[1:])                         # (T, E-1)
    last_of_event = gain.masked_fill(~inside, float("inf")).argmin(0)        # (E-1,)
    return torch.searchsorted(last_of_event, t.flatten(), right=False)       # (T,)


def merge_events(step_tokens: Tensor, events: Sequence[Tensor], num_clusters: int,
                 k: int, rule: DensityRule = CHATUNIVI, assignments: list | None = None) -> Tensor:
    """Merge each event's frames' tokens (T x M x C) again into ``num_clusters``: E x M x C.

    Events with the same number of frames are stacked into one batched DPC-KNN call. A list
    passed as ``assignments`` receives, per event in event order, the cluster of each of its
    ``F_e * M`` tokens (frame-major: token ``f * M + i`` is cluster i of the event's frame f).
    """
    T, M, C = step_tokens.shape
    sizes = [len(frames) for frames in events]
    pieces, positions, assigns = [], [], [None] * len(events)
    for size in sorted(set(sizes)):
        group = [e for e, s in enumerate(sizes) if s == size]
        frames = torch.stack([events[e] for e in group])                     # (G, F)
        tokens = step_tokens[frames].reshape(len(group), size * M, C)        # (G, F*M, C)
        clustering = dpc_knn_cluster(tokens, num_clusters, k, rule)
        pieces.append(merge_clusters(tokens, clustering.assign, num_clusters))  # (G, M', C)
        positions.extend(group)
        for row, e in enumerate(group):
            assigns[e] = clustering.assign[row]
    if assignments is not None:
        assignments.extend(assigns)
    merged = torch.cat(pieces)                                               # (E, M', C), grouped
    order = torch.empty(len(events), dtype=torch.long)
    order[torch.tensor(positions)] = torch.arange(len(events))
    return merged[order.to(merged.device)]                         # (E, M', C) in event order
