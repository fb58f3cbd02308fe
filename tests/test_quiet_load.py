"""A calm load: the expected transformers warnings are held back and checked, anything else passes,
a weight the checkpoint lacks is an error, one line says what was loaded, and deprecation notices
appear once per run (not in the processes a command starts)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from emollm_plugin.runtime.quiet_load import (EXPECTED_TYPE_MISMATCH, HeldMessages, LoadError, check_initialized,
                                              quiet_load)

NOT_INITIALIZED = ("Some weights of EmoLlavaLlamaForCausalLM were not initialized from the model checkpoint at "
                   "models/llm and are newly initialized: ['model.mm_projector.content_proj.weight', "
                   "'model.audio_projector.mlp.0.bias']\nYou should probably TRAIN this model on a down-stream "
                   "task to be able to use it for predictions and inference.")


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("transformers.modeling_utils", logging.WARNING, __file__, 1, message, None, None)


def test_the_expected_messages_are_held_and_their_weights_kept_others_pass():
    held = HeldMessages()
    assert not held.filter(record(EXPECTED_TYPE_MISMATCH + ". This is not supported for all configurations"))
    assert not held.filter(record(NOT_INITIALIZED))
    assert held.newly_initialized == ["model.mm_projector.content_proj.weight", "model.audio_projector.mlp.0.bias"]
    assert held.filter(record("You are using a model of type mistral to instantiate a model of type llava_llama."))
    assert held.filter(record(NOT_INITIALIZED.replace("EmoLlavaLlamaForCausalLM", "LlamaForCausalLM")))
    assert held.filter(record("Some weights of the model checkpoint at x were not used when initializing"))


def _save_trainables(folder, names):
    folder.mkdir(exist_ok=True)
    torch.save({f"base_model.model.{name}": torch.zeros(1) for name in names}, folder / "non_lora_trainables.bin")


def test_a_weight_neither_in_the_base_nor_in_the_checkpoint_is_an_error(tmp_path):
    names = ["model.mm_projector.content_proj.weight", "model.audio_projector.mlp.0.bias"]
    _save_trainables(tmp_path / "ok", names)
    check_initialized(names, tmp_path / "ok")  # LLaVA's prefixes stripped as its loader strips them
    _save_trainables(tmp_path / "short", names[:1])
    with pytest.raises(LoadError, match=r"1 weight\(s\) are neither in the base model nor in the checkpoint "
                                        r"\(non_lora_trainables.bin\).*'model.audio_projector.mlp.0.bias'"):
        check_initialized(names, tmp_path / "short")
    with pytest.raises(LoadError, match="no non_lora_trainables.bin or mm_projector.bin"):
        check_initialized(names, tmp_path)


def test_a_failed_load_prints_what_was_held(tmp_path, capsys):
    logger = logging.getLogger("transformers.modeling_utils")
    with pytest.raises(RuntimeError, match="boom"):
        with quiet_load(tmp_path):
            print("Loading LLaVA from base model...")
            logger.warning(NOT_INITIALIZED)
            raise RuntimeError("boom")
    err = capsys.readouterr().err
    assert "Loading LLaVA from base model..." in err and "newly initialized" in err
    assert not logger.filters


def test_deprecations_are_shown_once_per_run_and_not_by_the_processes_it_starts():
    script = textwrap.dedent("""
        import subprocess, sys, warnings
        from emollm_plugin.runtime.quiet_load import deprecations_once_per_run
        deprecations_once_per_run()
        for _ in range(2):
            warnings.warn("old API", FutureWarning)
            warnings.warn("older API", DeprecationWarning)
            warnings.filterwarnings("default", category=FutureWarning)  # a library's own filter, added later
        sys.stderr.flush()
        child = "import warnings; warnings.warn('old API', FutureWarning); print('child ran')"
        subprocess.run([sys.executable, "-c", child], check=True)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "EMOLLM_DEPRECATIONS_SHOWN")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("FutureWarning: old API") == 1, done.stderr
    assert done.stderr.count("DeprecationWarning: older API") == 1, done.stderr
    assert "child ran" in done.stdout
    rank1 = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           env={**env, "RANK": "1"})
    assert rank1.returncode == 0 and "Warning" not in rank1.stderr, rank1.stderr


@pytest.mark.slow
def test_predict_loads_quietly_and_a_checkpoint_missing_a_trainable_is_a_clear_error(tiny_models, tmp_path_factory,
                                                                                       tmp_path):
    import shutil

    from apps_helpers import apps_setup
    setup = apps_setup(tiny_models, tmp_path_factory)
    command = [sys.executable, "-m", "emollm_plugin.commands.cli", "predict", "--device", "cpu", "--max-new-tokens", "2",
               "--model-base", str(setup.base), str(setup.image()), "--task", "emotion_closed"]
    done = subprocess.run([*command, "--model", str(setup.ckpt), "--out", str(tmp_path / "a.jsonl")],
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for noise in ("TRAIN this model", "newly initialized", EXPECTED_TYPE_MISMATCH, "Loading LLaVA"):
        assert noise not in output, output
    (loaded,) = [line for line in output.splitlines() if line.startswith("emollm: loaded")]
    assert loaded == (f"emollm: loaded {setup.ckpt} on base {setup.base}: projector mvp, audio tower "
                      f"{tiny_models.whisper.name}, float32 on cpu")

    broken = tmp_path / "emollm-llava-lora-broken"
    shutil.copytree(setup.ckpt, broken)
    state = torch.load(broken / "non_lora_trainables.bin")
    dropped = next(k for k in state if "mm_projector" in k)
    del state[dropped]
    torch.save(state, broken / "non_lora_trainables.bin")
    done = subprocess.run([*command, "--model", str(broken), "--out", str(tmp_path / "b.jsonl")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"emollm predict: {broken}: checkpoint weights are missing 1 plugin parameters" in done.stderr
    assert dropped.replace("base_model.model.", "") in done.stderr
    assert "newly initialized" in done.stderr  # the held messages, replayed for context
    assert not (tmp_path / "b.jsonl").exists()
