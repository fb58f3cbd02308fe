"""The EmoPrompt exemplar bank: one JSON object per line, one worked example each.

::

    {"schema_version": 1, "id": "caer_s/train/Happy/0007/emotion_open@emoprompt-gen-v1",
     "task": "emotion_open", "label": "joy",
     "source_id": "caer_s/train/Happy/0007/emotion_open",     # the EmoBench record's "id"
     "media": {"image": "caer_s/train/Happy/0007.png"},        # image | video, optional audio
     "reasoning": "A woman at a table ... so she feels joy.",  # objective -> subjective chain
     "answer": "joy",                                          # the record's answer text
     "generator": "gpt-4o", "prompt_version": "emoprompt-gen-v1",
     "created_at": "2024-06-01T12:00:00+00:00"}

``source_id`` is the EmoBench record ``id`` (not the record's own dataset-relative
``source_id``): selection compares it with the query's ``id`` so a sample never sees itself.

Checks (``validate_bank``): every line is complete JSON with exactly these fields and types, the
task is an EmoBench task, the label is one of the task's labels, the reasoning is non-empty, the
answer parses (``tasks.answers.parse_answer``) to the label, no text could break the conversation
template (``template.TEMPLATE_BREAKERS``), ids are unique. A last line cut off by an interrupted
write is reported as truncated; ``bank_file(path).repair_tail()`` removes it (the generator does so
on resume, saying what it removed). The file is a ``records.AppendOnlyJsonl``.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ..tasks.answers import parse_answer
from ..tasks.labels import CLOSED_TASKS, TASKS
from ..tasks.schema import TASK_LABELS
from ..configs.emoprompt import ILLUSTRATIVE_BANK
from ..errors import EmoLLMError
from ..records import AppendOnlyJsonl
from .template import TEMPLATE_BREAKERS

SCHEMA_VERSION = 1
MEDIA_KEYS = ("image", "video", "audio")


class BankError(EmoLLMError, ValueError):
    """A bank that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Exemplar:
    """One worked example (field meanings: module docstring)."""

    schema_version: int
    id: str
    task: str
    label: str
    source_id: str
    media: dict[str, str]
    reasoning: str
    answer: str
    generator: str
    prompt_version: str
    created_at: str

    def to_json(self) -> str:
        """One line of JSONL, fields in schema order, non-ASCII kept readable."""
        return json.dumps(asdict(self), ensure_ascii=False)


FIELD_TYPES: dict[str, type] = {
    "schema_version": int, "id": str, "task": str, "label": str, "source_id": str, "media": dict,
    "reasoning": str, "answer": str, "generator": str, "prompt_version": str, "created_at": str}
assert list(FIELD_TYPES) == [f.name for f in fields(Exemplar)]


@dataclass(frozen=True)
class BankProblem:
    line: int  # 1-based line in the file (0: the file as a whole)
    field: str
    message: str
    exemplar_id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        who = f" (id={self.exemplar_id})" if self.exemplar_id else ""
        return f"{where}{who}, field {self.field!r}: {self.message}"


