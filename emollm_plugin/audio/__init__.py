"""Audio path: Whisper log-mel features, the Whisper encoder as an audio tower, the audio projector.

Names are loaded on first use (torch and openai-whisper are heavy imports):
``from emollm_plugin.audio import WhisperAudioTower, AudioProjector, log_mel_trimmed``.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "log_mel_trimmed": "mel", "num_mel_frames": "mel",
    "WhisperAudioTower": "tower",
    "AudioProjector": "projector", "build_audio_projector": "projector",
    "make_tiny_whisper": "tiny",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
