"""The EmoBench record: LLaVA conversation JSON plus task metadata.

::

    {"id": "caer_s/test/test/Anger/0001/emotion_closed",
     "image": "caer_s/test/Anger/0001.png",            # exactly one of image | video
     "audio": "meld/test/.../dia3_utt1.mp4",            # optional; may name a video file
     "conversations": [{"from": "human", "value": "<image>\\n<question>"},
                       {"from": "gpt", "value": "anger"}],
     "task": "emotion_closed", "dataset": "caer_s", "split": "test", "label": "anger",
     "label_set": ["fear", "anger", ...],               # closed tasks only, in the order asked
     "source_id": "test/Anger/0001", "meta": {...}}     # meta optional

The first human turn starts with "<image>\\n" or "<video>\\n", then "<audio>\\n" when the record
has audio; no placeholder appears anywhere else. Media paths are "<dataset>/<relative path>".
"""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import EmoLLMError
from .labels import (CANONICAL_EMOTIONS, CLOSED_TASKS, EMOTION_TASKS, MINTREC_INTENTS, TASKS,
                     YES_NO, YES_NO_TASKS, yes_no_answer)

SPLITS = ("train", "val", "test")
PLACEHOLDERS = ("<image>", "<video>", "<audio>")
REQUIRED = ("id", "conversations", "task", "dataset", "split", "label", "source_id")
OPTIONAL = ("image", "video", "audio", "label_set", "meta")

# labels a task may carry (closed tasks: additionally within the record's label_set)
TASK_LABELS = {
    "emotion_closed": CANONICAL_EMOTIONS, "emotion_open": CANONICAL_EMOTIONS,
    "intention": MINTREC_INTENTS, "hate": YES_NO, "humor": YES_NO, "sarcasm": YES_NO,
}


class SchemaError(EmoLLMError, ValueError):
    """One record breaks the schema; ``field`` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}")
        self.field = field


def answer_text(task: str, label: str) -> str:
    """The gpt turn for a label: the label itself, or "Yes"/"No" for yes/no tasks."""
    return yes_no_answer(label) if task in YES_NO_TASKS else label


def human_turn(question: str, *, image: bool = False, video: bool = False, audio: bool = False,
               context: str | None = None) -> str:
    """The first human turn: ``<image>`` or ``<video>``, then ``<audio>``, one per line for the
    media the record has, then the context line if any, then the question."""
    prefix = ("<image>\n" if image else "<video>\n" if video else "") + ("<audio>\n" if audio else "")
    return prefix + (f"{context}\n" if context else "") + question


def question_without_placeholders(record: dict) -> str:
    """The first human turn with every media placeholder (and the line break after it) removed:
    what is asked, as plain text (the ``prompt`` of an answers line, the ``text`` of an upstream
    question line, the question an EmoPrompt generator is shown). A placeholder anywhere in the
    turn is removed, not only the leading lines, so no placeholder reaches a text-only reader."""
    text = record["conversations"][0]["value"]
    for token in PLACEHOLDERS:
        text = text.replace(token + "\n", "").replace(token, "")
    return text.strip()


def make_record(*, record_id: str, task: str, dataset: str, question: str, label: str | None = None,
                split: str | None = None, source_id: str | None = None, image: str | None = None,
                video: str | None = None, audio: str | None = None,
                label_set: Sequence[str] | None = None, context: str | None = None,
                meta: dict[str, Any] | None = None, answer_turn: bool = True) -> dict[str, Any]:
    """One record, keys in a fixed order (the build's output is byte-stable); a field given as
    None is left out. A dataset record (``check_record``) has ``label``, ``split`` and
    ``source_id`` and the gpt turn; a question to answer (predict, serve) passes
    ``answer_turn=False`` and gets the human turn only."""
    record: dict[str, Any] = {"id": record_id}
    for field, path in (("image", image), ("video", video), ("audio", audio)):
        if path is not None:
            record[field] = path
    turns = [{"from": "human", "value": human_turn(question, image=image is not None, video=video is not None,
                                                   audio=bool(audio), context=context)}]
    if answer_turn:
        if label is None:
            raise SchemaError("label", "a record with an answer turn needs its label")
        turns.append({"from": "gpt", "value": answer_text(task, label)})
    record["conversations"] = turns
    record.update(task=task, dataset=dataset)
    for field, value in (("split", split), ("label", label)):
        if value is not None:
            record[field] = value
    if label_set is not None:
        record["label_set"] = list(label_set)
    if source_id is not None:
        record["source_id"] = source_id
    if meta:
        record["meta"] = meta
    return record


def _nonempty_str(record: dict, field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(field, f"must be a non-empty string, got {value!r}")
    return value


def _media_path(record: dict, field: str) -> str:
    path = _nonempty_str(record, field)
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or ".." in parts or len(parts) < 2:
        raise SchemaError(field, f"{path!r} must be '<dataset>/<relative path>' with '/' "
                                 "separators, no '..' and no leading '/'")
    return path


def check_record(record: Any) -> None:
    """Raise SchemaError for the first problem in one record (structure, placeholders,
    task, label, label_set, answer)."""
    if not isinstance(record, dict):
        raise SchemaError("<record>", f"must be a JSON object, got {type(record).__name__}")
    for field in REQUIRED:
        if field not in record:
            raise SchemaError(field, "missing")
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise SchemaError(unknown[0], f"unknown field; allowed: {', '.join(REQUIRED + OPTIONAL)}"
                                      " (put extra metadata under 'meta')")
    for field in ("id", "dataset", "source_id", "label"):
        _nonempty_str(record, field)
    if record["split"] not in SPLITS:
        raise SchemaError("split", f"{record['split']!r} is not one of {SPLITS}")
    task = record["task"]
    if task not in TASKS:
        raise SchemaError("task", f"{task!r} is not one of {', '.join(TASKS)}")

    has_image, has_video = "image" in record, "video" in record
    if has_image == has_video:
        raise SchemaError("image", "exactly one of 'image' and 'video' must be present")
    media = "image" if has_image else "video"
    path = _media_path(record, media)
    if path.split("/")[0] != record["dataset"]:
        raise SchemaError(media, f"{path!r} must start with the dataset name "
                                 f"'{record['dataset']}/'")
    if "audio" in record:
        _media_path(record, "audio")
    if "meta" in record and not isinstance(record["meta"], dict):
        raise SchemaError("meta", f"must be an object, got {type(record['meta']).__name__}")

    human, gpt = _conversations(record)
    prefix = f"<{media}>\n" + ("<audio>\n" if "audio" in record else "")
    if not human.startswith(prefix):
        raise SchemaError("conversations", f"first human turn must start with {prefix!r}, "
                                           f"starts with {human[:20]!r}")
    if any(p in human[len(prefix):] or p in gpt for p in PLACEHOLDERS):
        raise SchemaError("conversations", "a media placeholder appears after the prefix or in "
                                           "the answer; placeholders only start the first turn")
    _check_label(record, task, gpt)


def _conversations(record: dict) -> tuple[str, str]:
    turns = record["conversations"]
    if not isinstance(turns, list) or len(turns) != 2:
        raise SchemaError("conversations", "must be a list of two turns (human, gpt)")
    for turn, who in zip(turns, ("human", "gpt")):
        if not isinstance(turn, dict) or turn.get("from") != who:
            raise SchemaError("conversations", f"turn must be {{'from': '{who}', 'value': ...}}, "
                                               f"got {turn!r}"[:200])
        if not isinstance(turn.get("value"), str) or not turn["value"].strip():
            raise SchemaError("conversations", f"the {who} turn's value must be non-empty text")
    return turns[0]["value"], turns[1]["value"]


def _check_label(record: dict, task: str, gpt: str) -> None:
    label = record["label"]
    if label not in TASK_LABELS[task]:
        raise SchemaError("label", f"{label!r} is not among the {task} labels "
                                   f"({', '.join(TASK_LABELS[task])})")
    if task in CLOSED_TASKS:
        options = record.get("label_set")
        if (not isinstance(options, list) or not options or len(set(options)) != len(options)
                or not all(isinstance(o, str) for o in options)):
            raise SchemaError("label_set", f"task {task} needs a list of distinct option "
                                           f"strings, got {options!r}")
        if label not in options:
            raise SchemaError("label", f"{label!r} is not in the record's label_set {options}")
        unlisted = [o for o in options if o not in record["conversations"][0]["value"]]
        if unlisted:
            raise SchemaError("label_set", f"options {unlisted} are not listed in the question")
    elif "label_set" in record:
        raise SchemaError("label_set", f"only closed tasks ({', '.join(CLOSED_TASKS)}) "
                                       "carry a label_set")
    if task in EMOTION_TASKS or task == "intention":
        expected = label
    else:
        expected = yes_no_answer(label)
    if gpt != expected:
        raise SchemaError("conversations", f"gpt answer {gpt!r} must be {expected!r} for label "
                                           f"{label!r}")
