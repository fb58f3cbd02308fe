"""What inference must match, as training recorded it in the checkpoint's config.

Training writes ``VIDEO_FRAMES_CONFIG_KEY`` (``--num_video_frames``) next to the conversation
template (``CONV_MODE_CONFIG_KEY``), the audio window (``AudioConfig``), LLaVA's own
``image_aspect_ratio`` and the vision tower (which fixes the image size). Every answering command
(``eval infer``, ``predict``, ``serve``, ``demo-ui``, ``mvp show``, the lmms-eval model) takes
its ``--num-video-frames`` from here unless the flag is given; a checkpoint written before the
key existed falls back to ``constants.NUM_VIDEO_FRAMES``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from ..constants import NUM_VIDEO_FRAMES, VIDEO_FRAMES_CONFIG_KEY

VIDEO_FRAMES_HELP = ("frames sampled per clip (default: the checkpoint's, recorded at training time; "
                     f"{NUM_VIDEO_FRAMES} for a checkpoint that records none)")


def checkpoint_value(model_path: str | Path, key: str) -> Any:
    """``key`` of ``model_path/config.json``, or None when the file or the key is absent."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def write_video_frames(hf_config, num_video_frames: int) -> None:
    setattr(hf_config, VIDEO_FRAMES_CONFIG_KEY, int(num_video_frames))


def num_video_frames(explicit: Optional[int], recorded: Any) -> int:
    """An explicit value wins; then the checkpoint's recorded one; then ``NUM_VIDEO_FRAMES``."""
    for value in (explicit, recorded):
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"num_video_frames must be an integer >= 1, got {value!r}")
            return value
    return NUM_VIDEO_FRAMES


def model_video_frames(explicit: Optional[int], hf_config) -> int:
    """``num_video_frames`` for a loaded model (its config object)."""
    return num_video_frames(explicit, getattr(hf_config, VIDEO_FRAMES_CONFIG_KEY, None))
