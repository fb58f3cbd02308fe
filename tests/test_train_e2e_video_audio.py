"""Mixed image / video / video+audio records through LLaVA's train() and load_pretrained_model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from e2e_helpers import tiny_train_args, train_in_process

# LoRA training runs through LLaVA's train(); also run on the current version row (scripts/test.sh)
pytestmark = [pytest.mark.slow, pytest.mark.current_stack]

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def trained_mixed(tiny_models, tmp_path_factory):
    from emollm_plugin.testing.demo_data import make_demo_data
    root = tmp_path_factory.mktemp("e2e_mixed")
    data = make_demo_data(root / "data", per_label=2, kinds=("image", "video", "video+audio"), video_frames=8)
    out = root / "emollm-llava-lora-mixed"
    mp = pytest.MonkeyPatch()
    try:
        trainer = train_in_process(mp, tiny_train_args(
            tiny_models, data, out, "--audio_tower", str(tiny_models.whisper), "--mm_audio_num_tokens", "8",
            "--num_video_frames", "8", "--per_device_train_batch_size", "3", max_steps=3))
    finally:
        mp.undo()
    return trainer, data, out


def _find(trainer, predicate):
    return next(i for i, r in enumerate(trainer.train_dataset.records) if predicate(r))


def test_batches_mix_images_clips_and_audio(trained_mixed):
    trainer, _, _ = trained_mixed
    dataset = trainer.train_dataset
    items = [dataset[_find(trainer, lambda r: "image" in r)],
             dataset[_find(trainer, lambda r: "video" in r and "audio" not in r)],
             dataset[_find(trainer, lambda r: "audio" in r)]]
    assert items[0]["image"].shape == (3, 64, 64) and items[0]["audio"] is None
    assert items[1]["image"].shape == (8, 3, 64, 64) and items[1]["audio"] is None
    assert items[2]["image"].shape == (8, 3, 64, 64) and items[2]["audio"].shape[0] == 80
    batch = trainer.data_collator(items)
    assert [x is None for x in batch["audios"]] == [True, True, False]
    model = trainer.model
    model.eval()
    with torch.no_grad():
        loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0


def test_checkpoint_config_and_weights_hold_the_audio_modules(trained_mixed, tiny_models):
    _, _, out = trained_mixed
    config = json.loads((out / "config.json").read_text())
    assert config["mm_audio_tower"] == str(tiny_models.whisper)
    assert config["mm_audio_num_tokens"] == 8 and config["mm_audio_projector_type"] == "mlp2x_gelu"
    assert config["mm_audio_input_norm"] == "standardize"
    saved = torch.load(out / "non_lora_trainables.bin")
    assert any("audio_projector" in k for k in saved)
    # the input standardisation was fitted on the training audio before step 1, then trained
    shift = next(v for k, v in saved.items() if k.endswith("audio_projector.input_shift"))
    scale = next(v for k, v in saved.items() if k.endswith("audio_projector.input_scale"))
    assert shift.abs().max() > 0.01 and (scale - 1).abs().max() > 0.1
    assert not any("audio_tower" in k for k in saved)  # frozen: read from its own path on reload
    assert not any("lora_" in k and "audio" in k for k in saved)


def test_reload_reproduces_logits_on_a_video_with_audio(trained_mixed, tiny_models, tmp_path):
    trainer, _, out = trained_mixed
    item = trainer.train_dataset[_find(trainer, lambda r: "audio" in r)]
    inputs = {"input_ids": item["input_ids"][None], "images": [item["image"]], "audios": [item["audio"]]}
    model = trainer.model
    model.eval()
    with torch.no_grad():
        expected = model(**inputs).logits
    torch.save(inputs, tmp_path / "inputs.pt")
    proc = subprocess.run([sys.executable, str(HERE / "reload_worker.py"), str(out), str(tiny_models.llm),
                           str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt"), "fp16_tower"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(HERE)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = torch.load(tmp_path / "out.pt")
    torch.testing.assert_close(result["logits"], expected, rtol=1e-4, atol=1e-4)
    # the clip's MVP tokens (2 events x 28) and 8 audio tokens replace the two placeholders
    assert result["logits"].shape[1] == item["input_ids"].shape[0] - 2 + 2 * 28 + 8


def test_lora_never_wraps_the_audio_tower_or_projectors(trained_mixed):
    """Fine-tuning from an EmoLLM checkpoint: the towers exist when LoRA is applied."""
    import copy

    from peft import LoraConfig, get_peft_model

    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaForCausalLM
    from emollm_plugin.plugin.seams import find_all_linear_names
    trainer, _, _ = trained_mixed
    model = EmoLlavaLlamaForCausalLM(copy.deepcopy(trainer.model.config))
    model.get_model().load_audio_tower()
    assert any("audio_tower" in n for n, _ in model.named_modules())
    target = find_all_linear_names(model)
    assert isinstance(target, str)  # a full-name regex once an audio tower exists
    wrapped = get_peft_model(model, LoraConfig(r=4, target_modules=target, task_type="CAUSAL_LM"))
    lora_modules = {n for n, _ in wrapped.named_modules() if n.endswith("lora_A")}
    assert lora_modules and not [n for n in lora_modules if any(
        k in n for k in ("audio_tower", "audio_projector", "mm_projector", "vision_tower"))]
    assert any("self_attn.q_proj" in n for n in lora_modules) and any("mlp.down_proj" in n for n in lora_modules)


def test_a_batch_without_audio_still_gives_every_trainable_parameter_a_gradient(trained_mixed):
    """Under ZeRO-2 with several processes, a parameter without a gradient on one rank breaks the
    gradient exchange; the unused audio projector must get an exact zero gradient instead."""
    trainer, _, _ = trained_mixed
    model = trainer.model
    model.train()
    model.zero_grad(set_to_none=True)
    items = [trainer.train_dataset[_find(trainer, lambda r: "image" in r)]]
    batch = trainer.data_collator(items)
    assert "audios" not in batch
    model(**batch).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]
    audio_grads = [p.grad for n, p in model.named_parameters() if "audio_projector" in n and p.requires_grad]
    assert audio_grads and all(torch.count_nonzero(g) == 0 for g in audio_grads)
    model.eval()
