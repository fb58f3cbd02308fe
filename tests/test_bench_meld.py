"""MELD adapter on tests/fixtures/meld (a tiny copy of the MELD.Raw layout and its quirks)."""
from __future__ import annotations

import dataclasses
import json
import importlib.util
import shutil
from collections import Counter
from pathlib import Path

import pytest

from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import DropCounter, LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.meld import MeldAdapter, clean_text
from emollm_plugin.bench.media_check import clip_problem
from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS

FIXTURE = Path(__file__).parent / "fixtures" / "meld"


def load_fixture_maker():
    spec = importlib.util.spec_from_file_location(
        "make_video_fixtures", Path(__file__).parent / "fixtures" / "make_video_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(root: Path, **options):
    drops = DropCounter()
    kept = list(MeldAdapter(**options).usable_samples(root, drops))
    return kept, drops.as_dict()


@pytest.fixture()
def meld_copy(tmp_path: Path) -> Path:
    root = tmp_path / "MELD.Raw"
    shutil.copytree(FIXTURE, root)
    return root


def test_registered_under_cli_name():
    assert get_adapter("meld") is MeldAdapter
    assert MeldAdapter.tasks == ("emotion_closed", "emotion_open")
    assert MeldAdapter.label_set == CANONICAL_EMOTIONS


def test_counts_and_labels_per_split():
    kept, _ = run(FIXTURE)
    by_split = Counter(s.split for s in kept)
    assert by_split == {"train": 12, "test": 5}  # train = MELD train (9 usable) + dev (3 usable)
    train = Counter(s.label for s in kept if s.split == "train")
    assert train == {"neutral": 2, "surprise": 2, "anger": 2, "joy": 2, "sadness": 1,
                     "disgust": 1, "fear": 2}
    test = {s.source_id: s.label for s in kept if s.split == "test"}
    assert test == {"test/dia0_utt0": "surprise", "test/dia0_utt1": "neutral",
                    "test/dia0_utt2": "disgust", "test/dia1_utt0": "joy",
                    "test/dia1_utt1": "sadness"}
    # dialogue ids restart per MELD split: the id names the CSV split
    assert {"train/dia0_utt0", "dev/dia0_utt0"} <= {s.source_id for s in kept}


def test_media_paths_name_the_clip_for_video_and_audio():
    kept, _ = run(FIXTURE)
    paths = {s.source_id: s.video for s in kept}
    assert paths["train/dia1_utt2"] == "train/train_splits/dia1_utt2.mp4"
    assert paths["dev/dia0_utt1"] == "dev/dev_splits_complete/dia0_utt1.mp4"
    assert paths["test/dia0_utt1"] == "test/output_repeated_splits_test/dia0_utt1.mp4"
    # the plain-named clip is absent, its final_videos_test twin stands in
    assert paths["test/dia1_utt1"] == "test/output_repeated_splits_test/final_videos_testdia1_utt1.mp4"
    for sample in kept:
        assert sample.audio == sample.video and sample.image is None
        assert (FIXTURE / sample.video).is_file()


def test_question_context_has_speaker_and_cleaned_utterance():
    kept = {s.source_id: s for s in run(FIXTURE)[0]}
    assert kept["train/dia0_utt1"].context == "Speaker: Joey\nUtterance: You’re kidding me!"
    # raw-tarball C1 code U+0092 restored to the right single quote it stands for
    assert kept["train/dia125_utt1"].context.endswith("I don’t think we’re alone in here.")
    # CSV doubled quotes decoded
    assert kept["train/dia1_utt1"].meta["utterance"] == '"Sorry" doesn’t cover it.'
    assert kept["test/dia0_utt0"].meta["start_time"] == "00:14:38,127"
    assert kept["dev/dia110_utt6"].meta["start_time"] == "0:05:40,020"  # kept as written


def test_known_quirks_are_counted_drops():
    _, drops = run(FIXTURE)
    assert drops == {
        "train": {
            "clip unreadable": {"count": 1, "examples": ["train/dia125_utt3"]},
            "media file missing": {"count": 1, "examples": ["dev/dia110_utt7"]},
        },
        "test": {
            "duplicate final_videos_test* clip ignored (plain-named clip used)":
                {"count": 1, "examples": ["test/final_videos_testdia0_utt1"]},
        },
    }


def test_deterministic_and_independent_of_root_location(meld_copy: Path):
    first, drops_first = run(FIXTURE)
    again, drops_again = run(FIXTURE)
    moved, drops_moved = run(meld_copy)
    as_dicts = [[dataclasses.asdict(s) for s in samples] for samples in (first, again, moved)]
    assert as_dicts[0] == as_dicts[1] == as_dicts[2]
    assert drops_first == drops_again == drops_moved


def test_split_tarballs_extracted_without_parent_folder(meld_copy: Path):
    for split, folder in (("train", "train_splits"), ("dev", "dev_splits_complete"),
                          ("test", "output_repeated_splits_test")):
        shutil.move(str(meld_copy / split / folder), str(meld_copy / folder))
        (meld_copy / split).rmdir()
    kept, _ = run(meld_copy)
    assert len(kept) == 17
    assert {s.video.split("/")[0] for s in kept} == {
        "train_splits", "dev_splits_complete", "output_repeated_splits_test"}


def test_unknown_emotion_and_twin_without_row_are_counted(meld_copy: Path):
    csv_path = meld_copy / "test_sent_emo.csv"
    csv_path.write_text(csv_path.read_text(encoding="utf-8").replace(",disgust,", ",contempt,"),
                        encoding="utf-8")
    shutil.copyfile(meld_copy / "test/output_repeated_splits_test/dia0_utt0.mp4",
                    meld_copy / "test/output_repeated_splits_test/final_videos_testdia9_utt9.mp4")
    kept, drops = run(meld_copy)
    assert "test/dia0_utt2" not in {s.source_id for s in kept}
    assert drops["test"]["unknown MELD emotion"] == {"count": 1, "examples": ["test/dia0_utt2"]}
    assert drops["test"]["final_videos_test* clip without a CSV row"]["examples"] == [
        "test/final_videos_testdia9_utt9"]


def test_clip_without_audio_track_is_dropped_and_probe_can_be_disabled(meld_copy: Path):
    maker = load_fixture_maker()
    maker.make_clip(meld_copy / "train/train_splits/dia0_utt0.mp4", 7, audio=False)
    _, drops = run(meld_copy)
    assert drops["train"]["clip has no audio track"]["examples"] == ["train/dia0_utt0"]
    kept, drops = run(meld_copy, probe_clips=False)
    # without probing only missing/empty files are caught
    assert {"train/dia0_utt0", "train/dia125_utt3"} <= {s.source_id for s in kept}
    assert "clip unreadable" not in drops["train"]


def test_clip_problem_reasons(tmp_path: Path):
    maker = load_fixture_maker()
    good = tmp_path / "good.mp4"
    maker.make_clip(good, 1)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(b"\x00not a video" * 20)
    assert clip_problem(good) is None
    assert clip_problem(tmp_path / "absent.mp4") == "media file missing"
    assert clip_problem(tmp_path / "empty.mp4") == "media file empty"
    assert clip_problem(tmp_path / "noise.mp4") == "clip unreadable"
    assert clip_problem(tmp_path / "noise.mp4", probe=False) is None


def test_clean_text_matches_cp1252_reference():
    raw = "don\x92t \x93hi\x94 \x85 wait\x96no\xa0 x"
    reference = raw.encode("latin-1").decode("cp1252").replace("\xa0", " ")
    assert clean_text(raw) == " ".join(reference.split()) == "don’t “hi” … wait–no x"


def test_missing_csv_names_expected_layout_and_found(meld_copy: Path):
    (meld_copy / "dev_sent_emo.csv").unlink()
    with pytest.raises(LayoutError) as err:
        run(meld_copy)
    message = str(err.value)
    assert "missing: dev_sent_emo.csv" in message and "train/train_splits/" in message
    assert "found: dev/, test/, test_sent_emo.csv, train/, train_sent_emo.csv" in message


def test_missing_clip_folder_names_both_candidates(meld_copy: Path):
    shutil.rmtree(meld_copy / "test")
    with pytest.raises(LayoutError, match=r"no clip folder for MELD test: looked for "
                                          r"test/output_repeated_splits_test/ or "
                                          r"output_repeated_splits_test/"):
        run(meld_copy)


def test_malformed_id_names_file_line_and_field(meld_copy: Path):
    csv_path = meld_copy / "train_sent_emo.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace(",0,2,2,5,", ",zero,2,2,5,")
    csv_path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"train_sent_emo\.csv, line 4: field Dialogue_ID "
                                                r"is 'zero'"):
        run(meld_copy)


