"""MVP video path (batched) vs a per-event Python loop of B=1 calls, the Chat-UniVi way.

Both run the same clustering and projection on one clip of 64 frames at real sizes (256 CLIP
ViT-L/14 patch tokens of width 1024 per frame, LLM width 4096, random-initialised projector) and
must give the same output up to float32 rounding (``RELATIVE_TOLERANCE``); the harness
(benchmarks/timing.py) times them alternating, minimum and median.

The frame features are synthetic: a few "shots" (a base token map each) with per-frame noise, so
DPC-KNN finds events of realistic, unequal lengths; a random-init CLIP on 64 frames would cost
minutes here and add nothing to what is timed.

    python benchmarks/bench_mvp_video.py [--frames 64] [--repeats 3] [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse

import torch

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_merge, multi_step_merge
from emollm_plugin.projectors.mvp.video import num_events, segment_events
from timing import Harness, add_harness_arguments, timed_phase  # noqa: E402  (benchmarks/timing.py)

TARGET = 3.0
# The two paths run the same float32 arithmetic, but their matrix products are batched
# differently (B=1 vs all frames/events at once), so the kernels sum the C = 1024 products of
# each dot product in different orders. Each reordering changes a result by a few units of
# float32's epsilon (1.2e-7) of the magnitudes summed; through the merge, the content projection
# and three GCN layers that stays far under 1e-4 of the output's largest value (measured: up to
# 2e-6 absolute, ~1e-6 relative). A different clustering decision would change whole tokens, i.e.
# differences of the output's own magnitude, which this tolerance catches.
RELATIVE_TOLERANCE = 1e-4


def synthetic_clip(frames: int, tokens: int = 256, dim: int = 1024, shots: int = 5,
                   seed: int = 0) -> torch.Tensor:
    """T x N x C features: ``shots`` token maps of random lengths, plus per-frame noise."""
    g = torch.Generator().manual_seed(seed)
    cuts = sorted(torch.randperm(frames - 1, generator=g)[:shots - 1].add(1).tolist())
    lengths = [b - a for a, b in zip([0] + cuts, cuts + [frames])]
    maps = [torch.randn(tokens, dim, generator=g) for _ in lengths]
    clip = torch.cat([m.expand(n, tokens, dim) for m, n in zip(maps, lengths)])
    return clip + 0.5 * torch.randn(frames, tokens, dim, generator=g)


def per_event_loop(mvp: MVPProjector, frames: torch.Tensor) -> torch.Tensor:
    """Reference: every clustering and projection call with batch size 1."""
    cfg = mvp.mvp_config
    per_frame = [multi_step_merge(f.unsqueeze(0), cfg.num_clusters, cfg.knn) for f in frames]
    events = segment_events(frames.float().mean(1), num_events(len(frames), cfg.frames_per_event),
                            cfg.event_knn, cfg.contiguous_events)
    outputs = []
    for event in events:
        steps = []
        for s, (m, k) in enumerate(zip(cfg.num_clusters, cfg.knn)):
            tokens = torch.cat([per_frame[t][s] for t in event.tolist()], dim=1)  # (1, F*M, C)
            steps.append(dpc_knn_merge(tokens, m, k))
        outputs.append(mvp.fuse(steps, frames.dtype)[0])                          # (L, D)
    return torch.cat(outputs)



def max_rounding(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to max |b|."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64, help="frames per clip (default: 64)")
    parser.add_argument("--tokens", type=int, default=256, help="patch tokens per frame (default: 256)")
    parser.add_argument("--width", type=int, default=1024, help="CLIP width (default: 1024)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    add_harness_arguments(parser)
    args = parser.parse_args(argv)
    harness = Harness.from_args(args)
    torch.manual_seed(0)
    device = torch.device(args.device)
    frames = synthetic_clip(args.frames, args.tokens, args.width).to(device)

    print(f"device={device} frames={args.frames}")
    worst = 0.0
    for contiguous in (True, False):
        mvp = MVPProjector(args.width, 4096, MVPConfig(contiguous_events=contiguous)).to(device).eval()
        label = "contiguous" if contiguous else "grouped"
        with torch.no_grad():
            fast, trace = mvp.forward_video(frames, return_trace=True)
            sizes = [len(e) for e in trace.events]
            slow = per_event_loop(mvp, frames)
            if fast.shape != slow.shape:
                raise SystemExit(f"outputs differ in shape ({label} events): {tuple(fast.shape)} vs {tuple(slow.shape)}")
            relative = max_rounding(fast, slow)
            worst = max(worst, relative)
            if relative > RELATIVE_TOLERANCE:
                raise SystemExit(f"outputs differ ({label} events): max abs difference {relative:.3g} of the "
                                 f"output's largest magnitude, over the float32 tolerance {RELATIVE_TOLERANCE:g}")
            runs = harness.run({
                "per-event loop, B=1 calls": [("video", timed_phase(lambda _: per_event_loop(mvp, frames), device))],
                "MVP forward_video (batched)": [("video", timed_phase(lambda _: mvp.forward_video(frames), device))],
            })
        by_min, by_median = runs.ratios("per-event loop, B=1 calls", "MVP forward_video (batched)")
        print(f"\n{label} events, sizes {sizes}; outputs equal within {relative:.2g} relative (float32)")
        print(runs.header())
        print(runs.table("per-event loop, B=1 calls"))
        print(f"speed-up of the batched path: {by_min:.2f}x (minimums), {by_median:.2f}x (medians)")
    print(f"\ntarget: >= {TARGET:.0f}x faster, outputs equal within float32 rounding "
          f"(largest relative difference {worst:.2g} <= {RELATIVE_TOLERANCE:g})")


if __name__ == "__main__":
    main()
