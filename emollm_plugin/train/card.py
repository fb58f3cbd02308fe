"""The model card (``README.md``) of what training saves, in place of PEFT's empty template.

PEFT's ``save_pretrained`` writes a template README into every adapter folder; LLaVA's ``train()``
saves the final adapter after the Trainer's last step. ``write_card`` overwrites that README with
``model_card.render_model_card``: the trainer calls it for each ``checkpoint-N`` it saves, and the
launcher for ``--output_dir`` once ``train()`` has returned. Only the saving process writes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..model_card import render_model_card

# training flag -> key of the card's ``training`` dict
FLAGS = {"--model_name_or_path": "base_model", "--data_path": "data_path", "--learning_rate": "learning_rate",
         "--lora_r": "lora_r", "--lora_alpha": "lora_alpha", "--seed": "seed",
         "--per_device_train_batch_size": "per_device_train_batch_size", "--num_video_frames": "num_video_frames"}


def flag_values(argv: list[str]) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs of a command line (the last one wins)."""
    values = {}
    for i, arg in enumerate(argv):
        if not arg.startswith("--"):
            continue
        name, equals, value = arg.partition("=")
        if equals:
            values[name] = value
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            values[name] = argv[i + 1]
    return values


def training_facts(argv: list[str], state: Optional[dict] = None) -> dict:
    """What the card says about training: the flags in ``argv`` (the run's command line) and, from
    the Trainer's state (``trainer_state.json``), the steps, epochs and last logged loss."""
    flags = flag_values(argv)
    facts = {key: flags[name] for name, key in FLAGS.items() if name in flags}
    if flags.get("--lora_enable", "False") != "True":
        facts.pop("lora_r", None)
        facts.pop("lora_alpha", None)
    if state:
        facts["steps"] = state.get("global_step")
        if state.get("epoch") is not None:
            facts["epochs"] = round(float(state["epoch"]), 3)
        losses = [entry["loss"] for entry in state.get("log_history", []) if "loss" in entry]
        if losses:
            facts["final_loss"] = round(float(losses[-1]), 4)
    return facts


def write_card(folder: str | Path, config: dict, argv: list[str], state: Optional[dict] = None) -> Path:
    """Write ``folder/README.md`` for a checkpoint with this ``config`` (its config.json)."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(config, training=training_facts(argv, state)), encoding="utf-8")
    return path


def write_final_card(argv: list[str]) -> Optional[Path]:
    """After ``train()``: the card of ``--output_dir`` from its config.json and trainer_state.json
    (None when the folder holds no config.json, e.g. a run stopped before saving)."""
    output_dir = flag_values(argv).get("--output_dir")
    if output_dir is None or not (Path(output_dir) / "config.json").is_file():
        return None
    config = json.loads((Path(output_dir) / "config.json").read_text(encoding="utf-8"))
    state_file = Path(output_dir) / "trainer_state.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else None
    return write_card(output_dir, config, argv, state)
