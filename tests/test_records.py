"""records.py: reading record files, id uniqueness, the append-only JSONL file."""
from __future__ import annotations

import json

import pytest

from emollm_plugin.errors import EmoLLMError
from emollm_plugin.records import AppendOnlyJsonl, RecordFileError, check_unique_ids, load_records


def test_load_records_reads_a_json_list_and_jsonl_alike(tmp_path):
    rows = [{"id": "a"}, {"id": "b"}]
    (tmp_path / "list.json").write_text(json.dumps(rows))
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r) + "\n\n" for r in rows))
    assert load_records(tmp_path / "list.json") == load_records(tmp_path / "lines.jsonl") == rows


def test_load_records_names_the_file_and_line_of_bad_json(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a"}\n{"id": \n')
    with pytest.raises(RecordFileError, match=r"data.jsonl:2: not valid JSON") as caught:
        load_records(path, "training data")
    assert isinstance(caught.value, EmoLLMError) and isinstance(caught.value, ValueError)
    with pytest.raises(RecordFileError, match="training data file not found"):
        load_records(tmp_path / "missing.json", "training data")


def test_check_unique_ids_lists_every_repeat_with_its_first_position():
    assert check_unique_ids(["a", "b", "a", "c", "b", "a"]) == [(2, 0, "a"), (4, 1, "b"), (5, 0, "a")]
    assert check_unique_ids(iter([1, 2, 3])) == []


def test_repair_tail_cuts_a_partial_line_and_keeps_a_whole_one(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2')
    assert AppendOnlyJsonl(path).repair_tail() == b'{"id": 2'
    assert path.read_bytes() == b'{"id": 1}\n'
    path.write_bytes(b'{"id": 1}\n{"id": 2}')
    assert AppendOnlyJsonl(path).repair_tail() is None
    assert path.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
    assert AppendOnlyJsonl(tmp_path / "none.jsonl").repair_tail() is None


def test_repair_tail_uses_the_callers_idea_of_a_complete_line(tmp_path):
    path = tmp_path / "bank.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}')
    jsonl = AppendOnlyJsonl(path, is_complete=lambda tail: b'"text"' in tail)
    assert jsonl.repair_tail() == b'{"id": 2}' and path.read_bytes() == b'{"id": 1}\n'


def test_append_writes_whole_lines_and_fsyncs_each_flush(tmp_path, monkeypatch):
    import emollm_plugin.records as records
    synced = []
    real_fsync = records.os.fsync
    monkeypatch.setattr(records.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    jsonl = AppendOnlyJsonl(tmp_path / "sub" / "out.jsonl")
    jsonl.append('{"id": 1}')
    with jsonl.open() as out:
        out.write('{"id": 2}\n')
        out.flush()
        out.write('{"id": 3}')
    assert len(synced) == 3  # append, flush, close
    assert jsonl.path.read_text() == '{"id": 1}\n{"id": 2}\n{"id": 3}\n' and jsonl.ends_cleanly()
    with pytest.raises(ValueError, match="one JSONL record per line"):
        jsonl.append('{"a": 1}\n{"b": 2}')
    with jsonl.open(truncate=True) as out:
        out.write('{"id": 4}')
    assert jsonl.path.read_text() == '{"id": 4}\n'
