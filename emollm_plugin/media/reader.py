"""A record's media as the model takes them, for training and inference alike.

``MediaReader`` turns the paths of a record into tensors:
  image  -> 3 x H x W      (the processor's crop, LLaVA's ``--image_aspect_ratio`` handling)
  video  -> T x 3 x H x W  (T = ``num_video_frames`` frames sampled evenly, each handled like an image)
  audio  -> n_mels x T_mel (``log_mel(waveform)``, e.g. ``audio.mel.log_mel_trimmed``: Whisper's
            log-mel of the clip's real length)
The log-mel function is passed in: the audio tower decides it.
Paths are relative to ``root`` and follow the one media-path rule (``paths.resolve_media``: no
``..``, no absolute paths, no symlinks out of the root; ``MediaPathError``); unreadable files raise
``MediaError`` (``media/errors.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..constants import NUM_VIDEO_FRAMES
from .errors import CORRUPT, MISSING, MediaError, check_readable, source_path
from .paths import resolve_media


def _expand2square(img, background):
    from PIL import Image

    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), background)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def clip_pixels(frames, processor, image_aspect_ratio: str = "square"):
    """T frames (PIL) -> T x 3 x H x W, with the same aspect handling LLaVA applies to images
    (``pad``: each frame is padded to a square with the processor's mean colour first)."""
    if image_aspect_ratio == "pad":
        background = tuple(int(x * 255) for x in processor.image_mean)
        frames = [_expand2square(frame.convert("RGB"), background) for frame in frames]
    return processor.preprocess(frames, return_tensors="pt")["pixel_values"]


@dataclass
class MediaReader:
    """A record's media as the model takes them (shapes: module docstring). Paths are relative to
    ``root``; unreadable files raise MediaError."""

    root: Path
    image_processor: object
    image_aspect_ratio: str = "square"
    num_video_frames: int = NUM_VIDEO_FRAMES  # (default: constants.NUM_VIDEO_FRAMES)
    log_mel: Optional[Callable] = None  # waveform (samples,) -> n_mels x T; None: no audio tower

    def image(self, rel: str):
        return self.image_from(resolve_media(self.root, rel))

    def video(self, rel: str):
        return self.video_from(resolve_media(self.root, rel))

    def audio(self, rel: str):
        if self.log_mel is None:
            raise ValueError(f"record asks for audio ({rel}) but the model has no audio tower: "
                             "train with --audio_tower PATH or drop the record's 'audio' field")
        return self.audio_from(resolve_media(self.root, rel))

    # ``*_from``: a source already resolved (a path, or a file opened in binary mode), read as is
    def image_from(self, source):
        from PIL import Image

        path = source_path(source)
        if hasattr(source, "read"):
            source.seek(0)
        elif not path.is_file():
            raise MediaError(path, MISSING)
        else:
            check_readable(path)
        try:
            with Image.open(source) as opened:
                image = opened.convert("RGB")
        except (OSError, SyntaxError, ValueError) as err:  # PIL's ways of saying "not an image"
            raise MediaError(path, CORRUPT, str(err)) from err
        return clip_pixels([image], self.image_processor, self.image_aspect_ratio)[0]

    def video_from(self, source):
        from .video import sample_frames
        frames = sample_frames(source, num_frames=self.num_video_frames)
        return clip_pixels(frames, self.image_processor, self.image_aspect_ratio)

    def audio_from(self, source):
        if self.log_mel is None:
            raise ValueError(f"asked for audio ({source_path(source)}) but the model has no audio tower")
        from .audio import load_audio
        return self.log_mel(load_audio(source))
