"""The plugin's path learns: a toy task trained through ``python -m emollm_plugin.train`` (LLaVA's
own ``train()``) and answered through the loader (``python -m emollm_plugin.eval.infer``).

The data is the demo's (``demo_data.py``): four labels, each kind of record decided by one
modality only (image colour, clip colour, and for clips with sound the pitch of the tone over
identical grey frames). Images and clips must reach 75 % on unseen media, three times chance (25 %),
and sound 50 %, twice chance,
with EmoPrompt off (``--version v1``) and on (``--version emoprompt_v1``, packaged exemplars).
One training per setting serves every assertion of that setting.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two trainings through LLaVA's train(), answered by the loader

STEPS = 120
CHANCE = 0.25
FLOOR = 0.75  # images and clips, on 8 unseen records each (2 per label)
# clips decided by their sound's pitch: twice chance; measured without EmoPrompt at 120 steps:
# 8/8 in one run and 5/8 in another (the pitch is learned, not reliably to 6/8)
SOUND_FLOOR = 0.5


def _run(args: list[str], cwd) -> None:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from emollm_plugin.testing.demo_data import DEMO_KINDS, make_demo_data
    return make_demo_data(tmp_path_factory.mktemp("learn") / "data", per_label=6, kinds=DEMO_KINDS)


@pytest.fixture(scope="module", params=["v1", "emoprompt_v1"])
def accuracy(request, tiny_models, demo_data, tmp_path_factory):
    """Per-kind accuracy of the reloaded checkpoint on the test split (and the answers)."""
    from emollm_plugin.testing.demo_data import accuracy_by_kind, kind_of
    root = tmp_path_factory.mktemp(f"learn_{request.param}")
    out = root / "ckpt"
    version = ["--version", request.param] + (["--emoprompt_bank", "illustrative"]
                                              if request.param == "emoprompt_v1" else [])
    _run(["emollm_plugin.train", "--model_name_or_path", str(tiny_models.llm), *version,
          "--data_path", str(demo_data / "train.json"), "--image_folder", str(demo_data / "media"),
          "--vision_tower", str(tiny_models.clip), "--mm_vision_select_layer", "-2",
          "--mm_projector_type", "mvp", "--mvp_num_clusters", "16", "8", "4", "--mvp_knn", "3", "3", "2",
          "--mvp_frames_per_event", "4", "--audio_tower", str(tiny_models.whisper),
          "--mm_audio_num_tokens", "8", "--num_video_frames", "8",
          "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
          "--lora_enable", "True", "--lora_r", "16", "--lora_alpha", "32",
          "--output_dir", str(out), "--max_steps", str(STEPS), "--per_device_train_batch_size", "4",
          "--learning_rate", "5e-3", "--lr_scheduler_type", "cosine", "--warmup_ratio", "0.05",
          "--save_strategy", "no", "--model_max_length", "512", "--dataloader_num_workers", "0",
          "--report_to", "none", "--seed", "0", "--disable_tqdm", "True"], cwd=root)
    answers = root / "answers.jsonl"
    _run(["emollm_plugin.eval.infer", "--model-path", str(out), "--model-base", str(tiny_models.llm),
          "--question-file", str(demo_data / "test.json"), "--media-root", str(demo_data / "media"),
          "--answers-file", str(answers), "--num-video-frames", "8"], cwd=root)
    records = {r["id"]: r for r in json.loads((demo_data / "test.json").read_text())}
    answers = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(answers) == len(records)
    said = collections.defaultdict(list)
    for answer in answers:
        said[kind_of(records[answer["question_id"]])].append(answer["text"])
    return {kind: right / total for kind, (right, total) in accuracy_by_kind(answers, records).items()}, said


@pytest.mark.parametrize("kind", ["image", "video", "video+audio"])
def test_each_modality_is_learned_far_above_chance(request, accuracy, kind):
    if kind == "video+audio" and request.node.callspec.params["accuracy"] == "emoprompt_v1":
        # measured with this recipe: 4/8 (this test), 4/8 at 160 steps, 5/8 and 7/8 (scripts/demo.sh)
        request.applymarker(pytest.mark.xfail(strict=False, reason=(
            "with EmoPrompt's long system prompt the pitch is not learned reliably in 120 steps "
            "(docs/training.md, The demo: what it learns)")))
    scores, said = accuracy
    floor = SOUND_FLOOR if kind == "video+audio" else FLOOR
    assert scores[kind] >= floor >= 2 * CHANCE, (kind, scores, said[kind])
