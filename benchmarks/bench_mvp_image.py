"""MVP image projector time as a fraction of the CLIP ViT-L/14 forward at 224 px (target <= 3 %).

Random-initialised real sizes: CLIP ViT-L/14 (24 layers, width 1024, 257 tokens), MVP C=1024 ->
D=4096 on the tower's layer -2 patch tokens (256 per image), as LLaVA v1.5 feeds its projector.
The harness (benchmarks/timing.py) alternates the tower and every projector, minimum and median.

    python benchmarks/bench_mvp_image.py [--batch 1] [--repeats 5] [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from timing import Harness, add_harness_arguments, timed_phase  # noqa: E402  (benchmarks/timing.py)

TARGET = 0.03


def clip_vit_l14() -> CLIPVisionModel:
    return CLIPVisionModel(CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=224, patch_size=14))



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default: 1)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda if available)")
    add_harness_arguments(parser, repeats=5)
    args = parser.parse_args(argv)
    harness = Harness.from_args(args)
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

    clip = "CLIP ViT-L/14 @224"
    with torch.no_grad():
        features = encode()
        paths = {clip: [("forward", timed_phase(lambda _: encode(), device))]}
        for name, module in projectors.items():
            paths[name] = [("forward", timed_phase(lambda _, m=module: m(features), device))]
        runs = harness.run(paths)

    print(f"device={device} batch={args.batch}")
    print(runs.header())
    print(runs.table(clip))
    by_min, by_median = runs.ratios("MVP (content_proj=linear, default)", clip)
    verdict = "met" if max(by_min, by_median) <= TARGET else "NOT met"
    print(f"target: default MVP <= {TARGET:.0%} of the CLIP forward -> {by_min:.2%} (minimums), "
          f"{by_median:.2%} (medians), {verdict}")


if __name__ == "__main__":
    main()
