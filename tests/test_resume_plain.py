"""Without DeepSpeed, a LoRA run resumed from checkpoint-2 ends with the uninterrupted weights,
projectors included (the HF Trainer alone would restart them from random weights)."""
from __future__ import annotations

import shutil

import pytest
import torch

from e2e_helpers import tiny_train_args, train_in_process

pytestmark = pytest.mark.slow  # training runs, stopped and resumed


def _weights(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


def test_resumed_run_matches_the_uninterrupted_one(tiny_models, tmp_path, monkeypatch):
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=2, kinds=("image",))
    full = tmp_path / "emollm-llava-lora-full"
    args = ["--save_strategy", "steps", "--save_steps", "2", "--lora_dropout", "0.0"]
    whole = _weights(train_in_process(monkeypatch, tiny_train_args(tiny_models, data, full, *args)))
    assert (full / "checkpoint-2" / "non_lora_trainables.bin").is_file()

    resumed_dir = tmp_path / "emollm-llava-lora-resumed"
    resumed_dir.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed_dir / "checkpoint-2")
    trainer = train_in_process(monkeypatch, tiny_train_args(tiny_models, data, resumed_dir, *args))
    assert trainer.state.global_step == 4
    resumed = _weights(trainer)
    assert resumed.keys() == whole.keys() and any("mm_projector" in k for k in whole)
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=1e-5, atol=1e-6, msg=name)


def test_resuming_from_a_checkpoint_without_projector_weights_is_an_error(tiny_models, tmp_path, monkeypatch):
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=2, kinds=("image",))
    out = tmp_path / "emollm-llava-lora-a"
    args = ["--save_strategy", "steps", "--save_steps", "2"]
    train_in_process(monkeypatch, tiny_train_args(tiny_models, data, out, *args, max_steps=2))
    broken = tmp_path / "emollm-llava-lora-b"
    broken.mkdir()
    shutil.copytree(out / "checkpoint-2", broken / "checkpoint-2")
    (broken / "checkpoint-2" / "non_lora_trainables.bin").unlink()
    with pytest.raises(FileNotFoundError, match="restart the projectors from random weights"):
        train_in_process(monkeypatch, tiny_train_args(tiny_models, data, broken, *args, max_steps=4))
