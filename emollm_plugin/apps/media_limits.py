"""Size checks on a request's media before any frame is decoded, and large images decoded at
reduced size.

- Image: the header's width x height x bytes per pixel of its decoded mode is the memory decoding
  takes; over ``max_image_pixels * 3`` bytes (an RGB image at the pixel limit) it is refused
  before decoding (413 ``image_too_large``), and so is a file Pillow calls a decompression bomb
  (413 ``decompression_bomb``: too many pixels, or compressed chunks that inflate past its limit).
  An image with a side over ``REDUCED_SIDE`` is decoded once and shrunk to fit ``REDUCED_SIDE``
  (JPEG: ``draft`` decodes at 1/2 to 1/8 of the size directly) before the model's processor sees
  it; the processor crops to a few hundred pixels anyway. The shrunk image is kept in memory as
  a PNG: nothing is written to disk and read back.
- Clip or audio: duration and frame count from the container's header; the frames the model
  samples from a clip are decoded at full size and held together, so their pixels in all may be
  at most ``CLIP_BUDGET_IMAGES`` x ``max_image_pixels`` (with the defaults, 32 frames of 1080p or
  1440p pass and 32 frames of 4K do not).

A file the decoders cannot open is 400 ``media_unreadable``. Every violation is an ``ApiError``
naming the limit and the part as the client sent it. The checks read the part's opened file
(``MediaPart.file``, from its start) and, for a clip, note whether its sound track decodes.
"""
from __future__ import annotations

import io

from ..constants import NUM_VIDEO_FRAMES
from .openai_request import ApiError, Limits, MediaPart

CLIP_BUDGET_IMAGES = 4  # a clip's sampled frames may hold the pixels of this many images at the limit
REDUCED_SIDE = 1024  # longest side of an image handed to the model's processor (it crops to 336)
_BYTES_PER_BAND = {"I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def _too_big(part: MediaPart, code: str, what: str, limit: str) -> ApiError:
    return ApiError(413, code, f"{part.param}: {what}, over this server's limit of {limit}", part.param)


def _unreadable(part: MediaPart, detail: str) -> ApiError:
    return ApiError(400, "media_unreadable", f"{part.param}: the {part.kind} cannot be read ({detail})", part.param)


def _bomb(part: MediaPart) -> ApiError:
    return ApiError(413, "decompression_bomb", f"{part.param}: the image inflates past what this server decodes "
                    "(a decompression bomb)", part.param)


def decoded_bytes(width: int, height: int, mode: str) -> int:
    """Memory Pillow takes for an image of this size in ``mode`` (then converted to RGB)."""
    return width * height * max(3, len(mode) if mode not in _BYTES_PER_BAND else _BYTES_PER_BAND[mode])


def _open(part: MediaPart):
    from PIL import Image
    if part.file is not None:
        part.file.seek(0)
    try:
        return Image.open(part.file or part.path)  # reads the header only
    except Image.DecompressionBombError:
        raise _bomb(part) from None
    except ValueError as err:
        if "decompressed data too large" in str(err).lower():
            raise _bomb(part) from None
        raise _unreadable(part, f"not an image: {type(err).__name__}") from None
    except Exception as err:  # PIL raises many types for non-images
        raise _unreadable(part, f"not an image: {type(err).__name__}") from None


def check_image(part: MediaPart, limits: Limits) -> None:
    with _open(part) as image:
        width, height = image.size
        cost = decoded_bytes(width, height, image.mode)
    if width * height > limits.max_image_pixels:
        raise _too_big(part, "image_too_large", f"the image has {width} x {height} pixels",
                       f"{limits.max_image_pixels} pixels")
    if cost > 3 * limits.max_image_pixels:
        raise _too_big(part, "image_too_large", f"the {width} x {height} image takes {cost / 2**20:.0f} MiB "
                       "decoded", f"{3 * limits.max_image_pixels / 2**20:.0f} MiB (--max-image-pixels x 3 bytes)")


def reduced_image(part: MediaPart) -> MediaPart:
    """The part itself when its longest side is at most ``REDUCED_SIDE``; otherwise a new part, of
    the same path, whose ``file`` is an in-memory PNG shrunk to fit it (decoded once, from the
    part's opened file, at reduced size where the format allows; the part's file is then closed)."""
    from PIL import Image

    with _open(part) as image:
        if max(image.size) <= REDUCED_SIDE:
            return part
        try:
            if image.format == "JPEG":
                image.draft("RGB", (REDUCED_SIDE, REDUCED_SIDE))
            image.load()
            if image.mode == "1":  # stored a byte a pixel already: greyscale costs nothing more
                image = image.convert("L")
            elif image.mode not in ("L", "RGB", "RGBA", "LA", "I", "F"):
                image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            image.thumbnail((REDUCED_SIDE, REDUCED_SIDE), Image.Resampling.BICUBIC, reducing_gap=2.0)
            if image.mode in ("I", "F"):
                image = image.convert("RGB")
        except Image.DecompressionBombError:
            raise _bomb(part) from None
        except (OSError, SyntaxError, ValueError) as err:
            if "decompressed data too large" in str(err).lower():
                raise _bomb(part) from None
            raise _unreadable(part, f"the image does not decode: {type(err).__name__}") from None
        shrunk = io.BytesIO()
        image.save(shrunk, format="PNG", compress_level=1)
    shrunk.name = str(part.path)  # read as a file opened in binary mode (``media.errors.source_path``)
    shrunk.seek(0)
    part.close()
    return MediaPart(part.kind, part.path, part.source, part.param, shrunk)


def check_stream(part: MediaPart, limits: Limits, kind: str, sampled_frames: int = NUM_VIDEO_FRAMES) -> None:
    """``kind``: the stream that must exist ("video" for a clip, "audio" for a sound track);
    ``sampled_frames``: frames the model decodes from a clip (held at full size together)."""
    from ..media.errors import MediaError, first_stream, open_container
    from ..media.probe import stream_problem
    width = height = 0
    try:
        with open_container(part.file or part.path) as container:
            stream = first_stream(container, part.path, kind)
            seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
                (container.duration or 0) / 1_000_000
            frames = stream.frames if kind == "video" else 0
            if kind == "video" and not frames and stream.average_rate:
                frames = int(seconds * float(stream.average_rate))
            if kind == "video":
                width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
                part.has_sound = stream_problem(container, "audio") is None  # media.probe.has_sound's rule
    except MediaError as err:
        raise _unreadable(part, err.cause) from None
    except Exception as err:  # PyAV's own errors for a header it cannot follow
        raise _unreadable(part, type(err).__name__) from None
    if seconds > limits.max_media_seconds:
        raise _too_big(part, "media_too_long", f"the {part.kind} lasts {seconds:.1f} s",
                       f"{limits.max_media_seconds:g} s")
    if frames > limits.max_video_frames:
        raise _too_big(part, "too_many_frames", f"the clip has {frames} frames", f"{limits.max_video_frames} frames")
    if width * height * sampled_frames > CLIP_BUDGET_IMAGES * limits.max_image_pixels:
        raise _too_big(part, "image_too_large", f"the clip's frames have {width} x {height} pixels and "
                       f"{sampled_frames} of them are decoded", f"{CLIP_BUDGET_IMAGES} x --max-image-pixels "
                       f"= {CLIP_BUDGET_IMAGES * limits.max_image_pixels} pixels in all")


def check_media(part: MediaPart, limits: Limits, sampled_frames: int = NUM_VIDEO_FRAMES) -> None:
    if part.kind == "image":
        check_image(part, limits)
    else:
        check_stream(part, limits, part.kind, sampled_frames)
