"""Record files: reading them (a JSON list, as LLaVA writes, or JSONL), checking their ids, and
appending to a JSONL file that survives a crash mid-write.

One reader for the training data, the EmoBench files, the questions and the answers, so a
truncated or hand-edited file is reported the same way everywhere: the file, the line (and
column), and what the file should hold. ``read_utf8`` and ``parse_json`` are its two halves,
for readers of other formats (CSV manifests, source files): bad bytes (Latin-1, UTF-16), an
over-long number or over-deep nesting become the caller's error naming the file and line.

``open_output`` / ``GuardedOutput`` turn a failed write (a full disk) into ``OutputFileError``
naming the file.

``question_only`` is what answering a record may see: nothing that holds or hints at its answer.

``AppendOnlyJsonl`` is the one writer for files that grow line by line while a long run works
(the inference answers file, the EmoPrompt bank): ``repair_tail`` makes a file that a crash cut
mid-line end with a complete line again, ``append`` writes whole lines and fsyncs them, so a
crash loses at most the line being written, and a resumed run continues from the last one.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Optional, Sequence

from .errors import EmoLLMError


class RecordFileError(EmoLLMError, ValueError):
    """A record file that is missing or not valid JSON / JSONL."""


class OutputFileError(EmoLLMError, OSError):
    """An output file that cannot be written (a full disk, a read-only folder); names the file."""


UTF16_32_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                 (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
LONGEST_INT_DIGITS = 4300  # Python's int-from-text limit (sys.get_int_max_str_digits), which json obeys


def _line_of(data: bytes | str, offset: int) -> int:
    return data.count(b"\n" if isinstance(data, bytes) else "\n", 0, offset) + 1


def read_utf8(path: str | Path, what: str = "file", error: type[Exception] = RecordFileError) -> str:
    """The text of a UTF-8 file (a UTF-8 byte-order mark is dropped). ``error`` names the file
    and, for bad bytes, the line: a missing or unreadable file, UTF-16/32 (by its byte-order mark,
    or the NUL bytes of one without), Latin-1 or any other non-UTF-8 text."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what} file") from None
    except PermissionError:
        raise error(f"{path}: cannot read the {what} file (permission denied); give this user read "
                    "access (chmod +r) or copy it somewhere readable") from None
    except OSError as err:
        raise error(f"{path}: cannot read the {what} file ({err.strerror or err})") from None
    for bom, encoding in UTF16_32_BOMS:
        if data.startswith(bom):
            raise error(f"{path}:1: the {what} file is {encoding} (line 1 starts with a {encoding} "
                        "byte-order mark); save it as UTF-8") from None
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise error(f"{path}:{_line_of(data, at)}: the {what} file holds NUL bytes (offset {at}): is it "
                    "UTF-16 or binary? Save it as UTF-8 text") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{path}:{_line_of(data, err.start)}: the {what} file is not UTF-8 (byte "
                    f"{data[err.start:err.start + 1]!r} at offset {err.start}: {err.reason}; Latin-1 or "
                    "another legacy encoding?); save it as UTF-8") from None


