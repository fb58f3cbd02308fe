"""--val-from valtest (the default): validation and test both from the datasets' test side, the
test share sized so the whole test set is about 30k samples (Tables 1 and 2 as printed), split per
dataset in proportion, whole groups only, deterministic; --emotion-labels 6 drops neutral."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, all_samples, output_bytes
from emollm_plugin.bench.adapters import get_adapter, list_adapters
from emollm_plugin.bench.build import (PAPER_TEST_TOTAL, PAPER_VALTEST_TOTAL, SIX_EMOTIONS_DROP, TEST_SHARE,
                                       DatasetSpec, requested_sizes, val_share)
from emollm_plugin.bench.cli import main as bench_main
from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS, EMOTION_TASKS

SPLITS = ("train", "val", "test")


def build_all(tmp: Path, name: str, *flags: str) -> Path:
    out = tmp / name
    config = tmp / f"{name}.yaml"
    config.write_text(f"out: {out}\nseed: 3\ndatasets:\n" + "".join(
        f"  {d}: {{root: {FIXTURES / d}}}\n" for d in list_adapters()))
    assert bench_main(["build", "--config", str(config), "--quiet", *flags]) == 0
    return out


def load(out: Path) -> dict[str, list[dict]]:
    return {s: json.loads((out / f"{s}.json").read_text()) for s in SPLITS}


def group(record: dict) -> str:
    """What must not be shared across splits: the MELD dialogue, else the media file."""
    if record["dataset"] == "meld":
        return record["source_id"].split("_utt")[0]
    return record.get("image") or record["video"]


@pytest.fixture(scope="module")
def valtest(tmp_path_factory) -> Path:
    return build_all(tmp_path_factory.mktemp("valtest"), "out")


def test_default_sizes_give_a_test_set_of_about_30k_in_table_1_proportion():
    paper = {name: get_adapter(name).paper_sizes for name in list_adapters()}
    assert sum(valtest for _, valtest in paper.values()) == PAPER_VALTEST_TOTAL == 44_400
    sizes = {name: requested_sizes(DatasetSpec(name, Path(".")), sizes, "valtest", 0)
             for name, sizes in paper.items()}
    assert abs(sum(s["test"] for s in sizes.values()) - PAPER_TEST_TOTAL) <= len(paper)
    for name, s in sizes.items():
        assert s["val"] + s["test"] == paper[name][1]  # the whole Val&Test column, nothing more
        assert abs(s["test"] - TEST_SHARE * paper[name][1]) <= 0.5
        assert s["train"] == paper[name][0]
    assert sizes["caer_s"] == {"train": 42_000, "val": 6_811, "test": 14_189}
    # --val-from train keeps the former reading: all of Val&Test is test
    assert requested_sizes(DatasetSpec("meld", Path(".")), (11_100, 2_600), "train", 10_000)["test"] == 2_600
    # a given test size keeps the val : test proportion; explicit sizes win in both modes
    assert requested_sizes(DatasetSpec("meld", Path("."), test_size=300), (11_100, 2_600), "valtest",
                           0)["val"] == 144
    assert requested_sizes(DatasetSpec("meld", Path("."), test_size=5, val_size=2), (11_100, 2_600), "valtest",
                           0) == {"train": 11_100, "val": 2, "test": 5}


def test_a_short_pool_keeps_the_val_share():
    sizes = {"val": 1_000, "test": 3_000}
    assert val_share(4_000, sizes) == 1_000 and val_share(10_000, sizes) == 1_000
    assert val_share(40, sizes) == 10 and val_share(0, sizes) == 0
    assert val_share(7, {"val": 0, "test": 0}) == 0


def test_val_and_test_both_come_from_the_test_side_in_proportion(valtest):
    manifest = json.loads((valtest / "manifest.json").read_text())
    assert manifest["val_from"] == "valtest" and "30k" in manifest["val_from_reason"]
    records = load(valtest)
    assert {r["dataset"] for r in records["val"]} == set(list_adapters())
    for name, entry in manifest["datasets"].items():
        sel = entry["selected"]
        assert sel["train"] == min(entry["available"]["train"], entry["requested"]["train"])  # no val carved
        pool = sel["val"] + sel["test"]
        assert pool == min(entry["available"]["test"], entry["requested"]["val"] + entry["requested"]["test"])
        wanted = val_share(pool, entry["requested"])
        assert wanted <= sel["val"] < wanted + 4, name  # whole groups: a last group may add a few
    side = {name: {sid: sample.split for sid, sample in all_samples(name).items()} for name in list_adapters()}
    for split in SPLITS:
        sides = {side[r["dataset"]][r["source_id"]] for r in records[split]}
        assert sides == ({"train"} if split == "train" else {"test"}), split


def test_no_group_in_two_splits(valtest):
    records = load(valtest)
    for key in (lambda r: (r["dataset"], r["source_id"]), group):
        splits_of = defaultdict(set)
        for split in SPLITS:
            for r in records[split]:
                splits_of[key(r)].add(split)
        assert not {k: v for k, v in splits_of.items() if len(v) > 1}
    meld = {s: {group(r) for r in records[s] if r["dataset"] == "meld"} for s in ("val", "test")}
    assert meld["val"] and meld["test"] and not meld["val"] & meld["test"]


def test_the_same_inputs_give_the_same_bytes(tmp_path, valtest):
    again = build_all(tmp_path, "again", "--jobs", "1")
    assert output_bytes(again) == output_bytes(valtest)
    other = build_all(tmp_path, "other_seed", "--seed", "4")
    assert output_bytes(other) != output_bytes(valtest)


def test_six_emotion_labels_drop_neutral_and_ask_six_options(tmp_path):
    out = build_all(tmp_path, "six", "--emotion-labels", "6")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["emotion_labels"] == 6
    records = [r for split in load(out).values() for r in split]
    emotion = [r for r in records if r["task"] in EMOTION_TASKS]
    assert emotion and all(r["label"] != "neutral" for r in emotion)
    six = [e for e in CANONICAL_EMOTIONS if e != "neutral"]
    closed = [r for r in emotion if r["task"] == "emotion_closed"]
    assert closed and all(sorted(r["label_set"]) == sorted(six) for r in closed)
    assert all("neutral" not in r["conversations"][0]["value"] for r in closed)
    dropped = sum(info["count"] for entry in manifest["datasets"].values()
                  for reasons in entry["drops"].values() for reason, info in reasons.items()
                  if reason == SIX_EMOTIONS_DROP)
    seven = [r for split in load(build_all(tmp_path, "seven")).values() for r in split]
    assert dropped > 0 and any(r["label"] == "neutral" for r in seven)
    assert all(len(r["label_set"]) == 7 for r in seven if r["task"] == "emotion_closed")
