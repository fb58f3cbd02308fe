"""MMSD2.0 (Qin et al., ACL 2023): multimodal sarcasm in tweets, yes/no.

Layout (the JoeYing1019/MMSD2.0 repository): ``<root>/data/text_json_final/{train,valid,test}.json``
(variant "final" = MMSD2.0; "clean" reads ``text_json_clean``, the cleaned original MMSD) and
``<root>/data/dataset_image/<image_id>.jpg``; ``<root>`` may also be the ``data`` folder itself.
Each JSON file is a list of ``{"image_id": int, "text": str, "label": 0|1}``. train+valid ->
EmoBench train, test -> test. Samples without an image are dropped ("media file missing"), as
the official loader skips them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ...tasks.labels import YES_NO, binary_yes_no
from .base import (DatasetAdapter, LayoutError, SourceFormatError, SourceSample, mapped,
                   read_json)

SPLIT_FILES = (("train", "train"), ("valid", "train"), ("test", "test"))
VARIANTS = {"final": "text_json_final", "clean": "text_json_clean"}


class Mmsd2Adapter(DatasetAdapter):
    name = "mmsd2"
    tasks = ("sarcasm",)
    label_set = YES_NO
    paper_sizes = (22_200, 2_400)
    layout = ("<root>/data/text_json_final/{train,valid,test}.json and "
              "<root>/data/dataset_image/<image_id>.jpg (MMSD2.0 repository)")
    subject = "this tweet"
    options = {"variant": "final"}

    def data_dir(self, root: Path) -> Path:
        if self.opts["variant"] not in VARIANTS:
            raise ValueError(f"mmsd2: variant {self.opts['variant']!r} not in {list(VARIANTS)}")
        for candidate in (root / "data", root):
            if (candidate / VARIANTS[self.opts["variant"]]).is_dir():
                return candidate
        raise LayoutError.at(root, self.layout)

    def source_files(self, root: Path) -> list[Path]:
        folder = self.data_dir(root) / VARIANTS[self.opts["variant"]]
        return [folder / f"{name}.json" for name, _ in SPLIT_FILES]

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        data = self.data_dir(root)
        prefix = data.relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        text_dir = VARIANTS[self.opts["variant"]]
        self.require(data, f"{text_dir}/train.json", f"{text_dir}/valid.json",
                     f"{text_dir}/test.json", "dataset_image")
        for file_split, split in SPLIT_FILES:
            path = data / text_dir / f"{file_split}.json"
            items = read_json(path)
            if not isinstance(items, list):
                raise SourceFormatError(f"{path}: expected a JSON list of "
                                        f"{{image_id, text, label}}, got {type(items).__name__}")
            for index, item in enumerate(items):
                image_id = self._image_id(path, index, item)
                label, reason = mapped(binary_yes_no, item["label"], "MMSD2.0 label")
                yield SourceSample(
                    source_id=f"{file_split}/{image_id}", split=split, raw_label=item["label"],
                    label=label, drop_reason=reason, image=f"{prefix}dataset_image/{image_id}.jpg",
                    context=f'Tweet: "{" ".join(item["text"].split())}"',
                    meta={"image_id": image_id})

    @staticmethod
    def _image_id(path: Path, index: int, item: object) -> str:
        if not isinstance(item, dict) or not {"image_id", "text", "label"} <= set(item):
            raise SourceFormatError(f"{path}: item {index}: expected keys image_id, text, label; "
                                    f"got {item!r}"[:300])
        image_id = item["image_id"]
        # ids are 18-digit tweet ids: a float has lost digits, so it cannot name the image
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)) \
                or not str(image_id).isdigit():
            raise SourceFormatError(f"{path}: item {index}: field 'image_id' must be an integer "
                                    f"or a digit string, got {image_id!r}; re-export the file "
                                    "without converting ids to floats")
        if not isinstance(item["text"], str):
            raise SourceFormatError(f"{path}: item {index}: field 'text' must be a string")
        return str(image_id)
