"""Real media made on the fly for tests and the demo (never committed): tones, wavs, small mp4s.

Everything is written with PyAV (its own FFmpeg) or the standard library, offline, in milliseconds.
"""
from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

AUDIO_FRAME_SAMPLES = 960  # fits every encoder used here: aac (1024), mp3 (1152), opus (960)


def tone(seconds: float, freq: float = 440.0, sample_rate: int = 16000) -> np.ndarray:
    """A sine of amplitude 0.5: float32, shape ``(round(seconds * sample_rate),)``."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = 16000) -> Path:
    """16-bit PCM wav; ``samples`` is ``(n,)`` mono or ``(n, channels)``, floats in [-1, 1]."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2:
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {samples.shape}")
    if samples.size and np.abs(samples).max() > 1.0:
        raise ValueError("samples must lie in [-1, 1] for 16-bit PCM")
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
    return path


_AUDIO_CODECS = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".opus": "libopus",
                 ".m4a": "aac"}


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int = 16000) -> Path:
    """Mono ``samples`` encoded by PyAV, codec chosen by the suffix (.wav .flac .mp3 .opus .m4a)."""
    import av

    path = Path(path)
    if path.suffix not in _AUDIO_CODECS:
        raise ValueError(f"write_audio: unknown suffix {path.suffix!r}; known: {', '.join(_AUDIO_CODECS)}")
    samples = np.asarray(samples, dtype=np.float32)
    with av.open(str(path), "w") as container:
        track = container.add_stream(_AUDIO_CODECS[path.suffix], rate=sample_rate)
        track.layout = "mono"
        _encode_audio(container, track, samples, sample_rate)
    return path


def frame_image(index: int, num_frames: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Frame ``index`` of a synthetic clip: ``H x W x 3`` uint8; a per-frame colour, a vertical
    brightness ramp, and a white square that moves left to right over the clip."""
    width, height = size
    colours = np.random.default_rng(seed).integers(0, 200, size=(num_frames, 3))
    ramp = np.linspace(0, 55, height)[:, None, None]
    image = (colours[index][None, None, :] + ramp).repeat(width, axis=1)
    side = max(2, min(width, height) // 4)
    x = index * (width - side) // max(1, num_frames - 1)
    image[height // 2 - side // 2: height // 2 + side // 2, x: x + side] = 255
    return image.astype(np.uint8)


def write_video(path: str | Path, num_frames: int = 16, size: tuple[int, int] = (64, 64),
                fps: int = 8, audio: np.ndarray | None = None, sample_rate: int = 16000,
                seed: int = 0, frames=None) -> Path:
    """An mp4 of ``num_frames`` distinct frames (``frame_image``), h264 (mpeg4 where this PyAV has
    no h264 encoder); with ``audio`` (float32 mono samples at ``sample_rate``) an AAC track too.
    ``size`` is ``(width, height)``, both even. ``frames``: a function ``index -> H x W x 3`` uint8
    used instead of ``frame_image``."""
    import av

    width, height = size
    if num_frames < 1 or width % 2 or height % 2:
        raise ValueError(f"need num_frames >= 1 and even width/height, got {num_frames}, {size}")
    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream(_video_codec(), rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        track = None
        if audio is not None:
            track = container.add_stream("aac", rate=sample_rate)
            track.layout = "mono"
        for index in range(num_frames):
            pixels = frames(index) if frames is not None else frame_image(index, num_frames, size, seed)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if track is not None:
            _encode_audio(container, track, np.asarray(audio, dtype=np.float32), sample_rate)
    return path


def _video_codec() -> str:
    import av

    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except av.error.FFmpegError:  # pragma: no cover - depends on the PyAV build
        return "mpeg4"


def _encode_audio(container, track, samples: np.ndarray, sample_rate: int) -> None:
    """Feed mono float samples in encoder-sized frames; PyAV converts to the codec's sample format."""
    import av

    for start in range(0, len(samples), AUDIO_FRAME_SAMPLES):
        chunk = samples[start: start + AUDIO_FRAME_SAMPLES]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, start
        container.mux(track.encode(frame))
    container.mux(track.encode())


def write_corrupt_video(path: str | Path) -> Path:
    """A truncated download: the first half of a valid mp4 (its index, the moov box, is lost)."""
    path = Path(path)
    write_video(path, audio=tone(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_undecodable_video(path: str | Path) -> Path:
    """An mp4 whose container is intact but whose every video packet is zeros (nothing decodes)."""
    path = Path(path)
    write_video(path)
    data = bytearray(path.read_bytes())
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset: offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8: offset + 16])[0], 16
        elif size == 0:
            size = len(data) - offset
        if kind == b"mdat":
            data[offset + header: offset + size] = bytes(size - header)
        offset += size
    path.write_bytes(bytes(data))
    return path


def write_unsupported_audio(path: str | Path, sample_rate: int = 16000) -> Path:
    """A wav whose format tag (0x1234) names a codec no FFmpeg decoder knows."""
    payload = bytes(2 * sample_rate // 10)
    fmt = struct.pack("<HHIIHH", 0x1234, 1, sample_rate, 2 * sample_rate, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(payload)) + payload)
    path = Path(path)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
