"""Resuming LLaVA's LoRA runs on transformers 4.37.2 + torch >= 2.6 (installed by the seams).

1. transformers 4.37.2 writes a PEFT model's DeepSpeed checkpoint without its frozen weights but
   loads it with ``load_module_strict=True``, so every resume fails ("Missing key(s) ...
   base_layer.weight"). Here a PEFT engine loads non-strictly, after checking that every
   *trainable* weight is in the checkpoint (the frozen ones come from the base model).
2. torch >= 2.6 loads with ``weights_only=True``; the Trainer's ``rng_state_*.pth`` holds numpy's
   RNG state, which that rejects. The Trainer's own file is loaded with numpy's array types allowed,
   for that call only.
"""
from __future__ import annotations

import glob


def load_deepspeed_checkpoint(engine, checkpoint_path, upstream, **upstream_kwargs):
    from peft import PeftModel
    import torch

    if not isinstance(engine.module, PeftModel):
        return upstream(engine, checkpoint_path, **upstream_kwargs)
    step_dirs = sorted(glob.glob(f"{checkpoint_path}/global_step*"))
    states = sorted(glob.glob(f"{step_dirs[-1]}/mp_rank_*_model_states.pt")) if step_dirs else []
    if not states:
        raise ValueError(f"no DeepSpeed checkpoint (global_step*/mp_rank_*_model_states.pt) in {checkpoint_path}")
    saved = torch.load(states[0], map_location="cpu", weights_only=False)["module"]
    trainable = {name for name, p in engine.module.named_parameters() if p.requires_grad}
    missing = sorted(trainable - set(saved))
    if missing:
        raise ValueError(f"{checkpoint_path} lacks {len(missing)} trainable weights, e.g. {missing[:3]}: it was "
                         "written by a run with other LoRA / projector settings; resume with the same flags")
    load_path, _ = engine.load_checkpoint(checkpoint_path, load_optimizer_states=True,
                                          load_lr_scheduler_states=True, load_module_strict=False)
    if load_path is None:
        raise ValueError(f"DeepSpeed could not resume from {checkpoint_path}")


def numpy_rng_globals() -> list:
    import numpy as np
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_rng_state(trainer, checkpoint, upstream):
    import torch
    with torch.serialization.safe_globals(numpy_rng_globals()):
        return upstream(trainer, checkpoint)
