"""MMHS150K adapter on tests/fixtures/mmhs150k (GT json, split id files, OCR text)."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from bench_helpers import FIXTURES, all_samples, build_one, check_records, output_bytes
from emollm_plugin.bench.adapters.base import LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.mmhs150k import Mmhs150kAdapter, iter_json_object


def test_labels_splits_and_context():
    samples = all_samples("mmhs150k")
    usable = {i.split("/")[1]: s for i, s in samples.items() if s.drop_reason is None}
    hate = {i: s.label for i, s in usable.items()}
    assert hate == {"1114679353714016256": "no", "1063020048816660480": "yes",
                    "1108927368075374593": "no", "1114558534635618305": "yes",
                    "1035252480215592966": "no", "1106978219654303744": "yes",
                    "1023940829757263873": "no", "1042545278466936832": "yes",
                    "1109841386693472256": "no"}
    assert Counter(s.split for s in usable.values()) == {"train": 6, "test": 3}
    s = usable["1114558534635618305"]
    assert s.image == "img_resized/1114558534635618305.jpg"
    assert s.context == ('Tweet: "nasty words here https://t.co/zz"\n'
                         'Text in the image: "TEXT IN IMAGE 3"')
    assert s.meta["labels_str"] == ["Homophobe", "OtherHate", "NotHate"]
    assert usable["1114679353714016256"].context == \
        'Tweet: "@user good morning everyone https://t.co/abc"'


def test_build_drops_by_reason(tmp_path):
    result = build_one("mmhs150k", tmp_path / "a")
    build_one("mmhs150k", tmp_path / "b")
    entry = result["manifest"]["datasets"]["mmhs150k"]
    assert entry["selected"] == {"train": 5, "val": 0, "test": 3}
    assert entry["drops"] == {"train": {
        "id in no split file": {"count": 1, "examples": ["none/1059948463513858048"]},
        "id in split file but not in MMHS150K_GT.json": {
            "count": 1, "examples": ["val/1000000000000000001"]},
        "media file missing": {"count": 1, "examples": ["train/1109841386693472256"]}}}
    assert entry["labels"]["test"] == {"hate": {"no": 1, "yes": 2}}
    check_records(result["train"] + result["test"], "mmhs150k", tmp_path / "a" / "media")
    assert output_bytes(tmp_path / "a") == output_bytes(tmp_path / "b")


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 16])
def test_streaming_reader_equals_json_load(tmp_path, indent, chunk):
    data = json.loads((FIXTURES / "mmhs150k" / "MMHS150K_GT.json").read_text())
    data["1"] = {"n": 12345678901234567890, "x": 1.5e-7, "s": "a\"}{,\\u00e9 ü", "l": []}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=indent is None))
    assert list(iter_json_object(path, chunk_size=chunk)) == list(data.items())


@pytest.mark.parametrize("text, message", [
    ('[1, 2]', "expected a JSON object"),
    ('{"a": 1 "b": 2}', "expected ',' or '}' after entry 'a'"),
    ('{"a": {"b": 1}', "expected ',' or '}' after entry 'a'"),
    ('{"a": [1, 2}', "invalid JSON"),
])
def test_streaming_reader_errors(tmp_path, text, message):
    path = tmp_path / "gt.json"
    path.write_text(text)
    with pytest.raises(SourceFormatError, match=message):
        list(iter_json_object(path, chunk_size=4))


def test_layout_errors(tmp_path):
    root = tmp_path / "MMHS150K"
    shutil.copytree(FIXTURES / "mmhs150k", root)
    (root / "splits" / "test_ids.txt").write_text("1114679353714016256\n")
    with pytest.raises(SourceFormatError, match="test_ids.txt: line 1: id 1114679353714016256 "
                                                "is also in train_ids.txt"):
        list(Mmhs150kAdapter().iter_samples(root))
    shutil.rmtree(root / "splits")
    with pytest.raises(LayoutError, match=r"missing: splits/train_ids.txt.*found: "
                                          r"MMHS150K_GT.json, hatespeech_keywords.txt"):
        list(Mmhs150kAdapter().iter_samples(root))
