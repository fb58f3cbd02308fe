"""UR-FUNNY v2 (humor) adapter on tests/fixtures/urfunny (pickles + urfunny2_videos/)."""
from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import DropCounter, LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.urfunny import UrfunnyAdapter, load_data_pickle

FIXTURE = Path(__file__).parent / "fixtures" / "urfunny"


def run(root: Path, **options):
    drops = DropCounter()
    kept = list(UrfunnyAdapter(**options).usable_samples(root, drops))
    return kept, drops.as_dict()


@pytest.fixture()
def urfunny_copy(tmp_path: Path) -> Path:
    root = tmp_path / "UR-FUNNY"
    shutil.copytree(FIXTURE, root)
    return root


def rewrite(path: Path, edit) -> None:
    data = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps(edit(data), protocol=2))


def test_registered_under_cli_name():
    assert get_adapter("urfunny") is UrfunnyAdapter
    assert UrfunnyAdapter.tasks == ("humor",) and UrfunnyAdapter.label_set == ("yes", "no")


def test_counts_and_labels_per_split():
    kept, _ = run(FIXTURE)
    assert Counter(s.split for s in kept) == {"train": 6, "test": 2}  # folds train 4 + dev 2
    assert {s.source_id: s.label for s in kept} == {
        "101": "yes", "102": "no", "103": "yes", "104": "no", "201": "yes", "202": "no",
        "301": "yes", "302": "no"}
    assert [s.meta["urfunny_fold"] for s in kept] == ["train"] * 4 + ["dev"] * 2 + ["test"] * 2


def test_media_paths_name_the_clip_for_video_and_audio():
    for sample in run(FIXTURE)[0]:
        assert sample.video == sample.audio == f"urfunny2_videos/{sample.source_id}.mp4"
        assert (FIXTURE / sample.video).is_file()


def test_question_context_joins_sentences_and_punchline():
    kept = {s.source_id: s for s in run(FIXTURE)[0]}
    assert kept["201"].context == ("Context: i tried yoga once. the instructor said breathe.\n"
                                   "Last sentence: i said i have been doing that all along")
    assert kept["104"].context == "Last sentence: thank you all for coming tonight"  # no context


def test_missing_clip_and_missing_label_are_counted():
    assert run(FIXTURE)[1] == {
        "train": {"media file missing": {"count": 1, "examples": ["105"]}},
        "test": {"no humor label for the id": {"count": 1, "examples": ["303"]}},
    }


def test_deterministic_and_independent_of_root_location(urfunny_copy: Path):
    runs = [run(FIXTURE), run(FIXTURE), run(urfunny_copy)]
    as_dicts = [[dataclasses.asdict(s) for s in kept] for kept, _ in runs]
    assert as_dicts[0] == as_dicts[1] == as_dicts[2]
    assert runs[0][1] == runs[1][1] == runs[2][1]


@pytest.mark.parametrize("folder", ["videos/urfunny2_videos", "urfunny2_videos/urfunny2_videos",
                                    "urfunny2_video"])
def test_zip_folder_variants_are_found(urfunny_copy: Path, folder: str):
    staging = urfunny_copy.parent / "staging"
    shutil.move(str(urfunny_copy / "urfunny2_videos"), str(staging))
    (urfunny_copy / folder).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(urfunny_copy / folder))
    kept, _ = run(urfunny_copy)
    assert len(kept) == 8 and {s.video.rsplit("/", 1)[0] for s in kept} == {folder}


def test_videos_option_and_pickles_in_a_subfolder(urfunny_copy: Path):
    shutil.move(str(urfunny_copy / "urfunny2_videos"), str(urfunny_copy / "clips"))
    (urfunny_copy / "sdk_features").mkdir()
    for name in ("data_folds.pkl", "language_sdk.pkl", "humor_label_sdk.pkl"):
        shutil.move(str(urfunny_copy / name), str(urfunny_copy / "sdk_features" / name))
    with pytest.raises(LayoutError, match=r"no clip folder: looked for \.mp4 files in urfunny2_videos/"):
        run(urfunny_copy)
    kept, _ = run(urfunny_copy, videos="clips")
    assert kept[0].video == "clips/101.mp4" and len(kept) == 8
    assert UrfunnyAdapter().source_files(urfunny_copy)[0] == urfunny_copy / "sdk_features/data_folds.pkl"


def test_string_ids_numpy_and_float_labels(urfunny_copy: Path):
    rewrite(urfunny_copy / "data_folds.pkl",
            lambda folds: {k: [str(i) for i in v] for k, v in folds.items()})
    rewrite(urfunny_copy / "humor_label_sdk.pkl",
            lambda labels: {k: (np.int64(v) if k < 200 else float(v)) for k, v in labels.items()})
    kept, _ = run(urfunny_copy)
    assert {s.source_id: s.label for s in kept} == {s.source_id: s.label for s in run(FIXTURE)[0]}


