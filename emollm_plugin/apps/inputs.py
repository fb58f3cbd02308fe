"""What ``emollm predict`` is asked about: media files, folders and manifests -> ``Item``s.

- A media file: its kind comes from the extension (``IMAGE_EXTENSIONS``, ``VIDEO_EXTENSIONS``,
  ``AUDIO_EXTENSIONS``). A video's own sound track is its audio (unless ``own_audio=False``);
  ``predict`` drops it for a clip that has no sound track or a model without an audio tower.
- A folder: every media file under it (recursively, sorted, through links to folders, each
  folder once); other files are counted, not read. A broken link and a folder that cannot be
  listed are ``Rejected`` (reasons ``broken_link``, ``unreadable``), never passed over in silence.
- A manifest (``.csv`` with a header, ``.jsonl``, or ``.json``: a list of objects): one row per
  item with ``path`` and optional ``audio``, ``prompt`` and ``label``; relative paths are relative
  to the manifest's folder. Manifests are UTF-8 (a byte-order mark is allowed); another encoding,
  a repeated CSV column, bad JSON, an over-long number or over-deep nesting is an ``InputError``
  naming the file and line (``records.read_utf8`` / ``parse_json``).

An input that cannot become an item (unknown extension, missing, unreadable or not a regular
file, a manifest row without a path) is kept as a ``Rejected`` with its reason, so one bad row
never stops the rest.

An item's ``id`` (predict's ``question_id`` and ``--resume`` key) is its file's resolved path,
so a folder named relatively in one run and absolutely in the next asks each file once. A file
name that is not UTF-8 is written with its bad bytes as ``\\xNN`` (``shown``): ids and
messages are always valid UTF-8 text.
"""
from __future__ import annotations

import csv
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import EmoLLMError
from ..records import parse_json, read_records, read_utf8

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac")
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
MANIFEST_EXTENSIONS = (".csv", ".jsonl", ".json")
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
    source: str  # the input (file, or manifest:line), as ``shown``
    reason: str  # a short key: unknown_kind, missing, broken_link, unreadable, not_a_file, bad_path, ...
    message: str


def shown(path: str | Path) -> str:
    """``path`` as valid UTF-8 text: bytes of a file name that are not UTF-8 (which Python holds as
    lone surrogates) become ``\\xNN``; the same name always gives the same text."""
    text = str(path)
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file name decodes to (e.g. from JSON)
        data = text.encode("utf-8", "backslashreplace")
    return data.decode("utf-8", "backslashreplace")


def media_kind(path: Path) -> Optional[str]:
    suffix = path.suffix.lower()
    for kind, extensions in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS),
                             ("audio", AUDIO_EXTENSIONS)):
        if suffix in extensions:
            return kind
    return None


