"""Every training record checked before step 1, all problems reported at once.

``check_training_data`` runs when the training data module is built (``--data_check``):

- ``off``: nothing is checked (training fails, or skips, at the first bad record it meets).
- ``fast`` (default): the record structure (a ``conversations`` list; not both ``image`` and
  ``video``), placeholders against media fields in both directions (a record with an ``image``,
  ``video`` or ``audio`` field has exactly one ``<image>``, ``<video>`` or ``<audio>`` in its
  turns, and a placeholder never appears without its field), audio only when the model has an
  audio tower, unique ``id``\\ s, and every media path: inside ``--image_folder``
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
from dataclasses import dataclass
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


def structure_problems(index: int, record: Any, has_audio_tower: bool) -> list[DataProblem]:
    """What is wrong with one record's fields and placeholders (no file is read)."""
    if not isinstance(record, dict):
        return [DataProblem(index, None, "<record>", f"is a {type(record).__name__}, expected a JSON object")]
    rid = record.get("id")
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns or not all(
            isinstance(t, dict) and isinstance(t.get("value"), str) for t in turns):
        return [DataProblem(index, rid, "conversations", "needs a non-empty list of {'from', 'value'} turns "
                                                          "(LLaVA instruction format)")]
    problems = []
    if "image" in record and "video" in record:
        problems.append(DataProblem(index, rid, "image", "the record has both 'image' and 'video'; keep one"))
    text = "".join(turn["value"] for turn in turns)
    for kind, token in PLACEHOLDERS.items():
        count = text.count(token)
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
                        shown: int = SHOWN, workers: Optional[int] = None) -> None:
    """Raise ``DataCheckError`` listing every problem of ``records`` (read from ``path``); media
    paths resolve against ``media_root``. See the module docstring for what each mode checks."""
    from tqdm import tqdm

    from ..media.paths import MediaPathError, resolve_media

    if mode not in CHECK_MODES:
        raise DataCheckError(f"--data_check {mode!r}: use one of {', '.join(CHECK_MODES)}")
    if not records:
        raise DataCheckError(f"{path}: the training data holds no records; point --data_path at a JSON "
                             "list (or JSONL) of LLaVA instruction records")
    if mode == "off":
        return
    problems: list[DataProblem] = []
    media: dict[tuple[str, str], list[tuple[int, Any]]] = {}  # (path, kind) -> records using it
    for index, record in enumerate(records):
        found = structure_problems(index, record, has_audio_tower)
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
