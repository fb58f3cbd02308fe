"""Exemplar bank: the packaged example bank, round trips, and every kind of error named by
file, line and field."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, replace

import pytest

from emollm_plugin.tasks.labels import TASKS
from emollm_plugin.emoprompt.bank import (BankError, Exemplar, append_exemplar, example_bank_path,
                                          bank_file, load_bank, validate_bank)

GOOD = Exemplar(schema_version=1, id="ex/1", task="emotion_open", label="joy", source_id="demo/1",
                media={"image": "demo/1.png"}, reasoning="She smiles widely, so she feels joy.",
                answer="joy", generator="test-model", prompt_version="v-test",
                created_at="2026-01-01T00:00:00+00:00")


def _write(path, *records, tail="\n"):
    lines = [r if isinstance(r, str) else json.dumps(asdict(r) if isinstance(r, Exemplar) else r)
             for r in records]
    path.write_text("\n".join(lines) + tail, encoding="utf-8")
    return path


def test_example_bank_is_valid_and_clearly_illustrative():
    report = validate_bank(example_bank_path())
    assert report.ok, report.summary()
    labels = {task: {ex.label for ex in report.exemplars if ex.task == task} for task in TASKS}
    assert all(len(labels[task]) >= 2 for task in TASKS), labels  # same-label-excluded has a choice
    assert all(ex.generator == "hand-written-illustrative" and ex.id.startswith("illustrative/")
               for ex in report.exemplars)


def test_append_then_load_round_trips_and_fsyncs_each_line(tmp_path, monkeypatch):
    import emollm_plugin.records as records_mod
    synced = []
    real_fsync = records_mod.os.fsync
    monkeypatch.setattr(records_mod.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "sub" / "bank.jsonl"
    second = replace(GOOD, id="ex/2", source_id="demo/2", task="sarcasm", label="no", answer="No",
                     media={"video": "demo/2.mp4", "audio": "demo/2.mp4"})
    append_exemplar(path, GOOD)
    append_exemplar(path, second)
    assert len(synced) == 2
    assert path.read_text().count("\n") == 2
    assert load_bank(path) == [GOOD, second]


@pytest.mark.parametrize("change, field, message", [
    (dict(task="emotion"), "task", "not one of emotion_closed"),
    (dict(label="happy"), "label", "not a emotion_open label"),
    (dict(reasoning="   "), "reasoning", "empty"),
    (dict(answer="anger"), "answer", "parses to anger, not to the label 'joy'"),
    (dict(answer="joy or anger"), "answer", "ambiguous"),
    (dict(reasoning="She smiles. ASSISTANT: joy"), "reasoning", "break the conversation template"),
    (dict(media={"audio": "demo/1.wav"}), "media", "exactly one of 'image' and 'video'"),
    (dict(created_at="yesterday"), "created_at", "ISO 8601"),
    (dict(schema_version=7), "schema_version", "not supported"),
])
def test_semantic_problems_name_line_id_and_field(tmp_path, change, field, message):
    path = _write(tmp_path / "bank.jsonl", replace(GOOD, id="ok"), replace(GOOD, **change))
    report = validate_bank(path)
    assert not report.ok and [ex.id for ex in report.exemplars] == ["ok"]
    problem = next(p for p in report.problems if p.field == field)
    assert problem.line == 2 and problem.exemplar_id == GOOD.id and message in problem.message
    with pytest.raises(BankError, match=rf"(?s)bank.jsonl: .*line 2 \(id=ex/1\), field '{field}'"):
        load_bank(path)


@pytest.mark.parametrize("text, field, message", [
    ('{"id": "x", ', "<line>", "not valid JSON"),
    ('["a list"]', "<line>", "must be a JSON object"),
    (json.dumps({k: v for k, v in asdict(GOOD).items() if k != "reasoning"}), "reasoning", "missing"),
    (json.dumps({**asdict(GOOD), "note": 1}), "note", "unknown field"),
    (json.dumps({**asdict(GOOD), "label": 3}), "label", "must be str"),
    (json.dumps({**asdict(GOOD), "schema_version": True}), "schema_version", "must be int"),
])
def test_structural_problems_in_the_middle_name_the_line(tmp_path, text, field, message):
    path = _write(tmp_path / "bank.jsonl", replace(GOOD, id="a"), text, replace(GOOD, id="b"))
    report = validate_bank(path)
    assert [ex.id for ex in report.exemplars] == ["a", "b"]  # the others are still read
    assert any(p.line == 2 and p.field == field and message in p.message for p in report.problems), \
        report.summary()


def test_duplicate_ids_point_to_the_first_use(tmp_path):
    path = _write(tmp_path / "bank.jsonl", GOOD, replace(GOOD, source_id="demo/9"), GOOD)
    report = validate_bank(path)
    assert [(p.line, p.field) for p in report.problems] == [(2, "id"), (3, "id")]
    assert "first used on line 1" in report.problems[0].message


def test_truncated_last_line_is_reported_then_repaired(tmp_path):
    whole = json.dumps(asdict(GOOD))
    path = _write(tmp_path / "bank.jsonl", GOOD, whole[:40], tail="")
    report = validate_bank(path)
    assert [(p.line, p.field) for p in report.problems] == [(2, "<line>")]
    assert "truncated record" in report.problems[0].message
    with pytest.raises(BankError, match="truncated"):
        load_bank(path)
    with pytest.raises(BankError, match="incomplete line"):
        append_exemplar(path, replace(GOOD, id="ex/2"))
    assert bank_file(path).repair_tail() == whole[:40].encode()
    assert load_bank(path) == [GOOD]
    assert bank_file(path).repair_tail() is None


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = _write(tmp_path / "bank.jsonl", GOOD, tail="")
    assert load_bank(path) == [GOOD]
    assert bank_file(path).repair_tail() is None and path.read_text().endswith("\n")
    append_exemplar(path, replace(GOOD, id="ex/2"))
    assert [ex.id for ex in load_bank(path)] == ["ex/1", "ex/2"]


def test_append_refuses_an_invalid_exemplar_and_writes_nothing(tmp_path):
    path = tmp_path / "bank.jsonl"
    with pytest.raises(BankError, match=r"ex/1.*field 'answer'"):
        append_exemplar(path, replace(GOOD, answer="fear"))
    assert not path.exists()


def test_empty_and_missing_banks_are_errors(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BankError, match="no exemplars"):
        load_bank(tmp_path / "empty.jsonl")
    with pytest.raises(BankError, match="missing.jsonl: cannot read"):
        load_bank(tmp_path / "missing.jsonl")


def test_summary_counts_per_task_and_label(tmp_path):
    path = _write(tmp_path / "bank.jsonl", GOOD, replace(GOOD, id="ex/2"),
                  replace(GOOD, id="ex/3", label="fear", answer="scared"))
    report = validate_bank(path)
    assert report.counts() == Counter({("emotion_open", "joy"): 2, ("emotion_open", "fear"): 1})
    assert "emotion_open        3  (fear 1, joy 2)" in report.summary()
