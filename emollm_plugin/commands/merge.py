"""Fold a LoRA checkpoint into its base and save a complete LLaVA model (the sequential strategy's
step between stage 1 and stage 2).

    python -m emollm_plugin.commands.merge STAGE1_CKPT OUT_DIR [--device cpu]

The checkpoint is loaded with LLaVA's own ``load_pretrained_model`` (LoRA merged as
W' = W + (alpha / r) B A, ``non_lora_trainables.bin`` loaded into the projectors) from the base
its ``adapter_config.json`` names, and saved with every tensor except the frozen towers (the
loader rebuilds those from the paths in the config). ``OUT_DIR/emollm_merged.json`` records the
source and is written last, so a folder without it is an unfinished merge.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def merge(ckpt: str, out: str, device: str = "cpu") -> int:
    """Merge ``ckpt`` into its base, save to ``out``; returns the number of tensors saved."""
    from .. import register
    register()
    from llava.model.builder import load_pretrained_model

    adapter_config = os.path.join(ckpt, "adapter_config.json")
    if not os.path.isfile(adapter_config):
        raise SystemExit(f"merge: {adapter_config} does not exist: {ckpt} is not a LoRA checkpoint")
    with open(adapter_config) as f:
        base = json.load(f)["base_model_name_or_path"]
    tokenizer, model, _, _ = load_pretrained_model(ckpt, base, os.path.basename(os.path.normpath(ckpt)),
                                                   device=device)
    state = {k: v for k, v in model.state_dict().items() if "vision_tower." not in k and "audio_tower." not in k}
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    with open(os.path.join(out, "emollm_merged.json"), "w") as f:
        json.dump({"stage1": os.path.abspath(ckpt), "base": base, "tensors": len(state)}, f, indent=1)
    return len(state)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emollm_plugin.commands.merge", description=__doc__.split("\n")[0])
    ap.add_argument("ckpt", help="LoRA checkpoint folder (adapter_config.json names its base)")
    ap.add_argument("out", help="folder for the merged model")
    ap.add_argument("--device", default="cpu", help="device to merge on (default: cpu)")
    a = ap.parse_args(argv)
    n = merge(a.ckpt, a.out, a.device)
    print(f"[finetune] stage 1 merged: {n} tensors saved to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
