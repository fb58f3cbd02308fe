"""Whisper's log-mel spectrogram of a clip, without padding the clip to 30 s.

Whisper's own features for a clip ``x`` of ``n`` samples at 16 kHz are

    M_full = whisper.log_mel_spectrogram(whisper.pad_or_trim(x))          # n_mels x 3000

an STFT (400-sample Hann window, hop 160, centred: frame t is centred on sample 160 t) of ``x``
zero-padded to 480000 samples, power -> mel filterbank -> L = log10(max(., 1e-10)), then the
dynamic-range clamp and scaling

    L = max(L, max(L) - 8),    M = (L + 4) / 4.

``log_mel_trimmed(x)`` returns the first T columns of that matrix,

    T = min(3000, 2 * ceil(n / 320)),         log_mel_trimmed(x) == M_full[:, :T]

(equal to float round-off; ``tests/test_audio_tower.py`` checks it): T is the fewest 10 ms
frames that cover all n samples, rounded up to even so that the encoder's stride-2 convolution
gives T / 2 positions (one per 20 ms). It is computed from ``x`` zero-padded only to
min(480000, 160 T + 400) samples. That is enough for every frame whose window touches the audio
(frames 0 .. T + 1) to be the same as in M_full, so the clamp's max(L) is the same too: every
later frame of M_full sees only zeros and sits at the floor. Cost follows the clip, not 30 s.

Clips longer than 30 s are cut to their first 30 s, as ``pad_or_trim`` does, with a warning.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from ..configs.audio import AUDIO_WINDOWS

# openai-whisper's fixed front end (whisper.audio; a test checks these against it)
SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
MAX_FRAMES = 3000  # 30 s: the encoder's whole window
MAX_SAMPLES = MAX_FRAMES * HOP_LENGTH
SUPPORTED_N_MELS = (80, 128)


def num_mel_frames(num_samples: int) -> int:
    """T for a clip of ``num_samples`` samples: min(3000, 2 * ceil(n / 320)); 0 for n = 0."""
    return min(MAX_FRAMES, 2 * math.ceil(num_samples / (2 * HOP_LENGTH)))


def covered_mel_frames(num_samples: int) -> int:
    """Frames of Whisper's padded log-mel whose STFT window touches a clip of ``num_samples``
    samples: min(3000, T + 2) (frame t spans samples 160 t - 200 .. 160 t + 199, and 160 T >= n)."""
    return min(MAX_FRAMES, num_mel_frames(num_samples) + 2)


def log_mel_trimmed(samples: np.ndarray | torch.Tensor, n_mels: int = 80,
                    covered: bool = False) -> torch.Tensor:
    """Whisper log-mel features of 16 kHz mono ``samples`` (shape ``(n,)``), unpadded.

    Returns a float32 tensor ``n_mels x T`` (module doc), on the samples' device for a tensor input.
    ``n_mels``: 80 (Whisper tiny .. large-v2) or 128 (large-v3) (default: 80).
    ``covered``: return the ``covered_mel_frames(n)`` = min(3000, T + 2) frames whose STFT window
    touches the clip instead of T (default: False). Every later frame of M_full sees only the zero
    padding and holds the silence floor, so these frames determine M_full entirely; this is what
    ``WhisperAudioTower(window="padded")`` takes.
    """
    from whisper.audio import log_mel_spectrogram

    if n_mels not in SUPPORTED_N_MELS:
        raise ValueError(f"n_mels must be one of {SUPPORTED_N_MELS} (Whisper's filterbanks), got {n_mels}")
    audio = torch.as_tensor(samples)
    if audio.ndim != 1:
        raise ValueError(f"samples must be 1-D mono audio, got shape {tuple(audio.shape)}; "
                         "load it with emollm_plugin.media.load_audio")
    if audio.numel() == 0:
        raise ValueError("zero-length audio: there is nothing to encode")
    audio = audio.float()
    if not torch.isfinite(audio).all():
        raise ValueError("samples contain NaN or inf")
    if audio.numel() > MAX_SAMPLES:
        warnings.warn(f"audio of {audio.numel() / SAMPLE_RATE:.1f} s cut to Whisper's 30 s window",
                      stacklevel=2)
        audio = audio[:MAX_SAMPLES]
    frames = (covered_mel_frames if covered else num_mel_frames)(audio.numel())
    padded_length = min(MAX_SAMPLES, frames * HOP_LENGTH + N_FFT)
    mel = log_mel_spectrogram(audio, n_mels=n_mels, padding=padded_length - audio.numel())
    return mel[:, :frames].contiguous()


def log_mel_for(n_mels: int | None, window: str):
    """``waveform -> n_mels x T`` log-mel for an audio tower with ``n_mels`` bins and encoder
    ``window`` (``"trimmed"``: T frames; ``"padded"``: the covered frames), as
    ``media.reader.MediaReader`` takes it (None: the model has no audio tower)."""
    if n_mels is None:
        return None
    if window not in AUDIO_WINDOWS:
        raise ValueError(f"unknown audio window {window!r}; use one of {list(AUDIO_WINDOWS)}")
    return functools.partial(log_mel_trimmed, n_mels=n_mels, covered=window == "padded")
