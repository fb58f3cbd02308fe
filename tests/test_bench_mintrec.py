"""MIntRec adapter on tests/fixtures/mintrec (a tiny copy of the official download's layout)."""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import DropCounter, LayoutError, SourceFormatError
from emollm_plugin.bench.adapters.mintrec import MintrecAdapter
from emollm_plugin.tasks.labels import MINTREC_INTENTS

FIXTURE = Path(__file__).parent / "fixtures" / "mintrec"


def run(root: Path, **options):
    drops = DropCounter()
    kept = list(MintrecAdapter(**options).usable_samples(root, drops))
    return kept, drops.as_dict()


@pytest.fixture()
def mintrec_copy(tmp_path: Path) -> Path:
    root = tmp_path / "MIntRec"
    shutil.copytree(FIXTURE, root)
    return root


def test_registered_under_cli_name():
    assert get_adapter("mintrec") is MintrecAdapter
    assert MintrecAdapter.tasks == ("intention",)
    assert MintrecAdapter.label_set == MINTREC_INTENTS and len(MINTREC_INTENTS) == 20


def test_counts_and_labels_per_split():
    kept, _ = run(FIXTURE)
    assert Counter(s.split for s in kept) == {"train": 6, "test": 3}  # train.tsv 5 + dev.tsv 1
    assert {s.source_id: s.label for s in kept} == {
        "S04_E01_12": "Apologise", "S04_E01_37": "Ask for help", "S04_E01_58": "Praise",
        "S05_E16_329": "Inform", "S05_E16_330": "Complain", "S04_E01_101": "Thank",
        "S04_E01_7": "Greet", "S05_E16_12": "Leave", "S05_E16_88": "Prevent",
    }
    assert {s.meta["mintrec_split"] for s in kept if s.split == "train"} == {"train", "dev"}


def test_media_paths_follow_season_episode_clip():
    kept = {s.source_id: s for s in run(FIXTURE)[0]}
    # the same clip number in two episodes stays two clips
    assert kept["S04_E01_12"].video == "raw_data/S04/E01/12.mp4"
    assert kept["S05_E16_12"].video == "raw_data/S05/E16/12.mp4"
    for sample in kept.values():
        assert sample.audio == sample.video and sample.image is None
        assert (FIXTURE / sample.video).is_file()


def test_question_context_is_the_utterance_read_without_quoting():
    kept = {s.source_id: s for s in run(FIXTURE)[0]}
    assert kept["S04_E01_12"].context == "Utterance: i am so sorry about your car."
    # a text that begins with a double quote is data, not CSV quoting (as the official loader)
    assert kept["S05_E16_330"].context == 'Utterance: "fine" he said, and then he just walked out.'


def test_missing_clip_is_a_counted_drop():
    assert run(FIXTURE)[1] == {
        "train": {"media file missing": {"count": 1, "examples": ["S05_E16_402"]}}}


def test_deterministic_and_independent_of_root_location(mintrec_copy: Path):
    runs = [run(FIXTURE), run(FIXTURE), run(mintrec_copy)]
    as_dicts = [[dataclasses.asdict(s) for s in kept] for kept, _ in runs]
    assert as_dicts[0] == as_dicts[1] == as_dicts[2]
    assert runs[0][1] == runs[1][1] == runs[2][1]


def test_readme_spelling_accepted_and_unknown_intent_counted(mintrec_copy: Path):
    path = mintrec_copy / "train.tsv"
    text = path.read_text(encoding="utf-8").replace("\tApologise\n", "\tApologize\n")
    path.write_text(text.replace("\tPraise\n", "\tBrag\n"), encoding="utf-8")
    kept, drops = run(mintrec_copy)
    labels = {s.source_id: s.label for s in kept}
    assert labels["S04_E01_12"] == "Apologise"
    assert "S04_E01_58" not in labels
    assert drops["train"]["unknown MIntRec intent"] == {"count": 1, "examples": ["S04_E01_58"]}


def test_wrong_header_names_file_and_expected_columns(mintrec_copy: Path):
    path = mintrec_copy / "dev.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("season\tepisode", "season,episode", 1),
                    encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"dev\.tsv, line 1: header is .* expected "
                                                r"\['season', 'episode', 'clip', 'text', 'label'\]"):
        run(mintrec_copy)


def test_short_row_names_file_and_line(mintrec_copy: Path):
    path = mintrec_copy / "test.tsv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace("\tLeave", " Leave")
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"test\.tsv, line 3: 4 tab-separated fields, expected 5"):
        run(mintrec_copy)


def test_missing_files_name_the_layout(mintrec_copy: Path):
    (mintrec_copy / "test.tsv").unlink()
    with pytest.raises(LayoutError, match=r"missing: test\.tsv.*found: dev\.tsv, raw_data/, train\.tsv"):
        run(mintrec_copy)
    (mintrec_copy / "test.tsv").write_text("season\tepisode\tclip\ttext\tlabel\n", encoding="utf-8")
    shutil.rmtree(mintrec_copy / "raw_data")
    with pytest.raises(LayoutError, match=r"raw_data/<season>/<episode>/<clip>\.mp4.*missing: raw_data"):
        run(mintrec_copy)


def test_clip_in_test_and_train_is_kept_in_test_only(mintrec_copy: Path):
    with open(mintrec_copy / "dev.tsv", "a", encoding="utf-8") as handle:
        handle.write("S05\tE16\t88\tyou are not going in there.\tPrevent\n")
    kept, drops = run(mintrec_copy)
    assert [s.split for s in kept if s.source_id == "S05_E16_88"] == ["test"]
    assert drops["train"]["clip also in test.tsv (kept in test only)"] == {
        "count": 1, "examples": ["S05_E16_88"]}


def test_built_records_carry_clip_utterance_and_intent_options(tmp_path: Path):
    from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build
    from emollm_plugin.tasks.schema import check_record
    from emollm_plugin.bench.validate import validate_file

    out = tmp_path / "out"
    manifest = build(BuildConfig([DatasetSpec("mintrec", FIXTURE)], out, val_from="train"), progress=False)
    records = [r for s in ("train", "test") for r in json.loads((out / f"{s}.json").read_text())]
    samples = {s.source_id: s for s in run(FIXTURE)[0]}
    assert len(records) == 9 and {r["task"] for r in records} == {"intention"}
    assert manifest["datasets"]["mintrec"]["drops"] == run(FIXTURE)[1]
    for record in records:
        check_record(record)
        sample = samples[record["source_id"]]
        assert record["video"] == record["audio"] == f"mintrec/{sample.video}"
        human, answer = (turn["value"] for turn in record["conversations"])
        assert human.startswith(f"<video>\n<audio>\n{sample.context}\n")
        assert "the speaker in this clip" in human and answer == record["label"] == sample.label
        assert sorted(record["label_set"]) == sorted(MINTREC_INTENTS)
        assert ", ".join(record["label_set"]) in human
    assert validate_file(out / "train.json", progress=False).ok
    again = tmp_path / "again"
    build(BuildConfig([DatasetSpec("mintrec", FIXTURE)], again, val_from="train"), progress=False)
    assert (again / "train.json").read_bytes() == (out / "train.json").read_bytes()
