"""Benchmark: build EmoBench from an MMHS150K-sized synthetic dataset (150k tweets, no media).

    python benchmarks/bench_emobench_mmhs150k.py [--tweets 150000] [--out DIR] [--media-check]

Writes a synthetic ``MMHS150K_GT.json`` (same keys and value types as the real file, ~50 MB)
plus ``splits/{train,val,test}_ids.txt`` (134,823 / 5,000 / 10,000 at full size) and some
``img_txt`` OCR files under a temporary folder, then times ``emollm bench build`` on it with the
paper's default sizes (139.8k / 10k). There are no images, so the media check is off by
default (``--media-check`` times it too: every sample is then dropped as "media file
missing"). Target: under 60 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

NAMES = ["NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate"]
WORDS = "the a you they look at this again nice what why when never always so".split()


def make_synthetic_mmhs150k(root: Path, tweets: int = 150_000, seed: int = 0,
                            ocr_every: int = 3) -> dict[str, int]:
    """Write the synthetic dataset under root; returns the number of ids per split file."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [str(1_000_000_000_000_000_000 + i * 7919) for i in range(tweets)]
    n_test = round(tweets * 10_000 / 150_000)
    n_val = round(tweets * 5_000 / 150_000)
    splits = {"test": ids[:n_test], "val": ids[n_test:n_test + n_val],
              "train": ids[n_test + n_val:]}
    (root / "splits").mkdir(exist_ok=True)
    for name, split_ids in splits.items():
        (root / "splits" / f"{name}_ids.txt").write_text("\n".join(split_ids) + "\n")
    (root / "img_resized").mkdir(exist_ok=True)
    (root / "img_txt").mkdir(exist_ok=True)
    with open(root / "MMHS150K_GT.json", "w", encoding="utf-8") as handle:
        handle.write("{")
        for i, tweet_id in enumerate(ids):
            votes = [rng.choice((0, 0, 0, 1, 2, 3, 4, 5)) for _ in range(3)]
            entry = {"img_url": f"http://pbs.twimg.com/media/{tweet_id}.jpg", "labels": votes,
                     "tweet_url": f"https://twitter.com/u/status/{tweet_id}",
                     "tweet_text": " ".join(rng.choices(WORDS, k=rng.randint(3, 20)))
                     + " https://t.co/abcdef",
                     "labels_str": [NAMES[v] for v in votes]}
            handle.write(("" if i == 0 else ", ") + json.dumps(tweet_id) + ": "
                         + json.dumps(entry))
            if ocr_every and i % ocr_every == 0:
                (root / "img_txt" / f"{tweet_id}.json").write_text(
                    json.dumps({"img_text": "SOME TEXT"}))
        handle.write("}")
    return {name: len(v) for name, v in splits.items()}


def main() -> None:
    from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=150_000)
    parser.add_argument("--out", type=Path, help="keep data and output here (default: a temp dir)")
    parser.add_argument("--media-check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        start = time.perf_counter()
        counts = make_synthetic_mmhs150k(base / "MMHS150K", args.tweets)
        size_mb = (base / "MMHS150K" / "MMHS150K_GT.json").stat().st_size / 1e6
        print(f"synthetic data: {counts} ids, GT {size_mb:.1f} MB, "
              f"{time.perf_counter() - start:.1f} s to write")
        config = BuildConfig([DatasetSpec("mmhs150k", base / "MMHS150K")], base / "out",
                             check_media=args.media_check)
        start = time.perf_counter()
        manifest = build(config, progress=False)
        seconds = time.perf_counter() - start
        entry = manifest["datasets"]["mmhs150k"]
        print(f"build: {seconds:.1f} s (target < 60 s); selected {entry['selected']}, "
              f"dropped {sum(i['count'] for r in entry['drops'].values() for i in r.values())}")
        print(f"train.json {(base / 'out' / 'train.json').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