def parse_json(text: str, where: str, what: str = "file", error: type[Exception] = RecordFileError,
               one_line: bool = False) -> Any:
    """``json.loads(text)`` with every way it fails turned into ``error`` naming ``where`` (the
    file, or ``file:line`` for one JSONL line: ``one_line``) and the line where it is known: a
    syntax error, a number too long for Python (over ``LONGEST_INT_DIGITS`` digits) and nesting
    deeper than Python's recursion limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at = f" at column {err.colno}" if one_line else f" at line {err.lineno} column {err.colno}"
        raise error(f"{where}: not valid JSON{at} ({err.msg}); is the {what} file truncated or "
                    "hand-edited?") from None
    except RecursionError:
        raise error(f"{where}: JSON nested deeper than Python can read (over {sys.getrecursionlimit()} "
                    f"levels); the {what} file should hold flat records") from None
    except ValueError as err:  # json's only other failure: an integer longer than Python converts
        long = re.search(r"\d{%d,}" % (LONGEST_INT_DIGITS + 1), text)
        at = f" at line {_line_of(text, long.start())}" if long is not None and not one_line else ""
        raise error(f"{where}: a number{at} has more digits than Python reads ({err}); write it as a "
                    "string, or shorten it") from None


def read_records(path: str | Path, what: str = "records",
                 error: type[ValueError] = RecordFileError) -> list[tuple[str, int, Any]]:
    """``(kind, number, value)`` per record: kind ``"index"`` (0-based, JSON list) or ``"line"``
    (1-based, JSONL). Raises ``error`` naming the file and the position of the first bad JSON,
    bad bytes, over-long number or over-deep nesting (``read_utf8``, ``parse_json``)."""
    path = Path(path)
    text = read_utf8(path, what, error)
    if text.lstrip().startswith("["):
        values = parse_json(text, str(path), what, error)
        return [("index", i, value) for i, value in enumerate(values)]
    return list(_jsonl(path, text, what, error))


def load_records(path: str | Path, what: str = "records", error: type[ValueError] = RecordFileError) -> list[Any]:
    """The records of a JSON-list or JSONL file, in file order (``read_records`` without positions)."""
    return [value for _, _, value in read_records(path, what, error)]


def _jsonl(path: Path, text: str, what: str, error: type[ValueError]) -> Iterator[tuple[str, int, Any]]:
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit in a string
        if not line.strip():
            continue
        yield "line", number, parse_json(line, f"{path}:{number}", what, error, one_line=True)


class GuardedOutput:
    """A text or binary file handle whose ``write``/``flush``/``close`` failures (a full disk, a
    quota, a read-only folder) raise ``OutputFileError`` naming the file, not a bare OSError."""

    def __init__(self, handle, path: str | Path, what: str = "output"):
        self._handle, self.path, self.what = handle, Path(path), what

    def _guarded(self, action, *args):
        try:
            return action(*args)
        except OSError as err:
            raise OutputFileError(f"{self.path}: cannot write the {self.what} file "
                                             f"({err.strerror or err}); free space or pick another folder, "
                                             "then run again") from None

    def write(self, data):
        return self._guarded(self._handle.write, data)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._guarded(self._handle.flush)

    def fsync(self) -> None:
        self._guarded(os.fsync, self._handle.fileno())

    def close(self) -> None:
        self._guarded(self._handle.close)

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def __enter__(self) -> "GuardedOutput":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:  # the first failure is the one to report
            try:
                self._handle.close()
            except OSError:
                pass


def open_output(path: str | Path, mode: str = "w", what: str = "output") -> GuardedOutput:
    """``open(path, mode)`` (UTF-8 for text) as a ``GuardedOutput``; opening errors name the file too."""
    try:
        handle = open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    except OSError as err:
        raise OutputFileError(f"{path}: cannot open the {what} file for writing "
                                         f"({err.strerror or err})") from None
    return GuardedOutput(handle, path, what)


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
        try:
            handle = self.path.open("wb" if truncate else "ab")
        except OSError as err:
            raise OutputFileError(f"{self.path}: cannot open for writing ({err.strerror or err})") from None
        return JsonlAppender(GuardedOutput(handle, self.path, "JSONL"))

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
        self._handle.fsync()

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
            self._handle = open_output(self.path, "w", "listing")
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
# What answering a record may read: its id, media, task, dataset, the options it asks with
# (``label_set``: listed in the question text itself) and the question turn. Everything else
# (``label``, the answer turn, ``meta`` such as EMOTIC's categories or MMHS150K's votes,
# ``source_id``, ``split``) stays with the scorer.
QUESTION_FIELDS = ("id", "image", "video", "audio", "task", "dataset", "label_set")


def question_only(record: dict) -> dict:
    """A copy of ``record`` holding only ``QUESTION_FIELDS`` and its first (question) turn: the
    one view of a record that inference, predict, serve, lmms-eval and the EmoPrompt selection
    at test time work from, so none of them can read the gold answer."""
    view = {key: record[key] for key in QUESTION_FIELDS if key in record}
    turns = record.get("conversations")
    if isinstance(turns, list) and turns:
        view["conversations"] = [dict(turns[0])]
    return view
