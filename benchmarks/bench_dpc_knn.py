"""DPC-KNN merge step: ours vs Chat-UniVi's published algorithm (test-only reference), side by side.

Shapes [16, 576, 1024] (a batch of 16 images at 336 px) and [64, 576, 1024] (64 video frames),
M = 64 clusters, K = 5 (MVP's first merge step). Each repeat times both back to back; the
script exits non-zero unless the clusters are identical. Target: ours >= 1.5x faster.

    python benchmarks/bench_dpc_knn.py [--repeats 3] [--threads 2] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chatunivi_reference import chatunivi_cluster, chatunivi_merge  # noqa: E402

from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_cluster, merge_clusters  # noqa: E402
from timing import timed  # noqa: E402  (benchmarks/timing.py)

TARGET = 1.5
SHAPES = ((16, 576, 1024), (64, 576, 1024))



def ours(x, m, k):
    clustering = dpc_knn_cluster(x, m, k)
    return clustering, merge_clusters(x, clustering.assign, m)


def reference(x, m, k):
    assign, centres = chatunivi_cluster(x, m, k)
    return (assign, centres), chatunivi_merge(x, assign, m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--clusters", type=int, default=64, help="M (default: 64)")
    parser.add_argument("--knn", type=int, default=5, help="K (default: 5)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={args.threads} repeats={args.repeats} (median) "
          f"M={args.clusters} K={args.knn} load={os.getloadavg()[0]:.1f}")
    print(f"{'shape':18s} {'ours ms':>9s} {'Chat-UniVi ms':>14s} {'speed-up':>9s}  output")
    failed = []
    for shape in SHAPES:
        torch.manual_seed(0)
        x = torch.randn(*shape, device=device) * torch.rand(shape[0], shape[1], 1, device=device)
        m, k = args.clusters, args.knn
        ours(x, m, k), reference(x, m, k)                                  # warm-up
        t_ours, t_ref = [], []
        for _ in range(args.repeats):
            t, (clustering, merged) = timed(lambda: ours(x, m, k), device)
            t_ours.append(t)
            t, ((assign, centres), ref_merged) = timed(lambda: reference(x, m, k), device)
            t_ref.append(t)
        identical = (torch.equal(clustering.assign, assign)
                     and torch.equal(clustering.centres, centres)
                     and torch.allclose(merged, ref_merged, rtol=1e-5, atol=1e-5))
        a, b = statistics.median(t_ours) * 1e3, statistics.median(t_ref) * 1e3
        print(f"{str(list(shape)):18s} {a:9.1f} {b:14.1f} {b / a:8.2f}x  "
              f"{'identical clusters' if identical else 'DIFFERENT'}")
        if not identical:
            failed.append(shape)
        speedup = b / a
        print(f"  target: ours >= {TARGET}x faster -> {speedup:.2f}x, "
              f"{'met' if speedup >= TARGET else 'NOT met'}")
    if failed:
        sys.exit(f"outputs differ for {failed}")


if __name__ == "__main__":
    main()
