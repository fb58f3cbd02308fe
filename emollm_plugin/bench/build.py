"""Build EmoBench: source datasets on disk -> train/test instruction files + manifest.

Per dataset and split, samples are chosen by a seeded hash of their id: the ``size`` samples
with the smallest ``blake2b(seed|dataset|split|source_id)`` are kept (streaming, independent of
the order files are listed in; all are kept when fewer are available, and the manifest says so).
Emotion datasets feed both emotion tasks with each sample used once: the selected samples are
ranked by a second seeded hash and the first ``round(closed_fraction * n)`` become
emotion_closed, the rest emotion_open. Question template and option order come from
``random.Random(f"{seed}|{record id}")``. Same inputs and seed -> byte-identical files.

Output folder::

    train.json  test.json            all datasets, one record per line inside a JSON list
    train_<task>.json  test_<task>.json
    manifest.json                    sizes, counts per dataset/task/label, drops, hashes, version
    media/<dataset> -> <dataset root>  (symlinks: train with --image_folder OUT/media)
"""
from __future__ import annotations

import hashlib
import heapq
import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from .adapters import get_adapter
from .adapters.base import SPLITS, DatasetAdapter, DropCounter, LayoutError, SourceSample
from .labels import CLOSED_TASKS, EMOTION_TASKS, TASKS
from .questions import QuestionBank
from .schema import make_record

FORMAT_VERSION = 1


@dataclass
class DatasetSpec:
    name: str  # adapter name: emotic, caer_s, meld, emotion6, mintrec, urfunny, mmhs150k, mmsd2
    root: Path  # the dataset's folder in its original layout
    train_size: int | None = None  # (default: the paper's Table 1 train size)
    test_size: int | None = None  # (default: the paper's Table 1 val&test size)
    options: dict[str, Any] = field(default_factory=dict)  # adapter options (default: none)


@dataclass
class BuildConfig:
    datasets: list[DatasetSpec]
    out: Path
    seed: int = 0  # sampling, task assignment, templates, option order (default: 0)
    closed_fraction: float = 0.5  # share of an emotion dataset asked closed-set (default: 0.5)
    check_media: bool = True  # drop samples whose media file is missing/empty (default: True)
    templates: Path | None = None  # extra question templates JSON (default: None)
    link_media: bool = True  # create out/media/<dataset> symlinks (default: True)

    def __post_init__(self) -> None:
        names = [d.name for d in self.datasets]
        if not names:
            raise ValueError("build config: 'datasets' is empty; name at least one dataset")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"build config: dataset(s) {dupes} listed twice")
        if not 0.0 <= self.closed_fraction <= 1.0:
            raise ValueError(f"build config: closed_fraction {self.closed_fraction} not in [0, 1]")
        for d in self.datasets:
            for split, size in (("train", d.train_size), ("test", d.test_size)):
                if size is not None and (not isinstance(size, int) or size < 0):
                    raise ValueError(f"build config: {d.name}.{split}_size must be an integer "
                                     f">= 0, got {size!r}")


def load_config(path: str | Path) -> BuildConfig:
    """Read a bench.yaml; relative paths are relative to the file's folder::

        out: work/emobench
        seed: 0
        closed_fraction: 0.5
        datasets:
          caer_s: {root: /data/CAER-S}
          mmsd2: {root: /data/MMSD2.0, train_size: 1000, test_size: 200, options: {variant: final}}
    """
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    known = {"out", "seed", "closed_fraction", "check_media", "templates", "link_media",
             "datasets"}
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
        extra = sorted(set(entry) - {"root", "train_size", "test_size", "options"})
        if extra or "root" not in entry:
            raise ValueError(f"{path}: datasets.{name} needs 'root' and may have train_size, "
                             f"test_size, options (unknown: {extra})")
        specs.append(DatasetSpec(name, base / entry["root"], entry.get("train_size"),
                                 entry.get("test_size"), dict(entry.get("options") or {})))
    return BuildConfig(
        datasets=specs, out=base / data["out"], seed=int(data.get("seed", 0)),
        closed_fraction=float(data.get("closed_fraction", 0.5)),
        check_media=bool(data.get("check_media", True)),
        templates=base / data["templates"] if data.get("templates") else None,
        link_media=bool(data.get("link_media", True)))


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


def to_record(adapter: DatasetAdapter, sample: SourceSample, task: str, bank: QuestionBank,
              seed: int) -> dict[str, Any]:
    name = adapter.name
    record_id = f"{name}/{sample.split}/{sample.source_id}/{task}"
    rng = random.Random(f"{seed}|{record_id}")
    question, options = bank.ask(task, rng, adapter.subject,
                                 adapter.label_set if task in CLOSED_TASKS else None)
    prefixed = {k: (f"{name}/{v}" if v is not None else None)
                for k, v in (("image", sample.image), ("video", sample.video),
                             ("audio", sample.audio))}
    return make_record(record_id=record_id, task=task, dataset=name, split=sample.split,
                       label=sample.label, source_id=sample.source_id, question=question,
                       label_set=options, context=sample.context, meta=sample.meta or None,
                       **prefixed)


