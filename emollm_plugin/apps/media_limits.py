"""Size checks on a request's media before any frame is decoded: image pixels, clip duration and
frame count, audio duration (from the container's header; a file FFmpeg cannot open is
``media_unreadable``). Each violation is an ``ApiError`` 413 naming the limit."""
from __future__ import annotations

from .openai_request import ApiError, Limits, MediaPart


def _too_big(part: MediaPart, code: str, what: str, limit: str) -> ApiError:
    return ApiError(413, code, f"{part.param}: {what}, over this server's limit of {limit}", part.param)


def _unreadable(part: MediaPart, detail: str) -> ApiError:
    return ApiError(400, "media_unreadable", f"{part.param}: the {part.kind} cannot be read ({detail})", part.param)


def check_image(part: MediaPart, limits: Limits) -> None:
    from PIL import Image
    try:
        with Image.open(part.path) as image:  # reads the header only
            width, height = image.size
    except Exception as err:  # PIL raises many types for non-images
        raise _unreadable(part, f"not an image: {type(err).__name__}") from None
    if width * height > limits.max_image_pixels:
        raise _too_big(part, "image_too_large", f"the image has {width} x {height} pixels",
                       f"{limits.max_image_pixels} pixels")


def check_stream(part: MediaPart, limits: Limits, kind: str) -> None:
    """``kind``: the stream that must exist ("video" for a clip, "audio" for a sound track)."""
    from ..media.errors import MediaError, first_stream, open_container
    try:
        with open_container(part.path) as container:
            stream = first_stream(container, part.path, kind)
            seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
                (container.duration or 0) / 1_000_000
            frames = stream.frames if kind == "video" else 0
            if kind == "video" and not frames and stream.average_rate:
                frames = int(seconds * float(stream.average_rate))
    except MediaError as err:
        raise _unreadable(part, err.cause) from None
    if seconds > limits.max_media_seconds:
        raise _too_big(part, "media_too_long", f"the {part.kind} lasts {seconds:.1f} s",
                       f"{limits.max_media_seconds:g} s")
    if frames > limits.max_video_frames:
        raise _too_big(part, "too_many_frames", f"the clip has {frames} frames", f"{limits.max_video_frames} frames")


def check_media(part: MediaPart, limits: Limits) -> None:
    if part.kind == "image":
        check_image(part, limits)
    else:
        check_stream(part, limits, part.kind)


def has_sound(part: MediaPart) -> bool:
    """Whether a clip carries a sound track (then it is the request's audio, as in predict)."""
    from ..media.probe import media_problem
    return media_problem(part.path, "audio") is None
