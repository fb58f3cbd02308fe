"""Question banks: per task, many phrasings; one is drawn per record by a seeded RNG.

Banks live in ``tasks/templates/<task>.json`` (``{"task": ..., "templates": [...]}``). A template
holds ``{subject}`` (the adapter's noun phrase, e.g. "the speaker") and, for closed-set tasks,
``{options}``: the record's label set in a shuffled order, joined with ", ". An extra templates
file (``{"emotion_open": ["...", ...], ...}``) adds phrasings to the built-in banks.
"""
from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import EmoLLMError
from ..records import parse_json, read_utf8
from .labels import CLOSED_TASKS, TASKS

MIN_TEMPLATES = 20  # per task in the built-in banks


class QuestionTemplateError(EmoLLMError, ValueError):
    """A question template that cannot be used; the message names the file, task and index."""


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_template(task: str, template: str, where: str) -> None:
    """Raise QuestionTemplateError unless the template fits its task: {subject} present, {options}
    present exactly for closed-set tasks, no other fields, not starting with {subject}."""
    try:
        fields = _fields(template)
    except ValueError as err:  # unbalanced braces
        raise QuestionTemplateError(f"{where}: {err} in {template!r}") from None
    needed = {"subject", "options"} if task in CLOSED_TASKS else {"subject"}
    if fields != needed:
        raise QuestionTemplateError(f"{where}: template {template!r} has fields {sorted(fields)}; "
                            f"task {task} needs exactly {sorted(needed)}")
    if template.startswith("{subject}"):
        raise QuestionTemplateError(f"{where}: template {template!r} starts with {{subject}}, which is "
                            "lowercase; rephrase so the subject is not the first word")


@dataclass(frozen=True)
class QuestionBank:
    templates: Mapping[str, tuple[str, ...]]

    @classmethod
    def load(cls, extra: str | Path | None = None) -> "QuestionBank":
        """The built-in banks, plus the templates of ``extra`` (a JSON file) when given."""
        banks: dict[str, list[str]] = {}
        for task in TASKS:
            name = f"{task}.json"
            data = json.loads(resources.files(__package__).joinpath("templates", name)
                              .read_text(encoding="utf-8"))
            if data.get("task") != task:
                raise QuestionTemplateError(f"templates/{name}: 'task' is {data.get('task')!r}")
            banks[task] = list(data["templates"])
            for i, t in enumerate(banks[task]):
                check_template(task, t, f"templates/{name}[{i}]")
        if extra is not None:
            for task, templates in _read_extra(Path(extra)).items():
                banks[task] += [t for t in templates if t not in banks[task]]
        return cls({task: tuple(ts) for task, ts in banks.items()})

    def ask(self, task: str, rng: random.Random, subject: str,
            label_set: Sequence[str] | None = None) -> tuple[str, list[str] | None]:
        """(question text, options in the order shown) for one record; options is None for
        tasks without a label set. Draws the template first, then the option order."""
        template = rng.choice(self.templates[task])
        if task not in CLOSED_TASKS:
            return template.format(subject=subject), None
        if not label_set:
            raise ValueError(f"task {task} needs a non-empty label_set")
        options = list(label_set)
        rng.shuffle(options)
        return template.format(subject=subject, options=", ".join(options)), options


def _read_extra(path: Path) -> dict[str, list[str]]:
    data = parse_json(read_utf8(path, "extra templates", QuestionTemplateError), str(path), "extra templates",
                      QuestionTemplateError)
    if not isinstance(data, dict):
        raise QuestionTemplateError(f"{path}: expected an object {{task: [templates]}}, "
                            f"got {type(data).__name__}")
    for task, templates in data.items():
        if task not in TASKS:
            raise QuestionTemplateError(f"{path}: unknown task {task!r}; tasks are {', '.join(TASKS)}")
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            raise QuestionTemplateError(f"{path}: {task!r} must be a list of strings")
        for i, t in enumerate(templates):
            check_template(task, t, f"{path}: {task}[{i}]")
    return data
