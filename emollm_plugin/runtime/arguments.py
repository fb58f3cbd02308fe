"""The command-line options every runtime user shares: checkpoint, generation and device."""
from __future__ import annotations

import argparse

from ..configs.recorded import VIDEO_FRAMES_HELP
from .loading import DTYPES, FALLBACK_CONV_MODE


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The checkpoint, generation and device options shared by eval infer, predict, serve, demo-ui and
    the lmms-eval model."""
    p.add_argument("--model-path", "--model", dest="model_path", required=True,
                   help="checkpoint folder (LoRA adapter, projector or full)")
    p.add_argument("--model-base", default=None, help="the LLM a LoRA/projector checkpoint was trained on")
    p.add_argument("--conv-mode", default=None,
                   help="LLaVA conversation template (default: the one training used, recorded in the checkpoint "
                        f"config; {FALLBACK_CONV_MODE} for checkpoints that record none)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default: 0)")
    p.add_argument("--top_p", "--top-p", dest="top_p", type=float, default=None, help="(default: None)")
    p.add_argument("--num-beams", "--num_beams", dest="num_beams", type=int, default=1, help="(default: 1)")
    p.add_argument("--max-new-tokens", "--max_new_tokens", dest="max_new_tokens", type=int, default=128,
                   help="(default: 128)")
    p.add_argument("--num-video-frames", type=int, default=None, help=VIDEO_FRAMES_HELP)
    p.add_argument("--answer-mode", choices=("generate", "score"), default="generate",
                   help="generate the answer (the paper's way), or score closed-set questions (emotion_closed, "
                        "intention, yes/no tasks) by each option's likelihood in one pass, with per-option "
                        "probabilities (docs/evaluation.md; default: generate)")
    p.add_argument("--batch-size", type=int, default=8, help="records per generate call (default: 8)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="auto = bfloat16 on CUDA, float32 on CPU (default: auto)")
    p.add_argument("--load-4bit", action="store_true", help="4-bit weights through LLaVA's loader (CUDA only)")
    p.add_argument("--load-8bit", action="store_true", help="8-bit weights through LLaVA's loader (CUDA only)")
    p.add_argument("--model-id", default=None, help="model_id written per answer (default: the folder name)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling when --temperature > 0 (default: 0)")
