"""Record files: reading them (a JSON list, as LLaVA writes, or JSONL), checking their ids, and
appending to a JSONL file that survives a crash mid-write.

One reader for the training data, the EmoBench files, the questions and the answers, so a
truncated or hand-edited file is reported the same way everywhere: the file, the line (and
column), and what the file should hold.

``AppendOnlyJsonl`` is the one writer for files that grow line by line while a long run works
(the inference answers file, the EmoPrompt bank): ``repair_tail`` makes a file that a crash cut
mid-line end with a complete line again, ``append`` writes whole lines and fsyncs them, so a
crash loses at most the line being written, and a resumed run continues from the last one.

Foundation layer: imports nothing from the plugin but ``errors``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Optional, Sequence

from .errors import EmoLLMError


class RecordFileError(EmoLLMError, ValueError):
    """A record file that is missing or not valid JSON / JSONL."""


def read_records(path: str | Path, what: str = "records",
                 error: type[ValueError] = RecordFileError) -> list[tuple[str, int, Any]]:
    """``(kind, number, value)`` per record: kind ``"index"`` (0-based, JSON list) or ``"line"``
    (1-based, JSONL). Raises ``error`` naming the file and the position of the first bad JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read the {what} file: {err}") from None
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise error(f"{path}: not valid JSON at line {err.lineno} column {err.colno} ({err.msg}); is the "
                        f"{what} file truncated? It must be a JSON list of objects or JSONL (one object "
                        "per line)") from None
        return [("index", i, value) for i, value in enumerate(values)]
    return list(_jsonl(path, text, what, error))


def load_records(path: str | Path, what: str = "records", error: type[ValueError] = RecordFileError) -> list[Any]:
    """The records of a JSON-list or JSONL file, in file order (``read_records`` without positions)."""
    return [value for _, _, value in read_records(path, what, error)]


def _jsonl(path: Path, text: str, what: str, error: type[ValueError]) -> Iterator[tuple[str, int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield "line", number, json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{path}:{number}: not valid JSON ({err.msg}); each line of the {what} file must be "
                        "one JSON object (is the file truncated?)") from None


def check_unique_ids(ids: Iterable[Hashable]) -> list[tuple[int, int, Hashable]]:
    """``(position, first_position, id)`` for every id that repeats an earlier one (positions are
    0-based in iteration order); empty when all ids are unique. Callers word the error."""
    first: dict[Hashable, int] = {}
    repeats = []
    for position, key in enumerate(ids):
        if key in first:
            repeats.append((position, first[key], key))
        else:
            first[key] = position
    return repeats


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


class AppendOnlyJsonl:
    """A JSONL file written one complete line at a time, each append flushed and fsynced.

    ``repair_tail()`` first (when continuing a file a crash may have cut), then ``append`` (one
    line) or ``open()`` for many appends. A last line without its newline is kept (the newline is
    added) when ``is_complete`` accepts it, and cut off otherwise.
    """

    def __init__(self, path: str | Path, is_complete: Callable[[bytes], bool] = _is_json):
        self.path = Path(path)
        self.is_complete = is_complete

    def repair_tail(self) -> Optional[bytes]:
        """Make the file end with a complete line. Returns the cut-off bytes (for the caller to
        report) or None when nothing was removed."""
        if not self.path.exists():
            return None
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return None
        start = data.rfind(b"\n") + 1
        tail = data[start:]
        keep = not tail.strip() or self.is_complete(tail)
        with self.path.open("r+b") as f:
            if keep:
                f.seek(0, os.SEEK_END)
                f.write(b"\n")
            else:
                f.truncate(start)
            f.flush()
            os.fsync(f.fileno())
        return None if keep else tail

    def ends_cleanly(self) -> bool:
        """True for a missing or empty file, or one whose last byte is a newline."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return True
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def open(self, truncate: bool = False) -> "JsonlAppender":
        """An appender (a context manager); ``truncate=True`` starts the file over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return JsonlAppender(self.path.open("wb" if truncate else "ab"))

    def append(self, line: str) -> None:
        """Append one line (``line`` without its newline), flushed and fsynced."""
        with self.open() as out:
            out.write(line)


class JsonlAppender:
    """Writes whole lines; ``flush()`` (and leaving the ``with`` block) flushes and fsyncs."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, line: str) -> None:
        if "\n" in line.rstrip("\n"):
            raise ValueError("one JSONL record per line: the text holds a newline")
        self._handle.write((line.rstrip("\n") + "\n").encode("utf-8"))

    def write_all(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if not self._handle.closed:
            self.flush()
            self._handle.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WrittenOnDemand:
    """A text file created at its first ``write``: a listing with nothing to list (no skipped
    record) leaves no file. Opening removes the file an earlier run left at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lines = 0
        self._handle = None
        self.path.unlink(missing_ok=True)

    def write(self, text: str) -> None:
        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8")
        self._handle.write(text)
        self.lines += text.count("\n")

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> "WrittenOnDemand":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
