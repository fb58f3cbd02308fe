"""`emollm bench validate`: structural errors name file, record and field; media are checked."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, build_one
from emollm_plugin.bench.cli import main as bench_main
from emollm_plugin.bench.validate import RecordError, validate_file


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built")
    build_one("caer_s", out / "caer")
    build_one("mmsd2", out / "mmsd")
    return out


def _first(path: Path, task: str) -> dict:
    return next(r for r in json.loads(path.read_text()) if r["task"] == task)


def test_valid_file_passes_with_counts(built):
    report = validate_file(built / "caer" / "train.json", progress=False)
    assert report.ok and report.records == 9 and report.media_checked == 9
    assert report.counts == {("caer_s", "train", "emotion_closed"): 4,
                             ("caer_s", "train", "emotion_open"): 5}
    assert "OK" in report.summary()


def _mutations(closed: dict, yes_no: dict) -> list[tuple[dict, str]]:
    cases = []

    def case(base: dict, change, field: str) -> None:
        record = copy.deepcopy(base)
        change(record)
        cases.append((record, field))

    case(closed, lambda r: r.pop("label"), "label")
    case(closed, lambda r: r.update(extra=1), "extra")
    case(closed, lambda r: r.update(task="emotion"), "task")
    case(closed, lambda r: r.update(split="dev"), "split")
    case(closed, lambda r: r.update(label="happy"), "label")
    case(closed, lambda r: r.update(label_set=[o for o in r["label_set"] if o != r["label"]]),
         "label")
    case(closed, lambda r: r.update(label_set=r["label_set"] + ["calm"]), "label_set")
    case(closed, lambda r: r.update(video="caer_s/x.mp4"), "image")
    case(closed, lambda r: r.update(image="caer_s/../secret.png"), "image")
    case(closed, lambda r: r.update(image="mmsd2/a.jpg"), "image")
    case(closed, lambda r: r["conversations"][0].update(
        value=r["conversations"][0]["value"].replace("<image>\n", "")), "conversations")
    case(closed, lambda r: r["conversations"][0].update(
        value=r["conversations"][0]["value"] + " <image>"), "conversations")
    case(closed, lambda r: r["conversations"][1].update(value="Joy!"), "conversations")
    case(closed, lambda r: r["conversations"].pop(), "conversations")
    case(closed, lambda r: r.update(meta=[1]), "meta")
    case(yes_no, lambda r: r.update(label_set=["yes", "no"]), "label_set")
    case(yes_no, lambda r: r["conversations"][1].update(
        value="No" if r["label"] == "yes" else "Yes"), "conversations")
    case(yes_no, lambda r: r.update(audio="mmsd2/a.wav"), "conversations")  # no <audio> marker
    return cases


def test_first_structural_error_names_file_record_and_field(built, tmp_path):
    closed = _first(built / "caer" / "train.json", "emotion_closed")
    yes_no = _first(built / "mmsd" / "train.json", "sarcasm")
    for record, field in _mutations(closed, yes_no):
        path = tmp_path / "broken.json"
        path.write_text(json.dumps([closed, record, record]))
        with pytest.raises(RecordError) as err:
            validate_file(path, check_media=False, manifest=False)
        message = str(err.value)
        assert message.startswith(f"{path}: record 1 (id ") and f"field '{field}'" in message, \
            (field, message)


def test_duplicate_ids_and_file_level_errors(built, tmp_path):
    closed = _first(built / "caer" / "train.json", "emotion_closed")
    path = tmp_path / "dupe.json"
    path.write_text(json.dumps([closed, closed]))
    with pytest.raises(RecordError, match="record 1: field 'id': .* repeats record 0"):
        validate_file(path, check_media=False, manifest=False)
    path.write_text('{"id": 1}')  # read as JSONL: one record, missing its fields
    with pytest.raises(RecordError, match=r"record 0 \(id 1\): field 'conversations'"):
        validate_file(path, check_media=False, manifest=False)
    path.write_text("[{")
    with pytest.raises(RecordError, match="not valid JSON"):
        validate_file(path, check_media=False, manifest=False)


def test_media_problems_are_counted_by_reason(built, tmp_path):
    records = json.loads((built / "caer" / "train.json").read_text())
    media = tmp_path / "media" / "caer_s"
    shutil.copytree(FIXTURES / "caer_s", media)
    (media / records[0]["image"].split("/", 1)[1]).unlink()
    (media / records[1]["image"].split("/", 1)[1]).write_bytes(b"\x89PNG not really")
    video = dict(records[2], id="caer_s/video/1")
    video["video"] = video.pop("image")
    video["conversations"] = [dict(video["conversations"][0], value=video["conversations"][0]
                                   ["value"].replace("<image>", "<video>")),
                              video["conversations"][1]]
    (media / "empty.mp4").write_bytes(b"")
    video["video"] = "caer_s/empty.mp4"
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records + [video]))
    report = validate_file(path, progress=False, manifest=False)
    assert not report.ok
    assert report.media_problems == {"image missing": 1,
                                     "image unreadable (UnidentifiedImageError)": 1,
                                     "video empty": 1}
    assert report.examples["video empty"] == ["caer_s/video/1"]
    assert bench_main(["validate", str(path), "--quiet", "--no-manifest"]) == 1
    assert bench_main(["validate", str(path), "--no-media", "--no-manifest"]) == 0
    with pytest.raises(RecordError, match="media root .* is not a folder"):
        validate_file(path, tmp_path / "nowhere", manifest=False)


def test_stats_prints_label_counts(built, capsys):
    assert bench_main(["stats", str(built / "mmsd" / "train.json")]) == 0
    out = capsys.readouterr().out
    assert "6 records" in out
    assert "mmsd2      train sarcasm               6  yes 3, no 3" in out


def test_stats_refuses_a_broken_file(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([{"id": "x"}]))
    assert bench_main(["stats", str(path)]) == 1
    assert "record 0 (id 'x'): field 'conversations': missing" in capsys.readouterr().err
