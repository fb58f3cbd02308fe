"""MVP image projector time as a fraction of the CLIP ViT-L/14 forward at 224 px (target <= 3 %).

Random-initialised real sizes: CLIP ViT-L/14 (24 layers, width 1024, 257 tokens), MVP C=1024 ->
D=4096 on the tower's layer -2 patch tokens (256 per image), as LLaVA v1.5 feeds its projector.
Each repeat times the tower and every projector back to back, so machine load hits all alike.

    python benchmarks/bench_mvp_image.py [--batch 1] [--repeats 5] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from timing import timed  # noqa: E402  (benchmarks/timing.py)

TARGET = 0.03


def clip_vit_l14() -> CLIPVisionModel:
    return CLIPVisionModel(CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=224, patch_size=14))



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default: 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default: 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)

    tower = clip_vit_l14().to(device).eval()
    projectors = {
        "MVP (content_proj=linear, default)": MVPProjector(1024, 4096, MVPConfig()),
        "MVP (content_proj=mlp2x_gelu)": MVPProjector(1024, 4096,
                                                       MVPConfig(content_proj="mlp2x_gelu")),
        "LLaVA mlp2x_gelu, 256 tokens (context)": torch.nn.Sequential(
            torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 4096)),
    }
    for module in projectors.values():
        module.to(device).eval()
    pixels = torch.randn(args.batch, 3, 224, 224, device=device)

    def encode() -> torch.Tensor:
        out = tower(pixels, output_hidden_states=True)
        return out.hidden_states[-2][:, 1:]                              # (B, 256, 1024)

    with torch.no_grad():
        features = encode()
        for module in projectors.values():                               # warm-up
            module(features)
        times: dict[str, list[float]] = {"CLIP ViT-L/14 @224": []}
        times.update({name: [] for name in projectors})
        for _ in range(args.repeats):
            times["CLIP ViT-L/14 @224"].append(timed(encode, device)[0])
            for name, module in projectors.items():
                times[name].append(timed(lambda: module(features), device)[0])

    clip_ms = statistics.median(times["CLIP ViT-L/14 @224"]) * 1e3
    print(f"device={device} threads={args.threads} batch={args.batch} repeats={args.repeats} "
          f"(median) load={os.getloadavg()[0]:.1f}")
    print(f"{'component':42s} {'ms':>9s} {'/ CLIP':>8s}")
    for name, values in times.items():
        ms = statistics.median(values) * 1e3
        print(f"{name:42s} {ms:9.1f} {ms / clip_ms:8.2%}")
    default_ratio = statistics.median(times["MVP (content_proj=linear, default)"]) * 1e3 / clip_ms
    verdict = "met" if default_ratio <= TARGET else "NOT met"
    print(f"target: default MVP <= {TARGET:.0%} of the CLIP forward -> {default_ratio:.2%}, "
          f"{verdict}")


if __name__ == "__main__":
    main()
