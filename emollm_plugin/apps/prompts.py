"""Questions for your own media, in EmoBench's wording, as EmoBench records the model can answer.

A task preset asks the first question of EmoBench's bank for that task (``tasks/templates``),
with ``{subject}`` chosen by media kind (``SUBJECTS``) and, for the closed-set tasks, ``{options}``
in the order given (default: the task's full EmoBench label set). ``explain`` appends
``EXPLAIN_SUFFIX``, which asks for the reasoning first, in the shape of the EmoPrompt worked
example the system prompt carries (``Reasoning: ... Answer: ...``); ``split_explained`` takes the
two parts apart again.

The record has the EmoBench schema (``tasks/schema.py``): ``<image>``/``<video>`` then ``<audio>``
placeholders before the question, so the model sees the prompt layout it was trained on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from ..tasks.labels import CANONICAL_EMOTIONS, CLOSED_TASKS, MINTREC_INTENTS, TASKS
from ..errors import EmoLLMError
from ..tasks.answers import last_final_answer_marker
from ..tasks.schema import make_record

SUBJECTS = {"image": "the person in this image", "video": "the speaker in this clip",
            "audio": "the speaker in this recording"}
DEFAULT_OPTIONS = {"emotion_closed": CANONICAL_EMOTIONS, "intention": MINTREC_INTENTS}
EXPLAIN_SUFFIX = (" First explain your reasoning from what you observe, then give the answer, in the form "
                  "'Reasoning: ... Answer: ...'.")
FREE_TASK = "free"  # the metadata task of a free --prompt without a preset


class PromptError(EmoLLMError, ValueError):
    """A task / prompt / options combination that cannot be asked."""


@dataclass(frozen=True)
class Question:
    """What to ask: a task preset (with options) and/or a free prompt."""

    task: Optional[str] = None
    prompt: Optional[str] = None
    options: Optional[tuple[str, ...]] = None
    explain: bool = False

    def __post_init__(self):
        if self.task is None and not self.prompt:
            raise PromptError("give a task preset (--task " + "|".join(TASKS) + ") or a free --prompt")
        if self.task is not None and self.task not in TASKS:
            raise PromptError(f"unknown task {self.task!r}; presets: {', '.join(TASKS)}")
        if self.options is not None and self.task not in CLOSED_TASKS:
            raise PromptError(f"--options is for the closed-set tasks ({', '.join(CLOSED_TASKS)}), "
                              f"not {self.task or 'a free prompt'}")
        if self.options is not None and len(set(o.lower() for o in self.options)) < 2:
            raise PromptError(f"--options needs at least two distinct options, got {list(self.options)}")
        if self.explain and self.task is None:
            raise PromptError("--explain shows a worked example of a task; give --task as well "
                              "(a free --prompt may go with it)")

    @property
    def label_set(self) -> Optional[list[str]]:
        if self.task not in CLOSED_TASKS:
            return None
        return list(self.options or DEFAULT_OPTIONS[self.task])

    def text(self, kind: str, prompt: Optional[str] = None) -> str:
        """The question for one item of ``kind``; ``prompt`` (a manifest row's) overrides."""
        from ..tasks.questions import QuestionBank

        free = prompt or self.prompt
        if free:
            text = free.strip()
        else:
            template = QuestionBank.load().templates[self.task][0]
            fields = {"subject": SUBJECTS[kind]}
            if self.label_set is not None:
                fields["options"] = ", ".join(self.label_set)
            text = template.format(**fields)
        return text + (EXPLAIN_SUFFIX if self.explain else "")


def record_for(item_id: str, media: dict[str, str], question_text: str, task: Optional[str],
               label_set: Optional[Sequence[str]] = None, label: Optional[str] = None) -> dict:
    """An EmoBench-schema question record (``tasks.schema.make_record`` without the answer turn):
    ``media`` maps image|video|audio to paths under the media root."""
    return make_record(record_id=item_id, task=task or FREE_TASK, dataset="predict", question=question_text,
                       label=label, label_set=label_set, answer_turn=False, **media)


def split_explained(text: str) -> tuple[Optional[str], str]:
    """(reasoning, answer) from ``Reasoning: ... Answer: ...``: the answer follows the last
    final-answer marker (``tasks.answers.last_final_answer_marker``, the rule the scorer uses);
    without one the whole text is the answer and the reasoning is None."""
    last = last_final_answer_marker(text)
    if last is None:
        return None, text.strip()
    reasoning = re.sub(r"^\s*reasoning\s*:\s*", "", text[:last.start()], flags=re.IGNORECASE).strip()
    return reasoning or None, text[last.end():].strip()