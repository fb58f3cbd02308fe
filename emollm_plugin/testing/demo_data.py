"""A tiny, learnable EmoBench-format dataset made on the fly (for the demo and the tests).

Each emotion gets a colour (images, video frames) and a tone frequency (audio), so a tiny model can
actually learn the mapping in a few steps. Records follow the EmoBench schema (task, dataset,
label, label_set, conversations, image | video, audio), with media paths relative to ``media/``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

DEMO_LABELS = ("anger", "joy", "sadness", "surprise")
_COLOURS = {"anger": (200, 30, 30), "joy": (230, 210, 40), "sadness": (40, 60, 200), "surprise": (40, 190, 90)}
_TONES = {"anger": 220.0, "joy": 440.0, "sadness": 660.0, "surprise": 880.0}
_QUESTION_OPEN = "What emotion does this show? Answer with one word."
_QUESTION_CLOSED = "Which emotion is shown? Options: {options}. Answer with one option."


def _image(label: str, rng: np.random.Generator, size: int = 64):
    from PIL import Image
    base = np.array(_COLOURS[label], dtype=np.float32)
    pixels = np.clip(base + rng.normal(0, 20, size=(size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _record(rid: str, label: str, media: dict, closed: bool, rng: random.Random) -> dict:
    prefix = "<video>\n" if "video" in media else "<image>\n" if "image" in media else ""
    if "audio" in media:
        prefix += "<audio>\n"
    options = list(DEMO_LABELS)
    rng.shuffle(options)
    question = _QUESTION_CLOSED.format(options=", ".join(options)) if closed else _QUESTION_OPEN
    rec = {"id": rid, "conversations": [{"from": "human", "value": prefix + question},
                                        {"from": "gpt", "value": label}],
           "task": "emotion_closed" if closed else "emotion_open", "dataset": "demo",
           "split": "train", "label": label, "source_id": rid, **media}
    if closed:
        rec["label_set"] = options
    return rec


def make_demo_data(out: str | Path, per_label: int = 4, kinds=("image",), seed: int = 0,
                   video_frames: int = 8, audio_seconds: float = 1.0) -> Path:
    """Write ``out/media/...`` and ``out/train.json`` / ``out/test.json``; returns ``out``.

    kinds: any of "image", "video", "video+audio". Each kind gets ``per_label`` records per label,
    alternating open/closed questions; every third record of each kind goes to the test split.
    """
    from .synth import tone, write_video

    out = Path(out)
    media = out / "media" / "demo"
    media.mkdir(parents=True, exist_ok=True)
    nprng, rng = np.random.default_rng(seed), random.Random(seed)
    splits: dict[str, list] = {"train": [], "test": []}
    for kind in kinds:
        if kind not in ("image", "video", "video+audio"):
            raise ValueError(f"unknown demo media kind {kind!r}: use image, video or video+audio")
        for label in DEMO_LABELS:
            for k in range(per_label):
                rid = f"demo/{kind}/{label}/{k}"
                stem = f"{kind.replace('+', '_')}_{label}_{k}"
                if kind == "image":
                    _image(label, nprng).save(media / f"{stem}.png")
                    item = {"image": f"demo/{stem}.png"}
                else:
                    audio = tone(audio_seconds, _TONES[label]) if kind == "video+audio" else None
                    write_video(media / f"{stem}.mp4", num_frames=video_frames, audio=audio,
                                seed=DEMO_LABELS.index(label))
                    item = {"video": f"demo/{stem}.mp4"}
                    if audio is not None:
                        item["audio"] = f"demo/{stem}.mp4"
                split = "test" if k % 3 == 2 else "train"
                rec = _record(rid, label, item, closed=bool(k % 2), rng=rng)
                rec["split"] = split
                splits[split].append(rec)
    for split, records in splits.items():
        (out / f"{split}.json").write_text(json.dumps(records, indent=1))
    return out
