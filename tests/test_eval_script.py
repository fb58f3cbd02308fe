"""scripts/eval_emobench.sh on the tiny checkpoint: answers, scores, the table and the plots."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from test_eval_infer import eval_setup, read_jsonl

pytestmark = pytest.mark.slow  # the eval script end to end in subprocesses

SCRIPT = Path(__file__).parent.parent / "scripts" / "eval_emobench.sh"
BIN = Path(sys.executable).parent
TABLE_HEADER = ("|  | Emo-C | Emo-O | Intention | Hate | Humor | Sarcasm | Overall (macro mean of tasks) "
                "| Overall (micro, sample-weighted) | Overall (paper-style) |")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                       VIRTUAL_ENV=str(BIN.parent), **env)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environment,
                          timeout=300)


@pytest.fixture(scope="module")
def evaluated(tiny_models, tmp_path_factory):
    setup = eval_setup(tiny_models, tmp_path_factory)
    out = tmp_path_factory.mktemp("script") / "eval"
    proc = _run([str(setup.ckpt), str(setup.base)], TEST_FILE=str(setup.questions), MEDIA_ROOT=str(setup.media),
                OUT_DIR=str(out), BATCH_SIZE="4", MAX_NEW_TOKENS="6", NUM_VIDEO_FRAMES="4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return setup, out, proc


def test_script_prints_the_table_and_leaves_answers_scores_and_plots(evaluated):
    setup, out, proc = evaluated
    markdown = (out / "scores.md").read_text()
    assert proc.stdout.endswith(markdown)  # the score step printed the report
    lines = markdown.splitlines()
    row = lines[lines.index(TABLE_HEADER) + 2]
    assert row.startswith("| Accuracy (%) | ") and row.count("|") == 11
    assert [r["question_id"] for r in read_jsonl(out / "answers.jsonl")] == setup.good_ids
    skipped = read_jsonl(out / "answers.jsonl.skipped.jsonl")
    assert {s["question_id"] for s in skipped} == {setup.corrupt_id, setup.missing_id}
    scores = json.loads((out / "scores.json").read_text())
    assert {task: counts["n"] for task, counts in scores["tasks"].items()} == {"emotion_closed": 4, "emotion_open": 10}
    assert scores["input"]["unanswered"]["count"] == 2
    for name in ("accuracy_by_task", "confusion_emotion_closed", "outcomes_emotion_closed", "outcomes_emotion_open"):
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 100
    assert "wrote 6 files to" in proc.stderr


def test_script_without_a_checkpoint_prints_its_usage():
    proc = _run([])
    assert proc.returncode == 2 and "bash scripts/eval_emobench.sh CKPT [BASE]" in proc.stderr
    assert "TEST_FILE" in proc.stderr and "(default: <repo>/data/emobench/test.json)" in proc.stderr


def test_script_names_a_missing_input(tmp_path):
    proc = _run([str(tmp_path / "no-such-ckpt")], TEST_FILE=str(tmp_path / "t.json"))
    assert proc.returncode == 2 and f"{tmp_path / 'no-such-ckpt'} does not exist" in proc.stderr


@pytest.mark.slow
def test_seeds_evaluate_each_seed_checkpoint_then_aggregate(tiny_models, tmp_path_factory, tmp_path):
    setup = eval_setup(tiny_models, tmp_path_factory)
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed in (1, 2):  # finetune_emo_lora.sh's SEEDS naming: ${OUTPUT_DIR}-seed${SEED}
        (runs / f"{setup.ckpt.name}-seed{seed}").symlink_to(setup.ckpt, target_is_directory=True)
    out = tmp_path / "eval"
    common = dict(TEST_FILE=str(setup.questions), MEDIA_ROOT=str(setup.media), OUT_DIR=str(out), BATCH_SIZE="4",
                  MAX_NEW_TOKENS="6", NUM_VIDEO_FRAMES="4", INFER_ARGS="--limit 4")
    missing = _run([str(runs / setup.ckpt.name), str(setup.base)], SEEDS="1 2 3", **common)
    assert missing.returncode == 2 and f"{setup.ckpt.name}-seed3 does not exist" in missing.stderr
    proc = _run([str(runs / setup.ckpt.name), str(setup.base)], SEEDS="1 2", **common)
    assert proc.returncode == 0, proc.stderr[-3000:]
    per_seed = [json.loads((tmp_path / f"eval-seed{seed}" / "scores.json").read_text()) for seed in (1, 2)]
    result = json.loads((out / "aggregate" / "aggregate.json").read_text())
    assert result["runs"] == [str(tmp_path / f"eval-seed{seed}" / "scores.json") for seed in (1, 2)]
    accuracy = result["figures"]["tasks.emotion_open.accuracy"]
    assert accuracy["values"] == [s["tasks"]["emotion_open"]["accuracy"] for s in per_seed]
    assert accuracy["std"] == 0.0  # the same checkpoint twice, greedy: identical answers
    assert (out / "aggregate" / "aggregate.md").read_text() in proc.stdout
    with Image.open(out / "aggregate" / "aggregate.png") as image:
        assert image.format == "PNG"
