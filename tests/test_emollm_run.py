"""emollm-run: unmodified upstream entry points build EmoLLM models; nothing changes without it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from e2e_helpers import tiny_train_args

pytestmark = pytest.mark.slow  # subprocesses that import LLaVA under emollm-run

EMOLLM_RUN = str(Path(sys.executable).parent / "emollm-run")
PROBE = ("import llava.model.builder as b, llava.model.llava_arch as a;"
         "print(b.LlavaLlamaForCausalLM.__name__, a.build_vision_projector.__module__)")


def _run(*cmd, **env):
    return subprocess.run(list(cmd), capture_output=True, text=True, env={**os.environ, **env})


def test_plain_python_leaves_llava_untouched():
    proc = _run(sys.executable, "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["LlavaLlamaForCausalLM", "llava.model.multimodal_projector.builder"]


def test_under_emollm_run_llava_is_registered_on_import():
    proc = _run(EMOLLM_RUN, sys.executable, "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["EmoLlavaLlamaForCausalLM", "emollm_plugin.plugin.seams"]


def test_an_existing_sitecustomize_still_runs(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("print('their sitecustomize ran')\n")
    proc = _run(EMOLLM_RUN, sys.executable, "-c", PROBE, PYTHONPATH=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "their sitecustomize ran" in proc.stdout and "EmoLlavaLlamaForCausalLM" in proc.stdout


def test_llavas_own_train_under_emollm_run_trains_mvp(tiny_models, tmp_path):
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=1, kinds=("image",))
    out = tmp_path / "emollm-llava-lora-upstream"
    args = tiny_train_args(tiny_models, data, out, max_steps=2)
    proc = _run(EMOLLM_RUN, sys.executable, "-c", "from llava.train.train import train; train()", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["mm_projector_type"] == "mvp"
    assert any("mm_projector.gcn" in k for k in torch.load(out / "non_lora_trainables.bin"))
