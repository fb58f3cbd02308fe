"""Audio as float32 mono samples at a fixed rate, from an audio file or a video's own track.

Reads anything the FFmpeg inside PyAV demuxes: wav, flac, mp3, ogg/opus, and video containers
(mp4, mkv, avi, ...), whose first audio stream is taken. Decoded audio goes through PyAV's
``AudioResampler`` (FFmpeg's swresample) to ``sample_rate`` and one channel, which is the
conversion ``ffmpeg -ac 1 -ar 16000`` performs, i.e. what openai-whisper's own ``load_audio``
feeds the model, without needing an ffmpeg binary. Note FFmpeg's default stereo downmix
weights each channel by 1/sqrt(2) (not 1/2); values are clipped to [-1, 1] as the s16 output
whisper reads would be.

A file without an audio stream, or one whose stream decodes to zero samples, raises ``MediaError``
naming the file; a decoding error mid-stream raises too (a gap would shift everything after it in
time, so no sample is dropped or zero-filled).
"""
from __future__ import annotations

import numpy as np

from .errors import CORRUPT, EMPTY_AUDIO, UNSUPPORTED, MediaError, first_stream, open_container, source_path

WHISPER_SAMPLE_RATE = 16000


def load_audio(source, sample_rate: int = WHISPER_SAMPLE_RATE) -> np.ndarray:
    """Samples of the first audio stream of ``source`` (a path, or a file opened in binary mode):
    float32, shape ``(num_samples,)``, in [-1, 1].

    ``sample_rate``: output rate in Hz (default: 16000, Whisper's).
    """
    import av

    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    path = source_path(source)
    chunks: list[np.ndarray] = []
    with open_container(source) as container:
        stream = first_stream(container, path, "audio")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except av.error.DecoderNotFoundError as err:
            raise MediaError(path, UNSUPPORTED, str(err)) from err
        except av.error.FFmpegError as err:
            raise MediaError(path, CORRUPT, getattr(err, "strerror", None) or str(err)) from err
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise MediaError(path, EMPTY_AUDIO)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)
