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
                "| Overall (micro, sample-weighted) |")


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
    assert row.startswith("| Accuracy (%) | ") and row.count("|") == 10
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
