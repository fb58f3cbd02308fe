"""UR-FUNNY v2 (Hasan et al., EMNLP 2019): TED punchline clips -> humor (yes/no).

EmoBench's "SMILE" humor set has UR-FUNNY v2's sizes (docs/emobench.md, "Why this dataset"), so this adapter,
CLI name ``urfunny``, reads UR-FUNNY v2. Layout (the two Dropbox downloads, extracted)::

    <root>/data_folds.pkl           {"train": [id, ...], "dev": [...], "test": [...]}
    <root>/language_sdk.pkl         {id: {"punchline_sentence": str, "context_sentences": [str], ...}}
    <root>/humor_label_sdk.pkl      {id: 0 | 1}
    <root>/urfunny2_videos/<id>.mp4

The pickles may also sit together in one direct subfolder (``sdk_features/`` and the like). The
clip folder is ``urfunny2_videos/`` as named by the zip; the names other extractions produce are
accepted too (VIDEO_FOLDERS), or the ``videos`` option names it. Ids may be ints or strings.
UR-FUNNY train + dev become EmoBench train, test becomes test; an id listed in the test fold and
in train/dev is kept in test only. Label: 1 -> "yes" (humorous punchline), 0 -> "no".

Question text: the context sentences and the punchline, as ``Context: <sentences>\\nLast sentence:
<punchline>`` (``Context:`` omitted when the sample has no context sentences; a context sentence
without final punctuation gets a period, so the joined sentences stay apart). The punchline is
called "last sentence" in the text and the questions ask about "the last sentence of this clip":
UR-FUNNY calls the target sentence a punchline in both classes, a word that would hint "funny".
Video and audio: the clip itself (the audio loader takes the clip's own track).

The pickles are read with an unpickler that only builds plain containers, strings and numbers
(plus NumPy scalars/arrays), so a tampered file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterator

from ...tasks.labels import YES_NO, binary_yes_no
from .base import DatasetAdapter, LayoutError, SourceFormatError, SourceSample, mapped

PICKLES = ("data_folds.pkl", "language_sdk.pkl", "humor_label_sdk.pkl")
FOLDS = {"train": "train", "dev": "train", "test": "test"}  # UR-FUNNY fold -> EmoBench split
# clip folder names seen in the wild, relative to the root; the first is the zip's own name
VIDEO_FOLDERS = ("urfunny2_videos", "urfunny2_videos/urfunny2_videos", "videos/urfunny2_videos",
                 "urfunny2_video", "videos")

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes (array data)
}


class _DataUnpickler(pickle.Unpickler):
    """Unpickler for data files: refuses every global outside _SAFE_GLOBALS."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: UR-FUNNY's pickles "
                                         f"hold only containers, strings, numbers and arrays")
        return super().find_class(module, name)  # maps Python 2 module names (fix_imports)


def load_data_pickle(path: Path) -> Any:
    """A data pickle, Python 2 era ones included (their byte strings decoded as latin-1, as
    UR-FUNNY's own tutorial does when ASCII fails)."""
    for encoding in ("ASCII", "latin1"):
        try:
            with open(path, "rb") as handle:
                return _DataUnpickler(handle, encoding=encoding).load()
        except UnicodeDecodeError:
            continue
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
            raise SourceFormatError(f"{path}: not a readable UR-FUNNY pickle ({err})") from None
    raise SourceFormatError(f"{path}: strings decode neither as ASCII nor latin-1")


def _keyed(data: Any, path: Path, what: str) -> dict[str, Any]:
    """A pickled {id: value} dict re-keyed by str(id); ids that collide as strings raise."""
    if not isinstance(data, dict):
        raise SourceFormatError(f"{path}: expected a dict {what}, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        text = _id(key)
        if text in out:
            raise SourceFormatError(f"{path}: id {key!r} appears twice (as {text!r})")
        out[text] = value
    return out


def _id(raw: Any) -> str:
    """An id as text: 101, "101", b"101" and numpy integers all become "101"."""
    if isinstance(raw, bytes):
        raw = raw.decode("latin1")
    if hasattr(raw, "item"):  # numpy scalar
        raw = raw.item()
    return str(raw).strip()


def _sentence(value: Any, path: Path, hid: str, field: str) -> str:
    """A sentence stored as a string or as a list of strings/words (the README shows both)."""
    if isinstance(value, bytes):
        value = value.decode("latin1")
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bytes)) for v in value):
        return " ".join(_sentence(v, path, hid, field) for v in value)
    raise SourceFormatError(f"{path}: id {hid} field {field} is {type(value).__name__}, "
                            f"expected a string or a list of strings")


def _terminated(sentence: str) -> str:
    """The sentence with a final period when it ends without punctuation: the transcripts'
    sentences mostly carry none, and joined bare they would read as one run-on sentence."""
    return sentence if sentence[-1] in ".!?…\"'" else sentence + "."


