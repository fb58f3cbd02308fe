"""The build's media check: every usable sample's media must be inside its dataset root, present,
non-empty and decodable; otherwise the sample is dropped with a counted reason.

Per sample, each media path is resolved by media/paths.py (a path that leaves the dataset root is
"media path refused (...)"), must be valid UTF-8 (record files are JSON) and name a non-empty
file ("media file missing" / "media file empty"). Then images decode in full
(media.probe.image_problem: "image unreadable (<error>)") and clips, with ``probe`` (the
adapters' ``probe_clips`` option, default on), open with a video stream, an audio track when the
sample takes its sound from the clip, and a first video frame that decodes.

The checks are independent per sample, so :func:`media_problems` spreads them over ``jobs``
processes; results come back in input order, so the build's output does not depend on ``jobs``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..media.paths import MediaPathError, resolve_media
from ..media.probe import image_problem

# (dataset root, image, video, audio, probe clips): what one check needs, cheap to pickle
Task = tuple[str, Optional[str], Optional[str], Optional[str], bool]


def default_jobs() -> int:
    """Processes for the media check when none are asked for: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def clip_problem(path: Path, probe: bool = True, need_audio: bool = True) -> str | None:
    """Drop reason for a clip that cannot serve as video (and audio), or None when usable.

    Cheap checks first (missing, empty); with ``probe`` the container is opened and its first
    video frame decoded, which catches truncated files (MELD's ``dia125_utt3``) and clips
    without a video stream or, with ``need_audio``, without an audio track.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return "media file missing"
    if size == 0:
        return "media file empty"
    if not probe:
        return None
    import av  # the media decoder, imported only when clips are probed

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "clip has no video stream"
            if need_audio and not container.streams.audio:
                return "clip has no audio track"
            next(container.decode(video=0))
    except StopIteration:
        return "clip has no decodable video frame"
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return "clip unreadable"
    return None


def file_problem(root: Path, rel: str) -> tuple[Path | None, str | None]:
    """(resolved path, None) for a present, non-empty file inside root, else (None, reason)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return None, "media file name not UTF-8"
    try:
        path = resolve_media(root, rel, dataset_links=False)
    except MediaPathError as err:
        return None, f"media path refused ({err.reason})"
    try:
        size = path.stat().st_size
    except OSError:
        return None, "media file missing"
    return (path, None) if size else (None, "media file empty")


def sample_problem(task: Task) -> str | None:
    """The drop reason of one sample's media, or None when all of it is usable."""
    root, image, video, audio, probe = task
    root_path = Path(root)
    for rel in (image, video, audio):
        if rel is not None:
            _, reason = file_problem(root_path, rel)
            if reason is not None:
                return reason
    if image is not None:
        reason = image_problem(root_path / image)
        if reason is not None:
            return reason
    if video is not None:
        reason = clip_problem(root_path / video, probe, need_audio=audio == video)
        if reason is not None:
            return reason
    if audio is not None and audio != video and probe:
        from ..media.probe import media_problem
        return media_problem(root_path / audio, "audio")
    return None


def media_problems(tasks: Sequence[Task], jobs: int = 1) -> Iterator[str | None]:
    """:func:`sample_problem` of each task, in order, computed by ``jobs`` processes."""
    if jobs <= 1 or len(tasks) < 2 * jobs:
        yield from map(sample_problem, tasks)
        return
    import multiprocessing

    chunk = max(1, min(256, len(tasks) // (jobs * 8)))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(sample_problem, tasks, chunksize=chunk)
