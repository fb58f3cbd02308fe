"""--val-from train --val-size carves a group-aware validation split out of the training side
(the default, --val-from valtest, is tested in test_bench_valtest.py); emotion val/test
samples are asked both ways by default; the manifest records both choices; --jobs changes
nothing in the output."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, output_bytes
from emollm_plugin.bench.adapters import list_adapters
from emollm_plugin.bench.adapters.base import SourceSample
from emollm_plugin.bench.adapters.meld import MeldAdapter
from emollm_plugin.bench.build import DEFAULT_VAL, carve_val, val_count, DatasetSpec
from emollm_plugin.bench.cli import main as bench_main
from emollm_plugin.tasks.labels import EMOTION_TASKS

SPLITS = ("train", "val", "test")


def build_all(tmp: Path, name: str, *flags: str) -> Path:
    out = tmp / name
    config = tmp / f"{name}.yaml"
    config.write_text(f"out: {out}\nseed: 3\ndatasets:\n" + "".join(
        f"  {d}: {{root: {FIXTURES / d}}}\n" for d in list_adapters()))
    assert bench_main(["build", "--config", str(config), "--quiet", "--val-from", "train", *flags]) == 0
    return out


def load(out: Path) -> dict[str, list[dict]]:
    return {s: json.loads((out / f"{s}.json").read_text()) for s in SPLITS}


@pytest.fixture(scope="module")
def with_val(tmp_path_factory) -> Path:
    return build_all(tmp_path_factory.mktemp("val"), "out", "--val-size", "3", "--jobs", "2")


def group(record: dict) -> str:
    """What must not be shared across splits: the MELD dialogue, else the media file."""
    if record["dataset"] == "meld":
        return record["source_id"].split("_utt")[0]
    return record.get("image") or record["video"]


def test_no_source_id_dialogue_or_video_in_two_splits(with_val):
    records = load(with_val)
    assert {r["dataset"] for r in records["val"]} == set(list_adapters())
    for key in (lambda r: (r["dataset"], r["source_id"]), group):
        splits_of = defaultdict(set)
        for split in SPLITS:
            for r in records[split]:
                splits_of[key(r)].add(split)
        shared = {k: v for k, v in splits_of.items() if len(v) > 1}
        assert not shared
    meld_val = {group(r) for r in records["val"] if r["dataset"] == "meld"}
    meld_train = {group(r) for r in records["train"] if r["dataset"] == "meld"}
    assert meld_val and meld_train and not meld_val & meld_train
    # a MELD dialogue goes to val whole: every train-side utterance of it is in val
    meld_val_ids = {r["source_id"] for r in records["val"] if r["dataset"] == "meld"}
    assert any(len([i for i in meld_val_ids if i.startswith(g + "_")]) > 1 for g in meld_val)
    funny = {s: {r["video"] for r in records[s] if r["dataset"] == "urfunny"} for s in SPLITS}
    assert funny["val"] and not funny["val"] & (funny["train"] | funny["test"])


def test_val_size_is_met_by_whole_groups(with_val):
    manifest = json.loads((with_val / "manifest.json").read_text())
    assert manifest["val_size"] == {d: 3 for d in list_adapters()}
    for name, entry in manifest["datasets"].items():
        assert entry["requested"]["val"] == 3
        # at least 3 when the training side has them; a last group may add a few more
        assert 3 <= entry["selected"]["val"] <= 5 or "val" in entry["short_of_request"], name
        assert entry["selected"]["val"] + entry["selected"]["train"] <= entry["available"]["train"]


def test_emotion_val_and_test_samples_are_asked_both_ways(with_val):
    manifest = json.loads((with_val / "manifest.json").read_text())
    assert manifest["emotion_questions"] == "both"
    records = load(with_val)
    for split in ("val", "test"):
        asked = defaultdict(list)
        for r in records[split]:
            if r["task"] in EMOTION_TASKS:
                asked[(r["dataset"], r["source_id"])].append(r["task"])
        assert asked and all(sorted(t) == sorted(EMOTION_TASKS) for t in asked.values())
    train_asked = Counter((r["dataset"], r["source_id"]) for r in records["train"])
    assert set(train_asked.values()) == {1}  # train: one question per sample


def test_split_mode_asks_each_test_sample_once(tmp_path, with_val):
    out = build_all(tmp_path, "split", "--val-size", "3", "--emotion-questions", "split")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["emotion_questions"] == "split"
    records = load(out)
    for split in ("val", "test"):
        ids = Counter((r["dataset"], r["source_id"]) for r in records[split])
        assert set(ids.values()) == {1}
        emotion = [r for r in records[split] if r["task"] in EMOTION_TASKS]
        closed = sum(r["task"] == "emotion_closed" for r in emotion)
        per_dataset = Counter(r["dataset"] for r in emotion)
        assert closed == sum(round(0.5 * n) for n in per_dataset.values())
    # the samples are the same as in "both" mode, only the questions differ
    both = load(with_val)
    for split in SPLITS:
        assert {(r["dataset"], r["source_id"]) for r in records[split]} == \
            {(r["dataset"], r["source_id"]) for r in both[split]}
    assert records["train"] == both["train"]


@pytest.mark.slow
def test_jobs_do_not_change_a_byte(tmp_path, with_val):
    one = build_all(tmp_path, "one", "--val-size", "3", "--jobs", "1")
    assert output_bytes(one) == output_bytes(with_val)
    names = {p.name for p in with_val.glob("*.json")}
    assert {"val.json", "val_emotion_closed.json", "val_humor.json", "manifest.json"} <= names


def test_val_size_zero_writes_no_val_files_and_removes_old_ones(tmp_path):
    out = build_all(tmp_path, "out", "--val-size", "2")
    assert (out / "val.json").exists()
    build_all(tmp_path, "out", "--val-size", "0")
    assert not list(out.glob("val*.json"))
    assert "val.json" not in json.loads((out / "manifest.json").read_text())["files"]


def _meld_like(dialogues: dict[str, int]) -> list[SourceSample]:
    return [SourceSample(source_id=f"train/{d}_utt{u}", split="train", raw_label="x",
                         label="joy", video=f"{d}_{u}.mp4")
            for d, n in dialogues.items() for u in range(n)]


def test_carve_val_takes_whole_groups_deterministically():
    samples = _meld_like({f"dia{i}": 1 + i % 4 for i in range(40)})
    val, rest = carve_val(MeldAdapter(), samples, 10, seed=0)
    assert 10 <= len(val) < 14 and len(val) + len(rest) == len(samples)
    groups_val = {s.source_id.split("_utt")[0] for s in val}
    assert not groups_val & {s.source_id.split("_utt")[0] for s in rest}
    assert [s.source_id for s in val] == [s.source_id for s in samples if s in val]  # order
    again, _ = carve_val(MeldAdapter(), list(reversed(samples)), 10, seed=0)
    assert {s.source_id for s in again} == {s.source_id for s in val}
    other, _ = carve_val(MeldAdapter(), samples, 10, seed=1)
    assert {s.source_id for s in other} != {s.source_id for s in val}
    assert carve_val(MeldAdapter(), samples, 0, seed=0) == ([], samples)


def test_default_val_size():
    assert "min(500, 5%" in DEFAULT_VAL
    spec = DatasetSpec("meld", FIXTURES / "meld")
    assert [val_count(spec, n) for n in (9, 11, 2_800, 10_000, 139_800)] == [0, 1, 140, 500, 500]
    assert val_count(DatasetSpec("meld", FIXTURES / "meld", val_size=7), 100) == 7
