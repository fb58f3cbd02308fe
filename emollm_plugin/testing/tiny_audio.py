"""A tiny random-initialised openai-whisper checkpoint, written offline in about a second.

The file has the layout of the released ``.pt`` files, ``{"dims": {...}, "model_state_dict":
{...}}``, with a full ``whisper.model.Whisper`` (encoder and a tiny decoder), so both
``WhisperAudioTower(path)`` and ``whisper.load_model(path)`` load it. The encoder keeps the real
30 s window (n_audio_ctx = 1500) so trimmed and padded encodes can be compared on it.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

# the text side only has to exist; n_vocab is the multilingual vocabulary so whisper's tokenizer fits
TINY_TEXT_DIMS = dict(n_vocab=51865, n_text_ctx=448, n_text_state=16, n_text_head=2, n_text_layer=1)
AUDIO_CTX = 1500  # 3000 mel frames / 2: Whisper's 30 s window


def make_tiny_whisper(path: str | Path, n_mels: int = 80, n_audio_state: int = 64,
                      n_audio_head: int = 2, n_audio_layer: int = 2, seed: int = 0) -> Path:
    """Write a random-init Whisper checkpoint to ``path`` (parents created) and return it.

    Defaults: 80 mels, width 64, 2 heads, 2 encoder layers; ``seed`` fixes the weights without
    touching the global RNG.
    """
    from whisper.model import ModelDimensions, Whisper

    if n_audio_state % n_audio_head or n_audio_state % 2:
        raise ValueError(f"n_audio_state ({n_audio_state}) must be even and divisible by "
                         f"n_audio_head ({n_audio_head})")
    dims = ModelDimensions(n_mels=n_mels, n_audio_ctx=AUDIO_CTX, n_audio_state=n_audio_state,
                           n_audio_head=n_audio_head, n_audio_layer=n_audio_layer, **TINY_TEXT_DIMS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Whisper(dims)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path
