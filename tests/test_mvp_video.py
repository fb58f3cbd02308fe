"""MVP on video clips: event clustering against a plain reference, per-event merging, shapes."""
from __future__ import annotations

import math

import pytest
import torch

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_merge, multi_step_merge
from emollm_plugin.projectors.mvp.video import merge_events, num_events, segment_events

SMALL = MVPConfig(num_clusters=(8, 4, 2), knn=(5, 3, 3), tau=0.3, frames_per_event=4)


def reference_events(frames: torch.Tensor, num_events: int, k: int, contiguous: bool):
    """Frame by frame: DPC-KNN centres over T x C frame vectors, then events (time-ordered)."""
    rows = frames.double().tolist()
    t_count, c = len(rows), len(rows[0])
    k = min(k, t_count)
    dist = [[math.dist(a, b) / math.sqrt(c) for b in rows] for a in rows]
    rho = [math.exp(-sum(v * v for v in sorted(dist[i])[:k]) / k) for i in range(t_count)]
    delta = []
    for i in range(t_count):
        higher = [dist[i][j] for j in range(t_count)
                  if rho[j] > rho[i] or (rho[j] == rho[i] and j < i)]
        delta.append(min(higher) if higher else max(dist[i]))
    by_score = sorted(range(t_count), key=lambda i: (-rho[i] * delta[i], i))
    centres = sorted(by_score[:num_events])
    if contiguous:
        starts = [0]
        for left, right in zip(centres, centres[1:]):      # event of `right` starts at b
            def cost(b):
                return (sum(dist[t][left] for t in range(left + 1, b))
                        + sum(dist[t][right] for t in range(b, right)))
            starts.append(min(range(left + 1, right + 1), key=lambda b: (cost(b), b)))
        ends = starts[1:] + [t_count]
        return [list(range(s, e)) for s, e in zip(starts, ends)]
    event_of = [centres.index(t) if t in centres else
                min(range(num_events), key=lambda e: (dist[t][centres[e]], e))
                for t in range(t_count)]
    events = [[t for t in range(t_count) if event_of[t] == e] for e in range(num_events)]
    return sorted(events, key=lambda frames_of_event: frames_of_event[0])


def scene_frames(pattern: str, dim: int = 16, seed: int = 0) -> torch.Tensor:
    """One frame vector per letter; equal letters are near-identical frames of one scene."""
    torch.manual_seed(seed)
    scenes = {s: torch.randn(dim) * 3 for s in sorted(set(pattern))}
    return torch.stack([scenes[s] + 0.1 * torch.randn(dim) for s in pattern])


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("t_count,e_count,k", [(12, 3, 5), (20, 5, 3), (9, 2, 5), (6, 6, 2),
                                               (30, 4, 40)])
def test_events_match_reference(contiguous, t_count, e_count, k):
    torch.manual_seed(t_count * 10 + e_count)
    frames = torch.randn(t_count, 16) + torch.linspace(0, 3, t_count).unsqueeze(1)
    events = segment_events(frames, e_count, k, contiguous)
    assert [e.tolist() for e in events] == reference_events(frames, e_count, k, contiguous)


def test_contiguous_events_are_runs_and_others_follow_scenes():
    frames = scene_frames("AAAABBBBAAAABBBB")                  # shot / reverse shot
    contiguous = [e.tolist() for e in segment_events(frames, 2, 5, contiguous=True)]
    grouped = [e.tolist() for e in segment_events(frames, 2, 5, contiguous=False)]
    assert sorted(sum(contiguous, [])) == list(range(16))
    assert all(e == list(range(e[0], e[-1] + 1)) for e in contiguous)
    assert grouped == [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]]


def test_contiguous_boundaries_fall_on_scene_cuts():
    frames = scene_frames("AAAAABBBCCCCCC", seed=1)
    events = [e.tolist() for e in segment_events(frames, 3, 3, contiguous=True)]
    assert events == [list(range(0, 5)), list(range(5, 8)), list(range(8, 14))]


