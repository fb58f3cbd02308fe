"""MMHS150K (Gomez et al., WACV 2020): hate speech in tweets with images, yes/no.

Layout (official readme): ``<root>/MMHS150K_GT.json`` (dict tweet id -> {tweet_url, labels:
three votes 0-5, img_url, tweet_text, labels_str}), ``<root>/splits/{train,val,test}_ids.txt``,
``<root>/img_resized/<id>.jpg`` and, for images with text, ``<root>/img_txt/<id>.json``
(``{"img_text": ...}``). Label: hate when at least 2 of the 3 votes are a hate class
(labels.mmhs150k_is_hate). train+val -> EmoBench train, test -> test. The 150k-entry GT file
is read entry by entry (:func:`iter_json_object`), never loaded whole.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from ...tasks.labels import YES_NO, mmhs150k_is_hate
from .base import DatasetAdapter, SourceFormatError, SourceSample, mapped, read_json, read_text

SPLIT_FILES = (("train", "train"), ("val", "train"), ("test", "test"))
_WHITESPACE = " \t\r\n"


def iter_json_object(path: Path, chunk_size: int = 1 << 20) -> Iterator[tuple[str, Any]]:
    """(key, value) of a top-level JSON object, one entry at a time, reading in chunks."""
    decoder = json.JSONDecoder()
    last_key = None  # the record an error is reported after

    def where() -> str:
        return f"after entry {last_key!r}" if last_key is not None else "before the first entry"

    with open(path, encoding="utf-8") as handle:
        buffer, pos, eof = "", 0, False

        def need(n: int = 1) -> bool:  # make at least n chars available from pos
            nonlocal buffer, pos, eof
            while len(buffer) - pos < n and not eof:
                try:
                    more = handle.read(chunk_size)
                except UnicodeDecodeError as err:
                    raise SourceFormatError(f"{path}: not UTF-8 ({err.reason}) {where()}; "
                                            "re-save the file as UTF-8") from None
                eof = not more
                buffer = buffer[pos:] + more
                pos = 0
            return len(buffer) - pos >= n

        def skip_ws() -> str:
            nonlocal pos
            while need():
                if buffer[pos] not in _WHITESPACE:
                    return buffer[pos]
                pos += 1
            return ""

        def decode() -> Any:
            nonlocal pos
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError as err:
                    if eof:
                        raise SourceFormatError(f"{path}: invalid JSON {where()} ({err.msg}); "
                                                "is the file truncated?") from None
                    need(len(buffer) - pos + chunk_size)  # value may continue in the next chunk
                    continue
                except RecursionError:
                    raise SourceFormatError(f"{path}: JSON nested deeper than Python can read {where()}; "
                                            "is this the MMHS150K_GT.json of the download?") from None
                except ValueError as err:  # an integer of more digits than Python converts
                    raise SourceFormatError(f"{path}: a number with too many digits {where()} ({err})"
                                            ) from None
                if end == len(buffer) and not eof:  # a number may continue in the next chunk
                    need(len(buffer) - pos + 1)
                    continue
                pos = end
                return value

        if skip_ws() != "{":
            raise SourceFormatError(f"{path}: expected a JSON object (tweet id -> entry)")
        pos += 1
        if skip_ws() == "}":
            return
        while True:
            key = decode()
            if not isinstance(key, str) or skip_ws() != ":":
                raise SourceFormatError(f"{path}: expected '\"key\": value' after key {key!r}")
            pos += 1
            skip_ws()
            yield key, decode()
            last_key = key
            sep = skip_ws()
            pos += 1
            if sep == "}":
                return
            if sep != ",":
                raise SourceFormatError(f"{path}: expected ',' or '}}' after entry {key!r}")
            skip_ws()


class Mmhs150kAdapter(DatasetAdapter):
    name = "mmhs150k"
    tasks = ("hate",)
    label_set = YES_NO
    paper_sizes = (139_800, 10_000)
    layout = ("<root>/MMHS150K_GT.json, <root>/splits/{train,val,test}_ids.txt and "
              "<root>/img_resized/<id>.jpg (MMHS150K download)")
    subject = "this tweet"

    def source_files(self, root: Path) -> list[Path]:
        return [root / "MMHS150K_GT.json"] + [root / "splits" / f"{s}_ids.txt"
                                              for s, _ in SPLIT_FILES]

    def read_splits(self, root: Path) -> dict[str, str]:
        """tweet id -> source split (train/val/test); an id in two files is an error."""
        split_of: dict[str, str] = {}
        for source_split, _ in SPLIT_FILES:
            path = root / "splits" / f"{source_split}_ids.txt"
            for number, line in enumerate(read_text(path).splitlines(), 1):
                tweet_id = line.strip()
                if not tweet_id:
                    continue
                if tweet_id in split_of:
                    raise SourceFormatError(f"{path}: line {number}: id {tweet_id} is also in "
                                            f"{split_of[tweet_id]}_ids.txt")
                split_of[tweet_id] = source_split
        return split_of

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        self.require(root, "MMHS150K_GT.json", "splits/train_ids.txt", "splits/val_ids.txt",
                     "splits/test_ids.txt", "img_resized")
        split_of = self.read_splits(root)
        ocr_dir = root / "img_txt"
        with_ocr = set(os.listdir(ocr_dir)) if ocr_dir.is_dir() else set()
        in_gt: set[str] = set()
        to_split = dict(SPLIT_FILES)
        for tweet_id, entry in iter_json_object(root / "MMHS150K_GT.json"):
            in_gt.add(tweet_id)
            if not isinstance(entry, dict) or "labels" not in entry or "tweet_text" not in entry:
                raise SourceFormatError(f"{root / 'MMHS150K_GT.json'}: entry {tweet_id}: "
                                        "expected an object with 'labels' and 'tweet_text'")
            source_split = split_of.get(tweet_id)
            split = to_split.get(source_split, "train")
            label, reason = mapped(lambda v: "yes" if mmhs150k_is_hate(v) else "no",
                                   entry["labels"])
            if source_split is None:
                label, reason = None, "id in no split file"
            context = f'Tweet: "{" ".join(str(entry["tweet_text"]).split())}"'
            if f"{tweet_id}.json" in with_ocr:
                context += f'\nText in the image: "{self._ocr(ocr_dir / f"{tweet_id}.json")}"'
            yield SourceSample(
                source_id=f"{source_split or 'none'}/{tweet_id}", split=split,
                raw_label=entry["labels"], label=label, drop_reason=reason,
                image=f"img_resized/{tweet_id}.jpg", context=context,
                meta={"votes": entry["labels"], "labels_str": entry.get("labels_str")})
        for tweet_id, source_split in split_of.items():
            if tweet_id not in in_gt:
                yield SourceSample(source_id=f"{source_split}/{tweet_id}",
                                   split=to_split[source_split], raw_label=None,
                                   drop_reason="id in split file but not in MMHS150K_GT.json")

    @staticmethod
    def _ocr(path: Path) -> str:
        data = read_json(path)
        if not isinstance(data, dict) or "img_text" not in data:
            raise SourceFormatError(f"{path}: expected {{\"img_text\": ...}}, got "
                                    f"{type(data).__name__}")
        return " ".join(str(data["img_text"]).split())