def test_test_fold_wins_overlap_and_bad_label_is_counted(urfunny_copy: Path):
    rewrite(urfunny_copy / "data_folds.pkl", lambda f: {**f, "dev": f["dev"] + [301]})
    rewrite(urfunny_copy / "humor_label_sdk.pkl", lambda labels: {**labels, 102: 2})
    kept, drops = run(urfunny_copy)
    assert [s.split for s in kept if s.source_id == "301"] == ["test"]
    assert drops["train"]["id also in the test fold (kept in test only)"]["examples"] == ["301"]
    assert drops["train"]["malformed UR-FUNNY humor label"]["examples"] == ["102"]


def test_missing_pickle_names_layout_and_found(urfunny_copy: Path):
    (urfunny_copy / "humor_label_sdk.pkl").unlink()
    with pytest.raises(LayoutError) as err:
        run(urfunny_copy)
    message = str(err.value)
    assert "missing: humor_label_sdk.pkl" in message
    assert "found: data_folds.pkl, language_sdk.pkl, urfunny2_videos/" in message


def test_malformed_folds_and_transcripts_raise(urfunny_copy: Path):
    rewrite(urfunny_copy / "data_folds.pkl", lambda f: {"train": f["train"], "test": f["test"]})
    with pytest.raises(SourceFormatError, match=r"data_folds\.pkl: expected a dict with keys "
                                                r"train, dev, test; missing \['dev'\]"):
        run(urfunny_copy)
    shutil.copyfile(FIXTURE / "data_folds.pkl", urfunny_copy / "data_folds.pkl")
    rewrite(urfunny_copy / "language_sdk.pkl",
            lambda lang: {**lang, 101: {**lang[101], "punchline_sentence": 3.5}})
    with pytest.raises(SourceFormatError, match=r"id 101 field punchline_sentence is float"):
        run(urfunny_copy)


def test_pickles_that_would_run_code_are_refused(tmp_path: Path):
    class Exploit:
        def __reduce__(self):
            return (print, ("side effect",))

    path = tmp_path / "data_folds.pkl"
    path.write_bytes(pickle.dumps({"train": [Exploit()]}))
    with pytest.raises(SourceFormatError, match=r"refusing to load builtins\.print"):
        load_data_pickle(path)
    array = np.arange(3, dtype=np.int64)
    path.write_bytes(pickle.dumps({"a": array, "b": np.float32(1.5), "c": {1, 2}}, protocol=2))
    loaded = load_data_pickle(path)
    assert np.array_equal(loaded["a"], array) and loaded["b"] == 1.5 and loaded["c"] == {1, 2}


def test_python2_pickle_strings_fall_back_to_latin1(tmp_path: Path):
    # protocol 2 as Python 2 wrote it: {1: 'caf\xe9'} with a raw 8-bit str (SHORT_BINSTRING)
    path = tmp_path / "language_sdk.pkl"
    path.write_bytes(b"\x80\x02}K\x01U\x04caf\xe9s.")
    assert load_data_pickle(path) == {1: "café"}


def test_built_records_ask_yes_no_about_the_last_sentence(tmp_path: Path):
    from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build
    from emollm_plugin.tasks.schema import check_record
    from emollm_plugin.bench.validate import validate_file

    out = tmp_path / "out"
    manifest = build(BuildConfig([DatasetSpec("urfunny", FIXTURE)], out, val_from="train"), progress=False)
    records = [r for s in ("train", "test") for r in json.loads((out / f"{s}.json").read_text())]
    samples = {s.source_id: s for s in run(FIXTURE)[0]}
    assert len(records) == 8 and {r["task"] for r in records} == {"humor"}
    assert manifest["datasets"]["urfunny"]["drops"] == run(FIXTURE)[1]
    for record in records:
        check_record(record)
        sample = samples[record["source_id"]]
        assert record["video"] == record["audio"] == f"urfunny/{sample.video}"
        human, answer = (turn["value"] for turn in record["conversations"])
        assert human.startswith(f"<video>\n<audio>\n{sample.context}\n")
        assert "the last sentence of this clip" in human and "label_set" not in record
        assert answer == {"yes": "Yes", "no": "No"}[record["label"]]
    assert validate_file(out / "test.json", progress=False).ok
    again = tmp_path / "again"
    build(BuildConfig([DatasetSpec("urfunny", FIXTURE)], again, val_from="train"), progress=False)
    assert (again / "train.json").read_bytes() == (out / "train.json").read_bytes()
