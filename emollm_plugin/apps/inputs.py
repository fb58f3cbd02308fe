"""What ``emollm predict`` is asked about: media files, folders and manifests -> ``Item``s.

- A media file: its kind comes from the extension (``IMAGE_EXTENSIONS``, ``VIDEO_EXTENSIONS``,
  ``AUDIO_EXTENSIONS``). A video's own sound track is its audio (unless ``own_audio=False``);
  ``predict`` drops it for a clip that has no sound track or a model without an audio tower.
- A folder: every media file under it (recursively, sorted); other files are counted, not read.
- A manifest (``.csv`` with a header, or ``.jsonl``): one row per item with ``path`` and optional
  ``audio``, ``prompt`` and ``label``; relative paths are relative to the manifest's folder.

An input that cannot become an item (unknown extension, missing file, a manifest row without a
path) is kept as a ``Rejected`` with its reason, so one bad row never stops the rest.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import EmoLLMError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac")
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
MANIFEST_EXTENSIONS = (".csv", ".jsonl")
MANIFEST_FIELDS = ("path", "audio", "prompt", "label")


class InputError(EmoLLMError, ValueError):
    """An input that cannot be read at all (e.g. a manifest with the wrong columns)."""


@dataclass(frozen=True)
class Item:
    """One thing to ask about: a visual (image or video) and/or an audio file."""

    id: str                       # stable across runs (the resume key)
    kind: str                     # image | video | audio
    path: Path                    # the visual file, or the audio file for kind "audio"
    audio: Optional[Path] = None  # sound for a visual; for a video, often the clip itself
    prompt: Optional[str] = None  # a manifest row's own question
    label: Optional[str] = None   # a manifest row's gold label

    @property
    def own_audio(self) -> bool:
        return self.kind == "video" and self.audio == self.path


@dataclass(frozen=True)
class Rejected:
    source: str  # the input (file, or manifest:line)
    reason: str  # a short key, e.g. unknown_kind, missing
    message: str


def media_kind(path: Path) -> Optional[str]:
    suffix = path.suffix.lower()
    for kind, extensions in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS),
                             ("audio", AUDIO_EXTENSIONS)):
        if suffix in extensions:
            return kind
    return None


def _item(path: Path, source: str, own_audio: bool, audio: Optional[Path] = None,
          prompt: Optional[str] = None, label: Optional[str] = None) -> Item | Rejected:
    kind = media_kind(path)
    if kind is None:
        return Rejected(source, "unknown_kind", f"{path}: extension {path.suffix or '(none)'!r} is not a known "
                        f"image, video or audio type ({', '.join(KNOWN_EXTENSIONS)})")
    for file in (path, audio):
        if file is not None and not file.is_file():
            return Rejected(source, "missing", f"{file}: no such file")
    if audio is not None and media_kind(audio) not in ("audio", "video"):
        return Rejected(source, "unknown_kind", f"{audio}: not an audio or video file, cannot be the sound track")
    if kind == "audio" and audio is not None:
        return Rejected(source, "audio_twice",
                        f"{path} is already audio; --audio/'audio' pairs sound with an image or video")
    if kind == "video" and audio is None and own_audio:
        audio = path
    return Item(str(path), kind, path, audio, prompt or None, label or None)


def _folder(folder: Path, own_audio: bool) -> tuple[list[Item | Rejected], int]:
    """Media files under ``folder`` (sorted) and how many other files were passed over."""
    found, other = [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if media_kind(path) is None:
            other += 1
        else:
            found.append(_item(path, str(path), own_audio))
    return found, other


def _manifest_rows(manifest: Path) -> list[tuple[int, dict]]:
    text = manifest.read_text(encoding="utf-8")
    if manifest.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise InputError(f"{manifest}:{number}: not valid JSON ({err.msg}); each line must be an "
                                     f"object with {', '.join(MANIFEST_FIELDS)}") from None
        return rows
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise InputError(f"{manifest}: the first line must be a header naming the columns, with 'path' among "
                         f"them (columns: {', '.join(MANIFEST_FIELDS)}); got {reader.fieldnames}")
    unknown = set(reader.fieldnames) - set(MANIFEST_FIELDS)
    if unknown:
        raise InputError(f"{manifest}: unknown column(s) {sorted(unknown)}; columns are {', '.join(MANIFEST_FIELDS)}")
    return [(number, row) for number, row in enumerate(reader, start=2)]


def _manifest(manifest: Path, own_audio: bool) -> list[Item | Rejected]:
    out = []
    for number, row in _manifest_rows(manifest):
        source = f"{manifest}:{number}"
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"].strip():
            out.append(Rejected(source, "no_path", f"{source}: row has no 'path'"))
            continue
        bad = [k for k in row if k not in MANIFEST_FIELDS or (row[k] is not None and not isinstance(row[k], str))]
        if bad:
            out.append(Rejected(source, "bad_row", f"{source}: field(s) {bad} unknown or not strings; "
                                f"fields are {', '.join(MANIFEST_FIELDS)}"))
            continue
        here = lambda value: (manifest.parent / value.strip()) if value and value.strip() else None  # noqa: E731
        item = _item(here(row["path"]), source, own_audio, here(row.get("audio")),
                     (row.get("prompt") or "").strip(), (row.get("label") or "").strip())
        out.append(item)
    return out


def collect(inputs: list[str | Path], own_audio: bool = True,
            audio: Optional[Path] = None) -> tuple[list[Item], list[Rejected], int]:
    """(items, rejected inputs, files passed over in folders). Item ids repeat only when the same
    file is asked twice (e.g. two manifest rows with different prompts): ``#2``, ``#3`` are added."""
    paths = [Path(p) for p in inputs]
    if audio is not None and (len(paths) != 1 or paths[0].is_dir() or paths[0].suffix.lower() in MANIFEST_EXTENSIONS):
        raise InputError("--audio pairs one sound track with one media file; for many, use a manifest "
                         "with an 'audio' column")
    found, passed_over = [], 0
    for path in paths:
        if path.is_dir():
            items, other = _folder(path, own_audio)
            found += items
            passed_over += other
        elif path.suffix.lower() in MANIFEST_EXTENSIONS:
            if not path.is_file():
                raise InputError(f"manifest {path}: no such file")
            found += _manifest(path, own_audio)
        elif not path.exists():
            found.append(Rejected(str(path), "missing", f"{path}: no such file or folder"))
        else:
            found.append(_item(path, str(path), own_audio, audio))
    items, rejected, seen = [], [], {}
    for entry in found:
        if isinstance(entry, Rejected):
            rejected.append(entry)
            continue
        seen[entry.id] = seen.get(entry.id, 0) + 1
        if seen[entry.id] > 1:
            entry = Item(f"{entry.id}#{seen[entry.id]}", entry.kind, entry.path, entry.audio, entry.prompt, entry.label)
        items.append(entry)
    return items, rejected, passed_over
