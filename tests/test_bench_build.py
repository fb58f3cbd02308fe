"""Whole-EmoBench build: all eight fixtures through the CLI, sampling, determinism, config."""
from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, output_bytes
from emollm_plugin.bench.adapters import list_adapters
from emollm_plugin.bench.adapters.base import SourceSample
from emollm_plugin.bench.build import (BuildConfig, DatasetSpec, assign_tasks, build, hash_key,
                                       link_media, load_config, select)
from emollm_plugin.bench.cli import main as bench_main
from emollm_plugin.bench.adapters.caer_s import CaerSAdapter
from emollm_plugin.bench.adapters.mmsd2 import Mmsd2Adapter
from emollm_plugin.tasks.labels import TASKS

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from bench_emobench_mmhs150k import make_synthetic_mmhs150k  # noqa: E402


def write_config(path: Path, out: Path, seed: int = 3) -> Path:
    lines = [f"out: {out}", f"seed: {seed}", "datasets:"]
    lines += [f"  {name}: {{root: {FIXTURES / name}}}" for name in list_adapters()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def all_eight(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("emobench")
    config = write_config(tmp / "bench.yaml", tmp / "out")
    assert bench_main(["build", "--config", str(config), "--quiet"]) == 0
    return tmp / "out"


def test_all_eight_fixtures_build_and_validate(all_eight, capsys):
    manifest = json.loads((all_eight / "manifest.json").read_text())
    assert list(manifest["datasets"]) == list_adapters()
    train = json.loads((all_eight / "train.json").read_text())
    test = json.loads((all_eight / "test.json").read_text())
    assert {r["dataset"] for r in train} == set(list_adapters())
    assert {r["task"] for r in train} == set(TASKS)
    for split, records in (("train", train), ("test", test)):
        assert manifest["totals"][split] == dict(sorted(Counter(r["task"] for r in records)
                                                        .items()))
        for task in TASKS:  # per-task files partition the split file, same order
            part = json.loads((all_eight / f"{split}_{task}.json").read_text())
            assert part == [r for r in records if r["task"] == task]
    for name, entry in manifest["datasets"].items():
        assert entry["selected"]["train"] == sum(r["dataset"] == name for r in train)
        assert (all_eight / "media" / name).resolve() == (FIXTURES / name).resolve()
    assert manifest["plugin_version"] and manifest["seed"] == 3
    capsys.readouterr()
    assert bench_main(["validate", str(all_eight / "train.json"), str(all_eight / "test.json"),
                       "--quiet"]) == 0
    assert capsys.readouterr().out.count("OK") == 2


def test_rebuild_is_byte_identical(all_eight, tmp_path):
    config = write_config(tmp_path / "bench.yaml", tmp_path / "out")
    assert bench_main(["build", "--config", str(config), "--quiet"]) == 0
    assert output_bytes(tmp_path / "out") == output_bytes(all_eight)
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp" in p.name]


def _fake(n: int, split: str = "train") -> list[SourceSample]:
    return [SourceSample(source_id=f"s{i}", split=split, raw_label="x", label="yes",
                         image=f"{i}.jpg") for i in range(n)]


def test_select_equals_sort_reference_and_ignores_input_order():
    samples = _fake(200) + _fake(50, "test")
    chosen, available = select(samples, {"train": 30, "test": 100}, seed=4, dataset="d")
    reference = sorted(samples[:200], key=lambda s: hash_key(4, "d", "train", s.source_id))[:30]
    assert [s.source_id for s in chosen["train"]] == \
        [s.source_id for s in samples[:200] if s in reference]  # reference set, source order
    assert len(chosen["test"]) == 50 and available == {"train": 200, "test": 50}
    shuffled = samples[:]
    random.Random(0).shuffle(shuffled)
    again, _ = select(shuffled, {"train": 30, "test": 100}, seed=4, dataset="d")
    assert {s.source_id for s in again["train"]} == {s.source_id for s in chosen["train"]}
    other, _ = select(samples, {"train": 30, "test": 0}, seed=5, dataset="d")
    assert {s.source_id for s in other["train"]} != {s.source_id for s in chosen["train"]}
    assert other["test"] == []


@pytest.mark.parametrize("fraction, closed", [(0.5, 50), (0.25, 25), (0.0, 0), (1.0, 101)])
def test_emotion_samples_split_exactly_between_closed_and_open(fraction, closed):
    tasks = assign_tasks(CaerSAdapter(), _fake(101), seed=1, closed_fraction=fraction)
    assert Counter(tasks)["emotion_closed"] == closed
    assert Counter(tasks)["emotion_open"] == 101 - closed
    assert set(assign_tasks(Mmsd2Adapter(), _fake(5), 1, 0.5)) == {"sarcasm"}


def test_single_dataset_cli_and_stale_files(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["build", "--dataset", "caer_s", "--root", str(FIXTURES / "caer_s"), "--out", str(out),
            "--seed", "2", "--train-size", "3", "--test-size", "1", "--quiet"]
    (out).mkdir()
    (out / "train_hate.json").write_text("[]\n")  # left over from an earlier build
    assert bench_main(args) == 0
    assert "caer_s     train 3/3  val 0/0  test 1/1" in capsys.readouterr().out
    assert not (out / "train_hate.json").exists()
    assert len(json.loads((out / "train.json").read_text())) == 3


def test_cli_errors_are_one_line_messages(tmp_path, capsys):
    with pytest.raises(SystemExit, match="without --config, give --root"):
        bench_main(["build", "--dataset", "caer_s", "--out", str(tmp_path)])
    assert bench_main(["build", "--dataset", "mmsd2", "--root", str(tmp_path / "nope"),
                       "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "nope: expected <root>/data/text_json_final" in capsys.readouterr().err
    assert bench_main(["build", "--dataset", "mmsd2", "--root", str(FIXTURES / "mmsd2"),
                       "--out", str(tmp_path / "o"), "--option", "variant=v9", "--quiet"]) == 1
    assert "variant 'v9'" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("out: o\ndatasets: {caer_s: {root: r}}\nsed: 1\n", "unknown key\\(s\\) \\['sed'\\]"),
    ("datasets: {caer_s: {root: r}}\n", "missing 'out'"),
    ("out: o\ndatasets: {caer_s: {path: r}}\n", "datasets.caer_s needs 'root'"),
    ("out: o\ndatasets: {caer_s: {root: r, train_size: -1}}\n", "train_size must be"),
    ("out: o\ndatasets: {}\n", "'datasets' is empty"),
    ("out: o\nclosed_fraction: 2\ndatasets: {caer_s: {root: r}}\n", "not in \\[0, 1\\]"),
    ("out: o\nseed: abc\ndatasets: {caer_s: {root: r}}\n", "seed: 'abc' is not an integer"),
    ("out: o\nemotion_questions: twice\ndatasets: {caer_s: {root: r}}\n",
     "emotion_questions 'twice' must be one of"),
    ("out: o\ndatasets: {caer_s: {root: r, val_size: -2}}\n", "caer_s.val_size must be"),
    ("out: o\nx: " + "[" * 100_000 + "\n", "bench.yaml: YAML nested deeper than Python can read"),
    ("out: o\nseed: " + "9" * 5000 + "\n", "bench.yaml: Exceeds the limit"),
    ("out: o\ndatasets: {caer_s: {root: r}\n", "bench.yaml: not valid YAML"),
])
def test_config_errors(tmp_path, text, message):
    (tmp_path / "bench.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(tmp_path / "bench.yaml")


def test_extra_question_templates_name_the_file(tmp_path):
    from emollm_plugin.tasks.questions import QuestionBank, QuestionTemplateError
    extra = tmp_path / "extra.json"
    for data, message in ((b"[" * 100_000, "extra.json: JSON nested deeper"),
                          (b'{"hate": [' + b"9" * 5000 + b"]}", "extra.json: a number at line 1 has more digits"),
                          ('{"hate": ["caf\xe9"]}'.encode("latin-1"), "extra.json:1: the extra templates file is not UTF-8")):
        extra.write_bytes(data)
        with pytest.raises(QuestionTemplateError, match=message):
            QuestionBank.load(extra)


def test_config_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "bench.yaml").write_text(
        "out: built\nseed: 9\ndatasets:\n  caer_s: {root: data/CAER-S, test_size: 5}\n")
    config = load_config(tmp_path / "bench.yaml")
    assert config.out == tmp_path / "built" and config.seed == 9
    assert config.datasets == [DatasetSpec("caer_s", tmp_path / "data/CAER-S", None, 5, {})]
    with pytest.raises(ValueError, match="listed twice"):
        BuildConfig(config.datasets * 2, tmp_path)


def test_media_link_never_replaces_a_real_folder(tmp_path):
    (tmp_path / "media" / "caer_s").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="is not a symlink"):
        link_media(tmp_path, "caer_s", FIXTURES / "caer_s")
    link_media(tmp_path, "mmsd2", FIXTURES / "mmsd2")
    link_media(tmp_path, "mmsd2", FIXTURES / "mmhs150k")  # re-pointed atomically
    assert (tmp_path / "media" / "mmsd2").resolve() == (FIXTURES / "mmhs150k").resolve()


def test_synthetic_mmhs150k_streams_through_the_build(tmp_path):
    counts = make_synthetic_mmhs150k(tmp_path / "MMHS150K", tweets=3000, ocr_every=50)
    assert counts == {"test": 200, "val": 100, "train": 2700}
    config = BuildConfig([DatasetSpec("mmhs150k", tmp_path / "MMHS150K", 2000, 150)],
                         tmp_path / "out", check_media=False)
    manifest = build(config, progress=False)
    entry = manifest["datasets"]["mmhs150k"]
    assert entry["available"] == {"train": 2800, "test": 200}
    # --val-from valtest: val asked in proportion to test 150 (72); the 200 test-side samples
    # fall short of 222 and are split in that proportion: val round(200 x 72 / 222) = 65
    assert entry["requested"] == {"train": 2000, "val": 72, "test": 150}
    assert entry["selected"] == {"train": 2000, "val": 65, "test": 135}
    assert manifest["files"]["train_hate.json"]["records"] == 2000
