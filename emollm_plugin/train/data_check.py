"""Every training record checked before step 1, all problems reported at once.

``check_training_data`` runs when the training data module is built (``--data_check``):

- ``off``: nothing is checked (training fails, or skips, at the first bad record it meets).
- ``fast`` (default): everything LLaVA's ``preprocess`` / ``preprocess_multimodal``
  (llava/train/train.py) and the plugin's splice (``model/splice.py``) assume of a record:
  a non-empty ``conversations`` list of ``{'from', 'value'}`` objects; ``from`` present and
  ``human`` / ``gpt`` alternating, the first turn ``human`` (upstream's v1 preprocess drops a
  first ``gpt`` turn, and asserts the order); every ``value`` a non-empty string that encodes as
  UTF-8 (JSON can spell a lone surrogate, which the tokenizer crashes on); at least one
  answer turn and a last turn that is one; for a v1 template (``SeparatorStyle.TWO``), the prompt
  rendered as upstream renders it splitting into one round per question/answer on its separators
  (no ``</s>`` or `` ASSISTANT: `` inside a value, which target masking splits on); media placeholders only in the first turn (``preprocess_multimodal``
  moves a placeholder to the start of its own turn, so one in an answer would be a target);
  placeholders against media fields in both directions (a record with an ``image``, ``video`` or
  ``audio`` field has exactly one ``<image>``, ``<video>`` or ``<audio>``, and a placeholder never
  appears without its field: the splice takes one of each); for ``--version plain``, exactly two
  turns with ``<image>``/``<video>`` and no ``<audio>`` in the first (``preprocess_plain`` keeps
  only ``<image>`` of it); not both ``image`` and ``video``; audio only when the model has an
  audio tower; unique ``id``\\ s; and every media path: inside ``--image_folder``
  (``media/paths.py``), present, not empty.
- ``full``: ``fast``, and every media file decodes (``media/probe.py``: images fully, clips and
  sound tracks their first frame), in parallel threads.

An empty file stops with its name (not torch's ``num_samples=0``); a file that is not JSON stops
with its position (``records.py``). Problems are collected for every record, and
``DataCheckError`` lists the first ``shown`` (record index, id, field, cause) with the total count.
"""
from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..constants import DEFAULT_AUDIO_TOKEN, DEFAULT_IMAGE_TOKEN, DEFAULT_VIDEO_TOKEN
from ..errors import EmoLLMError
from ..records import check_unique_ids

CHECK_MODES = ("off", "fast", "full")
DEFAULT_DATA_CHECK = "fast"
BAD_MEDIA_POLICIES = ("stop", "skip")  # --on_bad_media (train/data.py)
DEFAULT_ON_BAD_MEDIA = "stop"
PLACEHOLDERS = {"image": DEFAULT_IMAGE_TOKEN, "video": DEFAULT_VIDEO_TOKEN, "audio": DEFAULT_AUDIO_TOKEN}
SHOWN = 20  # problems quoted in the error; the count covers all of them


class DataCheckError(EmoLLMError, ValueError):
    """The training data has problems; the message lists them (record, id, field, cause)."""


@dataclass(frozen=True)
class DataProblem:
    index: int  # 0-based position in the data file
    record_id: Any
    field: str
    cause: str

    def __str__(self) -> str:
        return f"record {self.index} (id {self.record_id!r}), field {self.field!r}: {self.cause}"


@dataclass(frozen=True)
class Template:
    """What the training template's ``preprocess`` needs of a conversation (llava/train/train.py):
    ``plain`` (``--version plain``: ``preprocess_plain`` asserts two turns and ``<image>`` in the
    first, and keeps nothing else of that turn); ``conversation``: a ``SeparatorStyle.TWO``
    template (v1), whose target masking (``preprocess_v1``) splits the rendered prompt into rounds
    on ``sep2`` and each round into question and answer on ``sep + roles[1] + ": "``."""

    plain: bool = False
    conversation: Any = field(default=None, compare=False)

    @classmethod
    def of(cls, conversation) -> "Template":
        """From an upstream ``Conversation``; None -> no template-specific rules."""
        if conversation is None:
            return cls()
        style = getattr(getattr(conversation, "sep_style", None), "name", "")
        return cls(plain=style == "PLAIN", conversation=conversation if style == "TWO" else None)

    def masking_problem(self, turns: list[dict]) -> Optional[str]:
        """Why ``preprocess_v1`` would mask these turns wrongly (it then masks the whole record,
        or trains on question text), or None: the prompt rendered as upstream renders it must split
        into one round per question/answer pair, each into exactly one question and one answer."""
        if self.conversation is None:
            return None
        conv = self.conversation.copy()
        conv.messages = []
        for j, turn in enumerate(turns):
            conv.append_message(conv.roles[j % 2], turn["value"])
        rounds = conv.get_prompt().split(conv.sep2)
        answer_sep = conv.sep + conv.roles[1] + ": "
        pairs = len(turns) // 2
        if len(rounds) == pairs + 1 and rounds[-1] == "" and all(
                rou and len(rou.split(answer_sep)) == 2 for rou in rounds[:-1]):
            return None
        return (f"a value holds {conv.sep2!r} or {answer_sep!r}, the separators upstream's target masking "
                "splits the prompt on, so the record's targets would be misaligned (or all masked); "
                "reword that text")


