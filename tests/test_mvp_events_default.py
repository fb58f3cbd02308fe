"""The default frame sampling gives clips several MVP events (eq. 7's clustering runs)."""
from __future__ import annotations

import warnings

import torch

from emollm_plugin.constants import NUM_VIDEO_FRAMES
from emollm_plugin.testing.synth import write_video
from emollm_plugin.media.video import sample_frames
from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.module import SingleEventWarning


def test_four_second_clip_under_default_sampling_gives_events_of_112_tokens(tmp_path):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from emollm_plugin.testing.tiny import TINY_CLIP
    clip = write_video(tmp_path / "clip.mp4", num_frames=100, fps=25)        # 4 s at 25 fps
    frames = sample_frames(clip)                                              # default sampling
    assert len(frames) == NUM_VIDEO_FRAMES
    torch.manual_seed(0)
    size = TINY_CLIP["image_size"]
    processor = CLIPImageProcessor(size={"shortest_edge": size},
                                   crop_size={"height": size, "width": size})
    tower = CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)).eval()
    pixels = processor(images=frames, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        tokens = tower(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]  # (T, 64, 32)
        mvp = MVPProjector(tokens.shape[-1], 24, MVPConfig())                 # 64/32/16, 16/event
        with warnings.catch_warnings():
            warnings.simplefilter("error")                                    # no single-event warning
            out, trace = mvp.forward_video(tokens, return_trace=True)
    events = trace.events
    assert len(events) >= 2
    assert sorted(i for e in events for i in e) == list(range(NUM_VIDEO_FRAMES))
    assert out.shape == (len(events) * 112, 24)


def test_single_event_configuration_warns_once():
    mvp = MVPProjector(16, 24, MVPConfig(num_clusters=(8, 4), knn=(3, 2), frames_per_event=16))
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own default for a UserWarning
        for _ in range(3):
            mvp.forward_video(torch.randn(8, 20, 16))
    messages = [str(w.message) for w in caught if w.category is SingleEventWarning]
    assert len(messages) == 1
    assert "mvp_frames_per_event=16" in messages[0] and "--num_video_frames" in messages[0]
