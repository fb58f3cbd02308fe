"""Media loading: frames sampled from video files, audio from audio files or a video's own track.

PyAV (its own FFmpeg) does all decoding; it is imported when a file is opened, not here.
"""
from __future__ import annotations

from .audio import WHISPER_SAMPLE_RATE, load_audio
from .errors import CAUSES, MediaError
from .video import frame_indices, sample_frames

__all__ = ["MediaError", "CAUSES", "sample_frames", "frame_indices", "load_audio",
           "WHISPER_SAMPLE_RATE"]