ROLES = ("human", "gpt")  # upstream's preprocess maps exactly these two; turn j is ROLES[j % 2]


def _turn_problems(index: int, rid: Any, turns: list, template: Template) -> list[DataProblem]:
    """Roles, their order, values and placeholders' turns, as upstream's preprocess and the splice
    assume them."""
    problems = []

    def bad(j: int, cause: str) -> None:
        problems.append(DataProblem(index, rid, f"conversations[{j}]", cause))

    for j, turn in enumerate(turns):
        if not isinstance(turn, dict):
            bad(j, f"is a {type(turn).__name__}, expected a {{'from', 'value'}} object")
            continue
        role, value = turn.get("from"), turn.get("value")
        if role is None:
            bad(j, "has no 'from'; each turn says who speaks: 'human' (the question) or 'gpt' (the answer)")
        elif role not in ROLES:
            bad(j, f"'from' is {role!r}; LLaVA's preprocess knows only 'human' and 'gpt'")
        elif role != ROLES[j % 2]:
            bad(j, f"is from {role!r} but turn {j} must be from {ROLES[j % 2]!r}: turns alternate, starting "
                   "with 'human' (upstream's preprocess drops a first 'gpt' turn, or stops on the order)")
        if not isinstance(value, str):
            bad(j, f"'value' is {type(value).__name__}, expected the turn's text")
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:  # JSON can spell "\ud800"; the tokenizer cannot take it
            bad(j, f"'value' holds a lone surrogate ({value[err.start]!r}) that no tokenizer can encode; fix "
                   "the text's encoding where the data was made")
            continue
        if not value.strip():
            bad(j, "'value' is empty: " + ("an empty answer trains on nothing" if role == "gpt"
                                           else "a question needs text or a placeholder"))
        held = [token for token in PLACEHOLDERS.values() if token in value]
        if held and j != 0:
            where = "an answer turn" if role == "gpt" else "a later question turn"
            bad(j, f"{where} holds {', '.join(held)}; media placeholders go in the first turn (the human "
                   "question), where upstream's preprocess and the splice put the media")
    if problems:
        return problems
    if len(turns) < 2:
        return [DataProblem(index, rid, "conversations", "has no answer turn ('from': 'gpt'): nothing to train on")]
    if len(turns) % 2:
        problems.append(DataProblem(index, rid, f"conversations[{len(turns) - 1}]",
                                    "the last turn is a question no answer follows; upstream's masking expects "
                                    "each question answered (drop the turn or add its answer)"))
    elif (masking := template.masking_problem(turns)) is not None:
        problems.append(DataProblem(index, rid, "conversations", masking))
    if template.plain:
        first = turns[0]["value"]
        if len(turns) != 2:
            problems.append(DataProblem(index, rid, "conversations", f"has {len(turns)} turns; --version plain "
                                        "(pretraining) takes exactly two: the media placeholder, the caption"))
        if DEFAULT_IMAGE_TOKEN not in first and DEFAULT_VIDEO_TOKEN not in first:
            problems.append(DataProblem(index, rid, "conversations", "--version plain needs <image> or <video> "
                                                                     "in the first turn"))
        if DEFAULT_AUDIO_TOKEN in first:
            problems.append(DataProblem(index, rid, "audio", "--version plain keeps only <image> of the first "
                                        "turn, so <audio> would be dropped; train audio with a chat template"))
    return problems


