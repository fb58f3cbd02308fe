"""Emotion6 adapter on tests/fixtures/emotion6 (argmax labels, tie rule, seeded 2:1 split)."""
from __future__ import annotations

import shutil

import pytest

from bench_helpers import FIXTURES, all_samples, build_one, check_records, output_bytes
from emollm_plugin.bench.adapters.base import LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.emotion6 import Emotion6Adapter


def test_labels_follow_the_distribution_not_the_folder():
    samples = all_samples("emotion6")
    assert len(samples) == 12
    labels = {i: s.label for i, s in samples.items()}
    assert labels["fear/13"] == "neutral"  # argmax differs from the search keyword
    assert labels["sadness/2"] == "joy"
    assert labels["anger/2"] == "anger"  # anger = disgust tie, keyword decides
    assert samples["joy/2"].drop_reason == "Emotion6 tie not resolved by keyword"
    assert samples["fear/12"].image == "images/fear/12.jpg"
    assert samples["fear/12"].meta["probs"]["fear"] == 0.6
    assert samples["fear/12"].meta["valence"] == 3.1


def test_split_is_seeded_two_to_one_and_independent_of_build_seed():
    splits = {i: s.split for i, s in all_samples("emotion6").items()}
    assert sum(v == "test" for v in splits.values()) == 4  # round(12 / 3)
    assert splits == {i: s.split for i, s in all_samples("emotion6").items()}
    other = {i: s.split for i, s in all_samples("emotion6", split_seed=1).items()}
    assert other != splits and sum(v == "test" for v in other.values()) == 4
    half = all_samples("emotion6", test_fraction=0.5)
    assert sum(s.split == "test" for s in half.values()) == 6


def test_build_counts_drops_and_records(tmp_path):
    result = build_one("emotion6", tmp_path)
    entry = result["manifest"]["datasets"]["emotion6"]
    drops = {(split, reason): info["count"] for split, reasons in entry["drops"].items()
             for reason, info in reasons.items()}
    splits = {i: s.split for i, s in all_samples("emotion6").items()}
    assert drops == {(splits["joy/2"], "Emotion6 tie not resolved by keyword"): 1,
                     (splits["surprise/2"], "media file missing"): 1}
    assert sum(entry["selected"].values()) == 10
    assert list(entry["source_files"]) == ["ground_truth.txt"]
    check_records(result["train"] + result["test"], "emotion6", tmp_path / "media")
    assert all("this image" in r["conversations"][0]["value"]
               for r in result["train"] + result["test"])
    build_one("emotion6", tmp_path / "again")
    assert output_bytes(tmp_path) == output_bytes(tmp_path / "again")


def test_bad_ground_truth_line_names_file_and_line(tmp_path):
    root = tmp_path / "Emotion6"
    shutil.copytree(FIXTURES / "emotion6", root)
    gt = root / "ground_truth.txt"
    lines = gt.read_text().splitlines()
    lines[3] = lines[3].replace("\t", " ", 2)
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceFormatError, match=r"ground_truth.txt: line 4: expected 10 "):
        list(Emotion6Adapter().iter_samples(root))
    gt.unlink()
    with pytest.raises(LayoutError, match="missing: ground_truth.txt.*found: images/"):
        list(Emotion6Adapter().iter_samples(root))
