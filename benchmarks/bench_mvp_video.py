"""MVP video path (batched) vs a per-event Python loop of B=1 calls, the Chat-UniVi way.

Both run the same clustering and projection on one clip of 64 frames at real sizes (256 CLIP
ViT-L/14 patch tokens of width 1024 per frame, LLM width 4096, random-initialised projector) and
must give bit-identical outputs; the table reports their median times side by side.

The frame features are synthetic: a few "shots" (a base token map each) with per-frame noise, so
DPC-KNN finds events of realistic, unequal lengths; a random-init CLIP on 64 frames would cost
minutes here and add nothing to what is timed.

    python benchmarks/bench_mvp_video.py [--frames 64] [--repeats 3] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_merge, multi_step_merge
from emollm_plugin.projectors.mvp.video import num_events, segment_events
from timing import timed  # noqa: E402  (benchmarks/timing.py)

TARGET = 3.0


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



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64, help="frames per clip (default: 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    frames = synthetic_clip(args.frames).to(device)

    print(f"device={device} threads={args.threads} frames={args.frames} repeats={args.repeats} "
          f"(median) load={os.getloadavg()[0]:.1f}")
    print(f"{'events':10s} {'path':30s} {'ms':>9s} {'speed-up':>9s}  event sizes")
    for contiguous in (True, False):
        mvp = MVPProjector(1024, 4096, MVPConfig(contiguous_events=contiguous)).to(device).eval()
        label = "contiguous" if contiguous else "grouped"
        with torch.no_grad():
            fast = mvp.forward_video(frames)                                      # warm-up
            sizes = [len(e) for e in mvp.last_stats["events"]]
            slow = per_event_loop(mvp, frames)
            if not torch.equal(fast, slow):
                raise SystemExit(f"outputs differ ({label} events): max abs difference "
                                 f"{(fast - slow).abs().max().item():.3g}")
            loop_s, batched_s = [], []
            for _ in range(args.repeats):
                loop_s.append(timed(lambda: per_event_loop(mvp, frames), device)[0])
                batched_s.append(timed(lambda: mvp.forward_video(frames), device)[0])
        loop_ms = statistics.median(loop_s) * 1e3
        batched_ms = statistics.median(batched_s) * 1e3
        print(f"{label:10s} {'per-event loop, B=1 calls':30s} {loop_ms:9.1f} {1.0:8.2f}x  {sizes}")
        print(f"{label:10s} {'MVP forward_video (batched)':30s} {batched_ms:9.1f} "
              f"{loop_ms / batched_ms:8.2f}x  outputs identical")
    print(f"target: >= {TARGET:.0f}x faster with identical output")


if __name__ == "__main__":
    main()