def structure_problems(index: int, record: Any, has_audio_tower: bool,
                       template: Template = Template()) -> list[DataProblem]:
    """What is wrong with one record's fields, turns and placeholders (no file is read)."""
    if not isinstance(record, dict):
        return [DataProblem(index, None, "<record>", f"is a {type(record).__name__}, expected a JSON object")]
    rid = record.get("id")
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        return [DataProblem(index, rid, "conversations", "needs a non-empty list of {'from', 'value'} turns "
                                                          "(LLaVA instruction format)")]
    problems = _turn_problems(index, rid, turns, template)
    if problems:
        return problems
    if "image" in record and "video" in record:
        problems.append(DataProblem(index, rid, "image", "the record has both 'image' and 'video'; keep one"))
    for kind, token in PLACEHOLDERS.items():
        count = sum(turn["value"].count(token) for turn in turns)  # per turn: "<ima" + "ge>" is none
        if kind in record:
            if not isinstance(record[kind], str) or not record[kind].strip():
                problems.append(DataProblem(index, rid, kind, f"must be a media path (a non-empty string), got "
                                                              f"{record[kind]!r}"))
            elif count != 1:
                problems.append(DataProblem(index, rid, kind, f"is set but the turns hold {count} {token} "
                                                              f"placeholders; write exactly one {token} where "
                                                              "the media go"))
        elif count:
            problems.append(DataProblem(index, rid, "conversations",
                                        f"{count} {token} placeholder(s) but no '{kind}' field: the text would "
                                        f"train on the literal string {token} with no {kind}; add the "
                                        f"'{kind}' path or remove the placeholder"))
    if "audio" in record and not has_audio_tower:
        problems.append(DataProblem(index, rid, "audio", "the model has no audio tower: train with "
                                                         "--audio_tower PATH or drop the record's 'audio'"))
    return problems


def _fast_media_problem(path: Path, kind: str) -> Optional[str]:
    try:
        size = path.stat().st_size
    except OSError:
        return f"{kind} missing: {path}"
    if not path.is_file():
        return f"{kind} is not a file: {path}"
    return f"{kind} empty (0 bytes): {path}" if size == 0 else None


def _full_media_problem(path: Path, kind: str) -> Optional[str]:
    from ..media.probe import media_problem
    problem = media_problem(path, kind)
    return None if problem is None else f"{problem}: {path}"


def media_problem_for(mode: str) -> Callable[[Path, str], Optional[str]]:
    return {"fast": _fast_media_problem, "full": _full_media_problem}[mode]


def check_training_data(path: str | os.PathLike, records: Sequence[Any], media_root: str | os.PathLike,
                        mode: str = DEFAULT_DATA_CHECK, has_audio_tower: bool = True, progress: bool = True,
                        shown: int = SHOWN, workers: Optional[int] = None, conversation=None) -> None:
    """Raise ``DataCheckError`` listing every problem of ``records`` (read from ``path``); media
    paths resolve against ``media_root``; ``conversation``: the training template (upstream's
    ``Conversation``, default a v1-like chat). See the module docstring for what each mode checks."""
    from tqdm import tqdm

    from ..media.paths import MediaPathError, resolve_media

    if mode not in CHECK_MODES:
        raise DataCheckError(f"--data_check {mode!r}: use one of {', '.join(CHECK_MODES)}")
    if not records:
        raise DataCheckError(f"{path}: the training data holds no records; point --data_path at a JSON "
                             "list (or JSONL) of LLaVA instruction records")
    if mode == "off":
        return
    template = Template.of(conversation)
    problems: list[DataProblem] = []
    media: dict[tuple[str, str], list[tuple[int, Any]]] = {}  # (path, kind) -> records using it
    for index, record in enumerate(records):
        found = structure_problems(index, record, has_audio_tower, template)
        problems += found
        if not found:
            for kind in PLACEHOLDERS:
                if kind in record:
                    media.setdefault((record[kind], kind), []).append((index, record.get("id")))
    ids = [(i, r["id"]) for i, r in enumerate(records) if isinstance(r, dict) and r.get("id") is not None]
    for at, first, rid in check_unique_ids(str(rid) for _, rid in ids):
        problems.append(DataProblem(ids[at][0], rid, "id", f"repeats the id of record {ids[first][0]}; ids must "
                                                           "be unique"))

    probe = media_problem_for(mode)

    def check(item: tuple[str, str]) -> Optional[str]:
        rel, kind = item
        try:
            return probe(resolve_media(media_root, rel), kind)
        except MediaPathError as err:
            return str(err)

    items = list(media)
    workers = workers or (min(8, os.cpu_count() or 1) if mode == "full" else 1)
    disable = not progress or os.environ.get("RANK", "0") != "0"
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(items), desc=f"checking media ({mode})", unit="file", disable=disable) as bar:
        results = []
        for result in pool.map(check, items):
            results.append(result)
            bar.update(1)
    for (rel, kind), cause in zip(items, results):
        if cause is not None:
            problems += [DataProblem(index, rid, kind, cause) for index, rid in media[(rel, kind)]]
    if problems:
        problems.sort(key=lambda p: p.index)
        causes = Counter(p.field for p in problems)
        raise DataCheckError(
            f"{path}: {len(problems)} problem(s) in {len({p.index for p in problems})} of {len(records)} "
            f"record(s) (by field: {', '.join(f'{k} {n}' for k, n in sorted(causes.items()))}); first "
            f"{min(shown, len(problems))}:\n  " + "\n  ".join(map(str, problems[:shown]))
            + f"\nFix or drop these records (media paths are relative to --image_folder {media_root}), "
            "or pass --data_check off to train without this check.")
