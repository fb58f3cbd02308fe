"""A tiny, learnable EmoBench-format dataset made on the fly (for the demo and the tests).

Each kind of record is decided by one modality only, so a model that answers it has learned to
read that modality:

=============  ===========================================  ============================
kind           what decides the label                       what does not
=============  ===========================================  ============================
image          the picture's colour (``_COLOURS``)          per-pixel noise, brightness
video          the frames' colour (``_COLOURS``)            noise, a moving square, brightness
video+audio    the sound track's pitch (``_TONES``)         frames: the same grey for every label
=============  ===========================================  ============================

Every record draws its own noise, brightness and loudness, so the test split holds unseen media.
Records follow the EmoBench schema (task, dataset, label, label_set, conversations, image | video,
audio), with media paths relative to ``media/``. Chance is 1 / 4 (four labels).

``python -m emollm_plugin.testing.demo_data ANSWERS.jsonl TEST.json`` prints what a model trained on it
learned: held-out accuracy per kind, next to chance (an answer counts when its first word is the
label).
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import re
from pathlib import Path

import numpy as np

DEMO_LABELS = ("anger", "joy", "sadness", "surprise")
DEMO_KINDS = ("image", "video", "video+audio")
_COLOURS = {"anger": (200, 30, 30), "joy": (230, 210, 40), "sadness": (40, 60, 200), "surprise": (40, 190, 90)}
_TONES = {"anger": 200.0, "joy": 450.0, "sadness": 900.0, "surprise": 1800.0}
_GREY = (128, 128, 128)
_QUESTION_OPEN = "What emotion does this show? Answer with one word."
_QUESTION_CLOSED = "Which emotion is shown? Options: {options}. Answer with one option."


def _picture(colour, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """size x size x 3 uint8: ``colour`` at a random brightness (+-15) with pixel noise (sd 20)."""
    base = np.array(colour, dtype=np.float32) + rng.uniform(-15, 15)
    return np.clip(base + rng.normal(0, 20, size=(size, size, 3)), 0, 255).astype(np.uint8)


def _clip_frames(colour, rng: np.random.Generator, num_frames: int, size: int = 64):
    """index -> frame: ``_picture`` of ``colour`` with a white square moving left to right."""
    pictures = [_picture(colour, rng, size) for _ in range(num_frames)]
    side = size // 4

    def frame(index: int) -> np.ndarray:
        image = pictures[index].copy()
        x = index * (size - side) // max(1, num_frames - 1)
        image[size // 2 - side // 2: size // 2 + side // 2, x: x + side] = 255
        return image
    return frame


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


def kind_of(record: dict) -> str:
    """The demo kind a record belongs to (``DEMO_KINDS``), from its media fields."""
    return "video+audio" if "audio" in record else "video" if "video" in record else "image"


def make_demo_data(out: str | Path, per_label: int = 4, kinds=("image",), seed: int = 0,
                   video_frames: int = 8, audio_seconds: float = 1.0, test_every: int = 3) -> Path:
    """Write ``out/media/...`` and ``out/train.json`` / ``out/test.json``; returns ``out``.

    kinds: any of ``DEMO_KINDS``. Each kind gets ``per_label`` records per label, alternating
    open/closed questions; record k of each label goes to the test split when
    ``k % test_every == test_every - 1`` (default: every third).
    """
    from .synth import tone, write_video

    out = Path(out)
    media = out / "media" / "demo"
    media.mkdir(parents=True, exist_ok=True)
    nprng, rng = np.random.default_rng(seed), random.Random(seed)
    splits: dict[str, list] = {"train": [], "test": []}
    for kind in kinds:
        if kind not in DEMO_KINDS:
            raise ValueError(f"unknown demo media kind {kind!r}: use one of {', '.join(DEMO_KINDS)}")
        for label in DEMO_LABELS:
            for k in range(per_label):
                rid = f"demo/{kind}/{label}/{k}"
                stem = f"{kind.replace('+', '_')}_{label}_{k}"
                if kind == "image":
                    from PIL import Image
                    Image.fromarray(_picture(_COLOURS[label], nprng)).save(media / f"{stem}.png")
                    item = {"image": f"demo/{stem}.png"}
                else:
                    audio = None
                    if kind == "video+audio":
                        loudness = nprng.uniform(0.4, 1.0)
                        noise = nprng.normal(0, 0.01, round(audio_seconds * 16000)).astype(np.float32)
                        audio = np.clip(tone(audio_seconds, _TONES[label]) * loudness + noise, -1, 1)
                    colour = _GREY if kind == "video+audio" else _COLOURS[label]
                    write_video(media / f"{stem}.mp4", num_frames=video_frames, audio=audio,
                                frames=_clip_frames(colour, nprng, video_frames))
                    item = {"video": f"demo/{stem}.mp4"}
                    if audio is not None:
                        item["audio"] = f"demo/{stem}.mp4"
                split = "test" if k % test_every == test_every - 1 else "train"
                rec = _record(rid, label, item, closed=bool(k % 2), rng=rng)
                rec["split"] = split
                splits[split].append(rec)
    for split, records in splits.items():
        (out / f"{split}.json").write_text(json.dumps(records, indent=1))
    return out


_DECIDED_BY = {"image": "the picture's colour", "video": "the frames' colour",
               "video+audio": "the sound's pitch (frames all grey)"}


def first_word(text: str) -> str:
    words = re.findall(r"[a-z]+", text.lower())
    return words[0] if words else ""


def accuracy_by_kind(answers: list[dict], records: dict[str, dict]) -> dict[str, tuple[int, int]]:
    """kind -> (correct, total) over the answered records."""
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for answer in answers:
        record = records[answer["question_id"]]
        count = counts[kind_of(record)]
        count[0] += first_word(answer["text"]) == record["label"]
        count[1] += 1
    return {kind: (c[0], c[1]) for kind, c in counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emollm_plugin.testing.demo_data",
                                     description="Held-out accuracy of the demo's model per modality, next to chance.")
    parser.add_argument("answers", help="answers.jsonl written by the eval step")
    parser.add_argument("test", help="the demo's test.json")
    args = parser.parse_args(argv)
    with open(args.test, encoding="utf-8") as handle:
        records = {r["id"]: r for r in json.load(handle)}
    with open(args.answers, encoding="utf-8") as handle:
        answers = [json.loads(line) for line in handle if line.strip()]
    scores = accuracy_by_kind(answers, records)
    chance = 100 / len(DEMO_LABELS)
    print(f"\nheld-out accuracy of the reloaded checkpoint (chance: {chance:.0f} %, {len(DEMO_LABELS)} labels)")
    print(f"  {'kind':<12} {'decided by':<38} {'correct':>8} {'accuracy':>9}")
    for kind in DEMO_KINDS:
        if kind in scores:
            right, total = scores[kind]
            print(f"  {kind:<12} {_DECIDED_BY[kind]:<38} {right:>4}/{total:<3} {100 * right / total:>8.1f} %")
    right, total = (sum(s[i] for s in scores.values()) for i in (0, 1))
    print(f"  {'all':<12} {'':<38} {right:>4}/{total:<3} {100 * right / max(total, 1):>8.1f} %")
    print("\nanswers (first 6):")
    for answer in answers[:6]:
        record = records[answer["question_id"]]
        print(f"  {answer['question_id']:<32} label={record['label']:<9} answer={answer['text']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
