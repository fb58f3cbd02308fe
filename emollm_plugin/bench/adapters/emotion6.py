"""Emotion6 (Peng et al., CVPR 2015): 1,980 Flickr images with a 7-way crowd distribution.

Layout: ``<root>/images/<keyword>/<n>.jpg`` and ``<root>/ground_truth.txt`` (tab-separated, one
header line: ``[image_filename] [valence] [arousal] [prob. anger] ... [prob. neutral]``). The
label is the argmax of the distribution (tie rule in labels.emotion6_emotion). There is no
official split: images are ranked by ``blake2b(split_seed|filename)`` and the first
``round(test_fraction * N)`` form the test split (default 1/3, the paper's 1.3k/0.6k), fixed
by ``split_seed`` and independent of the build seed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from ...tasks.labels import CANONICAL_EMOTIONS, EMOTION6_PROB_ORDER, EMOTION_TASKS, emotion6_emotion
from .base import DatasetAdapter, SourceFormatError, SourceSample, mapped, read_text

N_COLUMNS = 3 + len(EMOTION6_PROB_ORDER)  # filename, valence, arousal, 7 probabilities


def _rank(seed: int, filename: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}|{filename}".encode(), digest_size=8).digest(),
                          "big")


class Emotion6Adapter(DatasetAdapter):
    name = "emotion6"
    tasks = EMOTION_TASKS
    label_set = CANONICAL_EMOTIONS
    paper_sizes = (1_300, 600)
    layout = "<root>/ground_truth.txt and <root>/images/<keyword>/<n>.jpg (Emotion6 download)"
    subject = "this image"
    options = {"test_fraction": 1 / 3, "split_seed": 0}

    def source_files(self, root: Path) -> list[Path]:
        return [root / "ground_truth.txt"]

    def read_ground_truth(self, path: Path) -> list[tuple[str, float, float, list[float]]]:
        """(filename, valence, arousal, 7 probabilities) per data line."""
        lines = read_text(path).splitlines()
        if not lines or "image_filename" not in lines[0]:
            raise SourceFormatError(f"{path}: line 1 must be the header starting "
                                    f"'[image_filename]', got {lines[:1]}")
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != N_COLUMNS:
                raise SourceFormatError(f"{path}: line {number}: expected {N_COLUMNS} "
                                        f"tab-separated columns, got {len(cells)}: {line!r}")
            try:
                numbers = [float(c) for c in cells[1:]]
            except ValueError:
                raise SourceFormatError(f"{path}: line {number}: valence, arousal and the "
                                        f"probabilities must be numbers: {line!r}") from None
            rows.append((cells[0].strip(), numbers[0], numbers[1], numbers[2:]))
        return rows

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        gt_path, _ = self.require(root, "ground_truth.txt", "images")
        rows = self.read_ground_truth(gt_path)
        fraction = float(self.opts["test_fraction"])
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"emotion6: test_fraction {fraction} not in [0, 1]")
        ranked = sorted(rows, key=lambda r: _rank(self.opts["split_seed"], r[0]))
        test = {r[0] for r in ranked[:round(fraction * len(rows))]}
        for filename, valence, arousal, probs in rows:
            keyword = filename.split("/")[0] if "/" in filename else None
            label, reason = mapped(emotion6_emotion, probs, keyword)
            yield SourceSample(
                source_id=filename.rsplit(".", 1)[0], split="test" if filename in test else "train",
                raw_label=dict(zip(EMOTION6_PROB_ORDER, probs)), label=label, drop_reason=reason,
                image=f"images/{filename}",
                meta={"valence": valence, "arousal": arousal, "keyword": keyword,
                      "probs": dict(zip(EMOTION6_PROB_ORDER, probs))})
