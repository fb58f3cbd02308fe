"""Build EmoBench: source datasets on disk -> train/val/test instruction files + manifest.

Per dataset, the adapter's usable samples (media checked by bench/media_check.py in ``jobs``
processes) are split three ways. ``val_from`` chooses where validation comes from:

- ``"valtest"`` (the default): validation and test both come from the dataset's test side, as
  Table 1's "Val & Test" column (44.4k samples in all) and Table 2's header "EmoBench Testing
  (30K)" read literally. Per dataset, ``val + test`` samples are selected from the test side
  (below), test being :data:`TEST_SHARE` = 30,000 / 44,400 of the dataset's Table 1 Val&Test size
  (so the whole test set is about 30k samples, split across datasets in proportion to Table 1)
  and val the rest. Val is then carved out of the selected pool by whole groups (as below), at
  the requested val share of the pool (the same share when fewer samples are available).
- ``"train"``: **val** is carved out of the training side first, by whole groups
  (``adapter.group_of``: the media file, or the MELD dialogue), ranked by
  ``blake2b(seed|val|dataset|group)`` and taken until ``val_size`` samples are reached (default
  :data:`DEFAULT_VAL` = min(500, 5 % of the dataset's usable training samples)); the test set is
  the whole Table 1 Val&Test size.

In both modes no group has samples in two splits. **train** and the test-side pool are the
``size`` samples with the smallest ``blake2b(seed|dataset|split|source_id)`` of what is left
(streaming selection, independent of the order files are listed in; all are kept when fewer are
available, and the manifest says so).

``emotion_labels``: 7 (the default) keeps the seven canonical emotions; 6 drops the neutral
samples of the emotion datasets (counted in the manifest's drops) and asks Emo-C with six options.

Emotion datasets: a train sample is asked once, closed or open: the samples are ranked by a
second seeded hash and the first ``round(closed_fraction * n)`` become emotion_closed, the rest
emotion_open. Val and test samples are asked both ways (``emotion_questions="both"``, the
default: one emotion_closed and one emotion_open record per sample) or split like train
(``"split"``). Question template and option order come from
``random.Random(f"{seed}|{record id}")``. Same inputs and seed -> byte-identical files, whatever
``jobs`` is.

Output folder::

    train.json  val.json  test.json      all datasets, one record per line inside a JSON list
    {train,val,test}_<task>.json         the same records per task (files only for tasks present)
    manifest.json                        choices, sizes, counts per dataset/task/label, drops, and
                                         every file above with its size and sha256
    media/<dataset> -> <dataset root>    (symlinks: train with --image_folder OUT/media)

All-or-nothing: the build first deletes manifest.json, then writes each file atomically
(temp file + rename), then the media links, and writes manifest.json last. A build killed at
any point leaves no manifest, or one that disagrees with a file, and ``bench validate`` refuses
both. Temp files a killed build left behind are removed by the next build, which names them.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import os
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..constants import __version__
from ..errors import EmoLLMError
from ..records import OutputFileError, read_utf8
from .adapters import get_adapter
from .adapters.base import SPLITS, DatasetAdapter, DropCounter, LayoutError, SourceSample
from .media_check import default_jobs
from ..tasks.labels import CLOSED_TASKS, EMOTION_TASKS, TASKS
from ..tasks.questions import QuestionBank
from ..tasks.schema import make_record

FORMAT_VERSION = 3  # 2: val split, emotion_questions, file sizes; 3: val_from, emotion_labels
OUTPUT_SPLITS = ("train", "val", "test")
EMOTION_QUESTIONS = ("both", "split")
VAL_FROM = ("valtest", "train")
EMOTION_LABEL_COUNTS = (7, 6)
DEFAULT_VAL = "min(500, 5% of the dataset's usable training samples)"
VAL_FRACTION, VAL_CAP = 0.05, 500
PAPER_TEST_TOTAL = 30_000  # Table 2's header: "EmoBench Testing (30K)"
PAPER_VALTEST_TOTAL = 44_400  # Table 1: the Val & Test column's total
TEST_SHARE = PAPER_TEST_TOTAL / PAPER_VALTEST_TOTAL
DEFAULT_VALTEST_SPLIT = (f"test = round({PAPER_TEST_TOTAL:,} / {PAPER_VALTEST_TOTAL:,} x the Table 1 "
                         "Val&Test size), val = the rest of it (a given test size: val in the same "
                         "proportion)")
SIX_EMOTIONS_DROP = "neutral (--emotion-labels 6)"
VAL_FROM_REASONS = {
    "valtest": "val and test from Table 1's 'Val & Test' side; test about 30k samples (Table 2: "
               "'EmoBench Testing (30K)'), split per dataset in proportion",
    "train": "val carved out of the training side; test = the whole Table 1 'Val & Test' size",
}
TEMP_MARK = ".tmp"  # atomic_write's temp files: .<name>.tmp<pid>
TEMP_NAME = re.compile(r"^\..+\.tmp\d+$")


@dataclass
class DatasetSpec:
    name: str  # adapter name: emotic, caer_s, meld, emotion6, mintrec, urfunny, mmhs150k, mmsd2
    root: Path  # the dataset's folder in its original layout
    train_size: int | None = None  # (default: the paper's Table 1 train size)
    # (default: val_from "valtest": DEFAULT_VALTEST_SPLIT; "train": the Table 1 val&test size)
    test_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # adapter options (default: none)
    # (default: val_from "valtest": DEFAULT_VALTEST_SPLIT; "train": DEFAULT_VAL)
    val_size: int | None = None


@dataclass
class BuildConfig:
    datasets: list[DatasetSpec]
    out: Path
    seed: int = 0  # sampling, task assignment, templates, option order (default: 0)
    closed_fraction: float = 0.5  # share of an emotion dataset asked closed-set (default: 0.5)
    check_media: bool = True  # drop samples whose media file is missing/empty (default: True)
    templates: Path | None = None  # extra question templates JSON (default: None)
    link_media: bool = True  # create out/media/<dataset> symlinks (default: True)
    # val/test emotion samples asked as closed and open ("both") or like train ("split")
    emotion_questions: str = "both"  # (default: "both")
    jobs: int | None = None  # media-check processes (default: the CPUs available); no effect on output
    val_from: str = "valtest"  # "valtest" | "train" (module docstring) (default: "valtest")
    emotion_labels: int = 7  # 7 (with neutral) | 6 (default: 7)

    def __post_init__(self) -> None:
        names = [d.name for d in self.datasets]
        if not names:
            raise ValueError("build config: 'datasets' is empty; name at least one dataset")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"build config: dataset(s) {dupes} listed twice")
        if not 0.0 <= self.closed_fraction <= 1.0:
            raise ValueError(f"build config: closed_fraction {self.closed_fraction} not in [0, 1]")
        if self.emotion_questions not in EMOTION_QUESTIONS:
            raise ValueError(f"build config: emotion_questions {self.emotion_questions!r} must be "
                             f"one of {EMOTION_QUESTIONS}")
        if self.val_from not in VAL_FROM:
            raise ValueError(f"build config: val_from {self.val_from!r} must be one of {VAL_FROM}")
        if self.emotion_labels not in EMOTION_LABEL_COUNTS:
            raise ValueError(f"build config: emotion_labels {self.emotion_labels!r} must be 7 (with "
                             "neutral) or 6")
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise ValueError(f"build config: jobs must be an integer >= 1, got {self.jobs!r}")
        for d in self.datasets:
            for split, size in (("train", d.train_size), ("test", d.test_size),
                                ("val", d.val_size)):
                if size is not None and (not isinstance(size, int) or size < 0):
                    raise ValueError(f"build config: {d.name}.{split}_size must be an integer "
                                     f">= 0, got {size!r}")


class BuildConfigError(EmoLLMError, ValueError):
    """A build config file that cannot be read; names the file."""


def load_config(path: str | Path) -> BuildConfig:
    """Read a bench.yaml; relative paths are relative to the file's folder::

        out: work/emobench
        seed: 0
        closed_fraction: 0.5
        emotion_questions: both     # or split
        val_from: valtest           # or train
        emotion_labels: 7           # or 6
        datasets:
          caer_s: {root: /data/CAER-S, val_size: 300}
          mmsd2: {root: /data/MMSD2.0, train_size: 1000, test_size: 200, options: {variant: final}}
    """
    import yaml

    path = Path(path)
    text = read_utf8(path, "build config", BuildConfigError)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise BuildConfigError(f"{path}: not valid YAML ({err})") from None
    except RecursionError:
        raise BuildConfigError(f"{path}: YAML nested deeper than Python can read") from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise BuildConfigError(f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    known = {"out", "seed", "closed_fraction", "check_media", "templates", "link_media",
             "emotion_questions", "jobs", "datasets", "val_from", "emotion_labels"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
    for key in ("out", "datasets"):
        if key not in data:
            raise ValueError(f"{path}: missing '{key}'")
    if not isinstance(data["datasets"], dict):
        raise ValueError(f"{path}: 'datasets' must map dataset name -> {{root: ...}}")
    base = path.parent
    specs = []
    for name, entry in data["datasets"].items():
        entry = entry or {}
        extra = sorted(set(entry) - {"root", "train_size", "test_size", "val_size", "options"})
        if extra or "root" not in entry:
            raise ValueError(f"{path}: datasets.{name} needs 'root' and may have train_size, "
                             f"test_size, val_size, options (unknown: {extra})")
        specs.append(DatasetSpec(name, base / entry["root"], entry.get("train_size"),
                                 entry.get("test_size"), dict(entry.get("options") or {}),
                                 entry.get("val_size")))
    convert = {"seed": int, "closed_fraction": float, "check_media": bool, "link_media": bool,
               "emotion_questions": str, "jobs": int, "val_from": str, "emotion_labels": int}
    given = {}
    for key in convert:
        if data.get(key) is not None:
            try:
                given[key] = convert[key](data[key])
            except (TypeError, ValueError):
                kind = {int: "an integer", float: "a number"}.get(convert[key], "valid")
                raise ValueError(f"{path}: {key}: {data[key]!r} is not {kind}") from None
    if data.get("templates"):
        given["templates"] = base / data["templates"]
    return BuildConfig(datasets=specs, out=base / data["out"], **given)  # absent: its default


def hash_key(*parts: object) -> int:
    """64-bit seeded hash used for every sampling decision (stable across runs/platforms)."""
    text = "|".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def select(samples: Iterable[SourceSample], sizes: dict[str, int], seed: int, dataset: str
           ) -> tuple[dict[str, list[SourceSample]], Counter[str]]:
    """Per split, the ``sizes[split]`` samples with the smallest seeded hash, in source order;
    also the number available per split. Holds at most ``size`` samples per split."""
    heaps: dict[str, list[tuple[int, int, SourceSample]]] = {s: [] for s in SPLITS}
    available: Counter[str] = Counter()
    for index, sample in enumerate(samples):
        available[sample.split] += 1
        size, heap = sizes[sample.split], heaps[sample.split]
        if size == 0:
            continue
        item = (-hash_key(seed, dataset, sample.split, sample.source_id), index, sample)
        if len(heap) < size:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    chosen = {s: [item[2] for item in sorted(heaps[s], key=lambda it: it[1])] for s in SPLITS}
    return chosen, available


def assign_tasks(adapter: DatasetAdapter, samples: list[SourceSample], seed: int,
                 closed_fraction: float) -> list[str]:
    """The task of each sample: the adapter's only task, or for emotion datasets closed/open by
    a seeded ranking (exactly round(closed_fraction * n) closed)."""
    if len(adapter.tasks) == 1:
        return [adapter.tasks[0]] * len(samples)
    if tuple(adapter.tasks) != EMOTION_TASKS:
        raise ValueError(f"{adapter.name}: tasks must be one task or {EMOTION_TASKS}, "
                         f"got {adapter.tasks}")
    ranked = sorted(range(len(samples)), key=lambda i: hash_key(
        seed, "task", adapter.name, samples[i].split, samples[i].source_id))
    n_closed = round(closed_fraction * len(samples))
    tasks = ["emotion_open"] * len(samples)
    for i in ranked[:n_closed]:
        tasks[i] = "emotion_closed"
    return tasks


def val_count(spec: DatasetSpec, train_side: int) -> int:
    """The number of val samples asked for: the spec's val_size, else DEFAULT_VAL."""
    if spec.val_size is not None:
        return spec.val_size
    return min(VAL_CAP, round(VAL_FRACTION * train_side))


