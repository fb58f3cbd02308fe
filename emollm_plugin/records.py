"""Reading record files (a JSON list, as LLaVA writes, or JSONL) with errors that say where.

One reader for the training data, the EmoBench files, the questions and the answers, so a
truncated or hand-edited file is reported the same way everywhere: the file, the line (and
column), and what the file should hold.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


class RecordFileError(ValueError):
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


def _jsonl(path: Path, text: str, what: str, error: type[ValueError]) -> Iterator[tuple[str, int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield "line", number, json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{path}:{number}: not valid JSON ({err.msg}); each line of the {what} file must be "
                        "one JSON object (is the file truncated?)") from None
