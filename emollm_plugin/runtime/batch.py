"""The answers file (one line per record, resumable) and the fixed-batch loop that fills it."""
from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..tasks.schema import question_without_placeholders
from ..records import AppendOnlyJsonl
from .errors import AnswersFileError, InferInputError, Unanswerable

if TYPE_CHECKING:
    from .answerer import Answerer


def read_answered(path: Path, model_id: str) -> set[str]:
    """Ids already in an answers file written for ``model_id``. A last line without its newline is
    a write cut short by a crash: it is removed from the file (and answered again), with a note."""
    if not path.exists():
        return set()
    tail = AppendOnlyJsonl(path).repair_tail()  # a whole last line only gets its newline
    if tail is not None:
        print(f"emollm infer: {path} ended in a truncated line ({len(tail)} bytes: "
              f"{tail[:60]!r}...); removed it, that record is answered again", file=sys.stderr)
    data = path.read_bytes()
    answered = set()
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answered.add(str(row["question_id"]))
        except (ValueError, KeyError, TypeError, RecursionError):  # ValueError: bad JSON, a 5,000-digit number
            raise AnswersFileError(
                f"{path}:{number}: not an answers line ({line[:80]!r}); --resume needs one JSON object with "
                "'question_id' per line. Fix or delete that line, or run without --resume to start over."
            ) from None
        if row.get("model_id", model_id) != model_id:
            raise AnswersFileError(
                f"{path}:{number}: answered by model {row['model_id']!r}, but this run is {model_id!r}; "
                "resuming would mix two models' answers. Use another --answers-file, or run without --resume.")
    return answered


def answer_id(model_id: str, question_id: str, prompt: str) -> str:
    """Stable per (model, record, question): two questions about one file get two ids."""
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{model_id}/{question_id}/{digest}").hex


def answer_line(record: dict, text: str, model_id: str, probabilities: Optional[dict] = None) -> str:
    """One answers-file line; ``option_probabilities`` (label -> q) for an answer scored over its options."""
    question_id = record["id"]
    prompt = question_without_placeholders(record)
    metadata = {key: record[key] for key in ("task", "dataset") if key in record}
    row = {"question_id": question_id, "prompt": prompt, "text": text,
           "answer_id": answer_id(model_id, question_id, prompt), "model_id": model_id, "metadata": metadata}
    if probabilities is not None:
        row["option_probabilities"] = probabilities
    return json.dumps(row) + "\n"


def skipped_path(answers_file: Path) -> Path:
    return answers_file.with_name(answers_file.name + ".skipped.jsonl")


def chunk(records: list, num_chunks: int, chunk_idx: int) -> list:
    """Contiguous chunk ``chunk_idx`` of ``num_chunks`` (as upstream's --num-chunks/--chunk-idx)."""
    if num_chunks < 1 or not 0 <= chunk_idx < num_chunks:
        raise InferInputError(f"--chunk-idx must be in [0, --num-chunks), got {chunk_idx} of {num_chunks}")
    size = -(-len(records) // num_chunks)
    return records[chunk_idx * size:(chunk_idx + 1) * size]


@dataclass
class Summary:
    records: int
    answered_before: int
    answered: int
    skipped: Counter
    answers_file: Path
    skipped_file: Path

    def lines(self) -> list[str]:
        out = [f"emollm infer: {self.records} record(s): {self.answered} answered now, "
               f"{self.answered_before} already in {self.answers_file}, {sum(self.skipped.values())} skipped"]
        if self.skipped:  # the skipped file exists only then
            out.append(f"emollm infer: skipped by reason (listed in {self.skipped_file}): "
                       + ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())))
        return out


def answer_batches(answerer: "Answerer", records: list[dict], batch_size: int, answered: set[str], out, skip_out,
                   bar, line_for, limit: Optional[int] = None) -> tuple[int, Counter]:
    """Answer ``records`` not in ``answered`` in fixed batches; (answers written, skips by reason).

    ``line_for(record, text, timing, probabilities)`` makes the answer line (probabilities: the
    options' for a scored answer, else None); ``timing`` holds ``prepare_s`` (this
    record's media decoding and tokenising), ``generate_s`` (its batch's generate call) and
    ``batch`` (records in that call). Skipped records go to ``skip_out`` with their reason."""
    import time

    skipped, written = Counter(), 0
    for start in range(0, len(records), batch_size):
        batch = records[start:start + batch_size]
        pending = {str(r["id"]) for r in batch} - answered
        if not pending:
            continue
        if limit is not None and written >= limit:
            break
        prepared, prepare_s = [], {}
        for record in batch:  # answered members too: the batch (and its padding) stays the same
            began = time.perf_counter()
            try:
                prepared.append(answerer.prepare(record))
            except Unanswerable as err:
                if str(record["id"]) in pending:
                    skip_out.write(json.dumps({"question_id": record["id"], "reason": err.reason,
                                               "message": str(err)}) + "\n")
                    skipped[err.reason] += 1
            prepare_s[str(record["id"])] = time.perf_counter() - began
        if any(str(p.record["id"]) in pending for p in prepared):
            began = time.perf_counter()
            texts = answerer.answer_with_probabilities(prepared)
            generate_s = time.perf_counter() - began
            for item, (text, probabilities) in zip(prepared, texts):
                if str(item.record["id"]) in pending and (limit is None or written < limit):
                    timing = {"prepare_s": round(prepare_s[str(item.record["id"])], 4),
                              "generate_s": round(generate_s, 4), "batch": len(prepared)}
                    out.write(line_for(item.record, text, timing, probabilities))
                    written += 1
        out.flush()
        skip_out.flush()
        bar.update(len(pending))
    return written, skipped
