"""The one rule for turning a record's media path into a file under a media root.

Every reader of record media (``emollm bench build`` and ``bench validate``, training,
inference, serving) resolves paths with :func:`resolve_media`, so a path one of them refuses is
refused by all. A media path must be relative and stay inside the media root:

- an absolute path (``/etc/passwd``, ``C:\\x``, ``\\\\host\\share``) is refused;
- a ``..`` component is refused, wherever it sits (``a/../b`` included);
- a symlink anywhere on the way that leads outside the media root is refused.

One documented exception, for the build's own output: ``emollm bench build`` writes
``OUT/media/<dataset> -> <dataset root>`` links, and training and evaluation read media through
``OUT/media``. A symlink to a folder that is a *direct child* of the media root (a dataset link)
is followed, and from there on the path must stay inside that link's target. So
``meld/train/dia1_utt0.mp4`` under ``OUT/media`` is accepted, while a link further down inside
the MELD folder that points out of MELD is refused. Pass ``dataset_links=False`` where the
media root is a dataset's own folder (the build reading a source dataset): there a top-level link
is an ordinary link and must stay inside.

A path that passes is not checked for existence here: a missing file is the caller's
"media missing", not a path error.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import EmoLLMError

ABSOLUTE = "absolute path"
PARENT = "'..' in the path"
ESCAPES = "symlink leads outside the media root"
EMPTY = "empty path"
REASONS = (ABSOLUTE, PARENT, ESCAPES, EMPTY)


class MediaPathError(EmoLLMError, ValueError):
    """A record's media path that would read outside its media root.

    Attributes: ``path`` (as the record gives it), ``root`` (the media root), ``reason`` (one of
    ``REASONS``; stable, so callers can count skips by it).
    """

    def __init__(self, path: str, root: str | Path, reason: str, detail: str = ""):
        self.path, self.root, self.reason, self.detail = str(path), str(root), reason, detail
        extra = f" ({detail})" if detail else ""
        super().__init__(f"media path {self.path!r} refused: {reason}{extra}; media paths must be "
                         f"relative to the media root {self.root} and stay inside it")

    def __reduce__(self):  # DataLoader workers pickle exceptions
        return (type(self), (self.path, self.root, self.reason, self.detail))


def check_relative(path: str | os.PathLike) -> list[str]:
    """The path's components after the purely textual checks (absolute, ``..``, empty)."""
    text = os.fspath(path)
    if not isinstance(text, str):
        text = text.decode("utf-8", "surrogateescape")
    if not text.strip() or "\x00" in text:
        raise MediaPathError(text, "?", EMPTY if not text.strip() else ABSOLUTE,
                             "NUL byte" if "\x00" in text else "")
    win = PureWindowsPath(text)
    if text.startswith(("/", "\\")) or win.drive or win.root or PurePosixPath(text).is_absolute():
        raise MediaPathError(text, "?", ABSOLUTE)
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MediaPathError(text, "?", PARENT)
    if not parts:
        raise MediaPathError(text, "?", EMPTY)
    return parts


def resolve_media(root: str | Path, path: str | os.PathLike, dataset_links: bool = True) -> Path:
    """``root / path`` after checking that it stays inside ``root`` (see the module docstring);
    raises :class:`MediaPathError` otherwise. The returned path is not resolved (messages keep
    the names the user knows); its real location is inside the root or the dataset link."""
    try:
        parts = check_relative(path)
    except MediaPathError as err:
        raise MediaPathError(err.path, root, err.reason, err.detail) from None
    root = Path(root)
    candidate = root.joinpath(*parts)
    inside = os.path.realpath(root)
    first = root / parts[0]
    if dataset_links and len(parts) > 1 and first.is_symlink() and first.is_dir():
        inside = os.path.realpath(first)  # the build's media/<dataset> link
    real = os.path.realpath(candidate)
    if real != inside and not real.startswith(inside.rstrip(os.sep) + os.sep):
        raise MediaPathError(os.fspath(path), root, ESCAPES, f"it resolves to {real}")
    return candidate
