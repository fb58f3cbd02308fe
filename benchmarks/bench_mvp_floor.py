"""MVP against its matmul floor: the full module vs the matrix products it cannot avoid, run alone.

Two workloads at real sizes (C = 1024 CLIP ViT-L/14 tokens, D = 4096 Vicuna-7B width, default
MVPConfig: 64/32/16 clusters, 2 GCN layers):

- image: ``MVPProjector.forward`` on a batch of 16 images of 576 tokens (336 px);
- video: ``MVPProjector.forward_video`` on one 64-frame clip of 576 tokens per frame (4 events).

The floor is every product the method needs, each on its real shape, timed alone in one
sequence: per merge step the Gram matrix Z Z^T of the tokens being clustered and the merge
(cluster membership x tokens); the Gram matrix of the last step's tokens for its graph (the other
steps' graph Grams are the next step's clustering Grams, counted once); the content projection
(B L x C) (C x D); each GCN layer's X W and A (X W). For video, the event merges use the event
lengths of the actual run. Everything else (top-k, sorting, masks, norms) is overhead above the
floor. Timed with the harness (benchmarks/timing.py); no target (the module is about 0.1 % of
an answer, see benchmarks/README.md).

    python benchmarks/bench_mvp_floor.py [--repeats 3] [--threads 1] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mvp_video import synthetic_clip  # noqa: E402

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector  # noqa: E402
from timing import Harness, add_harness_arguments, timed_phase  # noqa: E402  (benchmarks/timing.py)

C, D, TOKENS = 1024, 4096, 576



def _rand(device, *shape):
    return torch.randn(*shape, device=device)


def gram_and_merge(batch: int, tokens: int, clusters: int, device) -> list:
    """Z Z^T of the tokens being clustered, and the merge (membership^T Z)."""
    z = _rand(device, batch, tokens, C)
    return [(z, z.transpose(1, 2)), (_rand(device, batch, clusters, tokens), z)]


def gram(batch: int, tokens: int, device) -> list:
    z = _rand(device, batch, tokens, C)
    return [(z, z.transpose(1, 2))]


def fusion(batch: int, config: MVPConfig, device) -> list:
    """Content projection and the GCN layers' X W and A (X W) on B x L tokens."""
    L = config.num_tokens
    h = _rand(device, batch * L, C)
    pairs = [(h, _rand(device, C, D))]
    widths = [C] * config.gcn_layers + [D]
    for a, b in zip(widths[:-1], widths[1:]):
        pairs += [(h, _rand(device, a, b)), (_rand(device, batch, L, L), _rand(device, batch, L, b))]
    return pairs


def image_floor(batch: int, config: MVPConfig, device) -> list:
    """Chained steps: the graph Gram of step s is step s+1's clustering Gram; the last is extra."""
    pairs, n = [], TOKENS
    for m in config.num_clusters:
        pairs += gram_and_merge(batch, n, m, device)
        n = m
    return pairs + gram(batch, n, device) + fusion(batch, config, device)


def video_floor(frames: int, event_sizes: list[int], config: MVPConfig, device) -> list:
    """Frames: chained steps without graphs. Events: step s merges the F x M_s step-s tokens of
    its frames to M_s (equal lengths batched, as video.merge_events does); graphs on event tokens."""
    pairs, n = [], TOKENS
    for m in config.num_clusters:
        pairs += gram_and_merge(frames, n, m, device)
        n = m
    for size in sorted(set(event_sizes)):
        for m in config.num_clusters:
            pairs += gram_and_merge(event_sizes.count(size), size * m, m, device)
    E = len(event_sizes)
    for m in config.num_clusters:
        pairs += gram(E, m, device)
    return pairs + fusion(E, config, device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    add_harness_arguments(parser)
    args = parser.parse_args(argv)
    harness = Harness.from_args(args)
    device = torch.device(args.device)
    torch.manual_seed(0)
    config = MVPConfig()
    mvp = MVPProjector(C, D, config).to(device).eval()

    images = torch.randn(16, TOKENS, C, device=device)
    clip = synthetic_clip(64, tokens=TOKENS, dim=C).to(device)
    with torch.no_grad():
        _, trace = mvp.forward_video(clip, return_trace=True)
    event_sizes = [len(e) for e in trace.events]
    workloads = {
        "image, batch 16 (forward)": (lambda: mvp(images), image_floor(16, config, device)),
        f"video, 64 frames (forward_video), events {event_sizes}": (
            lambda: mvp.forward_video(clip), video_floor(64, event_sizes, config, device)),
    }
    print(f"device={device}")
    rows = ["| workload | module ms (min / median) | matmul floor ms (min / median) | module / floor (min) | (median) |",
            "|---|---:|---:|---:|---:|"]
    with torch.no_grad():
        for name, (module_call, pairs) in workloads.items():
            def floor(_state, pairs=pairs):
                for a, b in pairs:
                    torch.matmul(a, b)
            runs = harness.run({"module": [("run", timed_phase(lambda _: module_call(), device))],
                                "floor": [("run", timed_phase(floor, device))]})
            print(runs.header())
            by_min, by_median = runs.ratios("module", "floor")
            rows.append(f"| {name} | {runs.min('module') * 1e3:.1f} / {runs.median('module') * 1e3:.1f} "
                        f"| {runs.min('floor') * 1e3:.1f} / {runs.median('floor') * 1e3:.1f} "
                        f"| {by_min:.2f}x | {by_median:.2f}x |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
