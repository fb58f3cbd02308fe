"""Shared base of the EmoBench dataset adapters.

An adapter reads one source dataset in its original on-disk layout and yields one
:class:`SourceSample` per usable (or unusable, with a reason) source item, streaming. Everything
else (media checks, drop counting, sampling, questions, records, files) is shared code, so an
adapter only knows its own layout and label map.

Writing an adapter::

    class CaerS(DatasetAdapter):
        name = "caer_s"                      # CLI name and record "dataset"
        tasks = EMOTION_TASKS                # or ("intention",), ("hate",), ...
        label_set = CANONICAL_EMOTIONS       # options of closed tasks / allowed labels
        paper_sizes = (42_000, 21_000)       # EmoBench Table 1: train, val&test
        layout = "<root>/{train,test}/<Class>/NNNN.png (CAER-S download)"
        subject = "the person in the scene"  # what the questions ask about

        def iter_samples(self, root):
            ...
            label, reason = mapped(caer_s_emotion, folder)
            yield SourceSample(source_id=..., split="test", raw_label=folder, label=label,
                               drop_reason=reason, image="test/Anger/0001.png")
"""
from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator

from ...errors import EmoLLMError
from ...records import parse_json
from ...tasks.labels import LabelError

SPLITS = ("train", "test")


class LayoutError(EmoLLMError, FileNotFoundError):
    """The dataset root does not look like the layout the adapter reads."""

    @classmethod
    def at(cls, root: Path, expected: str, limit: int = 12) -> "LayoutError":
        """Error naming the expected layout and listing what the root really holds."""
        return cls(f"{root}: expected {expected}; found: {describe_folder(root, limit)}")


class SourceFormatError(EmoLLMError, ValueError):
    """A source annotation file is malformed; the message names file, record and field."""


def describe_folder(root: Path, limit: int = 12) -> str:
    """'a/, b.csv, ... (N more)' for the top of ``root``, or why there is nothing to list."""
    root = Path(root)
    if not root.exists():
        return "nothing (the folder does not exist)"
    if not root.is_dir():
        return "a file, not a folder"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    if not names:
        return "an empty folder"
    more = f" ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@dataclass(slots=True)
class SourceSample:
    """One item of a source dataset, before it becomes EmoBench records.

    ``label`` is the mapped EmoBench label (canonical emotion, MIntRec intent, "yes"/"no");
    exactly one of ``label`` and ``drop_reason`` is set. Media paths are relative to the
    dataset root (posix separators); ``audio`` may name a video file, whose own audio track the
    audio loader then takes. ``context`` is text shown before the question (utterance, tweet).
    """

    source_id: str  # unique within (dataset, split) and stable across builds
    split: str  # EmoBench split: "train" | "test"
    raw_label: Any  # the label as found in the source (manifest, errors)
    label: str | None = None
    drop_reason: str | None = None
    image: str | None = None
    video: str | None = None
    audio: str | None = None
    context: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"sample {self.source_id!r}: split {self.split!r} not in {SPLITS}")
        if (self.label is None) == (self.drop_reason is None):
            raise ValueError(f"sample {self.source_id!r}: set exactly one of label "
                             f"({self.label!r}) and drop_reason ({self.drop_reason!r})")
        if self.drop_reason is None and (self.image is None) == (self.video is None):
            raise ValueError(f"sample {self.source_id!r}: set exactly one of image and video")

    def media(self) -> list[str]:
        """Every media path the sample names (relative to the dataset root)."""
        return [p for p in (self.image, self.video, self.audio) if p is not None]


def mapped(fn: Callable[..., str], *args: Any, **kwargs: Any) -> tuple[str | None, str | None]:
    """(label, None) from a labels.* map function, or (None, reason) when it raises LabelError."""
    try:
        return fn(*args, **kwargs), None
    except LabelError as err:
        return None, err.reason


class DropCounter:
    """Counts unusable samples per (split, reason), keeping a few example ids per reason."""

    def __init__(self, examples: int = 3):
        self.counts: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[str]] = {}
        self._keep = examples

    def add(self, split: str, reason: str, source_id: str) -> None:
        key = (split, reason)
        self.counts[key] += 1
        ids = self.examples.setdefault(key, [])
        if len(ids) < self._keep:  # a name that is not UTF-8 is shown escaped: \udce9
            ids.append(source_id.encode("utf-8", "backslashreplace").decode("utf-8"))

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{split: {reason: {"count": n, "examples": [ids]}}}, sorted for stable output."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (split, reason) in sorted(self.counts):
            out.setdefault(split, {})[reason] = {
                "count": self.counts[(split, reason)], "examples": self.examples[(split, reason)]}
        return out


