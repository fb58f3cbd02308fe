"""The demo's data: each kind decided by one modality; its summary scores per kind."""
from __future__ import annotations

import json

import numpy as np

from emollm_plugin.testing.demo_data import DEMO_KINDS, accuracy_by_kind, kind_of, make_demo_data


def test_clips_with_sound_differ_only_in_pitch_and_test_media_are_unseen(tmp_path):
    from emollm_plugin.media.audio import load_audio
    from emollm_plugin.media.video import sample_frames
    data = make_demo_data(tmp_path, per_label=3, kinds=DEMO_KINDS, video_frames=4)
    train, test = (json.loads((data / f"{s}.json").read_text()) for s in ("train", "test"))
    assert len(train) == 24 and len(test) == 12
    assert {kind_of(r) for r in test} == set(DEMO_KINDS)
    clips = {r["label"]: r for r in train if kind_of(r) == "video+audio" and r["id"].endswith("/0")}
    means, pitches = [], {}
    for label, record in clips.items():
        frames = np.stack([np.asarray(f, dtype=np.float32) for f in sample_frames(data / "media" / record["video"], 4)])
        means.append(frames.mean(axis=(0, 1, 2)))
        samples = np.asarray(load_audio(data / "media" / record["audio"]))
        spectrum = np.abs(np.fft.rfft(samples))
        pitches[label] = np.argmax(spectrum) * 16000 / len(samples)
    assert np.ptp(np.stack(means), axis=0).max() < 25  # grey for every label (noise, brightness)
    assert [round(pitches[label], -1) for label in ("anger", "joy", "sadness", "surprise")] == [200, 450, 900, 1800]
    images = [r["image"] for r in train + test if "image" in r]
    assert len({(data / "media" / p).read_bytes() for p in images}) == len(images)  # every picture its own


def test_accuracy_by_kind_counts_the_first_word():
    records = {"a": {"label": "joy", "image": "x"}, "b": {"label": "anger", "video": "v", "audio": "v"},
               "c": {"label": "anger", "video": "v", "audio": "v"}}
    answers = [{"question_id": "a", "text": "Joy."}, {"question_id": "b", "text": "anger, clearly"},
               {"question_id": "c", "text": "joy"}]
    assert accuracy_by_kind(answers, records) == {"image": (1, 1), "video+audio": (1, 2)}
