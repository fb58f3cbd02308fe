"""Trimmed log-mel features and the Whisper audio tower, against openai-whisper's own code.

Measured gap between the trimmed encode and the padded 30 s encode on the covered frames, tiny
random-init checkpoint of this file (relative L2 error / mean cosine over frames):
1 s 0.52 / 0.86, 3 s 0.36 / 0.94, 10 s 0.19 / 0.98, 30 s 0 (nothing is trimmed).
With random weights attention is near uniform, so the 30 s of silence the padded encode attends to
dominate short clips; real Whisper weights attend by content and are not measured here (offline).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper
import whisper.audio
from whisper.model import AudioEncoder

from emollm_plugin.audio import mel as mel_module
from emollm_plugin.audio.mel import log_mel_trimmed, num_mel_frames
from emollm_plugin.testing.tiny_audio import make_tiny_whisper
from emollm_plugin.audio.tower import WhisperAudioTower
from emollm_plugin.testing import synth


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(round(seconds * 16000)) * 0.1).astype(np.float32)


def padded_mel(samples: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """Whisper's own features: n_mels x 3000."""
    return whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(samples)), n_mels=n_mels)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny.pt", seed=3)


@pytest.fixture(scope="module")
def tower(checkpoint):
    return WhisperAudioTower(checkpoint, window="trimmed")


@pytest.fixture(scope="module")
def full_model(checkpoint):
    return whisper.load_model(str(checkpoint), device="cpu")


def reference_encoder(full_model, frames: int) -> AudioEncoder:
    """Whisper's AudioEncoder sized for `frames` mel frames: its assert and table fit T/2 positions."""
    dims = full_model.dims
    encoder = AudioEncoder(dims.n_mels, frames // 2, dims.n_audio_state, dims.n_audio_head,
                           dims.n_audio_layer)
    state = full_model.encoder.state_dict()
    state["positional_embedding"] = state["positional_embedding"][: frames // 2]
    encoder.load_state_dict(state)
    return encoder.eval()


# ----- log-mel ----------------------------------------------------------------------------------

def test_front_end_constants_are_whispers():
    assert mel_module.SAMPLE_RATE == whisper.audio.SAMPLE_RATE
    assert mel_module.N_FFT == whisper.audio.N_FFT
    assert mel_module.HOP_LENGTH == whisper.audio.HOP_LENGTH
    assert mel_module.MAX_FRAMES == whisper.audio.N_FRAMES


@pytest.mark.parametrize("samples, frames", [(1, 2), (320, 2), (321, 4), (48000, 300), (47999, 300),
                                              (480000, 3000), (600000, 3000)])
def test_num_mel_frames(samples, frames):
    assert num_mel_frames(samples) == frames


@pytest.mark.parametrize("num_samples", [1, 161, 16000, 48000 + 7, 16000 * 7 + 13, 479_990, 480_000])
@pytest.mark.parametrize("n_mels", [80, 128])
def test_trimmed_mel_equals_whispers_padded_mel_on_covered_frames(num_samples, n_mels):
    samples = noise(num_samples / 16000, seed=num_samples)
    samples[-3:] = 0.95  # a click at the very end: the frames just past T see it in whisper's mel too
    mel = log_mel_trimmed(samples, n_mels=n_mels)
    frames = num_mel_frames(num_samples)
    assert mel.shape == (n_mels, frames) and mel.dtype == torch.float32
    torch.testing.assert_close(mel, padded_mel(samples, n_mels)[:, :frames], rtol=0, atol=1e-5)


def test_trimmed_mel_of_a_tone_and_tensor_input():
    samples = synth.tone(2.5)
    from_numpy = log_mel_trimmed(samples)
    torch.testing.assert_close(log_mel_trimmed(torch.from_numpy(samples)), from_numpy)
    torch.testing.assert_close(from_numpy, padded_mel(samples)[:, :250], rtol=0, atol=1e-5)


def test_longer_than_30s_is_cut_like_pad_or_trim():
    samples = noise(31.0)
    with pytest.warns(UserWarning, match="cut to Whisper's 30 s"):
        mel = log_mel_trimmed(samples)
    torch.testing.assert_close(mel, padded_mel(samples), rtol=0, atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 100), np.float32), "1-D"),
    (np.zeros(0, np.float32), "zero-length"),
    (np.array([0.0, np.nan], np.float32), "NaN"),
])
def test_mel_rejects_bad_samples(bad, match):
    with pytest.raises(ValueError, match=match):
        log_mel_trimmed(bad)


def test_mel_rejects_unknown_filterbank():
    with pytest.raises(ValueError, match="80, 128"):
        log_mel_trimmed(synth.tone(0.1), n_mels=64)


# ----- tower ------------------------------------------------------------------------------------

def test_tiny_checkpoint_loads_in_whisper_and_tower_with_same_weights(tower, full_model):
    assert tower.hidden_size == 64 and tower.n_mels == 80 and tower.max_frames == 3000
    assert tower.dtype == torch.float32 and tower.device.type == "cpu"
    expected = full_model.encoder.state_dict()
    for name, value in tower.encoder.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=0)


