"""The checkpoint's model card: the Hub's metadata header as huggingface_hub parses it, the
plugin's settings and training facts in the text, the scores `emollm eval score --model-card`
writes into it, and training replacing PEFT's template (slow: one tiny run)."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from emollm_plugin.model_card import render_model_card, training_from_card
from emollm_plugin.train.card import training_facts

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CONFIG = {"_name_or_path": "models/vicuna-7b-v1.5", "model_type": "llava_llama", "mm_projector_type": "mvp",
          "mm_vision_tower": "models/clip-vit-large-patch14", "mm_vision_select_layer": -2,
          "mvp_num_clusters": [64, 32, 16], "mvp_knn": [5, 3, 3], "mvp_variant": "chatunivi",
          "mm_audio_tower": "models/whisper-base.pt", "mm_audio_num_tokens": 32, "emollm_conv_mode": "emoprompt_v1",
          "tokenizer_model_max_length": 2048, "hidden_size": 4096}
TRAINING = {"base_model": "models/vicuna-7b-v1.5", "data_path": "data/emobench/train.json", "steps": 1200,
            "lora_r": "128", "lora_alpha": "256", "num_video_frames": "8", "final_loss": 0.4321}


def card_of(text: str):
    from huggingface_hub import ModelCard
    return ModelCard(text, ignore_metadata_errors=False)


def test_header_is_the_hubs_metadata_and_the_text_holds_no_template_placeholder():
    text = render_model_card(CONFIG, training=TRAINING)
    data = card_of(text).data.to_dict()
    assert data["license"] == "other" and data["base_model"] == "models/vicuna-7b-v1.5"
    assert data["library_name"] == "peft" and data["pipeline_tag"] == "image-text-to-text"
    assert {"emollm", "llava", "emotion-recognition"} <= set(data["tags"])
    assert "[More Information Needed]" not in text
    for shown in ("| `mvp_num_clusters` | `[64, 32, 16]` |", "| `mm_audio_num_tokens` | `32` |",
                  "Conversation template (`--conv-mode`): `emoprompt_v1`", "Frames per clip: `8`",
                  "Optimizer steps: `1200`", "LoRA (r=128, alpha=256)", "Data: `data/emobench/train.json`",
                  "No evaluation is recorded", "## Limits", "Intended use"):
        assert shown in text, shown
    assert training_from_card(text) == TRAINING


def test_a_full_checkpoint_without_training_facts_is_transformers_and_names_its_config_base():
    text = render_model_card({"_name_or_path": "base-llm", "mm_projector_type": "mlp2x_gelu"})
    data = card_of(text).data.to_dict()
    assert data["library_name"] == "transformers" and data["base_model"] == "base-llm"
    assert "emollm_training" not in data and training_from_card(text) == {}
    assert "Audio tower: `none`" in text and "`mlp2x_gelu` projector" in text


def test_scores_appear_as_the_scorers_figures():
    from emollm_plugin.eval.score import score_files
    scores = score_files(FIXTURES / "answers.jsonl", FIXTURES / "questions.json")
    text = render_model_card(CONFIG, scores=scores, training=TRAINING)
    assert "No evaluation is recorded" not in text
    cells = [f"{scores['tasks'][t]['accuracy']:.2f}" for t in ("emotion_closed", "emotion_open", "sarcasm")]
    cells += [f"{scores[k]:.2f}" for k in ("macro", "micro", "paper_style")]
    table = next(line for line in text.splitlines() if line.startswith("| ") and cells[0] in line)
    assert all(cell in table for cell in cells)
    assert f"{scores['n']} test question(s) of `{FIXTURES / 'questions.json'}`" in text


def test_eval_score_writes_the_scores_into_the_card_and_keeps_the_training_facts(tmp_path):
    from emollm_plugin.eval.cli import main
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(CONFIG))
    (ckpt / "README.md").write_text(render_model_card(CONFIG, training=TRAINING))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["score", "--answers", str(FIXTURES / "answers.jsonl"), "--questions",
                     str(FIXTURES / "questions.json"), "--model-card", str(ckpt)])
    assert code == 0, err.getvalue()
    text = (ckpt / "README.md").read_text()
    assert "Accuracy (%) on" in text and training_from_card(text) == TRAINING
    assert card_of(text).data.to_dict()["base_model"] == "models/vicuna-7b-v1.5"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["score", "--answers", str(FIXTURES / "answers.jsonl"), "--questions",
                     str(FIXTURES / "questions.json"), "--model-card", str(tmp_path)])
    assert code == 2 and "no config.json" in err.getvalue()


def test_training_facts_come_from_the_command_line_and_the_trainer_state():
    argv = ["--model_name_or_path", "base", "--lora_enable", "True", "--lora_r", "16", "--learning_rate=2e-4",
            "--data_path", "train.json", "--mvp_knn", "3", "3", "2"]
    state = {"global_step": 60, "epoch": 2.5, "log_history": [{"loss": 6.1}, {"loss": 5.2}, {"train_runtime": 9}]}
    assert training_facts(argv, state) == {"base_model": "base", "lora_r": "16", "learning_rate": "2e-4",
                                           "data_path": "train.json", "steps": 60, "epochs": 2.5, "final_loss": 5.2}
    assert "lora_r" not in training_facts(["--lora_r", "16"])  # LoRA off: its rank says nothing


@pytest.mark.slow
def test_training_replaces_pefts_template_and_prints_progress_lines(tiny_models, tmp_path, monkeypatch, capsys):
    """`python -m emollm_plugin.train` in this process: the final folder and checkpoint-N get the
    card; rank 0 prints a line with loss and ETA per logged step (stderr is no terminal here)."""
    from e2e_helpers import tiny_train_args

    import emollm_plugin
    from emollm_plugin.testing.demo_data import make_demo_data
    from emollm_plugin.commands import train as launch

    data = make_demo_data(tmp_path / "data", per_label=1, kinds=("image",))
    out = tmp_path / "emollm-llava-lora-card"
    argv = tiny_train_args(tiny_models, data, out, "--save_strategy", "steps", "--save_steps", "1", max_steps=2)
    monkeypatch.setattr(sys, "argv", ["emollm_plugin.train", *argv])
    with emollm_plugin.register():
        launch.main()
    printed = capsys.readouterr().out
    for folder, steps in ((out, 2), (out / "checkpoint-1", 1)):
        text = (folder / "README.md").read_text()
        assert "[More Information Needed]" not in text and "# EmoLLM checkpoint" in text, folder
        assert card_of(text).data.to_dict()["library_name"] == "peft"
        assert training_from_card(text)["steps"] == steps
    assert "| `mvp_knn` | `[3, 3, 2]` |" in (out / "README.md").read_text()
    lines = [line for line in printed.splitlines() if line.startswith("[emollm] step ")]
    assert [line.split()[2] for line in lines] == ["1/2", "2/2"], printed
    assert all(" loss " in line and "ETA" in line for line in lines)
    shutil.rmtree(out)
