"""Run LLaVA's own train() in-process on the tiny models and keep its trainer for inspection."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent


def tiny_train_args(tiny_models, data_dir: Path, output_dir: Path, *extra: str, max_steps: int = 4) -> list[str]:
    return [
        "--model_name_or_path", str(tiny_models.llm), "--version", "v1",
        "--data_path", str(data_dir / "train.json"), "--image_folder", str(data_dir / "media"),
        "--vision_tower", str(tiny_models.clip), "--mm_vision_select_layer", "-2",
        "--mm_projector_type", "mvp", "--mvp_num_clusters", "16", "8", "4", "--mvp_knn", "3", "3", "2",
        "--mvp_frames_per_event", "4",
        "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
        "--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16",
        "--output_dir", str(output_dir), "--max_steps", str(max_steps), "--per_device_train_batch_size", "2",
        "--learning_rate", "2e-3", "--logging_steps", "1", "--save_strategy", "no", "--model_max_length", "512",
        "--gradient_checkpointing", "True", "--dataloader_num_workers", "0", "--report_to", "none",
        "--seed", "0", *extra,
    ]


def train_in_process(monkeypatch, args: list[str]):
    """Call llava.train.train.train() as `python -m emollm_plugin.train` would; return the trainer."""
    import emollm_plugin
    emollm_plugin.register()
    import llava.train.train as upstream

    captured = []

    class CapturingTrainer(upstream.LLaVATrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            captured.append(self)

    monkeypatch.setattr(upstream, "LLaVATrainer", CapturingTrainer)
    monkeypatch.setattr(sys, "argv", ["emollm_plugin.train", *args])
    upstream.train(attn_implementation="sdpa")
    return captured[0]


def first_batch_inputs(trainer, count: int = 2):
    """One batch from the trainer's own data pipeline, as eval would see it (no labels)."""
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(count)])
    return {"input_ids": batch["input_ids"][:1], "images": batch["images"][:1]}


def reload_in_subprocess(ckpt, base, inputs, tmp_path, *flags):
    """Run reload_worker.py (LLaVA's load_pretrained_model in a fresh process) on ``inputs``."""
    torch.save(inputs, tmp_path / "inputs.pt")
    env = dict(os.environ, PYTHONPATH=str(HERE))
    proc = subprocess.run([sys.executable, str(HERE / "reload_worker.py"), str(ckpt), str(base),
                           str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt"), *flags],
                          capture_output=True, text=True, env=env)
    return proc, (torch.load(tmp_path / "out.pt") if proc.returncode == 0 else None)