def file_problem(file: Path) -> Optional[tuple[str, str]]:
    """(reason, message) when ``file`` cannot be read as a media file, else None."""
    name = shown(file)
    try:
        status = os.stat(file)
    except FileNotFoundError:
        if os.path.islink(file):
            return "broken_link", f"{name}: a link to {shown(os.readlink(file))}, which does not exist"
        return "missing", f"{name}: no such file"
    except PermissionError:
        return "unreadable", (f"{name}: cannot reach the file (permission denied on a folder above it); give "
                              "this user access (chmod +x on the folders) or leave it out")
    except (OSError, ValueError) as err:  # a name too long, a NUL byte, a link loop
        return "bad_path", f"{name}: not a usable path ({getattr(err, 'strerror', None) or err})"
    if stat.S_ISDIR(status.st_mode):
        return "not_a_file", f"{name}: is a folder; name a media file, or give the folder as an INPUT"
    if not stat.S_ISREG(status.st_mode):
        return "not_a_file", f"{name}: not a regular file (a pipe, socket or device); copy the media to a file"
    try:
        with open(file, "rb"):
            pass
    except PermissionError:
        return "unreadable", (f"{name}: cannot read the file (permission denied); give this user read access "
                              "(chmod +r) or leave it out")
    except OSError as err:
        return "unreadable", f"{name}: cannot open the file ({err.strerror or err})"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _resolved(path: Path) -> str:
    try:
        return shown(path.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop; kept as given
        return shown(path.absolute())


def _item(path: Path, source: str, own_audio: bool, audio: Optional[Path] = None,
          prompt: Optional[str] = None, label: Optional[str] = None) -> Item | Rejected:
    kind = media_kind(path)
    if kind is None:
        return Rejected(source, "unknown_kind", f"{shown(path)}: extension {shown(path.suffix) or '(none)'!r} is not "
                        f"a known image, video or audio type ({', '.join(KNOWN_EXTENSIONS)})")
    for file in (path, audio):
        problem = file_problem(file) if file is not None else None
        if problem is not None:
            return Rejected(source, *problem)
    if audio is not None and media_kind(audio) not in ("audio", "video"):
        return Rejected(source, "unknown_kind", f"{shown(audio)}: not an audio or video file, cannot be the "
                                                "sound track")
    if kind == "audio" and audio is not None:
        return Rejected(source, "audio_twice",
                        f"{shown(path)} is already audio; --audio/'audio' pairs sound with an image or video")
    if kind == "video" and audio is None and own_audio:
        audio = path
    return Item(_resolved(path), kind, path, audio, prompt or None, label or None)


def _folder(folder: Path, own_audio: bool) -> tuple[list[Item | Rejected], int]:
    """Media files under ``folder`` (sorted), and how many other files were passed over. Links to
    folders are followed, each real folder listed once; what cannot be listed is Rejected."""
    found: list[Item | Rejected] = []
    files, other, seen = [], 0, set()

    def unlistable(err: OSError) -> None:
        name = shown(err.filename or folder)
        found.append(Rejected(name, "unreadable", f"{name}: cannot list the folder ({err.strerror or err}); "
                              "its files are not answered. Give this user access (chmod +rx) or leave it out"))

    for where, folders, names in os.walk(folder, onerror=unlistable, followlinks=True):
        real = os.path.realpath(where)
        if real in seen:  # a link back to a folder already listed
            folders[:] = []
            continue
        seen.add(real)
        folders.sort()
        files += [Path(where) / name for name in names]
    for path in sorted(files):
        if media_kind(path) is not None:
            found.append(_item(path, shown(path), own_audio))
        elif os.path.islink(path) and not os.path.exists(path):
            found.append(Rejected(shown(path), *file_problem(path)))
        else:
            other += 1
    return found, other


def _jsonl_rows(manifest: Path, text: str) -> list[tuple[str, object]]:
    return [(f"{shown(manifest)}:{number}", parse_json(line, f"{shown(manifest)}:{number}", "manifest", InputError,
                                                                one_line=True))
            for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def _json_rows(manifest: Path) -> list[tuple[str, object]]:
    return [(f"{shown(manifest)} [index {n}]" if kind == "index" else f"{shown(manifest)}:{n}", row)
            for kind, n, row in read_records(manifest, "manifest", InputError)]


def _csv_rows(manifest: Path, text: str) -> list[tuple[str, object]]:
    name = shown(manifest)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = next(reader, None)
        if not header or "path" not in header:
            raise InputError(f"{name}: the first line must be a header naming the columns, with 'path' among "
                             f"them (columns: {', '.join(MANIFEST_FIELDS)}); got {header}")
        repeated = sorted({column for column in header if header.count(column) > 1})
        if repeated:
            raise InputError(f"{name}:1: column(s) {repeated} appear more than once in the header; name each "
                             f"column once (columns: {', '.join(MANIFEST_FIELDS)})")
        unknown = set(header) - set(MANIFEST_FIELDS)
        if unknown:
            raise InputError(f"{name}: unknown column(s) {sorted(unknown)}; columns are "
                             f"{', '.join(MANIFEST_FIELDS)}")
        start = reader.line_num + 1
        for values in reader:
            source = f"{name}:{start}"
            start = reader.line_num + 1
            if not values:
                continue
            row: dict = dict(zip(header, values))
            if len(values) > len(header):
                row[None] = values[len(header):]
            rows.append((source, row))
    except csv.Error as err:
        raise InputError(f"{name}:{reader.line_num}: malformed CSV ({err}); quote fields that hold commas, "
                         "quotes or line breaks, doubling the quotes inside") from None
    return rows


def _manifest_rows(manifest: Path) -> list[tuple[str, object]]:
    """(source, row) per manifest row: source is ``file:line`` (``file [index N]`` in a JSON list)."""
    suffix = manifest.suffix.lower()
    if suffix == ".json":
        return _json_rows(manifest)
    text = read_utf8(manifest, "manifest", InputError)
    return _jsonl_rows(manifest, text) if suffix == ".jsonl" else _csv_rows(manifest, text)


def _manifest(manifest: Path, own_audio: bool) -> list[Item | Rejected]:
    out = []
    for source, row in _manifest_rows(manifest):
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"].strip():
            out.append(Rejected(source, "no_path", f"{source}: row has no 'path'"))
            continue
        bad = [k for k in row if k not in MANIFEST_FIELDS or (row[k] is not None and not isinstance(row[k], str))]
        if bad:
            out.append(Rejected(source, "bad_row", f"{source}: field(s) {shown(bad)} unknown or not strings "
                                f"(or more values than columns); fields are {', '.join(MANIFEST_FIELDS)}"))
            continue
        unencodable = [k for k in ("prompt", "label") if not _encodable(row.get(k) or "")]
        if unencodable:
            out.append(Rejected(source, "bad_text", f"{source}: field(s) {unencodable} hold a lone surrogate "
                                "(JSON's \\udXXX) that no tokenizer can encode; fix the text's encoding"))
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
            found += _manifest(path, own_audio)
        elif not os.path.lexists(path):
            found.append(Rejected(shown(path), "missing", f"{shown(path)}: no such file or folder"))
        else:
            found.append(_item(path, shown(path), own_audio, audio))
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