def requested_sizes(spec: DatasetSpec, paper_sizes: tuple[int, int], val_from: str,
                    train_side: int) -> dict[str, int]:
    """Samples asked for per output split (module docstring: ``val_from``)."""
    train = paper_sizes[0] if spec.train_size is None else spec.train_size
    if val_from == "train":
        test = paper_sizes[1] if spec.test_size is None else spec.test_size
        return {"train": train, "val": val_count(spec, train_side), "test": test}
    if spec.test_size is None:
        test = round(TEST_SHARE * paper_sizes[1])
        val = paper_sizes[1] - test
    else:  # the same val : test proportion around a given test size
        test = spec.test_size
        val = round(test * (1 - TEST_SHARE) / TEST_SHARE)
    return {"train": train, "val": val if spec.val_size is None else spec.val_size, "test": test}


def val_share(pool: int, sizes: dict[str, int]) -> int:
    """Val samples wanted from a Val&Test pool of ``pool`` samples: the requested val size when
    the pool is full, the same share of a smaller pool."""
    asked = sizes["val"] + sizes["test"]
    if asked == 0:
        return 0
    return sizes["val"] if pool >= asked else round(pool * sizes["val"] / asked)


def carve_val(adapter: DatasetAdapter, samples: list[SourceSample], size: int, seed: int
              ) -> tuple[list[SourceSample], list[SourceSample]]:
    """(val, rest) of the training-side samples: whole groups (adapter.group_of) in seeded
    hash order until at least ``size`` samples are in val; both lists keep source order."""
    if size <= 0:
        return [], samples
    groups: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(adapter.group_of(sample), []).append(index)
    taken: set[int] = set()
    for group in sorted(groups, key=lambda g: hash_key(seed, "val", adapter.name, g)):
        if len(taken) >= size:
            break
        taken.update(groups[group])
    return ([s for i, s in enumerate(samples) if i in taken],
            [s for i, s in enumerate(samples) if i not in taken])


