"""Check an EmoBench records file: it belongs to a finished build, schema of every record, unique
ids, media present/readable.

The build writes manifest.json last, listing every file with its size and sha256 (build.py), so
a file is accepted only when the manifest beside it lists it with the same size and sha256:
a build killed half-way (no manifest), a mix of two builds or a file edited afterwards is
refused, and so is a ``media/<dataset>`` link that points somewhere else than the manifest's
dataset root. ``manifest=False`` (CLI ``--no-manifest``) checks a file no build wrote.

Then structure: the first record that breaks the schema stops validation with an error naming
the file, the record index and the field. Then media: images must open with PIL; videos and
audio files must exist and be non-empty (decoding is checked by the media module). Media
problems are counted per reason with a few example ids, not stopped at.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EmoLLMError
from ..media.paths import MediaPathError, resolve_media
from ..records import check_unique_ids, load_records
from ..tasks.schema import SchemaError, check_record


class RecordError(EmoLLMError, ValueError):
    """A structural error in a records file (file, record index, field)."""


@dataclass
class ValidationReport:
    path: Path
    records: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # dataset/split/task
    media_checked: int = 0
    media_problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.media_problems

    def summary(self) -> str:
        lines = [f"{self.path}: {self.records} records, {self.media_checked} media files checked"]
        for (dataset, split, task), n in sorted(self.counts.items()):
            lines.append(f"  {dataset:<10} {split:<5} {task:<15} {n}")
        for reason, n in sorted(self.media_problems.items()):
            lines.append(f"  MEDIA {reason}: {n} (e.g. {', '.join(self.examples[reason])})")
        lines.append("OK" if self.ok else "FAILED: media problems above")
        return "\n".join(lines)


def load_bench_records(path: Path) -> list[Any]:
    """The records of an EmoBench file (a JSON list, or JSONL); RecordError names the position."""
    return load_records(path, "EmoBench", RecordError)


def check_manifest(path: Path, media_root: Path | None = None) -> dict[str, Any]:
    """The manifest beside ``path`` after checking that it lists ``path`` with the file's size
    and sha256 and, when ``media_root`` is the build's own, that its dataset links point at the
    manifest's roots; RecordError naming what disagrees otherwise."""
    import hashlib
    import json

    manifest_path = path.parent / "manifest.json"
    rebuild = "rerun `emollm bench build` into this folder"
    if not manifest_path.is_file():
        raise RecordError(f"{path}: no manifest.json beside it, so the build that wrote it did "
                          f"not finish (or no build wrote it); {rebuild}, or pass --no-manifest "
                          "for a file made by hand")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entry = manifest["files"].get(path.name)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise RecordError(f"{manifest_path}: not a build manifest ({type(err).__name__}: {err}); {rebuild}") from None
    if entry is None:
        raise RecordError(f"{path}: not listed in {manifest_path}, so it is left from another "
                          f"build; {rebuild}")
    if not {"bytes", "sha256"} <= set(entry):
        raise RecordError(f"{manifest_path}: lists {path.name} without its size and sha256 (an "
                          f"older build); {rebuild}")
    data = path.read_bytes()
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise RecordError(f"{path}: {len(data)} bytes that differ from what {manifest_path} "
                          f"lists ({entry['bytes']} bytes, sha256 {entry['sha256'][:12]}...): "
                          f"the folder mixes two builds or the file was edited; {rebuild}")
    if media_root is not None and media_root == path.parent / "media":
        for name, info in (manifest.get("datasets") or {}).items():
            link = media_root / name
            if link.is_symlink() and link.resolve() != Path(info["root"]).resolve():
                raise RecordError(f"{link} points to {link.resolve()}, but {manifest_path} was "
                                  f"built from {info['root']}; {rebuild}")
    return manifest


def check_structure(path: Path, records: list[Any]) -> Counter[tuple[str, str, str]]:
    """Schema and id uniqueness of every record; counts per (dataset, split, task)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for index, record in enumerate(records):
        try:
            check_record(record)
        except SchemaError as err:
            rid = record.get("id") if isinstance(record, dict) else None
            raise RecordError(f"{path}: record {index} (id {rid!r}): {err}") from None
        counts[(record["dataset"], record["split"], record["task"])] += 1
    for index, first, rid in check_unique_ids(record["id"] for record in records)[:1]:
        raise RecordError(f"{path}: record {index}: field 'id': {rid!r} repeats record "
                          f"{first}; ids must be unique")
    return counts


def media_problem(path: Path, kind: str) -> str | None:
    """Why one media file is unusable, or None (images open; clips and sound tracks decode)."""
    from ..media.probe import media_problem as probe
    return probe(path, kind)


def validate_file(path: str | Path, media_root: str | Path | None = None,
                  check_media: bool = True, progress: bool = True,
                  manifest: bool = True) -> ValidationReport:
    """Validate one records file; media paths resolve against ``media_root`` (default: the
    ``media`` folder next to the file, as the build writes it) by media/paths.py's rule, so a
    path that leaves the root is counted as a media problem."""
    from tqdm import tqdm

    path = Path(path)
    if manifest:
        check_manifest(path, Path(media_root) if media_root is not None
                       else path.parent / "media")
    records = load_bench_records(path)
    report = ValidationReport(path, len(records), check_structure(path, records))
    if not check_media:
        return report
    media_root = Path(media_root) if media_root is not None else path.parent / "media"
    if not media_root.is_dir():
        raise RecordError(f"{path}: media root {media_root} is not a folder; pass --media-root "
                          "(the build's OUT/media)")
    seen: dict[tuple[str, str], str | None] = {}  # (path, kind): a clip is checked as video and as audio
    for record in tqdm(records, desc=f"media {path.name}", disable=not progress, leave=False):
        for kind in ("image", "video", "audio"):
            rel = record.get(kind)
            if rel is None:
                continue
            if (rel, kind) not in seen:
                try:
                    seen[(rel, kind)] = media_problem(resolve_media(media_root, rel), kind)
                except MediaPathError as err:
                    seen[(rel, kind)] = f"{kind} path refused ({err.reason})"
                report.media_checked += 1
            reason = seen[(rel, kind)]
            if reason is not None:
                report.media_problems[reason] += 1
                ids = report.examples.setdefault(reason, [])
                if len(ids) < 3:
                    ids.append(record["id"])
    return report
