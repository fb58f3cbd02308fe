"""A record's media as the model takes them, or the reason it cannot take them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..constants import NUM_VIDEO_FRAMES
from .errors import InferInputError, Unanswerable


@dataclass
class MediaLoader:
    """A record's media as the model takes them (``media.reader.MediaReader``, as in training),
    with what this model cannot take turned into ``Unanswerable``. A record's paths are relative
    to ``root``, unless ``load`` is given the files already resolved."""

    root: Path
    image_processor: object  # None: the model has no vision tower
    model_config: object
    num_video_frames: int = NUM_VIDEO_FRAMES  # (default: the training default)
    n_mels: Optional[int] = None  # None: the model has no audio tower
    audio_window: Optional[str] = None  # the audio tower's window (None: no audio tower)

    def __post_init__(self):
        from ..audio.mel import log_mel_for
        from ..media.reader import MediaReader
        self.aspect_ratio = getattr(self.model_config, "image_aspect_ratio", "square")
        self.reader = MediaReader(self.root, self.image_processor, self.aspect_ratio, self.num_video_frames,
                                  log_mel_for(self.n_mels, self.audio_window))

    def load(self, record: dict, files: Optional[dict] = None):
        """(visual, audio) of ``record``. ``files``: kind -> the file already resolved (a path, or a
        file opened in binary mode) for each media kind the record names, read as is; None: the
        record's paths, resolved under ``root``."""
        from ..media.errors import MediaError
        from ..media.paths import MediaPathError

        def read(kind: str):
            if files is None:
                return getattr(self.reader, kind)(record[kind])
            return getattr(self.reader, f"{kind}_from")(files[kind])

        visual = audio = None
        try:
            if "image" in record or "video" in record:
                if self.image_processor is None:
                    raise Unanswerable("no_vision_tower", "the record has an image or video but the model "
                                                          "has no vision tower")
                if "image" in record and self.aspect_ratio == "anyres":
                    raise InferInputError("image_aspect_ratio 'anyres' gives several crops per image; EmoLLM "
                                          "takes one (use 'square' or 'pad')")
                visual = read("image" if "image" in record else "video")
            if "audio" in record:
                if self.n_mels is None:
                    raise Unanswerable("no_audio_tower", f"the record asks for audio ({record['audio']}) but "
                                       "the model has no audio tower (train with --audio_tower PATH)")
                audio = read("audio")
        except MediaError as err:
            raise Unanswerable(f"media_{err.cause}", str(err)) from err
        except MediaPathError as err:
            raise Unanswerable("media_path_refused", str(err)) from err
        return visual, audio
