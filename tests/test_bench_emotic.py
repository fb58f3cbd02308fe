"""EMOTIC adapter on tests/fixtures/emotic: the official .mat and Tandon's CSVs, same people."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, all_samples, build_one, check_records, output_bytes
from emollm_plugin.bench.adapters.base import LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.emotic import EmoticAdapter, box_context, clip_box

EXPECTED = {  # (source split, image stem, person) -> label or drop reason
    ("train", "COCO_train2014_000000000036", 0): "joy",
    ("train", "COCO_train2014_000000000036", 1): "no EMOTIC category maps to the 7 emotions",
    ("train", "frame_ebuzbgkxbyxcecja", 0): "anger",
    ("train", "ADE_train_00002411", 0): "EMOTIC categories tie between emotions",
    ("train", "ADE_train_00002411", 1): "empty person box or image size",
    ("val", "aeo4t8cs7bqj0sngkw", 0): "neutral",
    ("test", "COCO_val2014_000000000139", 0): "surprise",
    ("test", "COCO_val2014_000000000139", 1): "sadness",
    ("test", "frame_arlkh3cd2yx13nps", 0): "disgust",
}


def _outcomes(samples):
    """Map samples to EXPECTED's keys; person number = order within the image."""
    seen: dict[tuple[str, str], int] = {}
    out = {}
    for s in samples.values():
        source_split, stem = s.source_id.split("/")[0], s.image.rsplit("/", 1)[1][:-4]
        k = seen.get((source_split, stem), 0)
        seen[(source_split, stem)] = k + 1
        out[(source_split, stem, k)] = s.label or s.drop_reason
    return out


@pytest.mark.parametrize("layout", ["mat", "csv"])
def test_both_layouts_give_the_same_people(layout):
    samples = all_samples("emotic", layout=layout)
    assert _outcomes(samples) == EXPECTED
    first = next(iter(samples.values()))
    assert first.image == "emotic/mscoco/images/COCO_train2014_000000000036.jpg"
    assert first.meta["bbox"] == [4, 2, 30, 40] and first.meta["image_size"] == [64, 48]
    assert first.context.startswith("The person of interest is inside the box "
                                    "[0.06, 0.04, 0.47, 0.83]")
    splits = {s.source_id.split("/")[0]: s.split for s in samples.values()}
    assert splits == {"train": "train", "val": "train", "test": "test"}


def test_auto_layout_and_val_split_option(tmp_path):
    mat = all_samples("emotic")
    assert all(i.endswith(("/p0", "/p1")) for i in mat)  # .mat preferred when present
    root = tmp_path / "emotic19"
    shutil.copytree(FIXTURES / "emotic", root, ignore=shutil.ignore_patterns("Annotations"))
    assert all("/row" in i for i in all_samples("emotic", root))
    val_to_test = all_samples("emotic", val_split="test")
    assert val_to_test["val/emodb_small/images/aeo4t8cs7bqj0sngkw/p0"].split == "test"


def test_generator_reproduces_the_committed_fixture(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_emotic_fixture", FIXTURES / "emotic" / "make_emotic_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    fresh, committed = all_samples("emotic", tmp_path), all_samples("emotic")
    assert {i: (s.label, s.drop_reason, s.context) for i, s in fresh.items()} == \
        {i: (s.label, s.drop_reason, s.context) for i, s in committed.items()}
    for csv_name in ("train.csv", "val.csv", "test.csv"):
        assert (tmp_path / "emotic_pre" / csv_name).read_text() == \
            (FIXTURES / "emotic" / "emotic_pre" / csv_name).read_text()


def test_box_helpers_against_hand_values():
    assert clip_box([-5, 2, 70, 40], [64, 48]) == [0, 2, 64, 40]
    assert clip_box([10, 10, 10, 30], [40, 40]) is None
    assert box_context([16, 12, 48, 36], [64, 48]).startswith(
        "The person of interest is inside the box [0.25, 0.25, 0.75, 0.75]")


def test_build_records_and_determinism(tmp_path):
    result = build_one("emotic", tmp_path / "a")
    build_one("emotic", tmp_path / "b")
    entry = result["manifest"]["datasets"]["emotic"]
    assert entry["selected"] == {"train": 3, "val": 0, "test": 3}
    assert {r: i["count"] for r, i in entry["drops"]["train"].items()} == {
        "EMOTIC categories tie between emotions": 1, "empty person box or image size": 1,
        "no EMOTIC category maps to the 7 emotions": 1}
    assert list(entry["source_files"]) == ["Annotations/Annotations.mat"]
    check_records(result["train"] + result["test"], "emotic", tmp_path / "a" / "media")
    for r in result["test"]:
        human = r["conversations"][0]["value"]
        assert human.startswith("<image>\nThe person of interest is inside the box [")
        assert "the person in the box" in human
    assert output_bytes(tmp_path / "a") == output_bytes(tmp_path / "b")


def test_layout_and_format_errors(tmp_path):
    with pytest.raises(LayoutError, match=r"EMOTIC official layout\) or Tandon-style .*"
                                          r"found: test/, train/"):
        list(EmoticAdapter().iter_samples(FIXTURES / "caer_s"))
    root = tmp_path / "emotic19"
    shutil.copytree(FIXTURES / "emotic", root, ignore=shutil.ignore_patterns("Annotations"))
    csv = root / "emotic_pre" / "test.csv"
    csv.write_text(csv.read_text().replace("['Suffering', 'Pain']", "Suffering Pain"))
    with pytest.raises(SourceFormatError, match=r"test.csv: line 3: .*Categorical_Labels"):
        list(EmoticAdapter(layout="csv").iter_samples(root))
    with pytest.raises(ValueError, match="unknown option"):
        EmoticAdapter(val="test")


def test_person_without_categories_is_counted(tmp_path):
    root = tmp_path / "emotic19"
    shutil.copytree(FIXTURES / "emotic", root, ignore=shutil.ignore_patterns("Annotations"))
    csv = root / "emotic_pre" / "val.csv"
    csv.write_text(csv.read_text().replace("['Peace', 'Sympathy']", "[]"))
    samples = all_samples("emotic", root)
    assert samples["val/emodb_small/images/aeo4t8cs7bqj0sngkw/row0"].drop_reason == \
        "person has no category annotation"
