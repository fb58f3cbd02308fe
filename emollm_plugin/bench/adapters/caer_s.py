"""CAER-S (Lee et al., ICCV 2019): TV-show frames, the class folder is the only label.

Layout: ``<root>/train/{Angry,Disgust,Fear,Happy,Neutral,Sad,Surprise}/NNNN.png`` and
``<root>/test/{Anger,...}/NNNN.png`` (the anger folder is "Angry" in train, "Anger" in test).
No validation split exists; train -> EmoBench train, test -> test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ...tasks.labels import CANONICAL_EMOTIONS, EMOTION_TASKS, caer_s_emotion
from .base import DatasetAdapter, LayoutError, SourceSample, mapped

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class CaerSAdapter(DatasetAdapter):
    name = "caer_s"
    tasks = EMOTION_TASKS
    label_set = CANONICAL_EMOTIONS
    paper_sizes = (42_000, 21_000)
    layout = "<root>/{train,test}/<Class>/NNNN.png (CAER-S download; Class e.g. Angry, Happy)"
    subject = "the person in this scene"

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        self.require(root, "train", "test")
        for split in ("train", "test"):
            classes = sorted(p for p in (root / split).iterdir() if p.is_dir())
            if not classes:
                raise LayoutError.at(root / split, f"class folders in {self.layout}")
            for folder in classes:
                label, reason = mapped(caer_s_emotion, folder.name)
                for path in sorted(folder.iterdir()):
                    rel = path.relative_to(root).as_posix()
                    is_image = path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
                    yield SourceSample(
                        source_id=rel.rsplit(".", 1)[0] if is_image else rel, split=split,
                        raw_label=folder.name, label=label if is_image else None,
                        drop_reason=reason if is_image else "not an image file", image=rel,
                        meta={"class_folder": folder.name})