@dataclass
class BankReport:
    path: Path
    exemplars: list[Exemplar] = field(default_factory=list)
    problems: list[BankProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> Counter[tuple[str, str]]:
        """Exemplars per (task, label)."""
        return Counter((ex.task, ex.label) for ex in self.exemplars)

    def summary(self) -> str:
        lines = [f"{self.path}: {len(self.exemplars)} valid exemplars, {len(self.problems)} problems"]
        per_task = Counter(ex.task for ex in self.exemplars)
        for task in TASKS:
            if per_task[task]:
                labels = ", ".join(f"{label} {n}" for (t, label), n in sorted(self.counts().items())
                                   if t == task)
                lines.append(f"  {task:<15} {per_task[task]:>5}  ({labels})")
        lines += [f"  PROBLEM {p}" for p in self.problems]
        lines.append("OK" if self.ok else "FAILED: fix the problems above")
        return "\n".join(lines)


def example_bank_path() -> Path:
    """The packaged, hand-written illustrative bank (a few exemplars per task)."""
    return Path(__file__).with_name("example_bank.jsonl")


def resolve_bank(bank: str | Path) -> Path:
    """The file of a bank setting: ``"illustrative"`` names the packaged bank, anything else is a
    path."""
    return example_bank_path() if str(bank) == ILLUSTRATIVE_BANK else Path(bank)


def exemplar_problems(ex: Exemplar) -> list[tuple[str, str]]:
    """(field, message) for each semantic problem of one exemplar; empty when it is usable."""
    problems: list[tuple[str, str]] = []
    if ex.schema_version != SCHEMA_VERSION:
        problems.append(("schema_version", f"{ex.schema_version} is not supported (this plugin "
                                           f"reads version {SCHEMA_VERSION})"))
    if ex.task not in TASKS:
        return problems + [("task", f"{ex.task!r} is not one of {', '.join(TASKS)}")]
    if ex.label not in TASK_LABELS[ex.task]:
        problems.append(("label", f"{ex.label!r} is not a {ex.task} label "
                                  f"({', '.join(TASK_LABELS[ex.task])})"))
    for name in ("id", "source_id", "generator", "prompt_version"):
        if not getattr(ex, name).strip():
            problems.append((name, "must be a non-empty string"))
    if not ex.reasoning.strip():
        problems.append(("reasoning", "the reasoning chain is empty; write what is observed and "
                                      "what it suggests"))
    problems += _media_problems(ex.media)
    if not _is_iso_time(ex.created_at):
        problems.append(("created_at", f"{ex.created_at!r} is not an ISO 8601 time "
                                       "(e.g. 2024-06-01T12:00:00+00:00)"))
    for name in ("reasoning", "answer"):
        found = [s for s in TEMPLATE_BREAKERS if s in getattr(ex, name)]
        if found:
            problems.append((name, f"contains {found}, which would break the conversation "
                                   "template; remove or reword it"))
    if ex.label in TASK_LABELS[ex.task]:
        label_set = TASK_LABELS[ex.task] if ex.task in CLOSED_TASKS else None
        parsed = parse_answer(ex.answer, ex.task, label_set)
        if parsed.label != ex.label:
            named = parsed.label or f"{parsed.status} {list(parsed.candidates)}"
            problems.append(("answer", f"{ex.answer!r} parses to {named}, not to the label "
                                       f"{ex.label!r}"))
    return problems


def _media_problems(media: dict[str, Any]) -> list[tuple[str, str]]:
    unknown = sorted(set(media) - set(MEDIA_KEYS))
    if unknown:
        return [("media", f"unknown keys {unknown}; allowed: {', '.join(MEDIA_KEYS)}")]
    if ("image" in media) == ("video" in media):
        return [("media", "needs exactly one of 'image' and 'video'")]
    bad = [k for k, v in media.items() if not isinstance(v, str) or not v.strip()]
    return [("media", f"{bad} must be non-empty path strings")] if bad else []


def _is_iso_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _parse_line(text: str) -> tuple[Exemplar | None, list[tuple[str, str]]]:
    """Structure of one line -> (exemplar, []) or (None, [(field, message), ...])."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return None, [("<line>", f"not valid JSON ({err.msg} at column {err.colno})")]
    if not isinstance(obj, dict):
        return None, [("<line>", f"must be a JSON object, got {type(obj).__name__}")]
    problems = [(name, "missing") for name in FIELD_TYPES if name not in obj]
    problems += [(name, f"unknown field; allowed: {', '.join(FIELD_TYPES)}")
                 for name in obj if name not in FIELD_TYPES]
    for name, kind in FIELD_TYPES.items():
        value = obj.get(name)
        if name in obj and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append((name, f"must be {kind.__name__}, got {type(value).__name__}"))
    if problems:
        return None, problems
    return Exemplar(**obj), []


def validate_bank(path: str | Path) -> BankReport:
    """Every problem of the bank at ``path`` (all lines are read; nothing is skipped silently)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BankError(f"{path}: cannot read the exemplar bank: {err}") from None
    report = BankReport(path)
    lines = data.decode("utf-8", errors="replace").split("\n")
    ends_cleanly = data.endswith(b"\n") or not data
    seen: dict[str, int] = {}
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        ex, problems = _parse_line(text)
        is_last = lineno == len(lines)
        if ex is None:
            if is_last and not ends_cleanly and problems[0][0] == "<line>":
                report.problems.append(BankProblem(lineno, "<line>", (
                    "truncated record (the file ends mid-line, so a write was interrupted); "
                    "`emollm emoprompt generate` removes it when it resumes, or delete the line")))
            else:
                report.problems += [BankProblem(lineno, f, m) for f, m in problems]
            continue
        problems = exemplar_problems(ex)
        if ex.id in seen:
            problems.append(("id", f"duplicate id, first used on line {seen[ex.id]}"))
        seen.setdefault(ex.id, lineno)
        report.problems += [BankProblem(lineno, f, m, ex.id) for f, m in problems]
        if not problems:
            report.exemplars.append(ex)
    if not report.exemplars and not report.problems:
        report.problems.append(BankProblem(0, "<file>", "the bank holds no exemplars"))
    return report


def load_bank(path: str | Path) -> list[Exemplar]:
    """All exemplars of a valid bank; a ``BankError`` listing the problems otherwise."""
    report = validate_bank(path)
    if not report.ok:
        shown = "\n  ".join(str(p) for p in report.problems[:10])
        more = f"\n  ... and {len(report.problems) - 10} more" if len(report.problems) > 10 else ""
        raise BankError(f"{report.path}: {len(report.problems)} problem(s) in the exemplar bank "
                        f"(`emollm emoprompt validate {report.path}` lists them all):\n  {shown}{more}")
    return report.exemplars


def bank_file(path: str | Path) -> AppendOnlyJsonl:
    """The bank as an append-only JSONL file: ``repair_tail()`` keeps a last line that is a whole
    exemplar (adding its newline) and cuts off one a crash left incomplete."""
    return AppendOnlyJsonl(path, is_complete=lambda tail: _parse_line(tail.decode("utf-8", "replace"))[0] is not None)


def append_exemplar(path: str | Path, ex: Exemplar) -> None:
    """Append one checked exemplar as one line, flushed and fsynced (a crash loses nothing
    finished)."""
    problems = exemplar_problems(ex)
    if problems:
        raise BankError(f"exemplar {ex.id!r} not written to {path}: "
                        + "; ".join(f"field {f!r}: {m}" for f, m in problems))
    bank = bank_file(path)
    if not bank.ends_cleanly():
        raise BankError(f"{path} ends with an incomplete line; run "
                        "emoprompt.bank.bank_file(path).repair_tail() before appending")
    bank.append(ex.to_json())