def test_missing_column_and_non_utf8_csv_raise(meld_copy: Path):
    csv_path = meld_copy / "dev_sent_emo.csv"
    original = csv_path.read_text(encoding="utf-8")
    csv_path.write_text(original.replace("Emotion,", "Emo,", 1), encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"dev_sent_emo\.csv: missing column\(s\) \['Emotion'\]"):
        run(meld_copy)
    csv_path.write_bytes(original.encode("cp1252"))
    with pytest.raises(SourceFormatError, match=r"dev_sent_emo\.csv: not UTF-8 .*re-save the file"):
        run(meld_copy)


def test_fixture_generator_reproduces_the_committed_trees(tmp_path: Path):
    """The committed clips/pickles of meld, mintrec and urfunny are what the generator writes."""
    load_fixture_maker().main(["--out", str(tmp_path)])
    for dataset in ("meld", "mintrec", "urfunny"):
        committed = sorted(p.relative_to(FIXTURE.parent / dataset).as_posix()
                           for p in (FIXTURE.parent / dataset).rglob("*") if p.is_file())
        generated = sorted(p.relative_to(tmp_path / dataset).as_posix()
                           for p in (tmp_path / dataset).rglob("*") if p.is_file())
        assert generated == committed, dataset
        for rel in committed:
            if not rel.endswith(".mp4"):  # clip bytes depend on the local x264 build
                assert (tmp_path / dataset / rel).read_bytes() == \
                    (FIXTURE.parent / dataset / rel).read_bytes(), rel


