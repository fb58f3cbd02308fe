"""Edges per node of MVP's relation graph (eq. 4) for both min-max normalisations and several tau.

Towers: the tiny CLIP of the tiny preset (64 px, patch 8: 64 tokens of width 32; MVP 16/8/4
clusters, K 3/3/2) and a real-size CLIP ViT-L/14 at 336 px (576 tokens of width 1024; MVP
64/32/16, K 5/3/3), both random-initialised; layer -2 patch tokens as LLaVA v1.5 feeds its
projector. Images are smooth random colour fields (blurred noise), so tokens vary across the image.
Per merge step, the mean number of edges per node over the images; clusters come from the DPC-KNN
of the matching variant (``paper`` with all_pairs, ``chatunivi`` with off_diagonal).

    python benchmarks/bench_mvp_graph_edges.py [--images 4] [--threads 2] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from emollm_plugin.configs.mvp import VARIANTS
from emollm_plugin.projectors.mvp.dpc_knn import DensityRule, multi_step_merge
from emollm_plugin.projectors.mvp.graph import edges_per_node, relation_adjacency
from emollm_plugin.testing.tiny import TINY_CLIP

TAUS = (0.05, 0.1, 0.2, 0.5)
TOWERS = {
    "tiny (64 tok x 32)": (TINY_CLIP, (16, 8, 4), (3, 3, 2)),
    "ViT-L/14@336 (576 tok x 1024)": (dict(hidden_size=1024, intermediate_size=4096,
                                           num_hidden_layers=24, num_attention_heads=16,
                                           image_size=336, patch_size=14),
                                      (64, 32, 16), (5, 3, 3)),
}


def smooth_images(n: int, size: int, device: torch.device) -> torch.Tensor:
    noise = torch.randn(n, 3, max(size // 16, 2), max(size // 16, 2), device=device)
    return torch.nn.functional.interpolate(noise, size=(size, size), mode="bicubic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images per tower (default: 4)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={args.threads} images={args.images} "
          f"load={os.getloadavg()[0]:.1f}")
    print("edges per node, merge steps 1/2/3 (mean over images)")
    print(f"| tower | variant (graph norm) | " + " | ".join(f"tau={t}" for t in TAUS) + " |")
    print("|---|---|" + "---|" * len(TAUS))
    for name, (clip_kwargs, clusters, knn) in TOWERS.items():
        torch.manual_seed(0)
        tower = CLIPVisionModel(CLIPVisionConfig(**clip_kwargs)).to(device).eval()
        pixels = smooth_images(args.images, clip_kwargs["image_size"], device)
        with torch.no_grad():
            tokens = tower(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        for variant, switches in VARIANTS.items():
            rule = DensityRule(switches["delta"], switches["knn_self"], switches["distance_scale"])
            steps = multi_step_merge(tokens, clusters, knn, rule)
            cells = []
            for tau in TAUS:
                per_step = [float(edges_per_node(relation_adjacency(z, tau, switches["graph_norm"]))
                                  .mean()) for z in steps]
                cells.append("/".join(f"{e:.2f}" for e in per_step))
            print(f"| {name} | {variant} ({switches['graph_norm']}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
