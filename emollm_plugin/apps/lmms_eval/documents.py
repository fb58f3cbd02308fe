"""EmoBench records as lmms-eval documents, and their scoring through the plugin's scorer.

A document is ``{"id", "task", "record"}`` with the whole EmoBench record as JSON text (records mix
field types across tasks, which an Arrow table cannot hold column-wise). Accuracy is
``eval.score.summarize``'s per-task accuracy (percent, 2 decimals) over the documents answered.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ...errors import EmoLLMError

QUESTIONS_ENV = "EMOBENCH_QUESTIONS"
MEDIA_ENV = "EMOBENCH_MEDIA_ROOT"
# lmms-eval task name -> EmoBench task (tasks.labels.TASKS)
LMMS_TASKS = {"emobench_emo_c": "emotion_closed", "emobench_emo_o": "emotion_open",
              "emobench_intention": "intention", "emobench_hate": "hate", "emobench_humor": "humor",
              "emobench_sarcasm": "sarcasm"}


class EmoBenchTaskError(EmoLLMError, ValueError):
    """The EmoBench lmms-eval tasks cannot find or read their questions."""


def questions_path() -> Path:
    value = os.environ.get(QUESTIONS_ENV)
    if not value:
        raise EmoBenchTaskError(f"set {QUESTIONS_ENV} to the built EmoBench questions file "
                                "(e.g. data/emobench/test.json from `emollm bench build`)")
    path = Path(value)
    if not path.is_file():
        raise EmoBenchTaskError(f"{QUESTIONS_ENV}={value}: no such file")
    return path


def media_root() -> Path:
    return Path(os.environ.get(MEDIA_ENV) or questions_path().parent / "media")


def load_task_documents(task: str) -> list[dict]:
    """Every record of one EmoBench task (file order), checked by the scorer's own loader."""
    from ...eval.score import load_questions
    if task not in LMMS_TASKS.values():
        raise EmoBenchTaskError(f"unknown EmoBench task {task!r}; known: {', '.join(LMMS_TASKS.values())}")
    path = questions_path()
    docs = [{"id": str(r["id"]), "task": r["task"], "record": json.dumps(r)}
            for r in load_questions(path) if r["task"] == task]
    if not docs:
        raise EmoBenchTaskError(f"{path} holds no {task} records")
    return docs


def record_of(doc: dict) -> dict:
    return json.loads(doc["record"])


def judged(doc: dict, answer: str) -> dict:
    """What process_results keeps per document: the record and the model's answer text."""
    return {"record": doc["record"], "answer": answer}


def scores_of(items: list[dict]) -> dict:
    """eval.score.summarize over the answered documents."""
    from ...eval.score import judge, summarize
    records = [json.loads(item["record"]) for item in items]
    answers = {str(r["id"]): item["answer"] for r, item in zip(records, items)}
    return summarize(judge(records, answers))


def accuracy_of(items: list[dict]) -> float:
    """The task's accuracy in percent, as `emollm eval score` reports it."""
    tasks = scores_of(items)["tasks"]
    if len(tasks) != 1:
        raise EmoBenchTaskError(f"one EmoBench task per lmms-eval task expected, got {sorted(tasks)}")
    return next(iter(tasks.values()))["accuracy"]
