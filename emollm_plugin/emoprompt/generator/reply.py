"""Check a reply: one JSON object ``{"reasoning": ..., "answer": ...}`` (bare, fenced or wrapped
in prose) whose answer parses to the record's label and whose reasoning fits the template."""
from __future__ import annotations

import json
import re

from ...tasks.answers import parse_answer
from ...tasks.labels import CLOSED_TASKS
from ...tasks.schema import TASK_LABELS
from ..template import TEMPLATE_BREAKERS
from .errors import ReplyError
from .secret import sanitised

SHOWN_CHARS = 120  # of an unusable reply quoted in its drop message
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_reply(content: str, task: str, label: str) -> str:
    """The reasoning chain of a reply, or ``ReplyError`` saying why it is unusable.

    ``ChatClient.complete`` refuses a reply that echoes the API key; what a drop message quotes of
    the reply is still reduced to plain words (``secret.sanitised``).
    """
    text = content.strip()
    fenced = _FENCE.match(text)
    text = fenced.group(1) if fenced else text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            obj = json.loads(text[start:end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            obj = None
    if not isinstance(obj, dict):
        raise ReplyError("reply is not a JSON object", sanitised(content, SHOWN_CHARS))
    reasoning, answer = obj.get("reasoning"), obj.get("answer")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise ReplyError("reply has no reasoning")
    if not isinstance(answer, str):
        raise ReplyError("reply has no answer")
    label_set = TASK_LABELS[task] if task in CLOSED_TASKS else None
    parsed = parse_answer(answer, task, label_set)
    if parsed.label != label:
        raise ReplyError("reply answer disagrees with the label", f"{sanitised(answer, SHOWN_CHARS)!r} vs {label!r}")
    found = [s for s in TEMPLATE_BREAKERS if s in reasoning]
    if found:
        raise ReplyError("reply reasoning contains template markers", str(found))
    if re.search(r"ground[ -]truth", reasoning, re.IGNORECASE):
        raise ReplyError("reply reasoning mentions the given answer")
    return " ".join(reasoning.split())
