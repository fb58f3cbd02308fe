"""MELD (Poria et al., ACL 2019): Friends utterance clips -> emotion_closed / emotion_open.

Layout (``MELD.Raw.tar.gz`` extracted; each split's own tarball may extract with or without its
``train/``, ``dev/``, ``test/`` parent, both are accepted)::

    <root>/{train,dev,test}_sent_emo.csv
    <root>/train/train_splits/dia{D}_utt{U}.mp4
    <root>/dev/dev_splits_complete/dia{D}_utt{U}.mp4
    <root>/test/output_repeated_splits_test/dia{D}_utt{U}.mp4

CSV header: ``Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,
StartTime,EndTime``. Dialogue ids restart in every split, so a sample's id names its CSV split:
``dev/dia110_utt7``. MELD train + dev become EmoBench train, MELD test becomes EmoBench test.
Label: the ``Emotion`` column, already the canonical 7 (``labels.meld_emotion``).

Question text: the speaker and the utterance, as ``Speaker: <name>\\nUtterance: <text>``;
the questions ask about "the speaker in this clip".
Video and audio: the clip itself (the audio loader takes the clip's own track).

Known quirks, each counted as a drop with its reason rather than failing the build:
``dev/dia110_utt7.mp4`` is missing, ``train/dia125_utt3.mp4`` is unreadable, and the test folder
holds about 130 ``final_videos_testdia*_utt*.mp4`` twins. A twin is used only when its
plain-named clip is absent; otherwise it is reported as an ignored duplicate. CSVs from the raw
tarball carry a few Windows-1252 characters stored as C1 control codes (U+0092 for a right
quote); they are restored to the characters they stand for.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ...tasks.labels import CANONICAL_EMOTIONS, EMOTION_TASKS, meld_emotion
from .base import DatasetAdapter, LayoutError, SourceFormatError, SourceSample, mapped, read_csv_rows

# MELD split -> (EmoBench split, clip folder candidates relative to the root, first preferred)
SPLITS = {
    "train": ("train", ("train/train_splits", "train_splits")),
    "dev": ("train", ("dev/dev_splits_complete", "dev_splits_complete")),
    "test": ("test", ("test/output_repeated_splits_test", "output_repeated_splits_test")),
}
REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")
TWIN_PREFIX = "final_videos_test"
TWIN_NAME = re.compile(rf"^{TWIN_PREFIX}dia(\d+)_utt(\d+)\.mp4$")

# C1 control code -> the Windows-1252 character it was meant to be (MELD raw-tarball CSVs)
_C1_TO_CP1252 = {chr(code): bytes([code]).decode("cp1252") for code in range(0x80, 0xA0)
                 if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_C1_TO_CP1252["\xa0"] = " "


def clean_text(text: str) -> str:
    """Restore Windows-1252 characters stored as C1 control codes; collapse whitespace."""
    return " ".join(text.translate(str.maketrans(_C1_TO_CP1252)).split())


class MeldAdapter(DatasetAdapter):
    name = "meld"
    tasks = EMOTION_TASKS
    label_set = CANONICAL_EMOTIONS
    paper_sizes = (11_100, 2_600)
    subject = "the speaker in this clip"
    layout = ("<root>/{train,dev,test}_sent_emo.csv with clips dia{D}_utt{U}.mp4 in "
              "<root>/train/train_splits/, <root>/dev/dev_splits_complete/, "
              "<root>/test/output_repeated_splits_test/ (MELD.Raw.tar.gz extracted)")
    options = {
        # the build decodes each clip's first frame to catch unreadable files (default: True)
        "probe_clips": True,
    }

    group_rule = "utterances of one MELD dialogue (split + Dialogue_ID)"

    def group_of(self, sample: SourceSample) -> str:
        """``<MELD split>/dia<D>``: a dialogue's utterances share context and speakers."""
        return sample.source_id.split("_utt")[0]

    def source_files(self, root: Path) -> list[Path]:
        return self.require(root, *(f"{split}_sent_emo.csv" for split in SPLITS))

    def clip_folder(self, root: Path, split: str) -> str:
        """The clip folder of a MELD split, relative to root (first candidate that exists)."""
        candidates = SPLITS[split][1]
        for rel in candidates:
            if (root / rel).is_dir():
                return rel
        raise LayoutError.at(root, f"{self.layout} (no clip folder for MELD {split}: looked for "
                                   f"{' or '.join(c + '/' for c in candidates)})")

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        root = Path(root)
        self.source_files(root)
        folders = {split: self.clip_folder(root, split) for split in SPLITS}
        twins_used: set[str] = set()
        for split, (bench_split, _) in SPLITS.items():
            for row_id, row in self._rows(root / f"{split}_sent_emo.csv"):
                sample = self._sample(root, split, bench_split, folders[split], row_id, row)
                if sample.meta.get("clip_variant") == TWIN_PREFIX:
                    twins_used.add(Path(sample.video).name)
                yield sample
        yield from self._unused_twins(root, folders["test"], twins_used)

    def _rows(self, path: Path) -> Iterator[tuple[str, dict[str, str]]]:
        """(``dia{D}_utt{U}``, row) per CSV row; malformed ids raise naming file, line, field
        (read_csv_rows names non-UTF-8 bytes and a file cut inside a quoted field)."""
        for line, row in read_csv_rows(path, REQUIRED_COLUMNS):
            ids = []
            for column in ("Dialogue_ID", "Utterance_ID"):
                value = (row[column] or "").strip()
                if not value.isdigit():
                    raise SourceFormatError(f"{path}, line {line}: field {column} is "
                                            f"{value!r}, expected a non-negative integer")
                ids.append(int(value))
            yield f"dia{ids[0]}_utt{ids[1]}", row

    def _sample(self, root: Path, split: str, bench_split: str, folder: str, row_id: str,
                row: dict[str, str]) -> SourceSample:
        source_id = f"{split}/{row_id}"
        label, reason = mapped(meld_emotion, row["Emotion"])
        speaker = clean_text(row["Speaker"] or "")
        utterance = clean_text(row["Utterance"] or "")
        meta = {"meld_split": split, "speaker": speaker, "utterance": utterance,
                "sentiment": (row.get("Sentiment") or "").strip()}
        meta.update({key: (row.get(column) or "").strip() for key, column in (
            ("season", "Season"), ("episode", "Episode"),
            ("start_time", "StartTime"), ("end_time", "EndTime"))})
        clip = f"{folder}/{row_id}.mp4"
        twin = f"{folder}/{TWIN_PREFIX}{row_id}.mp4"
        if split == "test" and not (root / clip).exists() and (root / twin).exists():
            clip = twin
            meta["clip_variant"] = TWIN_PREFIX
        if reason is not None:
            return SourceSample(source_id=source_id, split=bench_split, raw_label=row["Emotion"],
                                drop_reason=reason, video=clip, meta=meta)
        return SourceSample(source_id=source_id, split=bench_split, raw_label=row["Emotion"],
                            label=label, video=clip, audio=clip, meta=meta,
                            context=f"Speaker: {speaker}\nUtterance: {utterance}")

    def _unused_twins(self, root: Path, folder: str, used: set[str]) -> Iterator[SourceSample]:
        """One drop per ``final_videos_test*`` clip that no CSV row took (sorted by name)."""
        for path in sorted((root / folder).glob(f"{TWIN_PREFIX}*.mp4")):
            if path.name in used:
                continue
            match = TWIN_NAME.match(path.name)
            has_plain = match is not None and (path.parent / f"dia{match[1]}_utt{match[2]}.mp4").exists()
            reason = ("duplicate final_videos_test* clip ignored (plain-named clip used)" if has_plain
                      else "final_videos_test* clip without a CSV row")
            yield SourceSample(source_id=f"test/{path.stem}", split="test", raw_label=None,
                               drop_reason=reason, video=f"{folder}/{path.name}")
