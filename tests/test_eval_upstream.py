"""LLaVA's unmodified ``model_vqa_loader`` under ``emollm-run --cpu`` on the tiny mvp checkpoint."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_eval_infer import eval_setup, read_jsonl

pytestmark = pytest.mark.slow  # a trained checkpoint and LLaVA's own eval script in a subprocess

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory):
    return eval_setup(tiny_models, tmp_path_factory)


@pytest.fixture(scope="module")
def exported(setup, tmp_path_factory):
    """`emollm eval export-questions` on the eval file: (question JSONL, stderr)."""
    out = tmp_path_factory.mktemp("upstream") / "questions.jsonl"
    proc = subprocess.run([str(BIN / "emollm"), "eval", "export-questions", "--questions", str(setup.questions),
                           "--out", str(out), "--media-root", str(setup.media)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stderr


def test_export_keeps_readable_image_records_and_counts_the_rest(setup, exported):
    out, stderr = exported
    records = {r["id"]: r for r in json.loads(setup.questions.read_text())}
    lines = read_jsonl(out)
    expected = [i for i in setup.good_ids if set(records[i]) & {"image", "video", "audio"} == {"image"}]
    assert [line["question_id"] for line in lines] == expected and len(expected) == 6
    for line in lines:
        assert line == {"question_id": line["question_id"], "image": records[line["question_id"]]["image"],
                        "text": records[line["question_id"]]["conversations"][0]["value"].removeprefix("<image>\n")}
    assert "6 image question(s)" in stderr
    assert "left out 4 video record(s)" in stderr and "left out 3 record(s) with audio" in stderr
    assert f"left out 1 record(s) with an unusable image: image missing (e.g. {setup.missing_id})" in stderr


def test_upstream_loader_builds_our_prompt_and_pixels(setup, exported, tiny_models, registered):
    """model_vqa_loader's own dataset gives the ids and image tensor that infer gives."""
    import llava.eval.model_vqa_loader as upstream
    from llava.model.language_model.llava_llama import LlavaConfig
    from transformers import AutoTokenizer, CLIPImageProcessor

    from emollm_plugin.runtime.media import MediaLoader
    from emollm_plugin.eval.questions import build_prompt
    from emollm_plugin.model.tokens import tokenizer_media_token
    tokenizer = AutoTokenizer.from_pretrained(setup.base, use_fast=False)
    processor = CLIPImageProcessor.from_pretrained(tiny_models.clip)
    config = LlavaConfig.from_pretrained(setup.ckpt)
    lines = read_jsonl(exported[0])
    records = {r["id"]: r for r in json.loads(setup.questions.read_text())}
    # its dataset reads the script's global args; LLaVA v1.5's eval scripts pass vicuna_v1, the template
    # `--version v1` trains with (the script's default, llava_v1, has another system prompt)
    upstream.args = argparse.Namespace(conv_mode="vicuna_v1")
    dataset = upstream.CustomDataset(lines, str(setup.media), tokenizer, processor, config)
    ours = MediaLoader(setup.media, processor, config)
    for index in (0, len(lines) - 1):
        record = records[lines[index]["question_id"]]
        ids, image, _ = dataset[index]
        assert ids.tolist() == tokenizer_media_token(build_prompt(record), tokenizer)
        assert (image == ours.load(record)[0]).all()


def test_model_vqa_loader_runs_unmodified_and_its_answers_score(setup, exported, tmp_path):
    from emollm_plugin.eval import score_files
    answers = tmp_path / "answers.jsonl"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(BIN / "emollm-run"), "--cpu", "python", "-m", "llava.eval.model_vqa_loader",
         "--model-path", str(setup.ckpt), "--model-base", str(setup.base), "--question-file", str(exported[0]),
         "--image-folder", str(setup.media), "--answers-file", str(answers), "--conv-mode", "vicuna_v1",
         "--temperature", "0", "--max_new_tokens", "6"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_jsonl(answers)
    assert [row["question_id"] for row in rows] == [line["question_id"] for line in read_jsonl(exported[0])]
    assert all(row["model_id"] == "emollm-llava-lora-eval" and isinstance(row["text"], str) for row in rows)

    scores = score_files(answers, setup.questions)
    assert scores["n"] == 14 and scores["input"]["answers_without_question"]["count"] == 0
    assert scores["input"]["unanswered"]["count"] == 14 - 6
    assert sum(task["n"] - task["unanswered"] for task in scores["tasks"].values()) == 6
