"""MIntRec (Zhang et al., ACM MM 2022): Superstore utterance clips -> intention (20 intents).

Layout (the official Google Drive / BaiduYun download)::

    <root>/{train,dev,test}.tsv                 header: season  episode  clip  text  label
    <root>/raw_data/S04/E01/<clip>.mp4          (S = season, E = episode; e.g. S05/E16/329.mp4)

The TSVs are read like the official loader: tab-separated, no quoting (a text may begin with a
double quote), header skipped. A sample's id is the official key ``S05_E16_329``. MIntRec train +
dev become EmoBench train, test becomes test (a clip listed in test.tsv and in train/dev is kept
in test only). Label: the ``label`` cell, one of the 20 intents
(``labels.mintrec_intent``; "Apologize" is accepted for the data's "Apologise").

Question text: the (lower-cased, as released) utterance, as ``Utterance: <text>``;
the questions ask about "the speaker in this clip".
Video and audio: the clip itself (the audio loader takes the clip's own track).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from ...tasks.labels import MINTREC_INTENTS, mintrec_intent
from .base import DatasetAdapter, SourceFormatError, SourceSample, mapped, read_text

SPLITS = {"train": "train", "dev": "train", "test": "test"}  # MIntRec split -> EmoBench split
HEADER = ("season", "episode", "clip", "text", "label")


class MintrecAdapter(DatasetAdapter):
    name = "mintrec"
    tasks = ("intention",)
    label_set = MINTREC_INTENTS
    paper_sizes = (1_700, 400)
    subject = "the speaker in this clip"
    layout = ("<root>/{train,dev,test}.tsv (header: season episode clip text label) and "
              "<root>/raw_data/<season>/<episode>/<clip>.mp4 (MIntRec download)")
    options = {
        # the build decodes each clip's first frame to catch unreadable files (default: True)
        "probe_clips": True,
    }

    def source_files(self, root: Path) -> list[Path]:
        return self.require(root, *(f"{split}.tsv" for split in SPLITS))

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        root = Path(root)
        self.source_files(root)
        self.require(root, "raw_data")
        test_keys = {row[:3] for row in self._rows(root / "test.tsv")}
        for split, bench_split in SPLITS.items():
            for season, episode, clip, text, raw_label in self._rows(root / f"{split}.tsv"):
                source_id = f"{season}_{episode}_{clip}"
                video = f"raw_data/{season}/{episode}/{clip}.mp4"
                meta = {"mintrec_split": split, "season": season, "episode": episode,
                        "clip": clip, "utterance": text}
                label, reason = mapped(mintrec_intent, raw_label)
                if split != "test" and (season, episode, clip) in test_keys:
                    label, reason = None, "clip also in test.tsv (kept in test only)"
                if reason is not None:
                    yield SourceSample(source_id=source_id, split=bench_split, raw_label=raw_label,
                                       drop_reason=reason, video=video, meta=meta)
                    continue
                yield SourceSample(source_id=source_id, split=bench_split, raw_label=raw_label,
                                   label=label, video=video, audio=video, meta=meta,
                                   context=f"Utterance: {text}")

    @staticmethod
    def _rows(path: Path) -> Iterator[tuple[str, str, str, str, str]]:
        """Stripped (season, episode, clip, text, label) per data row; a wrong header, a row
        without five fields or an empty key field raises naming file, line and field."""
        with io.StringIO(read_text(path), newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = tuple(cell.strip().lower() for cell in next(reader, []))
            if header != HEADER:
                raise SourceFormatError(f"{path}, line 1: header is {list(header)}, expected "
                                        f"{list(HEADER)} (tab-separated)")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(HEADER):
                    raise SourceFormatError(
                        f"{path}, line {reader.line_num}: {len(row)} tab-separated fields, "
                        f"expected {len(HEADER)} ({', '.join(HEADER)})")
                cells = tuple(" ".join(cell.split()) for cell in row)
                for name, value in zip(HEADER[:3], cells):
                    if not value:
                        raise SourceFormatError(f"{path}, line {reader.line_num}: field {name} "
                                                f"is empty")
                yield cells  # type: ignore[misc]