class DatasetAdapter(ABC):
    """Base of one source dataset's reader. Subclasses set the class attributes and implement
    :meth:`iter_samples`; keyword options (from the build config) go to ``__init__``."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    label_set: ClassVar[tuple[str, ...]]
    paper_sizes: ClassVar[tuple[int, int]]  # (train, val&test) of EmoBench Table 1
    layout: ClassVar[str]  # one line: the layout expected under the root
    # Noun phrase the questions ask about ("Which emotion does {subject} express?"); it never
    # starts a sentence, so write it lowercase.
    subject: ClassVar[str] = "the person"
    options: ClassVar[dict[str, Any]] = {}  # option name -> default

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"{self.name}: unknown option(s) {unknown}; known options: {known}")
        self.opts = {**self.options, **options}

    @abstractmethod
    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        """Yield every source item (usable or with a drop reason) in a deterministic order."""

    # what keeps samples together when the build carves val out of the training side
    group_rule: ClassVar[str] = "samples sharing a media file"

    def source_files(self, root: Path) -> list[Path]:
        """Annotation files whose hashes go into the manifest (default: none)."""
        return []

    def group_of(self, sample: SourceSample) -> str:
        """The group a sample belongs to (group_rule): samples of one group never go to two
        splits. Default: its media file, so persons of one image or tweets sharing a picture
        stay together."""
        return sample.image or sample.video or sample.source_id

    def require(self, root: Path, *relpaths: str) -> list[Path]:
        """The given files/folders under root, or a LayoutError naming the expected layout."""
        paths = [Path(root) / p for p in relpaths]
        missing = [p for p in relpaths if not (Path(root) / p).exists()]
        if missing:
            raise LayoutError.at(Path(root), f"{self.layout} (missing: {', '.join(missing)})")
        return paths

    def usable_samples(self, root: Path, drops: DropCounter, check_media: bool = True,
                       jobs: int = 1) -> Iterator[SourceSample]:
        """iter_samples minus drops (mapped-label failures, duplicate ids and, when
        ``check_media``, media that bench/media_check.py refuses), each counted in ``drops``
        with its reason. The media checks run in ``jobs`` processes; the result does not depend
        on ``jobs``."""
        from ..media_check import media_problems

        root = Path(root)
        candidates = []
        for sample in self.iter_samples(root):
            if sample.drop_reason is not None:
                drops.add(sample.split, sample.drop_reason, sample.source_id)
                continue
            if sample.label not in self.label_set:
                raise ValueError(f"{self.name} adapter bug: label {sample.label!r} of "
                                 f"{sample.source_id!r} not in its label_set {self.label_set}")
            candidates.append(sample)
        if check_media:
            probe = bool(self.opts.get("probe_clips", True))
            problems = media_problems([(str(root), s.image, s.video, s.audio, probe)
                                       for s in candidates], jobs)
        else:
            problems = iter([None] * len(candidates))
        seen: set[tuple[str, str]] = set()
        for sample, reason in zip(candidates, problems):
            key = (sample.split, sample.source_id)
            if key in seen:
                drops.add(sample.split, "duplicate source id (first kept)", sample.source_id)
                continue
            if reason is not None:
                drops.add(sample.split, reason, sample.source_id)
                continue
            seen.add(key)
            yield sample


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: Path, encoding: str = "utf-8-sig") -> str:
    """A source text file decoded as UTF-8; SourceFormatError names the file, the line and the
    byte of the first bad sequence."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:  # permission denied, a folder where a file belongs
        raise SourceFormatError(f"{path}: cannot read the source file ({err.strerror or err})") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise SourceFormatError(
            f"{path}: not UTF-8 at line {_line_of(data, err.start)} ({err.reason}: byte "
            f"{data[err.start:err.start + 1]!r} at offset {err.start}); re-save the file as UTF-8"
        ) from None


def read_json(path: Path) -> Any:
    """A source JSON file; SourceFormatError names the file, line and column of a decode or
    syntax error (a truncated file ends in one), and the file (and line) of nesting deeper than
    Python reads or a number of more digits than it converts."""
    import json

    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceFormatError(f"{path}: line {err.lineno} column {err.colno}: invalid JSON "
                                f"({err.msg}); is the file truncated?") from None
    except (RecursionError, ValueError):  # over-deep nesting, an over-long number: parse_json names the line
        return parse_json(text, str(path), "source", SourceFormatError)


def read_csv_rows(path: Path, required: Iterable[str], delimiter: str = ","
                  ) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a headed CSV/TSV; raises SourceFormatError when
    a required column is missing (naming the columns found and those expected), when the file
    is not UTF-8, or when it ends inside a quoted field (a cut file), naming file and line."""
    import io

    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    done = 0  # lines read by the last complete row (csv's own count stops at a broken one)
    try:
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise SourceFormatError(f"{path}: missing column(s) {missing}; header is {header}")
        done = reader.line_num
        for row in reader:
            yield reader.line_num, row
            done = reader.line_num
    except csv.Error as err:
        hint = ("a quoted field is never closed: is the file cut short?"
                if "end of data" in str(err) else "quotes inside a field must be doubled")
        raise SourceFormatError(f"{path}: line {done + 1}: malformed CSV ({err}; {hint})"
                                ) from None