def build_records(out: Path, seed: int = 0) -> tuple[dict, dict[str, list[dict]]]:
    from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build

    manifest = build(BuildConfig([DatasetSpec("meld", FIXTURE, val_size=0)], out, seed=seed),
                     progress=False)
    return manifest, {s: json.loads((out / f"{s}.json").read_text(encoding="utf-8"))
                      for s in ("train", "test")}


def test_built_records_carry_clip_context_and_question(tmp_path: Path):
    from emollm_plugin.tasks.schema import check_record
    from emollm_plugin.bench.validate import validate_file

    manifest, records = build_records(tmp_path / "out")
    samples = {(s.split, s.source_id): s for s in run(FIXTURE)[0]}
    # 5 test samples, each asked closed and open
    assert {s: len(r) for s, r in records.items()} == {"train": 12, "test": 10}
    assert manifest["datasets"]["meld"]["drops"] == run(FIXTURE)[1]
    tasks = Counter(r["task"] for r in records["train"] + records["test"])
    assert set(tasks) == {"emotion_closed", "emotion_open"} and sum(tasks.values()) == 22
    for record in records["train"] + records["test"]:
        check_record(record)
        sample = samples[(record["split"], record["source_id"])]
        assert record["video"] == record["audio"] == f"meld/{sample.video}"
        assert record["label"] == sample.label
        human, answer = (turn["value"] for turn in record["conversations"])
        assert human.startswith(f"<video>\n<audio>\n{sample.context}\n")
        assert "the speaker in this clip" in human and answer == sample.label
        if record["task"] == "emotion_closed":
            assert sorted(record["label_set"]) == sorted(CANONICAL_EMOTIONS)
            assert ", ".join(record["label_set"]) in human  # options listed in the shown order
        else:
            assert "label_set" not in record
    for split in ("train", "test"):
        assert validate_file(tmp_path / "out" / f"{split}.json", progress=False).ok


def test_build_is_byte_identical_for_the_same_seed(tmp_path: Path):
    build_records(tmp_path / "a")
    build_records(tmp_path / "b")
    build_records(tmp_path / "c", seed=1)
    for name in ("train.json", "test.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.json").read_bytes() != (tmp_path / "c" / "train.json").read_bytes()
