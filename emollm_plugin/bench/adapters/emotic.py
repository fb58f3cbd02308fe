"""EMOTIC (Kosti et al.): people in context, 26 emotion categories per person.

Two layouts are read (``layout`` option, default "auto": the .mat when present):

- official: ``<root>/Annotations/Annotations.mat`` (variables train, val, test: 1 x N struct
  arrays of images with filename, folder, image_size, person; a person has body_bbox
  [x1 y1 x2 y2], annotations_categories and, in val/test, combined_categories) and images
  ``<root>/emotic/<folder>/<filename>``;
- Tandon's ``mat2py.py`` output: ``<root>/emotic_pre/{train,val,test}.csv`` (or the CSVs at the
  root) with columns Index, Folder, Filename, Image Size, BBox, Categorical_Labels, ...

One sample per person, labelled by labels.emotic_emotion (partial map + vote, see there); the
question names the person by a normalised box in the text. train -> EmoBench train, val ->
``val_split`` (default train, as for the other datasets' validation sets), test -> test.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...tasks.labels import CANONICAL_EMOTIONS, EMOTION_TASKS, emotic_emotion
from .base import (DatasetAdapter, LayoutError, SourceFormatError, SourceSample, mapped,
                   read_csv_rows)

MAT = "Annotations/Annotations.mat"
CSV_COLUMNS = ("Index", "Folder", "Filename", "Image Size", "BBox", "Categorical_Labels")
SOURCE_SPLITS = ("train", "val", "test")


def box_context(box: Sequence[float], size: Sequence[float]) -> str:
    w, h = size
    x1, y1, x2, y2 = box
    return (f"The person of interest is inside the box [{x1 / w:.2f}, {y1 / h:.2f}, "
            f"{x2 / w:.2f}, {y2 / h:.2f}] (x1, y1, x2, y2 as fractions of the image width "
            "and height).")


def clip_box(box: Sequence[float], size: Sequence[float]) -> list[int] | None:
    """[x1, y1, x2, y2] clipped to the image (as Tandon's loader does), None when empty."""
    w, h = size
    x1, y1, x2, y2 = (min(bound, max(0.0, float(v))) for v, bound in zip(box, (w, h, w, h)))
    if x2 <= x1 or y2 <= y1:
        return None
    return [int(x1), int(y1), int(x2), int(y2)]


def _as_list(value: Any) -> list[Any]:
    """loadmat(squeeze_me=True) turns 1-element arrays into scalars; undo that."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return list(value.flat)
    return [value]


def _strings(value: Any) -> list[str]:
    import numpy as np

    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, np.ndarray):
        return [s for v in value.flat for s in _strings(v)]
    raise TypeError(f"expected strings, got {type(value).__name__}")


class EmoticAdapter(DatasetAdapter):
    name = "emotic"
    tasks = EMOTION_TASKS
    label_set = CANONICAL_EMOTIONS
    paper_sizes = (16_200, 6_400)
    layout = (f"<root>/{MAT} with images <root>/emotic/<folder>/<file> (EMOTIC official layout) "
              "or Tandon-style <root>/emotic_pre/{train,val,test}.csv")
    subject = "the person in the box"
    options = {"layout": "auto", "val_split": "train", "csv_dir": "emotic_pre"}

    def which_layout(self, root: Path) -> str:
        choice = self.opts["layout"]
        if choice not in ("auto", "mat", "csv"):
            raise ValueError(f"emotic: layout {choice!r} must be auto, mat or csv")
        if choice == "auto":
            if (root / MAT).is_file():
                return "mat"
            if self._csv_dir(root) is not None:
                return "csv"
            raise LayoutError.at(root, self.layout)
        return choice

    def _csv_dir(self, root: Path) -> Path | None:
        for folder in (root / self.opts["csv_dir"], root):
            if all((folder / f"{s}.csv").is_file() for s in SOURCE_SPLITS):
                return folder
        return None

    def source_files(self, root: Path) -> list[Path]:
        if self.which_layout(root) == "mat":
            return [root / MAT]
        folder = self._csv_dir(root)
        return [folder / f"{s}.csv" for s in SOURCE_SPLITS] if folder else []

    def split_of(self, source_split: str) -> str:
        if self.opts["val_split"] not in ("train", "test"):
            raise ValueError(f"emotic: val_split {self.opts['val_split']!r} must be train or test")
        return {"train": "train", "val": self.opts["val_split"], "test": "test"}[source_split]

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        if self.which_layout(root) == "mat":
            self.require(root, MAT, "emotic")
            yield from self._from_mat(root)
        else:
            folder = self._csv_dir(root)
            if folder is None:
                raise LayoutError.at(root, self.layout)
            self.require(root, "emotic")
            yield from self._from_csv(root, folder)

    def _sample(self, source_split: str, source_id: str, folder: str, filename: str,
                size: Sequence[float], box: Sequence[float], categories: list[str],
                meta: dict[str, Any]) -> SourceSample:
        label, reason = mapped(emotic_emotion, categories)
        if not categories:
            reason = "person has no category annotation"
        clipped = clip_box(box, size) if min(size) > 0 else None
        if clipped is None and reason is None:
            label, reason = None, "empty person box or image size"
        return SourceSample(
            source_id=f"{source_split}/{folder}/{filename.rsplit('.', 1)[0]}/{source_id}",
            split=self.split_of(source_split), raw_label=categories, label=label,
            drop_reason=reason, image=f"emotic/{folder}/{filename}",
            context=box_context(clipped, size) if clipped else None,
            meta={"categories": categories, "bbox": clipped, "image_size": list(size), **meta})

    def _from_mat(self, root: Path) -> Iterator[SourceSample]:
        from scipy.io import loadmat

        path = root / MAT
        try:
            mat = loadmat(path, squeeze_me=True, struct_as_record=False)
        except Exception as err:  # scipy raises many types for a truncated or foreign file
            raise SourceFormatError(f"{path}: not a readable MATLAB file ({type(err).__name__}: "
                                    f"{err}); is it truncated? Take Annotations.mat from the "
                                    "EMOTIC download again") from None
        for source_split in SOURCE_SPLITS:
            if source_split not in mat:
                raise SourceFormatError(f"{path}: no variable {source_split!r}; variables are "
                                        f"{sorted(k for k in mat if not k.startswith('__'))}")
            for i, image in enumerate(_as_list(mat[source_split])):
                where = f"{path}: {source_split}({i + 1})"
                try:
                    size_struct = image.image_size
                    # first field is the width (x bound) in Tandon's reader; names unverified
                    size = [float(getattr(size_struct, f)) for f in size_struct._fieldnames[:2]]
                    folder, filename = str(image.folder), str(image.filename)
                    persons = _as_list(image.person)
                except AttributeError as err:
                    raise SourceFormatError(f"{where}: {err}; expected fields filename, folder, "
                                            "image_size, person") from None
                for k, person in enumerate(persons):
                    try:
                        box = [float(v) for v in _as_list(person.body_bbox)]
                        categories = self._mat_categories(person)
                    except (AttributeError, TypeError) as err:
                        raise SourceFormatError(f"{where}.person({k + 1}): {err}") from None
                    if len(box) != 4:
                        raise SourceFormatError(f"{where}.person({k + 1}).body_bbox: expected "
                                                f"[x1 y1 x2 y2], got {box}")
                    meta = {"gender": str(getattr(person, "gender", "")),
                            "age": str(getattr(person, "age", ""))}
                    yield self._sample(source_split, f"p{k}", folder, filename, size, box,
                                       categories, meta)

    @staticmethod
    def _mat_categories(person: Any) -> list[str]:
        """val/test: combined_categories; train: the (single) annotator's categories."""
        if "combined_categories" in person._fieldnames:
            return _strings(person.combined_categories)
        cats: list[str] = []
        for annotator in _as_list(person.annotations_categories):
            cats += [c for c in _strings(annotator.categories) if c not in cats]
        return cats

    def _from_csv(self, root: Path, folder: Path) -> Iterator[SourceSample]:
        for source_split in SOURCE_SPLITS:
            path = folder / f"{source_split}.csv"
            for line, row in read_csv_rows(path, CSV_COLUMNS):
                try:
                    size = [float(v) for v in ast.literal_eval(row["Image Size"])]
                    box = [float(v) for v in ast.literal_eval(row["BBox"])]
                    categories = [str(c) for c in ast.literal_eval(row["Categorical_Labels"])]
                except (ValueError, SyntaxError, TypeError) as err:
                    raise SourceFormatError(f"{path}: line {line}: Image Size, BBox and "
                                            f"Categorical_Labels must be Python lists: {err}"
                                            ) from None
                if len(size) != 2 or len(box) != 4:
                    raise SourceFormatError(f"{path}: line {line}: expected Image Size [w, h] and "
                                            f"BBox [x1, y1, x2, y2], got {size} and {box}")
                meta = {"gender": row.get("Gender", ""), "age": row.get("Age", "")}
                yield self._sample(source_split, f"row{row['Index']}", row["Folder"],
                                   row["Filename"], size, box, categories, meta)
