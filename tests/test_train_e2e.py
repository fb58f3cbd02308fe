"""End to end through LLaVA's own train() and load_pretrained_model with the MVP projector + LoRA."""
from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from e2e_helpers import first_batch_inputs, reload_in_subprocess, tiny_train_args, train_in_process

# LoRA training runs through LLaVA's train(); also run on the current version row (scripts/test.sh)
pytestmark = [pytest.mark.slow, pytest.mark.current_stack]


@pytest.fixture(scope="module")
def trained(tiny_models, tmp_path_factory):
    from emollm_plugin.testing.demo_data import make_demo_data
    root = tmp_path_factory.mktemp("e2e_image")
    data = make_demo_data(root / "data", per_label=3, kinds=("image",))
    out = root / "emollm-llava-lora-tiny"
    mp = pytest.MonkeyPatch()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer = train_in_process(mp, tiny_train_args(tiny_models, data, out))
    finally:
        mp.undo()
    trainer.caught_warnings = [str(w.message) for w in caught]
    return trainer, data, out


def test_checkpoint_names_mvp_and_all_its_hyperparameters(trained):
    import json
    _, _, out = trained
    config = json.loads((out / "config.json").read_text())
    assert config["mm_projector_type"] == "mvp"
    assert config["mvp_num_clusters"] == [16, 8, 4] and config["mvp_knn"] == [3, 3, 2]
    for key in ("mvp_tau", "mvp_alpha", "mvp_gcn_layers", "mvp_frames_per_event", "mvp_contiguous_events"):
        assert key in config
    saved = torch.load(out / "non_lora_trainables.bin")
    assert any("mm_projector.gcn" in k for k in saved) and any("mm_projector.content_proj" in k for k in saved)


def test_training_loss_is_finite_and_not_masked(trained):
    trainer, _, _ = trained
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and all(0.0 < x < 50 for x in losses)  # 0.0 = every target masked


def test_reloaded_checkpoint_reproduces_trained_logits(trained, tiny_models, tmp_path):
    trainer, data, out = trained
    model = trainer.model
    model.eval()
    inputs = first_batch_inputs(trainer)
    with torch.no_grad():
        expected = model(**inputs).logits
    proc, result = reload_in_subprocess(out, tiny_models.llm, inputs, tmp_path, "fp16_tower")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["projector"] == "MVPProjector" and result["dtype"] == "torch.float32"
    torch.testing.assert_close(result["logits"], expected, rtol=1e-4, atol=1e-4)
    assert result["generated"].shape[1] >= 1


def test_every_trainable_parameter_gets_a_finite_nonzero_gradient(trained):
    trainer, _, _ = trained
    model = trainer.model
    model.train()
    model.zero_grad(set_to_none=True)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    model(**batch).loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any("mm_projector" in n for n in trainable)
    bad = [n for n, p in trainable.items()
           if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not bad, f"no/zero/non-finite gradient for {bad[:10]}"
    frozen_towers = [n for n, p in model.named_parameters() if "vision_tower" in n and p.requires_grad]
    assert not frozen_towers
    # upstream's run prints this when gradient checkpointing sees inputs without grad
    assert not [w for w in trainer.caught_warnings if "None of the inputs have requires_grad" in w]


def test_missing_projector_weight_in_checkpoint_is_an_error(trained, tiny_models, tmp_path):
    trainer, data, out = trained
    broken = tmp_path / "emollm-llava-lora-broken"
    shutil.copytree(out, broken)
    weights = torch.load(broken / "non_lora_trainables.bin")
    dropped = next(k for k in weights if "mm_projector.gcn" in k)
    del weights[dropped]
    torch.save(weights, broken / "non_lora_trainables.bin")
    proc, _ = reload_in_subprocess(broken, tiny_models.llm, first_batch_inputs(trainer), tmp_path)
    assert proc.returncode != 0
    assert "missing" in proc.stderr and dropped.split("base_model.model.")[-1] in proc.stderr


def test_projector_weight_of_wrong_shape_is_an_error(trained, tiny_models, tmp_path):
    trainer, data, out = trained
    broken = tmp_path / "emollm-llava-lora-badshape"
    shutil.copytree(out, broken)
    weights = torch.load(broken / "non_lora_trainables.bin")
    key = next(k for k in weights if k.endswith("content_proj.weight"))
    weights[key] = torch.zeros(weights[key].shape[0] + 1, weights[key].shape[1])
    torch.save(weights, broken / "non_lora_trainables.bin")
    proc, _ = reload_in_subprocess(broken, tiny_models.llm, first_batch_inputs(trainer), tmp_path)
    assert proc.returncode != 0
    assert "projector weights do not match" in proc.stderr