@pytest.mark.parametrize("seconds", [0.02, 1.0, 3.3])
def test_trimmed_forward_equals_whisper_encoder_sized_for_the_clip(tower, full_model, seconds):
    mel = log_mel_trimmed(noise(seconds, seed=int(seconds * 100)))
    out = tower([mel])[0]
    assert out.shape == (mel.shape[1] // 2, 64)
    with torch.no_grad():
        expected = reference_encoder(full_model, mel.shape[1])(mel[None])[0]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_batch_of_different_lengths_equals_clip_by_clip(tower):
    mels = [log_mel_trimmed(noise(s, seed=i)) for i, s in enumerate([0.5, 2.0, 0.04, 1.37])]
    batched = tower(mels)
    for mel, out in zip(mels, batched):
        assert out.shape == (mel.shape[1] // 2, 64)
        torch.testing.assert_close(out, tower([mel])[0], rtol=1e-5, atol=1e-5)


def test_trimmed_encode_differs_from_padded_30s_encode_and_gap_shrinks_with_length(tower, full_model):
    gaps = {}
    for seconds in (1.0, 3.0, 10.0):
        samples = noise(seconds, seed=7)
        trimmed = tower([log_mel_trimmed(samples)])[0]
        with torch.no_grad():
            padded = full_model.encoder(padded_mel(samples)[None])[0, : trimmed.shape[0]]
        gaps[seconds] = ((trimmed - padded).norm() / padded.norm()).item()
    # an approximation, not an identity (module doc of audio.tower); numbers in this file's doc
    assert gaps[1.0] > gaps[3.0] > gaps[10.0] > 0.05
    assert gaps[1.0] < 0.8


def test_full_30s_clip_equals_whispers_own_encode(tower, full_model):
    samples = noise(30.0, seed=5)
    out = tower([log_mel_trimmed(samples)])[0]
    with torch.no_grad():
        expected = full_model.encoder(padded_mel(samples)[None])[0]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_frozen_tower_has_no_gradients(tower):
    assert all(not p.requires_grad for p in tower.parameters())
    mel = log_mel_trimmed(synth.tone(0.3)).requires_grad_(True)
    with torch.enable_grad():
        out = tower([mel])[0]
    assert not out.requires_grad and out.grad_fn is None


def test_unfrozen_tower_trains(checkpoint):
    tower = WhisperAudioTower(checkpoint, frozen=False, window="trimmed")
    out = tower([log_mel_trimmed(synth.tone(0.3))])[0]
    out.square().mean().backward()
    grads = [p.grad for p in tower.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_delay_load_reads_dims_first_and_weights_on_load_model(checkpoint, tower):
    delayed = WhisperAudioTower(checkpoint, delay_load=True, window="trimmed")
    assert not delayed.is_loaded and delayed.hidden_size == 64 and list(delayed.parameters()) == []
    mel = log_mel_trimmed(synth.tone(0.2))
    with pytest.raises(RuntimeError, match="load_model"):
        delayed([mel])
    delayed.load_model()
    torch.testing.assert_close(delayed([mel])[0], tower([mel])[0], rtol=0, atol=0)


def test_bfloat16_tower_stays_close(checkpoint, tower):
    low = WhisperAudioTower(checkpoint, window="trimmed").to(torch.bfloat16)
    mel = log_mel_trimmed(noise(1.0))
    out = low([mel])[0]
    assert out.dtype == torch.bfloat16
    reference = tower([mel])[0]
    assert ((out.float() - reference).norm() / reference.norm()).item() < 0.05


@pytest.mark.parametrize("mels, match", [
    ([], "non-empty list"),
    ([torch.zeros(64, 10)], "expected 80 x T"),
    ([torch.zeros(80, 11)], "even"),
    ([torch.zeros(80, 3002)], "even and in"),
])
def test_tower_rejects_bad_mels(tower, mels, match):
    with pytest.raises(ValueError, match=match):
        tower(mels)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make-tiny"):
        WhisperAudioTower(tmp_path / "none.pt")


def test_not_a_whisper_checkpoint(tmp_path):
    path = tmp_path / "hf.pt"
    torch.save({"model.encoder.conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not an openai-whisper checkpoint"):
        WhisperAudioTower(path)


def test_missing_encoder_weights_are_named(checkpoint, tmp_path):
    saved = torch.load(checkpoint, weights_only=True)
    del saved["model_state_dict"]["encoder.blocks.1.mlp.0.weight"]
    path = tmp_path / "cut.pt"
    torch.save(saved, path)
    with pytest.raises(ValueError, match=r"missing 1: encoder\.blocks\.1\.mlp\.0\.weight"):
        WhisperAudioTower(path)


def test_dims_that_do_not_match_weights(checkpoint, tmp_path):
    saved = torch.load(checkpoint, weights_only=True)
    saved["dims"]["n_audio_layer"] = 1
    path = tmp_path / "dims.pt"
    torch.save(saved, path)
    with pytest.raises(ValueError, match=r"unexpected \d+: encoder\.blocks\.1\."):
        WhisperAudioTower(path)


@pytest.mark.parametrize("window", ["trimmed", "padded"])
def test_silence_is_the_towers_output_for_a_silent_clip(checkpoint, window):
    from emollm_plugin.audio.mel import log_mel_for
    tower = WhisperAudioTower(checkpoint, window=window)
    mels = [log_mel_for(80, window)(torch.zeros(n)) for n in (3200, 8000)]
    expected = tower(mels)
    got = tower.silence([m.shape[-1] for m in mels])
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)
    assert len(tower._silence) == (1 if window == "padded" else 2)  # padded: one window serves all
