"""Audio loading from wav/flac/mp3/opus files and from a video's own track, and bad-audio errors."""
from __future__ import annotations

import numpy as np
import pytest

from emollm_plugin.media import MediaError, load_audio
from emollm_plugin.testing import synth


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_wav_at_16k_round_trips_to_pcm_precision(tmp_path):
    samples = synth.tone(0.7, freq=300.0)
    out = load_audio(synth.write_wav(tmp_path / "a.wav", samples))
    assert out.dtype == np.float32 and out.shape == samples.shape
    np.testing.assert_allclose(out, samples, atol=1.0 / 32767)


def test_resampled_to_16k(tmp_path):
    sr = 44100
    out = load_audio(synth.write_wav(tmp_path / "a.wav", synth.tone(1.0, freq=440.0, sample_rate=sr), sr))
    assert abs(len(out) - 16000) <= 2
    expected = synth.tone(len(out) / 16000, freq=440.0)
    # away from the filter's edges the resampled sine is the 16 kHz sine
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=0.01)


def test_other_sample_rate_on_request(tmp_path):
    out = load_audio(synth.write_wav(tmp_path / "a.wav", synth.tone(0.5)), sample_rate=8000)
    assert abs(len(out) - 4000) <= 2


@pytest.mark.parametrize("suffix, min_corr", [(".flac", 0.99999), (".mp3", 0.999), (".opus", 0.999)])
def test_compressed_formats(tmp_path, suffix, min_corr):
    samples = synth.tone(1.0, freq=500.0)
    out = load_audio(synth.write_audio(tmp_path / f"a{suffix}", samples))
    assert abs(len(out) - len(samples)) <= 1152  # at most one codec frame of padding
    assert correlation(out, samples) > min_corr  # aligned: encoder delay is trimmed by the decoder


def test_stereo_is_downmixed_like_ffmpeg(tmp_path):
    left = synth.tone(0.5, freq=440.0)
    same = load_audio(synth.write_wav(tmp_path / "same.wav", np.stack([left, left], axis=1)))
    np.testing.assert_allclose(same, np.clip(np.sqrt(0.5) * 2 * left, -1, 1), atol=2e-4)
    opposite = load_audio(synth.write_wav(tmp_path / "opp.wav", np.stack([left, -left], axis=1)))
    assert np.abs(opposite).max() < 1e-3


def test_loud_stereo_is_clipped_to_unit_range(tmp_path):
    loud = np.full(1600, 0.99, dtype=np.float32)
    out = load_audio(synth.write_wav(tmp_path / "loud.wav", np.stack([loud, loud], axis=1)))
    assert out.max() == pytest.approx(1.0) and out.max() <= 1.0


def test_audio_track_of_a_video(tmp_path):
    samples = synth.tone(2.0, freq=440.0)
    out = load_audio(synth.write_video(tmp_path / "clip.mp4", audio=samples))
    assert 0 <= len(out) - len(samples) <= 1024  # AAC pads its last frame
    assert correlation(out, samples) > 0.999


def test_sample_rate_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(synth.write_wav(tmp_path / "a.wav", synth.tone(0.1)), sample_rate=0)


def _expect(cause, path) -> MediaError:
    with pytest.raises(MediaError) as info:
        load_audio(path)
    assert info.value.cause == cause
    assert str(path) in str(info.value)
    return info.value


def test_video_without_audio_track(tmp_path):
    path = synth.write_video(tmp_path / "silent.mp4")
    err = _expect("no_audio_track", path)
    assert "remove its 'audio' field" in str(err)


def test_zero_length_wav(tmp_path):
    err = _expect("empty_audio", synth.write_wav(tmp_path / "empty.wav", np.zeros(0)))
    assert "zero-length audio" in str(err)


def test_missing_audio_file(tmp_path):
    _expect("missing", tmp_path / "nope.wav")


def test_corrupt_video_for_audio(tmp_path):
    _expect("corrupt", synth.write_corrupt_video(tmp_path / "broken.mp4"))


def test_codec_without_decoder(tmp_path):
    err = _expect("unsupported", synth.write_unsupported_audio(tmp_path / "odd.wav"))
    assert "convert it" in str(err)
