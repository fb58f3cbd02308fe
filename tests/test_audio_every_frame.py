"""--mm_audio_num_tokens 0: eq. 1 as printed, one audio token per Whisper encoder frame."""
from __future__ import annotations

import json

import pytest
import torch

from emollm_plugin.audio.projector import AudioProjector, build_audio_projector
from emollm_plugin.configs import AudioConfig, ConfigError
from emollm_plugin.train.memory import RunSpec, LLMS, parse_run, sequence_parts


def test_zero_keeps_every_frame_and_projects_each():
    torch.manual_seed(0)
    projector = AudioProjector(6, 5, num_tokens=0)
    clips = [torch.randn(t, 6) for t in (1, 7, 1500)]
    out = projector(clips)
    assert [o.shape for o in out] == [(1, 5), (7, 5), (1500, 5)]
    # no pooling: each token is the MLP of its own frame
    torch.testing.assert_close(out[1], projector.mlp(clips[1]))
    assert [projector.tokens_for(2 * t) for t in (1, 7, 1500)] == [1, 7, 1500]
    assert AudioProjector(6, 5, num_tokens=4).tokens_for(2 * 1500) == 4


def test_zero_is_a_valid_config_and_negative_is_not():
    assert AudioConfig(num_tokens=0).num_tokens == 0
    with pytest.raises(ConfigError, match="mm_audio_num_tokens"):
        AudioConfig(num_tokens=-1)

    class Cfg:
        mm_audio_hidden_size, hidden_size, mm_audio_num_tokens = 6, 5, 0
    assert build_audio_projector(Cfg()).num_tokens == 0


def test_memory_counts_a_full_window_of_frames():
    run, _, _ = parse_run(["--audio-tokens", "0"])
    assert sequence_parts(run)["audio"] == 1500                      # 30 s at 20 ms a frame
    run, _, _ = parse_run(["--audio-tokens", "0", "--audio-seconds", "4.01"])
    assert sequence_parts(run)["audio"] == 201
    assert sequence_parts(RunSpec(llm=LLMS["7b"]))["audio"] == 32
    with pytest.raises(SystemExit):
        parse_run(["--audio-tokens", "-1"])


@pytest.mark.slow
def test_every_frame_flows_through_training_and_the_splice(tiny_models, tmp_path):
    from e2e_helpers import tiny_train_args, train_in_process
    from emollm_plugin.model.tokens import media_extra_positions, token_counts_for
    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=2, kinds=("video+audio",), video_frames=4)
    out = tmp_path / "emollm-llava-lora-every-frame"
    mp = pytest.MonkeyPatch()
    try:
        trainer = train_in_process(mp, tiny_train_args(
            tiny_models, data, out, "--audio_tower", str(tiny_models.whisper),
            "--mm_audio_num_tokens", "0", "--num_video_frames", "4", max_steps=1))
    finally:
        mp.undo()
    assert json.loads((out / "config.json").read_text())["mm_audio_num_tokens"] == 0
    model = trainer.model.eval()
    item = trainer.train_dataset[0]
    mel_frames = item["audio"].shape[-1]
    counts = token_counts_for(model)
    assert counts.audio(mel_frames) == mel_frames // 2 > 8          # more than a pooled budget
    with torch.no_grad():
        logits = model(input_ids=item["input_ids"][None], images=[item["image"]],
                       audios=[item["audio"]]).logits
    expected = item["input_ids"].shape[0] + media_extra_positions(counts, item["image"], item["audio"])
    assert logits.shape[1] == expected
