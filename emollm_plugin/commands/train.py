"""`python -m emollm_plugin.train ...`: LLaVA's own `train()` with the plugin registered.

Takes exactly LLaVA's training flags plus the plugin's (`--mm_projector_type mvp`, `--mvp_*`,
`--audio_tower`, `--mm_audio_*`, `--num_video_frames`). Upstream's `train_mem.py` forces
flash-attn; here the attention implementation follows what is installed.
"""
from __future__ import annotations

from ..plugin.compat import choose_attn_implementation


def seed_from_argv(argv: list[str], default: int = 42) -> int:
    """The run's --seed (transformers' default 42), read before LLaVA parses its arguments."""
    for i, arg in enumerate(argv):
        if arg == "--seed" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--seed="):
            return int(arg.split("=", 1)[1])
    return default


def main() -> None:
    import sys

    import transformers

    from .. import register
    from ..runtime.quiet_load import deprecations_once_per_run
    deprecations_once_per_run()
    register()
    import llava.train.train as upstream
    # LLaVA's train() builds the projectors and LoRA weights before the Trainer seeds anything:
    # seed first, so two identical commands start from identical weights.
    transformers.set_seed(seed_from_argv(sys.argv[1:]))
    attn = choose_attn_implementation()
    print(f"[emollm] attention implementation: {attn}", flush=True)
    from ..configs import ConfigError
    try:
        upstream.train(attn_implementation=attn)
    except ConfigError as err:  # a flag the plugin refuses: the message says what to pass
        print(f"emollm train: error: {err}", file=sys.stderr)
        sys.exit(2)
    if is_rank_zero():
        from ..train.card import write_final_card
        card = write_final_card(sys.argv[1:])  # over PEFT's template README
        if card is not None:
            print(f"[emollm] model card: {card}", flush=True)


def is_rank_zero() -> bool:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    import os
    return os.environ.get("RANK", "0") == "0"


if __name__ == "__main__":
    main()