def build_dataset(spec: DatasetSpec, config: BuildConfig, bank: QuestionBank,
                  progress: bool = True) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Records per split for one dataset, and its manifest entry."""
    from tqdm import tqdm

    adapter = get_adapter(spec.name)(**spec.options)
    root = Path(spec.root)
    if not root.is_dir():
        raise LayoutError.at(root, adapter.layout)
    sizes = {"train": adapter.paper_sizes[0] if spec.train_size is None else spec.train_size,
             "test": adapter.paper_sizes[1] if spec.test_size is None else spec.test_size}
    drops = DropCounter()
    stream = tqdm(adapter.usable_samples(root, drops, config.check_media), desc=spec.name,
                  unit=" samples", disable=not progress, leave=False)
    chosen, available = select(stream, sizes, config.seed, spec.name)

    records: dict[str, list[dict]] = {}
    labels: dict[str, dict[str, Counter[str]]] = {}
    for split in SPLITS:
        tasks = assign_tasks(adapter, chosen[split], config.seed, config.closed_fraction)
        records[split] = [to_record(adapter, s, t, bank, config.seed)
                          for s, t in zip(chosen[split], tasks)]
        labels[split] = {}
        for r in records[split]:
            labels[split].setdefault(r["task"], Counter())[r["label"]] += 1
    short = {s: f"took all {available[s]} available (requested {sizes[s]})"
             for s in SPLITS if available[s] < sizes[s]}
    entry = {
        "root": str(spec.root),
        "options": adapter.opts,
        "requested": sizes,
        "available": {s: available[s] for s in SPLITS},
        "selected": {s: len(records[s]) for s in SPLITS},
        "short_of_request": short,
        "drops": drops.as_dict(),
        "labels": {s: {t: dict(sorted(c.items())) for t, c in sorted(labels[s].items())}
                   for s in SPLITS},
        "source_files": {p.relative_to(root).as_posix(): sha256_file(p)
                         for p in adapter.source_files(root)},
    }
    return records, entry


def dumps_records(records: list[dict]) -> str:
    """A JSON list with one record per line (diffable, still one json.load for LLaVA)."""
    return _join_lines([json.dumps(r, ensure_ascii=False) for r in records])


def _join_lines(lines: list[str]) -> str:
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def atomic_write(path: Path, text: str) -> str:
    """Write through a temp file in the same folder + rename; returns the sha256 of the bytes."""
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def link_media(out: Path, name: str, root: Path) -> None:
    """out/media/<name> -> root (absolute), replacing an older link atomically."""
    link = out / "media" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; move it away so the build "
                              f"can link it to {root}")
    tmp = link.with_name(f".{name}.tmp{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(Path(root).resolve(), tmp, target_is_directory=True)
    os.replace(tmp, link)


def build(config: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Build every dataset of the config into config.out; returns the manifest."""
    bank = QuestionBank.load(config.templates)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    datasets: dict[str, Any] = {}
    for spec in config.datasets:
        records, datasets[spec.name] = build_dataset(spec, config, bank, progress)
        for split in SPLITS:
            by_split[split] += records[split]

    files: dict[str, list[str]] = {}  # file name -> serialised records (each dumped once)
    for split in SPLITS:
        lines = [json.dumps(r, ensure_ascii=False) for r in by_split[split]]
        files[f"{split}.json"] = lines
        for task in TASKS:
            subset = [line for line, r in zip(lines, by_split[split]) if r["task"] == task]
            if subset:
                files[f"{split}_{task}.json"] = subset
            elif (out / f"{split}_{task}.json").exists():  # stale file of an earlier build
                (out / f"{split}_{task}.json").unlink()
    written = {name: {"records": len(lines), "sha256": atomic_write(out / name,
                                                                   _join_lines(lines))}
               for name, lines in files.items()}
    if config.link_media:
        for spec in config.datasets:
            link_media(out, spec.name, spec.root)

    manifest = {
        "format": FORMAT_VERSION,
        "plugin_version": __version__,
        "seed": config.seed,
        "closed_fraction": config.closed_fraction,
        "check_media": config.check_media,
        "templates": ({"path": str(config.templates), "sha256": sha256_file(config.templates)}
                      if config.templates else None),
        "totals": {s: dict(sorted(Counter(r["task"] for r in by_split[s]).items()))
                   for s in SPLITS},
        "datasets": datasets,
        "files": written,
    }
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest
