"""`emollm predict`'s run around the model, with a stand-in answerer (no model is loaded): file
names that are not UTF-8, --resume however the folder is spelled, skips that are counted, a full
disk. The answers of a real model are tests/test_apps_predict.py's."""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
from pathlib import Path

import pytest

from emollm_plugin.apps import predict
from emollm_plugin.runtime.answerer import Prepared
from emollm_plugin.runtime.batch import skipped_path


class _Answerer:
    """What predict needs of ``runtime.answerer.Answerer``: prepare, answer_with_probabilities, the media
    loader's audio bins."""

    answered: list[str] = []

    def __init__(self, args, emoprompt=None):
        self.media = type("Media", (), {"n_mels": None})()

    def prepare(self, record):
        return Prepared(record, None, None, None)

    def answer_with_probabilities(self, prepared):
        _Answerer.answered += [p.record["id"] for p in prepared]
        return [("joy", None)] * len(prepared)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr(predict, "Answerer", _Answerer)
    _Answerer.answered = []
    (tmp_path / "ckpt").mkdir()

    def run(*argv: str) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = predict.main(["--model", str(tmp_path / "ckpt"), "--device", "cpu", "--task", "emotion_open",
                                 *argv])
        return code, err.getvalue()
    return run


def _media(folder: Path, names: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(b"x")
    return folder


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_names_that_are_not_utf8_do_not_stop_the_run(run, tmp_path):
    folder = _media(tmp_path / "m", [b"a.png", b"caf\xe9.png", b"\xff\xfe.jpg", b"z.png"])
    out = tmp_path / "answers.jsonl"
    code, err = run(str(folder), "--out", str(out))
    assert code == 0, err
    rows = _rows(out)
    assert len(rows) == 4 and "4 answered now" in err
    assert sorted(Path(r["question_id"]).name for r in rows) == ["\\xff\\xfe.jpg", "a.png", "caf\\xe9.png", "z.png"]
    out.read_bytes().decode("utf-8")  # every byte written is UTF-8 text
    code, err = run(str(folder), "--out", str(out), "--resume")
    assert code == 0 and "0 answered now, 4 already in" in err and len(_rows(out)) == 4


def test_resume_keys_on_the_resolved_path(run, tmp_path, monkeypatch):
    _media(tmp_path / "m", [f"{i}.png".encode() for i in range(5)])
    out = tmp_path / "answers.jsonl"
    monkeypatch.chdir(tmp_path)
    assert run("m", "--out", str(out))[0] == 0
    code, err = run(str(tmp_path / "m"), "--out", str(out), "--resume")
    assert code == 0 and "0 answered now, 5 already in" in err
    code, err = run("./m/../m", "--out", str(out), "--resume")
    assert code == 0 and "0 answered now, 5 already in" in err
    assert len(_rows(out)) == 5 and len(_Answerer.answered) == 5


def test_broken_links_and_unlistable_folders_are_counted_skips(run, tmp_path, monkeypatch):
    folder = _media(tmp_path / "m", [b"a.png"])
    _media(folder / "locked", [b"b.png"])
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(
        13, "Permission denied", os.fspath(path))) if os.fspath(path).endswith("locked") else real_scandir(path))
    out = tmp_path / "answers.jsonl"
    code, err = run(str(folder), "--out", str(out))
    assert code == 3, err  # some answered, some skipped
    skipped = _rows(skipped_path(out))
    assert sorted(s["reason"] for s in skipped) == ["broken_link", "unreadable"]
    assert "1 answered now, 0 already in" in err and "2 input(s) not answered" in err


def test_a_full_disk_stops_with_the_output_files_name(run, tmp_path, monkeypatch):
    from emollm_plugin import records
    folder = _media(tmp_path / "m", [b"a.png", b"b.png"])
    out = tmp_path / "answers.jsonl"
    real_open = open

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

    def opener(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        return FullDisk(handle) if Path(path) == out else handle

    monkeypatch.setattr(records, "open", opener, raising=False)
    code, err = run(str(folder), "--out", str(out))
    assert code == 2
    assert f"{out}: cannot write the answers file (No space left on device)" in err
    assert "Traceback" not in err


def test_a_prompt_that_is_not_utf8_is_refused_before_loading(run, tmp_path):
    folder = _media(tmp_path / "m", [b"a.png"])
    code, err = run(str(folder), "--out", str(tmp_path / "a.jsonl"), "--prompt", "Why\udce9?")
    assert code == 2 and "--prompt 'Why\\\\xe9?' is not UTF-8 text" in err and _Answerer.answered == []
