"""Nothing that produces an answer reads the gold label: answering a question file, the same file
with its gold fields removed, and the same file with its labels permuted across records give
byte-identical answers files, through the real ``emollm eval infer`` path (tiny checkpoint,
greedy), with the checkpoint's own template and with EmoPrompt's packaged exemplar bank."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_eval_infer import eval_setup, infer

pytestmark = pytest.mark.slow  # trains the tiny checkpoint once (shared with test_eval_infer)


def _without_gold(record: dict) -> dict:
    """The record as a user with no answers would write it: no label, answer turn or metadata."""
    kept = {k: v for k, v in record.items() if k not in ("label", "meta", "source_id", "split")}
    kept["conversations"] = record["conversations"][:1]
    return kept


def _labels_permuted(records: list[dict]) -> list[dict]:
    """Every record carries the gold fields of another record (rotated by one)."""
    moved = []
    for i, record in enumerate(records):
        donor = records[(i + 1) % len(records)]
        moved.append({**record, "label": donor["label"], "meta": {"votes": [donor["label"]]},
                      "conversations": [record["conversations"][0], donor["conversations"][1]]})
    return moved


def _question_files(setup, folder: Path) -> dict[str, Path]:
    records = json.loads(setup.questions.read_text())
    assert len({r["label"] for r in records}) > 1  # a permutation that changes labels
    variants = {"gold": records, "no_labels": [_without_gold(r) for r in records],
                "permuted": _labels_permuted(records)}
    assert [r["label"] for r in variants["permuted"]] != [r["label"] for r in records]
    files = {}
    for name, rows in variants.items():
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(rows, indent=1))
    return files


def _answers(setup, question_file: Path, answers: Path, *extra: str) -> bytes:
    from dataclasses import replace
    code, stderr = infer(replace(setup, questions=question_file), answers, *extra)
    assert code == 0, stderr
    return answers.read_bytes() + b"\n--skipped--\n" + answers.with_name(answers.name + ".skipped.jsonl").read_bytes()


def test_answers_are_the_same_bytes_with_labels_removed_or_permuted(tiny_models, tmp_path_factory, tmp_path):
    setup = eval_setup(tiny_models, tmp_path_factory)
    files = _question_files(setup, tmp_path)
    got = {name: _answers(setup, path, tmp_path / f"{name}.jsonl") for name, path in files.items()}
    assert got["gold"].count(b'"question_id"') >= 10
    assert got["no_labels"] == got["gold"] and got["permuted"] == got["gold"]


def test_emoprompt_answers_are_the_same_bytes_with_labels_removed_or_permuted(tiny_models, tmp_path_factory,
                                                                               tmp_path):
    setup = eval_setup(tiny_models, tmp_path_factory)
    ckpt = tmp_path / setup.ckpt.name  # the checkpoint, as if trained with the packaged bank
    shutil.copytree(setup.ckpt, ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config.update(emoprompt_bank="illustrative", emoprompt_strategy="same-label-excluded", emoprompt_seed=0)
    (ckpt / "config.json").write_text(json.dumps(config))
    from dataclasses import replace
    setup = replace(setup, ckpt=ckpt)
    files = _question_files(setup, tmp_path)
    got = {name: _answers(setup, path, tmp_path / f"{name}.jsonl", "--conv-mode", "emoprompt_v1")
           for name, path in files.items()}
    assert got["gold"].count(b'"question_id"') >= 10
    assert got["no_labels"] == got["gold"] and got["permuted"] == got["gold"]


def test_the_prompt_with_an_exemplar_does_not_change_with_the_label():
    """The prompt itself (what the model sees), for every packaged exemplar task."""
    from emollm_plugin import register
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime
    from emollm_plugin.eval.questions import build_prompt

    register()
    runtime = EmoPromptRuntime("illustrative", "same-label-excluded", phase="eval")
    for task, labels in (("emotion_open", ("joy", "anger", "neutral")), ("sarcasm", ("yes", "no")),
                         ("intention", ("Complain", "Praise"))):
        for k in range(12):
            record = {"id": f"q{k}", "task": task, "dataset": "d", "image": f"d/{k}.png",
                      "conversations": [{"from": "human", "value": "<image>\nWhat is shown?"}]}
            prompts = {build_prompt({**record, "label": label,
                                     "conversations": record["conversations"] + [{"from": "gpt", "value": label}]},
                                    "emoprompt_v1", emoprompt=runtime) for label in labels}
            prompts.add(build_prompt(record, "emoprompt_v1", emoprompt=runtime))
            assert len(prompts) == 1, (task, k)