class UrfunnyAdapter(DatasetAdapter):
    name = "urfunny"
    tasks = ("humor",)
    label_set = YES_NO
    paper_sizes = (8_600, 1_000)
    subject = "the last sentence of this clip"
    layout = ("<root>/{data_folds,language_sdk,humor_label_sdk}.pkl and "
              "<root>/urfunny2_videos/<id>.mp4 (UR-FUNNY v2 features + urfunny2_videos.zip)")
    options = {
        # the build decodes each clip's first frame to catch unreadable files (default: True)
        "probe_clips": True,
        "videos": None,  # clip folder relative to the root (default: auto, one of VIDEO_FOLDERS)
    }

    def pickle_folder(self, root: Path) -> Path:
        """Root, or the one direct subfolder, holding all three pickles."""
        if all((root / name).is_file() for name in PICKLES):
            return root
        found = sorted(sub for sub in (root.iterdir() if root.is_dir() else ())
                       if sub.is_dir() and all((sub / name).is_file() for name in PICKLES))
        if len(found) == 1:
            return found[0]
        where = (f"several subfolders hold them: {', '.join(p.name for p in found)}; keep one"
                 if found else f"missing: {', '.join(n for n in PICKLES if not (root / n).is_file())}")
        raise LayoutError.at(root, f"{self.layout} ({where})")

    def video_folder(self, root: Path) -> str:
        """The clip folder relative to root: the ``videos`` option, else the first of
        VIDEO_FOLDERS that holds .mp4 files."""
        if self.opts["videos"] is not None:
            rel = str(self.opts["videos"]).strip("/")
            if ".." in rel.split("/") or "\\" in rel:
                raise ValueError(f"urfunny: option videos={rel!r} must be a folder inside the "
                                 f"dataset root, written with '/' and without '..'")
            if not (root / rel).is_dir():
                raise LayoutError.at(root, f"the clip folder <root>/{rel}/ given by the videos "
                                           f"option")
            return rel
        for rel in VIDEO_FOLDERS:
            folder = root / rel
            if folder.is_dir() and next(folder.glob("*.mp4"), None) is not None:
                return rel
        raise LayoutError.at(root, f"{self.layout} (no clip folder: looked for .mp4 files in "
                                   f"{', '.join(v + '/' for v in VIDEO_FOLDERS)}; name another one "
                                   f"with the videos option)")

    def source_files(self, root: Path) -> list[Path]:
        folder = self.pickle_folder(Path(root))
        return [folder / name for name in PICKLES]

    def iter_samples(self, root: Path) -> Iterator[SourceSample]:
        root = Path(root)
        folds_path, language_path, labels_path = self.source_files(root)
        videos = self.video_folder(root)
        folds = load_data_pickle(folds_path)
        missing = [f for f in FOLDS if not isinstance(folds, dict) or f not in folds]
        if missing:
            raise SourceFormatError(f"{folds_path}: expected a dict with keys train, dev, test; "
                                    f"missing {missing}")
        language = _keyed(load_data_pickle(language_path), language_path, "id -> transcript")
        labels = _keyed(load_data_pickle(labels_path), labels_path, "id -> 0/1")
        test_ids = {_id(i) for i in folds["test"]}
        for fold, bench_split in FOLDS.items():
            for raw_id in folds[fold]:
                hid = _id(raw_id)
                yield self._sample(root, videos, fold, bench_split, hid, test_ids,
                                   language.get(hid), labels.get(hid), language_path)

    def _sample(self, root: Path, videos: str, fold: str, bench_split: str, hid: str,
                test_ids: set[str], entry: Any, raw_label: Any, language_path: Path) -> SourceSample:
        video = f"{videos}/{hid}.mp4"
        meta: dict[str, Any] = {"urfunny_fold": fold}
        if hasattr(raw_label, "item"):  # numpy scalar -> Python number
            raw_label = raw_label.item()
        label, reason = None, None
        if fold != "test" and hid in test_ids:
            reason = "id also in the test fold (kept in test only)"
        elif raw_label is None:
            reason = "no humor label for the id"
        elif entry is None:
            reason = "no transcript for the id"
        else:
            label, reason = mapped(binary_yes_no, raw_label, "UR-FUNNY humor label")
        if reason is None:
            if not isinstance(entry, dict) or "punchline_sentence" not in entry:
                raise SourceFormatError(f"{language_path}: id {hid} has no punchline_sentence")
            punchline = _sentence(entry["punchline_sentence"], language_path, hid,
                                  "punchline_sentence")
            context = [_sentence(s, language_path, hid, "context_sentences")
                       for s in entry.get("context_sentences") or []]
            context = [s for s in context if s]
            meta.update(punchline=punchline, context_sentences=context)
        if reason is not None:
            return SourceSample(source_id=hid, split=bench_split, raw_label=raw_label,
                                drop_reason=reason, video=video, meta=meta)
        text = f"Last sentence: {punchline}"
        if context:
            text = f"Context: {' '.join(_terminated(s) for s in context)}\n{text}"
        return SourceSample(source_id=hid, split=bench_split, raw_label=raw_label, label=label,
                            video=video, audio=video, meta=meta, context=text)
