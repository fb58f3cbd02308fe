"""--audio_window padded: exactly openai-whisper's 30 s encode on the positions a clip covers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper

from emollm_plugin.audio.mel import covered_mel_frames, log_mel_for, log_mel_trimmed, num_mel_frames
from emollm_plugin.testing.tiny_audio import make_tiny_whisper
from emollm_plugin.audio.tower import WhisperAudioTower

WHISPER_BASE = dict(n_mels=80, n_audio_state=512, n_audio_head=8, n_audio_layer=6)  # n_audio_ctx 1500


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * 16000)) * 0.1).astype(np.float32)


def whisper_mel(samples: np.ndarray) -> torch.Tensor:
    """openai-whisper's own features: log_mel_spectrogram(pad_or_trim(x)), 80 x 3000."""
    return whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(samples)))


def assert_padded_equals_whisper(checkpoint, clips, atol):
    model = whisper.load_model(str(checkpoint), device="cpu")
    tower = WhisperAudioTower(checkpoint, window="padded")
    outs = tower([log_mel_trimmed(x, covered=True) for x in clips])
    for samples, out in zip(clips, outs):
        covered = covered_mel_frames(len(samples)) // 2
        with torch.no_grad():
            expected = model.encoder(whisper_mel(samples)[None])[0]           # 1500 x d
        assert out.shape == (covered, model.dims.n_audio_state)
        torch.testing.assert_close(out, expected[:covered], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("seconds", [0.013, 1.0, 3.3, 29.99, 30.0])
def test_covered_frames_hold_whisper_mel_and_the_rest_is_the_silence_value(seconds):
    samples = noise(seconds, seed=int(seconds * 10))
    full = whisper_mel(samples)
    covered = log_mel_trimmed(samples, covered=True)
    assert covered.shape[1] == covered_mel_frames(len(samples)) == min(3000, num_mel_frames(len(samples)) + 2)
    torch.testing.assert_close(covered, full[:, :covered.shape[1]], rtol=1e-5, atol=1e-5)
    rest = full[:, covered.shape[1]:]
    floor = max(float(covered.max()) - 2.0, -1.5)
    torch.testing.assert_close(rest, torch.full_like(rest, floor), rtol=0, atol=1e-6)


def test_silence_pads_with_whispers_floor():
    silent = np.zeros(8000, dtype=np.float32)
    covered = log_mel_trimmed(silent, covered=True)
    torch.testing.assert_close(whisper_mel(silent), torch.full((80, 3000), -1.5), rtol=0, atol=1e-6)
    assert float(covered.max()) == pytest.approx(-1.5)


@pytest.mark.slow
def test_padded_tower_equals_whisper_encoder_tiny_dims_batched(tmp_path):
    checkpoint = make_tiny_whisper(tmp_path / "tiny.pt", seed=1)
    clips = [noise(s, seed=i) for i, s in enumerate([0.04, 1.37, 3.0])]
    assert_padded_equals_whisper(checkpoint, clips, atol=1e-5)


@pytest.mark.slow
def test_padded_tower_equals_whisper_encoder_whisper_base_dims(tmp_path):
    checkpoint = make_tiny_whisper(tmp_path / "base.pt", seed=0, **WHISPER_BASE)
    assert_padded_equals_whisper(checkpoint, [noise(3.3, seed=1), noise(0.5, seed=2)], atol=1e-5)


def test_model_config_chooses_the_window(tmp_path):
    from transformers import PretrainedConfig

    from emollm_plugin.plugin.wiring import register_builtin_components
    from emollm_plugin.registry import AUDIO_TOWERS
    register_builtin_components()
    checkpoint = make_tiny_whisper(tmp_path / "tiny.pt")
    for window in ("padded", "trimmed"):
        config = PretrainedConfig(mm_audio_tower=str(checkpoint), mm_audio_window=window)
        assert AUDIO_TOWERS.get("whisper")(config).window == window
    # a config from before mm_audio_window existed was trained on the trimmed window, the only one then
    assert AUDIO_TOWERS.get("whisper")(PretrainedConfig(mm_audio_tower=str(checkpoint))).window == "trimmed"


def test_window_choice_is_validated(tmp_path):
    with pytest.raises(ValueError, match="padded"):
        log_mel_for(80, "full")
    assert log_mel_for(None, "padded") is None
    with pytest.raises(ValueError, match="unknown audio window"):
        WhisperAudioTower(tmp_path / "x.pt", window="30s")
