"""Table 3's test subset: "a subset of pure images from EmoBench test set. It contains 6 emotion
categories with hundreds of images in each category" (the paper, Table 3).

From a built test file, ``table3_subset`` keeps the emotion records (Emo-C and Emo-O) whose media
is one image and no audio, and whose label is one of the six emotions of ``SIX_EMOTIONS`` (no
neutral). An Emo-C record is asked again with the six-option list: its question's option list
(the ``label_set`` joined with ", ", in the order shown) becomes the same list without neutral, and
``label_set`` follows. ``per_label`` caps the images per label (the samples of smallest
``blake2b(seed|table3|dataset|source_id)``; both questions of a kept sample are kept), so the
subset can have "hundreds of images in each category" whatever the test set's size.

``is_table3`` tells the scorer that a questions file is such a subset (it then prints Table 3's
layout: Emo-C and Emo-O).
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Iterable, Optional

from ..errors import EmoLLMError
from ..tasks.labels import CANONICAL_EMOTIONS, EMOTION_TASKS

SIX_EMOTIONS = tuple(label for label in CANONICAL_EMOTIONS if label != "neutral")


class SubsetError(EmoLLMError, ValueError):
    """A record that cannot be asked with the six-option list; the message names it."""


def _image_only(record: dict) -> bool:
    return isinstance(record.get("image"), str) and "video" not in record and "audio" not in record


def _six_options(record: dict) -> dict:
    """The Emo-C record asked with its options minus neutral, in the order shown."""
    options = record.get("label_set")
    question = record["conversations"][0]["value"]
    shown = ", ".join(options or ())
    if not options or question.count(shown) != 1:
        raise SubsetError(f"record {record.get('id')!r}: its question does not list its label_set "
                          f"{options} as one ', '-joined list; rebuild the test file with "
                          "`emollm bench build`")
    six = [option for option in options if option != "neutral"]
    if sorted(six) != sorted(SIX_EMOTIONS):
        raise SubsetError(f"record {record.get('id')!r}: options {options} are not the six emotions "
                          f"{list(SIX_EMOTIONS)} (with or without neutral)")
    turns = [{**record["conversations"][0], "value": question.replace(shown, ", ".join(six))},
             *record["conversations"][1:]]
    return {**record, "conversations": turns, "label_set": six}


def _rank(seed: int, record: dict) -> int:
    text = f"{seed}|table3|{record['dataset']}|{record['source_id']}".encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def table3_subset(records: Iterable[dict], per_label: Optional[int] = None, seed: int = 0) -> list[dict]:
    """The Table 3 records of ``records`` in their order (module docstring)."""
    kept = [r for r in records if r.get("task") in EMOTION_TASKS and _image_only(r)
            and r.get("label") in SIX_EMOTIONS]
    if per_label is not None:
        if per_label < 1:
            raise SubsetError(f"per_label must be >= 1, got {per_label}")
        samples: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for r in kept:
            samples[r["label"]].add((r["dataset"], r["source_id"]))
        chosen = set()
        for label, keys in samples.items():
            ranked = sorted(keys, key=lambda k: _rank(seed, {"dataset": k[0], "source_id": k[1]}))
            chosen.update(ranked[:per_label])
        kept = [r for r in kept if (r["dataset"], r["source_id"]) in chosen]
    return [_six_options(r) if r["task"] == "emotion_closed" else r for r in kept]


def images_per_label(records: Iterable[dict]) -> dict[str, int]:
    """Distinct images per label (a sample asked both ways counts once)."""
    seen = {(r["label"], r["image"]) for r in records}
    return dict(sorted(Counter(label for label, _ in seen).items()))


def is_table3(records: Iterable[dict]) -> bool:
    """Every record an image-only emotion question with a six-emotion label, Emo-C asked with
    exactly the six options."""
    records = list(records)
    return bool(records) and all(
        r.get("task") in EMOTION_TASKS and _image_only(r) and r.get("label") in SIX_EMOTIONS
        and (r["task"] != "emotion_closed" or sorted(r.get("label_set") or ()) == sorted(SIX_EMOTIONS))
        for r in records)
