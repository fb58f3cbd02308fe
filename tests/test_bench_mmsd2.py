"""MMSD2.0 adapter on tests/fixtures/mmsd2 (int image ids, train+valid -> train, variants)."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from bench_helpers import FIXTURES, all_samples, build_one, check_records, output_bytes
from emollm_plugin.bench.adapters.base import LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.mmsd2 import Mmsd2Adapter


def test_samples_ids_labels_and_splits():
    samples = all_samples("mmsd2")
    assert len(samples) == 9
    s = samples["train/682716753374351360"]
    assert (s.split, s.label, s.image) == ("train", "yes",
                                          "data/dataset_image/682716753374351360.jpg")
    assert s.context == 'Tweet: "<user> great , another monday . # blessed"'
    assert samples["valid/815300000000000002"].split == "train"
    assert Counter(x.split for x in samples.values()) == {"train": 6, "test": 3}
    assert Counter(x.label for x in samples.values()) == {"yes": 4, "no": 5}


def test_data_folder_as_root_and_clean_variant():
    inner = all_samples("mmsd2", FIXTURES / "mmsd2" / "data")
    assert inner["test/915300000000000001"].image == "dataset_image/915300000000000001.jpg"
    clean = all_samples("mmsd2", variant="clean")
    assert {i: s.label for i, s in clean.items()} == \
        {i: s.label for i, s in all_samples("mmsd2").items()}
    with pytest.raises(ValueError, match="variant 'v3'"):
        all_samples("mmsd2", variant="v3")


def test_build_drops_missing_images_and_is_deterministic(tmp_path):
    result = build_one("mmsd2", tmp_path / "a")
    build_one("mmsd2", tmp_path / "b")
    entry = result["manifest"]["datasets"]["mmsd2"]
    assert entry["selected"] == {"train": 6, "val": 0, "test": 2}
    assert entry["drops"] == {"test": {"media file missing": {
        "count": 1, "examples": ["test/915300000000000003"]}}}
    assert sorted(entry["source_files"]) == [f"data/text_json_final/{s}.json"
                                             for s in ("test", "train", "valid")]
    check_records(result["train"] + result["test"], "mmsd2", tmp_path / "a" / "media")
    assert {r["conversations"][1]["value"] for r in result["train"]} == {"Yes", "No"}
    assert output_bytes(tmp_path / "a") == output_bytes(tmp_path / "b")


def test_float_image_id_is_an_error_naming_the_item(tmp_path):
    root = tmp_path / "MMSD2.0"
    shutil.copytree(FIXTURES / "mmsd2", root)
    path = root / "data" / "text_json_final" / "test.json"
    items = json.loads(path.read_text())
    items[1]["image_id"] = 9.153e17
    path.write_text(json.dumps(items))
    with pytest.raises(SourceFormatError, match=r"test.json: item 1: field 'image_id'"):
        list(Mmsd2Adapter().iter_samples(root))
    shutil.rmtree(root / "data" / "text_json_final")
    with pytest.raises(LayoutError, match="text_json_final.*found: data/"):
        list(Mmsd2Adapter().iter_samples(root))
