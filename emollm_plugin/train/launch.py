"""`python -m emollm_plugin.train ...`: LLaVA's own `train()` with the plugin registered.

Takes exactly LLaVA's training flags plus the plugin's (`--mm_projector_type mvp`, `--mvp_*`,
`--audio_tower`, `--mm_audio_*`, `--num_video_frames`). Upstream's `train_mem.py` forces
flash-attn; here the attention implementation follows what is installed.
"""
from __future__ import annotations

import importlib.util
import os


def choose_attn_implementation() -> str:
    """flash_attention_2 on CUDA when flash-attn is installed, else PyTorch SDPA (never a crash)."""
    forced = os.environ.get("EMOLLM_ATTN_IMPLEMENTATION")
    if forced:
        return forced
    import torch
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def main() -> None:
    from .. import register
    register()
    import llava.train.train as upstream
    attn = choose_attn_implementation()
    print(f"[emollm] attention implementation: {attn}", flush=True)
    upstream.train(attn_implementation=attn)


if __name__ == "__main__":
    main()
