"""Uniform frame sampling from a video file with PyAV.

Which frames: the clip's N decoded frames are cut into ``num_frames`` equal segments and the frame
at each segment's centre is taken,

    index_k = floor((k + 1/2) * N / num_frames),   k = 0 .. num_frames - 1

so every returned frame stands for the same share of the clip's duration. A clip with fewer frames
than asked (N < num_frames) gets the same rule, which repeats frames (nearest frame to each segment
centre): every clip yields exactly ``num_frames`` frames, so the time axis stays uniform and clips
batch alike. Frames are never invented: no black or zero frames.

N is the stream's frame count from the container's index (mp4/mov sample tables), or, where the
container keeps none (mkv, webm), the number of video packets. If fewer frames decode than that
count promised, the indices are recomputed over the frames that did decode and the clip is read a
second time. Packets the decoder rejects are counted and reported with a warning (naming the file);
a clip where no frame decodes raises ``MediaError`` (cause ``no_frames``).

Why PyAV and not decord: PyAV's wheels ship their own FFmpeg (no system ffmpeg needed), it is
maintained for current Pythons, and the same library reads the clip's audio track
(``media.audio``); decord's last release is 0.6.0 from 2021 and its audio reader is separate and
limited.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..constants import NUM_VIDEO_FRAMES
from .errors import NO_FRAMES, UNSUPPORTED, MediaError, first_stream, open_container, source_path

if TYPE_CHECKING:
    from PIL import Image


def frame_indices(total: int, num_frames: int) -> list[int]:
    """Centre frame of each of ``num_frames`` equal segments of ``total`` frames (see module doc)."""
    if total < 1 or num_frames < 1:
        raise ValueError(f"frame_indices needs total >= 1 and num_frames >= 1, got {total}, {num_frames}")
    return [(2 * k + 1) * total // (2 * num_frames) for k in range(num_frames)]


@dataclass
class _Decoded:
    images: dict[int, "Image.Image"] = field(default_factory=dict)
    decoded: int = 0  # frames decoded before stopping
    failed_packets: int = 0
    first_error: str = ""


def sample_frames(source, num_frames: int = NUM_VIDEO_FRAMES) -> list["Image.Image"]:
    """``num_frames`` RGB PIL images sampled uniformly over the clip (module doc). ``source``: a
    path, or a file opened in binary mode (``errors.open_container``).

    Raises ``MediaError`` naming the file: missing, corrupt/unreadable, no video stream, zero
    decodable frames, unsupported codec.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    path = source_path(source)
    total = _frame_count(source, path)
    wanted = frame_indices(total, num_frames)
    result = _decode(source, path, wanted)
    if result.decoded <= wanted[-1]:  # the index promised more frames than decode
        if result.decoded == 0:
            raise MediaError(path, NO_FRAMES, _failure_words(result, total))
        wanted = frame_indices(result.decoded, num_frames)
        result = _decode(source, path, wanted)
    if result.failed_packets:
        warnings.warn(f"{path}: {result.failed_packets} video packet(s) failed to decode "
                      f"({result.first_error}); frames were sampled from those that decoded",
                      stacklevel=2)
    return [result.images[i] for i in wanted]


def _frame_count(source, path: Path) -> int:
    with open_container(source) as container:
        stream = first_stream(container, path, "video")
        if stream.frames > 0:
            return stream.frames
        count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    if count == 0:
        raise MediaError(path, NO_FRAMES, "the video stream holds no packets")
    return count


def _decode(source, path: Path, wanted: list[int]) -> _Decoded:
    """Decode in order, keep the frames at ``wanted`` indices, stop after the last one."""
    import av

    keep, last = set(wanted), max(wanted)
    result = _Decoded()
    with open_container(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.DecoderNotFoundError as err:
                raise MediaError(path, UNSUPPORTED, str(err)) from err
            except av.error.FFmpegError as err:
                result.failed_packets += 1
                result.first_error = result.first_error or (getattr(err, "strerror", None) or str(err))
                continue
            for frame in frames:
                if result.decoded in keep:
                    result.images[result.decoded] = frame.to_image()
                result.decoded += 1
                if result.decoded > last:
                    return result
    return result


def _failure_words(result: _Decoded, total: int) -> str:
    if result.failed_packets:
        return (f"{result.failed_packets} of {total} packets failed to decode "
                f"({result.first_error}) and the rest gave no frame")
    return f"the stream lists {total} frames but none decoded"
