"""DPC-KNN merge step: ours vs Chat-UniVi's published algorithm (test-only reference), side by side.

Shapes [16, 576, 1024] (a batch of 16 images at 336 px) and [64, 576, 1024] (64 video frames),
M = 64 clusters, K = 5 (MVP's first merge step). The harness (benchmarks/timing.py) alternates them; the
script exits non-zero unless the clusters are identical. Target: ours >= 1.5x faster.

    python benchmarks/bench_dpc_knn.py [--repeats 3] [--threads 1] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chatunivi_reference import chatunivi_cluster, chatunivi_merge  # noqa: E402

from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_cluster, merge_clusters  # noqa: E402
from timing import Harness, add_harness_arguments, timed_phase  # noqa: E402  (benchmarks/timing.py)

TARGET = 1.5
SHAPES = ((16, 576, 1024), (64, 576, 1024))



def ours(x, m, k):
    clustering = dpc_knn_cluster(x, m, k)
    return clustering, merge_clusters(x, clustering.assign, m)


def reference(x, m, k):
    assign, centres = chatunivi_cluster(x, m, k)
    return (assign, centres), chatunivi_merge(x, assign, m)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=64, help="M (default: 64)")
    parser.add_argument("--knn", type=int, default=5, help="K (default: 5)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the tokens and width of each shape (tests use a small one; default: 1)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    add_harness_arguments(parser)
    args = parser.parse_args(argv)
    harness = Harness.from_args(args)
    device = torch.device(args.device)
    print(f"device={device} M={args.clusters} K={args.knn}")
    failed = []
    for full in SHAPES:
        shape = (full[0], max(args.clusters * 2, int(full[1] * args.scale)), max(8, int(full[2] * args.scale)))
        torch.manual_seed(0)
        x = torch.randn(*shape, device=device) * torch.rand(shape[0], shape[1], 1, device=device)
        m, k = args.clusters, args.knn
        runs = harness.run({
            "ours": [("merge step", timed_phase(lambda _: ours(x, m, k), device, "out"))],
            "Chat-UniVi": [("merge step", timed_phase(lambda _: reference(x, m, k), device, "out"))],
        })
        clustering, merged = runs.states["ours"]["out"]
        (assign, centres), ref_merged = runs.states["Chat-UniVi"]["out"]
        identical = (torch.equal(clustering.assign, assign)
                     and torch.equal(clustering.centres, centres)
                     and torch.allclose(merged, ref_merged, rtol=1e-5, atol=1e-5))
        by_min, by_median = runs.ratios("Chat-UniVi", "ours")
        print(f"\nshape {list(shape)}: {'identical clusters' if identical else 'DIFFERENT clusters'}")
        print(runs.header())
        print(runs.table("Chat-UniVi"))
        print(f"  target: ours >= {TARGET}x faster -> {by_min:.2f}x (minimums), {by_median:.2f}x (medians), "
              f"{'met' if min(by_min, by_median) >= TARGET else 'NOT met'}")
        if not identical:
            failed.append(shape)
    if failed:
        sys.exit(f"outputs differ for {failed}")


if __name__ == "__main__":
    main()