def questions_for(adapter: DatasetAdapter, samples: list[SourceSample], split: str,
                  config: BuildConfig) -> list[tuple[SourceSample, str]]:
    """(sample, task) per record: one per sample, or for emotion val/test samples with
    emotion_questions="both" a closed and an open record per sample."""
    if split != "train" and config.emotion_questions == "both" \
            and tuple(adapter.tasks) == EMOTION_TASKS:
        return [(s, task) for s in samples for task in EMOTION_TASKS]
    tasks = assign_tasks(adapter, samples, config.seed, config.closed_fraction)
    return list(zip(samples, tasks))


def to_record(adapter: DatasetAdapter, sample: SourceSample, task: str, bank: QuestionBank,
              seed: int, split: str | None = None,
              label_set: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The record of one sample asked as ``task`` in output ``split`` (default: its own), with
    ``label_set`` as the options of a closed task (default: the adapter's)."""
    name = adapter.name
    split = split or sample.split
    record_id = f"{name}/{split}/{sample.source_id}/{task}"
    rng = random.Random(f"{seed}|{record_id}")
    question, options = bank.ask(task, rng, adapter.subject,
                                 (label_set or adapter.label_set) if task in CLOSED_TASKS else None)
    prefixed = {k: (f"{name}/{v}" if v is not None else None)
                for k, v in (("image", sample.image), ("video", sample.video),
                             ("audio", sample.audio))}
    return make_record(record_id=record_id, task=task, dataset=name, split=split,
                       label=sample.label, source_id=sample.source_id, question=question,
                       label_set=options, context=sample.context, meta=sample.meta or None,
                       **prefixed)


def build_dataset(spec: DatasetSpec, config: BuildConfig, bank: QuestionBank,
                  progress: bool = True) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Records per output split for one dataset, and its manifest entry."""
    from tqdm import tqdm

    adapter = get_adapter(spec.name)(**spec.options)
    root = Path(spec.root)
    if not root.is_dir():
        raise LayoutError.at(root, adapter.layout)
    drops = DropCounter()
    stream = tqdm(adapter.usable_samples(root, drops, config.check_media,
                                         config.jobs or default_jobs()),
                  desc=spec.name, unit=" samples", disable=not progress, leave=False)
    usable = list(stream)
    label_set = tuple(adapter.label_set)
    if config.emotion_labels == 6 and tuple(adapter.tasks) == EMOTION_TASKS:
        label_set = tuple(label for label in label_set if label != "neutral")
        for sample in usable:
            if sample.label == "neutral":
                drops.add(sample.split, SIX_EMOTIONS_DROP, sample.source_id)
        usable = [sample for sample in usable if sample.label != "neutral"]
    train_side = [s for s in usable if s.split == "train"]
    test_side = [s for s in usable if s.split == "test"]
    sizes = requested_sizes(spec, adapter.paper_sizes, config.val_from, len(train_side))
    if config.val_from == "train":
        val, rest = carve_val(adapter, train_side, sizes["val"], config.seed)
        chosen, _ = select(rest + test_side, sizes, config.seed, spec.name)
        chosen["val"] = val
    else:
        chosen, _ = select(train_side + test_side,
                           {"train": sizes["train"], "test": sizes["val"] + sizes["test"]},
                           config.seed, spec.name)
        pool = chosen["test"]
        chosen["val"], chosen["test"] = carve_val(adapter, pool, val_share(len(pool), sizes),
                                                  config.seed)
    available = {"train": len(train_side), "test": len(test_side)}

    records: dict[str, list[dict]] = {}
    labels: dict[str, dict[str, Counter[str]]] = {}
    for split in OUTPUT_SPLITS:
        records[split] = [to_record(adapter, s, t, bank, config.seed, split, label_set)
                          for s, t in questions_for(adapter, chosen[split], split, config)]
        labels[split] = {}
        for r in records[split]:
            labels[split].setdefault(r["task"], Counter())[r["label"]] += 1
    short = {s: f"took all {len(chosen[s])} available (requested {sizes[s]})"
             for s in OUTPUT_SPLITS if len(chosen[s]) < sizes[s]}
    if config.val_from == "valtest" and "test" in short and len(pool) >= sizes["val"] + sizes["test"]:
        short["test"] = (f"{len(chosen['test'])} (requested {sizes['test']}): val took whole groups "
                         "past its share")
    default_val = DEFAULT_VAL if config.val_from == "train" else DEFAULT_VALTEST_SPLIT
    entry = {
        "root": str(spec.root),
        "options": adapter.opts,
        "requested": sizes,
        "val_size": "default: " + default_val if spec.val_size is None else spec.val_size,
        "val_groups": adapter.group_rule,
        "available": available,
        "selected": {s: len(chosen[s]) for s in OUTPUT_SPLITS},
        "records": {s: len(records[s]) for s in OUTPUT_SPLITS},
        "short_of_request": short,
        "drops": drops.as_dict(),
        "labels": {s: {t: dict(sorted(c.items())) for t, c in sorted(labels[s].items())}
                   for s in OUTPUT_SPLITS},
        "source_files": {p.relative_to(root).as_posix(): sha256_file(p)
                         for p in adapter.source_files(root)},
    }
    return records, entry


def dumps_records(records: list[dict]) -> str:
    """A JSON list with one record per line (diffable, still one json.load for LLaVA)."""
    return _join_lines([json.dumps(r, ensure_ascii=False) for r in records])


def _join_lines(lines: list[str]) -> str:
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def atomic_write(path: Path, text: str) -> dict[str, Any]:
    """Write through a temp file in the same folder + rename; returns the bytes' size and
    sha256. A failed write (a full disk) removes the temp file and raises ``OutputFileError``
    naming ``path``."""
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a quota: no half-written temp file stays behind
        tmp.unlink(missing_ok=True)
        raise OutputFileError(f"{path}: cannot write it ({err.strerror or err}; {len(data):,} bytes); free "
                              "space in the output folder, then build again") from None
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def remove_stale_temps(out: Path) -> list[str]:
    """Delete the temp files and links a killed build left in out/ and out/media/; their
    names, relative to out."""
    stale = []
    for folder in (out, out / "media"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if TEMP_NAME.match(path.name) and (path.is_symlink() or path.is_file()):
                path.unlink()
                stale.append(path.relative_to(out).as_posix())
    return stale


def link_media(out: Path, name: str, root: Path) -> None:
    """out/media/<name> -> root (absolute), replacing an older link atomically."""
    link = out / "media" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; move it away so the build "
                              f"can link it to {root}")
    tmp = link.with_name(f".{name}{TEMP_MARK}{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(Path(root).resolve(), tmp, target_is_directory=True)
    os.replace(tmp, link)


def output_names() -> list[str]:
    """Every records file a build may write (split files, then per-task files)."""
    return [f"{s}.json" for s in OUTPUT_SPLITS] + \
        [f"{s}_{t}.json" for s in OUTPUT_SPLITS for t in TASKS]


def build(config: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Build every dataset of the config into config.out; returns the manifest."""
    bank = QuestionBank.load(config.templates)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temps(out)
    if stale:
        print(f"emollm bench build: removed {len(stale)} temp file(s) left by a killed build in "
              f"{out}: {', '.join(stale)}", file=sys.stderr)
    by_split: dict[str, list[dict]] = {s: [] for s in OUTPUT_SPLITS}
    datasets: dict[str, Any] = {}
    for spec in config.datasets:
        records, datasets[spec.name] = build_dataset(spec, config, bank, progress)
        for split in OUTPUT_SPLITS:
            by_split[split] += records[split]

    files: dict[str, list[str]] = {}  # file name -> serialised records (each dumped once)
    for split in OUTPUT_SPLITS:
        lines = [json.dumps(r, ensure_ascii=False) for r in by_split[split]]
        if lines or split != "val":  # train.json and test.json always; val.json when asked for
            files[f"{split}.json"] = lines
        for task in TASKS:
            subset = [line for line, r in zip(lines, by_split[split]) if r["task"] == task]
            if subset:
                files[f"{split}_{task}.json"] = subset

    # from here until manifest.json is written again the folder is an incomplete set
    (out / "manifest.json").unlink(missing_ok=True)
    for name in output_names():
        if name not in files:
            (out / name).unlink(missing_ok=True)  # a file of an earlier build
    written = {name: {"records": len(lines), **atomic_write(out / name, _join_lines(lines))}
               for name, lines in files.items()}
    if config.link_media:
        for spec in config.datasets:
            link_media(out, spec.name, spec.root)

    manifest = {
        "format": FORMAT_VERSION,
        "plugin_version": __version__,
        "seed": config.seed,
        "closed_fraction": config.closed_fraction,
        "emotion_questions": config.emotion_questions,
        "val_from": config.val_from,
        "val_from_reason": VAL_FROM_REASONS[config.val_from],
        "emotion_labels": config.emotion_labels,
        "val_size": {spec.name: datasets[spec.name]["requested"]["val"]
                     for spec in config.datasets},
        "check_media": config.check_media,
        "templates": ({"path": str(config.templates), "sha256": sha256_file(config.templates)}
                      if config.templates else None),
        "totals": {s: dict(sorted(Counter(r["task"] for r in by_split[s]).items()))
                   for s in OUTPUT_SPLITS},
        "datasets": datasets,
        "files": written,
    }
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest
