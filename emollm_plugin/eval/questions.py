"""EmoBench records as generation prompts, and as question lines for LLaVA's own eval scripts.

A record's first human turn is ``"<image>\\n"`` or ``"<video>\\n"``, then ``"<audio>\\n"`` when it has
audio, then the question (``tasks/schema.py``). The prompt for a record is the one training saw:
``<video>`` becomes ``<image>`` (the clip's tokens take its place), LLaVA's
``preprocess_multimodal`` rules put ``<image>`` first (wrapped in ``<im_start>``/``<im_end>`` when
the model uses them, in ``<Image>...</Image>`` for ``mmtag`` templates), and the conversation
template closes with the assistant's empty turn:

    USER: <image>\\n<audio>\\nWhich emotion ...? ASSISTANT:

``to_llava_questions`` writes the lines ``llava.eval.model_vqa_loader`` reads,
``{"question_id": id, "image": path, "text": question}``; upstream adds ``<image>\\n`` itself, so the
text has no placeholder. Upstream reads images only, so video and audio records (and, given the
media root, unreadable images) are left out and counted by reason.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..constants import DEFAULT_AUDIO_TOKEN, DEFAULT_IMAGE_TOKEN, DEFAULT_VIDEO_TOKEN
from ..records import check_unique_ids, read_records
from ..errors import EmoLLMError
from ..tasks.schema import question_without_placeholders

IM_START, IM_END = "<im_start>", "<im_end>"  # llava.constants.DEFAULT_IM_START_TOKEN / _END_TOKEN
SHOWN = 5  # bad records quoted in an error


class QuestionError(EmoLLMError, ValueError):
    """The questions file cannot be used as given; the message names the records and the fix."""


def _record_problem(record: object) -> str | None:
    if not isinstance(record, dict):
        return f"is a {type(record).__name__}, expected a JSON object"
    if not isinstance(record.get("id"), (str, int)):
        return "has no 'id' (string or integer)"
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict) \
            or turns[0].get("from") != "human" or not isinstance(turns[0].get("value"), str):
        return "needs 'conversations' starting with a human turn {'from': 'human', 'value': TEXT}"
    if "image" in record and "video" in record:
        return "has both 'image' and 'video'; keep one"
    text = turns[0]["value"]
    for kind, token in (("image", DEFAULT_IMAGE_TOKEN), ("video", DEFAULT_VIDEO_TOKEN),
                        ("audio", DEFAULT_AUDIO_TOKEN)):
        count = text.count(token)
        if kind in record and not isinstance(record[kind], str):
            return f"field {kind!r} must be a path (string), got {record[kind]!r}"
        if (kind in record) != (count == 1) or count > 1:
            return (f"field {kind!r} is {'set' if kind in record else 'absent'} but the question has {count} "
                    f"{token} placeholder(s); a record needs exactly one {token} per {kind} it names "
                    "(rebuild it with `emollm bench build`)")
    return None


def load_questions(path: str | Path) -> list[dict]:
    """EmoBench records from a JSON list or JSONL file; every bad record is named in one error."""
    path = Path(path)
    rows = read_records(path, "questions", QuestionError)
    located = [(number, value) for _, number, value in rows]
    where = rows[0][0] if rows else "line"
    problems = {i: _record_problem(record) for i, (_, record) in enumerate(located)}
    usable = [i for i, problem in problems.items() if problem is None]
    for at, first, _ in check_unique_ids(str(located[i][1]["id"]) for i in usable):
        problems[usable[at]] = f"repeats the id of {where} {located[usable[first]][0]}; ids must be unique"
    problems = [f"{where} {located[i][0]} (id {_record_id(located[i][1])!r}): {problem}"
                for i, problem in sorted(problems.items()) if problem]
    if problems:
        raise QuestionError(f"{path}: {len(problems)} record(s) cannot be asked (first "
                            f"{min(SHOWN, len(problems))}):\n  " + "\n  ".join(problems[:SHOWN]))
    if not located:
        raise QuestionError(f"{path}: no records")
    return [record for _, record in located]


def _record_id(record: object) -> object:
    return record.get("id", "?") if isinstance(record, dict) else "?"


def human_turn(record: dict, mm_use_im_start_end: bool = False, mmtag: bool = False) -> str:
    """The first human turn as training tokenised it (LLaVA's ``preprocess_multimodal`` rules)."""
    text = record["conversations"][0]["value"].replace(DEFAULT_VIDEO_TOKEN, DEFAULT_IMAGE_TOKEN)
    if DEFAULT_IMAGE_TOKEN not in text:
        return text
    text = (DEFAULT_IMAGE_TOKEN + "\n" + text.replace(DEFAULT_IMAGE_TOKEN, "").strip()).strip()
    if mmtag:
        text = text.replace(DEFAULT_IMAGE_TOKEN, f"<Image>{DEFAULT_IMAGE_TOKEN}</Image>")
    if mm_use_im_start_end:
        text = text.replace(DEFAULT_IMAGE_TOKEN, IM_START + DEFAULT_IMAGE_TOKEN + IM_END)
    return text


def conversation(conv_mode: str):
    """A fresh copy of LLaVA's template ``conv_mode``; an unknown name raises, listing the known."""
    from llava.conversation import conv_templates

    if conv_mode not in conv_templates:
        raise ValueError(f"unknown --conv-mode {conv_mode!r}; known: {', '.join(sorted(conv_templates))}")
    return conv_templates[conv_mode].copy()


def build_prompt(record: dict, conv_mode: str = "vicuna_v1", mm_use_im_start_end: bool = False,
                 emoprompt=None) -> str:
    """The full generation prompt for a record: template, human turn, empty assistant turn.

    emoprompt: an ``EmoPromptRuntime`` (eval phase) when ``conv_mode`` is ``emoprompt_v1``: the
    system prompt then carries the exemplar selected for this record, as in training."""
    conv = conversation(conv_mode)
    if emoprompt is not None:
        conv = emoprompt.conversation_for(record, conv)[0]
    conv.append_message(conv.roles[0], human_turn(record, mm_use_im_start_end, "mmtag" in str(conv.version)))
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


@dataclass
class LlavaQuestions:
    """Question lines for ``model_vqa_loader`` and the records left out, ids by reason."""

    lines: list[dict]
    left_out: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{len(self.lines)} image question(s)"]
        for reason, ids in self.left_out.items():
            parts.append(f"left out {len(ids)} {reason} (e.g. {', '.join(ids[:3])})")
        return "; ".join(parts)


def to_llava_questions(records: list[dict], media_root: str | Path | None = None) -> LlavaQuestions:
    """Image records -> ``{"question_id", "image", "text"}`` lines; the others counted by reason.

    With ``media_root``, images that are missing or do not open are left out too (upstream's
    loader would stop at the first one with a traceback from a DataLoader worker).
    """
    from ..bench.validate import media_problem

    lines, left_out = [], defaultdict(list)
    for record in records:
        reason = None
        if "audio" in record:
            reason = "record(s) with audio (upstream model_vqa_loader reads images only)"
        elif "video" in record:
            reason = "video record(s) (upstream model_vqa_loader reads images only)"
        elif "image" not in record:
            reason = "text-only record(s) (model_vqa_loader needs an image)"
        elif media_root is not None:
            problem = media_problem(Path(media_root) / record["image"], "image")
            reason = f"record(s) with an unusable image: {problem}" if problem else None
        if reason:
            left_out[reason].append(str(record["id"]))
        else:
            lines.append({"question_id": record["id"], "image": record["image"], "text": question_without_placeholders(record)})
    return LlavaQuestions(lines, dict(left_out))