def test_event_count_and_single_event():
    assert [num_events(t, 4) for t in (1, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="at least one frame"):
        num_events(0, 4)
    assert [e.tolist() for e in segment_events(torch.randn(3, 8), 1, 5)] == [[0, 1, 2]]


@pytest.mark.parametrize("sizes", [(3, 1, 4, 3), (2, 2, 2)])
def test_merge_events_equals_per_event_loop(sizes):
    torch.manual_seed(5)
    t_count = sum(sizes)
    step_tokens = torch.randn(t_count, 6, 16)
    perm = torch.randperm(t_count)                             # events need not be runs
    events, start = [], 0
    for s in sizes:
        events.append(perm[start:start + s].sort().values)
        start += s
    merged = merge_events(step_tokens, events, 6, 3)
    assert merged.shape == (len(sizes), 6, 16)
    for e, frames in enumerate(events):
        one = dpc_knn_merge(step_tokens[frames].reshape(1, -1, 16), 6, 3)[0]
        assert torch.equal(merged[e], one)


def reference_forward_video(mvp: MVPProjector, frames: torch.Tensor) -> torch.Tensor:
    """The Chat-UniVi way: B=1 calls frame by frame, then event by event."""
    cfg = mvp.mvp_config
    per_frame = [multi_step_merge(f.unsqueeze(0), cfg.num_clusters, cfg.knn) for f in frames]
    events = reference_events(frames.float().mean(1), num_events(len(frames),
                              cfg.frames_per_event), cfg.event_knn, cfg.contiguous_events)
    outputs = []
    for event in events:
        steps = []
        for s, (m, k) in enumerate(zip(cfg.num_clusters, cfg.knn)):
            tokens = torch.cat([per_frame[t][s] for t in event], dim=1)     # (1, F*M_s, C)
            steps.append(dpc_knn_merge(tokens, m, k))
        outputs.append(mvp.fuse(steps, frames.dtype)[0])
    return torch.cat(outputs)


@pytest.mark.parametrize("contiguous", [True, False])
def test_forward_video_equals_per_event_reference(contiguous):
    torch.manual_seed(6)
    mvp = MVPProjector(16, 24, MVPConfig(num_clusters=(8, 4, 2), knn=(5, 3, 3),
                                         frames_per_event=4, contiguous_events=contiguous))
    frames = torch.randn(14, 20, 16) + torch.linspace(0, 2, 14).view(14, 1, 1)
    with torch.no_grad():
        out, trace = mvp.forward_video(frames, return_trace=True)
        events = trace.events
        ref = reference_forward_video(mvp, frames)
    assert torch.equal(out, ref)                               # batching changes no bit
    assert len(events) == 4 and sorted(sum(events, [])) == list(range(14))
    assert [e[0] for e in events] == sorted(e[0] for e in events)


@pytest.mark.parametrize("t_count", [1, 3, 4, 5, 11])
def test_video_shapes_values_and_gradients(t_count):
    torch.manual_seed(t_count)
    mvp = MVPProjector(16, 24, SMALL)
    frames = torch.randn(t_count, 12, 16, requires_grad=True)
    out, trace = mvp.forward_video(frames, return_trace=True)
    assert out.shape == (mvp.num_tokens_video(t_count), 24)
    assert out.shape[0] == math.ceil(t_count / 4) * 14
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert torch.isfinite(frames.grad).all() and frames.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mvp.parameters())
    assert len(trace.edges_per_node) == 3


def test_video_in_bf16():
    torch.manual_seed(7)
    mvp = MVPProjector(16, 24, SMALL)
    frames = torch.randn(9, 12, 16).bfloat16()
    reference = mvp.forward_video(frames.float())
    out = mvp.bfloat16().forward_video(frames)
    assert out.dtype == torch.bfloat16 and out.shape == (3 * 14, 24)
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.05)


def test_video_rejects_bad_input():
    mvp = MVPProjector(16, 24, SMALL)
    with pytest.raises(ValueError, match="T x N x 16"):
        mvp.forward_video(torch.randn(4, 12, 8))
    with pytest.raises(ValueError, match="at least one frame"):
        mvp.forward_video(torch.randn(0, 12, 16))
