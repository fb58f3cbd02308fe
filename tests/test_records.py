"""records.py: reading record files, id uniqueness, the append-only JSONL file."""
from __future__ import annotations

import json

import pytest

from full_disk import FullDisk

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


# ----- hostile files: encodings, huge numbers, deep nesting, a full disk ---------------------------
@pytest.mark.parametrize("data, message", [
    ("a\nb\ncaf\xe9\n".encode("latin-1"), r"f.jsonl:3: the records file is not UTF-8 .*Latin-1"),
    ('[{"id": "a"}]'.encode("utf-16"), r"f.jsonl:1: the records file is UTF-16 .*save it as UTF-8"),
    ('{"id": "a"}\n'.encode("utf-16-le"), r"f.jsonl:1: the records file holds NUL bytes .*UTF-16"),
    (b"", None),
])
def test_read_utf8_names_file_and_line_of_bad_encodings(tmp_path, data, message):
    from emollm_plugin.records import read_utf8
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    if message is None:
        assert read_utf8(path) == ""
        return
    with pytest.raises(RecordFileError, match=message):
        read_utf8(path, "records")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "a"}]).encode())
    assert load_records(path) == [{"id": "a"}]


@pytest.mark.parametrize("name, text, message", [
    ("list.json", '[\n{"id": "a"},\n{"id": ' + "9" * 5000 + "}\n]", r"list.json: a number at line 3 has more digits"),
    ("lines.jsonl", '{"id": "a"}\n{"n": ' + "9" * 5000 + "}\n", r"lines.jsonl:2: a number has more digits"),
    ("deep.jsonl", '{"id": "a"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", r"deep.jsonl:2: JSON nested deeper"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, r"deep.json: JSON nested deeper than Python can read"),
    ("cut.json", '[{"id": "a"},\n{"id"', r"cut.json: not valid JSON at line 2 column"),
])
def test_huge_numbers_and_deep_nesting_name_the_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RecordFileError, match=message):
        load_records(path)


def test_a_full_disk_names_the_output_file(tmp_path, monkeypatch):
    from emollm_plugin import records
    from emollm_plugin.records import OutputFileError, open_output

    real_open = open
    monkeypatch.setattr(records, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)
    out = tmp_path / "answers.jsonl"
    with pytest.raises(OutputFileError, match=r"answers.jsonl: cannot write the answers file \(No space left"):
        with open_output(out, "w", "answers") as handle:
            handle.write("x" * 100)
    monkeypatch.setattr(type(out), "open", lambda self, *a, **k: FullDisk(real_open(self, *a, **k)))
    with pytest.raises(OutputFileError, match=r"bank.jsonl: cannot write the JSONL file \(No space left"):
        AppendOnlyJsonl(tmp_path / "bank.jsonl").append('{"id": 1}')


def test_a_line_separator_inside_a_jsonl_string_is_not_a_line_break(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b\x1cc"}, ensure_ascii=False) + "\r\n" + '{"id": 2}\n', newline="")
    assert load_records(path) == [{"text": "a\u2028b\x1cc"}, {"id": 2}]
