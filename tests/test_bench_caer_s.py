"""CAER-S adapter on tests/fixtures/caer_s (Angry/Anger quirk, a stray file, an empty PNG)."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest

from bench_helpers import FIXTURES, all_samples, build_one, check_records, output_bytes
from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import LayoutError
from emollm_plugin.bench.adapters.caer_s import CaerSAdapter


def test_samples_labels_and_quirks():
    samples = all_samples("caer_s")
    assert get_adapter("caer_s") is CaerSAdapter
    usable = {i: s for i, s in samples.items() if s.drop_reason is None}
    assert usable["train/Angry/0001"].label == usable["test/Anger/0001"].label == "anger"
    assert usable["train/Happy/0002"].label == "joy"
    assert usable["test/Sad/0001"].label == "sadness"
    assert usable["test/Anger/0001"].image == "test/Anger/0001.png"
    assert Counter(s.split for s in usable.values()) == {"train": 9, "test": 6}
    assert samples["train/Happy/Thumbs.db"].drop_reason == "not an image file"


def test_build_counts_drops_and_records(tmp_path):
    result = build_one("caer_s", tmp_path)
    entry = result["manifest"]["datasets"]["caer_s"]
    assert entry["selected"] == {"train": 9, "val": 0, "test": 5}  # val: round(5% of 9)
    assert entry["drops"] == {
        "test": {"media file empty": {"count": 1, "examples": ["test/Fear/0001"]}},
        "train": {"not an image file": {"count": 1, "examples": ["train/Happy/Thumbs.db"]}}}
    assert entry["short_of_request"]["train"] == "took all 9 available (requested 42000)"
    labels = Counter(r["label"] for r in result["train"])
    assert labels == {"anger": 2, "joy": 2, "disgust": 1, "fear": 1, "neutral": 1,
                      "sadness": 1, "surprise": 1}
    check_records(result["train"] + result["test"], "caer_s", tmp_path / "media")
    for r in result["train"]:
        assert r["conversations"][0]["value"].startswith("<image>\n")
        assert "the person in this scene" in r["conversations"][0]["value"]
    # each source image used once: closed + open = selected; half closed (rounded)
    tasks = Counter(r["task"] for r in result["train"])
    assert tasks == {"emotion_closed": 4, "emotion_open": 5}


def test_size_limit_and_determinism(tmp_path):
    a = build_one("caer_s", tmp_path / "a", train_size=4, test_size=2, seed=5)
    b = build_one("caer_s", tmp_path / "b", train_size=4, test_size=2, seed=5)
    c = build_one("caer_s", tmp_path / "c", train_size=4, test_size=2, seed=6)
    assert len(a["train"]) == 4 and len(a["test"]) == 2 * 2  # test asked closed and open
    assert output_bytes(tmp_path / "a") == output_bytes(tmp_path / "b")
    assert [r["id"] for r in a["train"]] != [r["id"] for r in c["train"]]


def test_missing_split_folder_is_a_layout_error(tmp_path):
    root = tmp_path / "CAER-S"
    shutil.copytree(FIXTURES / "caer_s" / "train", root / "train")
    with pytest.raises(LayoutError, match=r"expected <root>/\{train,test\}.*missing: test.*"
                                          r"found: train/"):
        list(CaerSAdapter().iter_samples(root))
