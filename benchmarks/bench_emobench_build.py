"""Benchmark: `emollm bench build` with media checks at Table 1 scale, 1 job vs N jobs.

    python benchmarks/bench_emobench_build.py [--scale 1.0] [--jobs N] [--data DIR] [--keep]

Writes synthetic copies of all eight source datasets in their original layouts, sized like the
paper's Table 1 at ``--scale 1.0`` (about 287k source samples: EMOTIC 22.6k persons, CAER-S 63k
frames, MELD 13.7k clips, Emotion6 1.9k, MIntRec 2.1k clips, UR-FUNNY 9.6k clips, MMHS150K 150k
tweets, MMSD2.0 24.6k), then builds EmoBench from them three times, side by side in one run:

1. ``--no-media-check`` (what the build costs without the media checks),
2. media checks with ``--jobs 1``,
3. media checks with ``--jobs N`` (default: the CPUs available),

and checks that runs 2 and 3 wrote byte-identical files. Every media file is a hard link to one
of a few real files (a 500 x 375 JPEG, a 400 x 224 PNG, 2-second 64 x 64 mp4 clips with an AAC
track; a fresh copy every 30,000 links), so the checks do real work per sample: the path rule,
stat, a full image decode (JPEGs in draft mode), and for clips opening the container and
decoding the first frame.
``--scale 0.05`` gives a quick run (about 14k samples). Target: >= 1.6x from 1 to 2 jobs.

``cpu s`` is the CPU time of the build and its workers, ``cpu/wall`` the cores the run really
got: on a machine other jobs share, that share, not ``--jobs``, bounds the speed-up (Linux
shares CPU time fairly between sessions when ``kernel.sched_autogroup_enabled`` is 1, so more
processes in one session get no more CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_emobench_mmhs150k import make_synthetic_mmhs150k  # noqa: E402

# Table 1 (train, val&test) per dataset; sources are made this size at scale 1
TABLE1 = {"emotic": (16_200, 6_400), "caer_s": (42_000, 21_000), "meld": (11_100, 2_600),
          "emotion6": (1_300, 600), "mintrec": (1_700, 400), "urfunny": (8_600, 1_000),
          "mmhs150k": (139_800, 10_000), "mmsd2": (22_200, 2_400)}
CAER = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
EMOTIC_CATS = ("Happiness", "Anger", "Fear", "Sadness", "Surprise", "Aversion", "Peace")
EMOTION6 = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
MELD_EMOTIONS = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
INTENTS = ("Complain", "Praise", "Apologise", "Thank", "Inform", "Ask for help", "Greet")


class Media:
    """A few real files; ``link`` hard-links one of them to a new path."""

    def __init__(self, folder: Path):
        import numpy as np
        from PIL import Image

        from emollm_plugin.testing.synth import tone, write_video

        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        self.files: dict[str, list[Path]] = {"jpg": [], "png": [], "mp4": []}
        self.links: dict[Path, int] = {}
        for i in range(3):
            noise = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
            smooth = Image.fromarray(noise).resize((50, 38)).resize((500, 375))
            path = folder / f"photo{i}.jpg"
            smooth.save(path, quality=85)
            self.files["jpg"].append(path)
            path = folder / f"frame{i}.png"
            smooth.resize((400, 224)).save(path)
            self.files["png"].append(path)
            path = folder / f"clip{i}.mp4"
            write_video(path, num_frames=16, fps=8, audio=tone(2.0, 220.0 * (i + 1)), seed=i)
            self.files["mp4"].append(path)

    LINKS_PER_FILE = 30_000  # ext4 allows 65,000 hard links to one file

    def link(self, kind: str, dest: Path, index: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = self.files[kind][index % len(self.files[kind])]
        copy = self.links.get(source, 0) // self.LINKS_PER_FILE
        self.links[source] = self.links.get(source, 0) + 1
        if copy:  # a fresh copy of the same bytes takes the next links
            source = source.with_name(f"{source.stem}_{copy}{source.suffix}")
            if not source.exists():
                shutil.copyfile(self.files[kind][index % len(self.files[kind])], source)
        os.link(source, dest)


def n(size: int, scale: float) -> int:
    return max(4, round(size * scale))


def make_emotic(root: Path, media: Media, scale: float) -> None:
    """Tandon-style CSVs (train 93 % / val 7 % of the train side), 1.5 persons per image."""
    train, test = (n(s, scale) for s in TABLE1["emotic"])
    (root / "emotic_pre").mkdir(parents=True)
    header = "Index,Folder,Filename,Image Size,BBox,Categorical_Labels,Continuous_Labels,Gender,Age\n"
    counts = {"train": round(train * 0.93), "val": train - round(train * 0.93), "test": test}
    for split, persons in counts.items():
        lines = [header]
        for i in range(persons):
            image = f"{split}_{i // 3 * 2 + (i % 3 == 2)}.jpg"  # 3 persons on 2 images
            if i % 3 != 1:
                media.link("jpg", root / "emotic" / "mscoco" / "images" / image, i)
            category = EMOTIC_CATS[i % len(EMOTIC_CATS)]
            lines.append(f'{i},mscoco/images,{image},"[500, 375]","[{10 + i % 50}, 20, 300, 360]",'
                         f'"[\'{category}\']","[5, 5, 5]",Female,Adult\n')
        (root / "emotic_pre" / f"{split}.csv").write_text("".join(lines))


def make_caer_s(root: Path, media: Media, scale: float) -> None:
    for split, total in zip(("train", "test"), TABLE1["caer_s"]):
        per_class = n(total, scale) // len(CAER)
        for c, name in enumerate(CAER):
            folder = name if split == "train" or name != "Angry" else "Anger"
            for i in range(per_class):
                media.link("png", root / split / folder / f"{i + 1:04d}.png", c + i)


def make_meld(root: Path, media: Media, scale: float) -> None:
    train, test = (n(s, scale) for s in TABLE1["meld"])
    sizes = {"train": round(train * 0.9), "dev": train - round(train * 0.9), "test": test}
    folders = {"train": "train/train_splits", "dev": "dev/dev_splits_complete",
               "test": "test/output_repeated_splits_test"}
    header = ("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,"
              "Episode,StartTime,EndTime\n")
    for split, count in sizes.items():
        lines = [header]
        for i in range(count):
            dia, utt = divmod(i, 10)  # 10 utterances per dialogue
            lines.append(f'{i + 1},"Well, line {i}.",Joey,{MELD_EMOTIONS[i % 7]},neutral,{dia},'
                         f'{utt},1,1,"00:00:01,000","00:00:02,000"\n')
            media.link("mp4", root / folders[split] / f"dia{dia}_utt{utt}.mp4", i)
        (root / f"{split}_sent_emo.csv").write_text("".join(lines))


def make_emotion6(root: Path, media: Media, scale: float) -> None:
    total = sum(n(s, scale) for s in TABLE1["emotion6"])
    lines = ["[image_filename]\t[valence]\t[arousal]\t[prob. anger]\t[prob. disgust]\t"
             "[prob. fear]\t[prob. joy]\t[prob. sadness]\t[prob. surprise]\t[prob. neutral]\n"]
    for i in range(total):
        keyword = EMOTION6[i % 6]
        probs = ["0.1"] * 7
        probs[i % 6] = "0.4"
        lines.append(f"{keyword}/{i}.jpg\t5\t5\t" + "\t".join(probs) + "\n")
        media.link("jpg", root / "images" / keyword / f"{i}.jpg", i)
    (root / "ground_truth.txt").write_text("".join(lines))


def make_mintrec(root: Path, media: Media, scale: float) -> None:
    train, test = (n(s, scale) for s in TABLE1["mintrec"])
    sizes = {"train": round(train * 0.75), "dev": train - round(train * 0.75), "test": test}
    clip = 0
    for split, count in sizes.items():
        lines = ["season\tepisode\tclip\ttext\tlabel\n"]
        for i in range(count):
            clip += 1
            lines.append(f"S01\tE01\t{clip}\tcan you help me.\t{INTENTS[i % len(INTENTS)]}\n")
            media.link("mp4", root / "raw_data" / "S01" / "E01" / f"{clip}.mp4", i)
        (root / f"{split}.tsv").write_text("".join(lines))


def make_urfunny(root: Path, media: Media, scale: float) -> None:
    train, test = (n(s, scale) for s in TABLE1["urfunny"])
    ids = list(range(1, train + test + 1))
    folds = {"train": ids[:round(train * 0.89)], "dev": ids[round(train * 0.89):train],
             "test": ids[train:]}
    language = {i: {"punchline_sentence": f"and that was line {i}",
                    "context_sentences": ["so i said", "and they laughed"]} for i in ids}
    labels = {i: i % 2 for i in ids}
    root.mkdir(parents=True)
    for name, obj in (("data_folds", folds), ("language_sdk", language),
                      ("humor_label_sdk", labels)):
        (root / f"{name}.pkl").write_bytes(pickle.dumps(obj, protocol=2))
    for i in ids:
        media.link("mp4", root / "urfunny2_videos" / f"{i}.mp4", i)


def make_mmhs150k(root: Path, media: Media, scale: float) -> None:
    make_synthetic_mmhs150k(root, tweets=n(150_000, scale), ocr_every=20)
    for split in ("train", "val", "test"):
        for i, tweet_id in enumerate((root / "splits" / f"{split}_ids.txt").read_text().split()):
            media.link("jpg", root / "img_resized" / f"{tweet_id}.jpg", i)


def make_mmsd2(root: Path, media: Media, scale: float) -> None:
    train, test = (n(s, scale) for s in TABLE1["mmsd2"])
    sizes = {"train": round(train * 0.89), "valid": train - round(train * 0.89), "test": test}
    rng = random.Random(0)
    image_id = 682_716_753_374_351_360
    (root / "data" / "text_json_final").mkdir(parents=True)
    for split, count in sizes.items():
        items = []
        for i in range(count):
            image_id += 7919
            items.append({"image_id": image_id, "text": f"<user> great , another monday {i}",
                          "label": rng.randint(0, 1)})
            media.link("jpg", root / "data" / "dataset_image" / f"{image_id}.jpg", i)
        (root / "data" / "text_json_final" / f"{split}.json").write_text(json.dumps(items))


MAKERS = {"emotic": make_emotic, "caer_s": make_caer_s, "meld": make_meld,
          "emotion6": make_emotion6, "mintrec": make_mintrec, "urfunny": make_urfunny,
          "mmhs150k": make_mmhs150k, "mmsd2": make_mmsd2}


def make_all(base: Path, scale: float) -> dict[str, Path]:
    media = Media(base / "_media")
    roots = {}
    for name, maker in MAKERS.items():
        roots[name] = base / name
        maker(roots[name], media, scale)
    return roots


def timed_build(roots: dict[str, Path], out: Path, scale: float, **flags) -> tuple[float, dict]:
    from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build

    specs = [DatasetSpec(name, root, n(TABLE1[name][0], scale), n(TABLE1[name][1], scale))
             for name, root in roots.items()]
    start, cpu = time.perf_counter(), cpu_seconds()
    manifest = build(BuildConfig(specs, out, **flags), progress=False)
    return time.perf_counter() - start, cpu_seconds() - cpu, manifest


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def files_of(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.json"))}


def main() -> None:
    from emollm_plugin.bench.media_check import default_jobs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of Table 1's sizes (default: 1.0, about 287k samples)")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="processes of the parallel run (default: the CPUs available)")
    parser.add_argument("--data", type=Path, help="write data and outputs here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep --data afterwards")
    args = parser.parse_args()
    base = args.data or Path(tempfile.mkdtemp(prefix="emobench_bench_"))
    try:
        start = time.perf_counter()
        roots = make_all(base / "src", args.scale)
        print(f"synthetic sources ({args.scale:g} x Table 1) written in "
              f"{time.perf_counter() - start:.0f} s under {base}")
        load = os.getloadavg()[0]
        rows = []
        for label, flags in (("no media check", {"check_media": False, "jobs": 1}),
                             ("media check, 1 job", {"jobs": 1}),
                             (f"media check, {args.jobs} jobs", {"jobs": args.jobs})):
            out = base / f"out_{len(rows)}"
            seconds, cpu, manifest = timed_build(roots, out, args.scale, **flags)
            checked = sum(sum(e["available"].values()) + sum(
                i["count"] for r in e["drops"].values() for i in r.values())
                for e in manifest["datasets"].values())
            records = sum(f["records"] for name, f in manifest["files"].items()
                          if name in ("train.json", "val.json", "test.json"))
            rows.append((label, seconds, checked, records, out, cpu))
        identical = files_of(rows[1][4]) == files_of(rows[2][4])
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
        autogroup = autogroup.read_text().strip() if autogroup.exists() else "n/a"
        print(f"\ncpus={default_jobs()} jobs={args.jobs} scale={args.scale:g} "
              f"load(1 min)={load:.1f} at start, {os.getloadavg()[0]:.1f} at end, "
              f"sched_autogroup={autogroup}")
        print(f"{'build':<24}{'s':>8}{'samples':>9}{'records':>9}{'samples/s':>11}"
              f"{'records/s':>11}{'vs 1 job':>10}{'cpu s':>8}{'cpu/wall':>10}")
        for label, seconds, checked, records, _, cpu in rows:
            ratio = rows[1][1] / seconds
            print(f"{label:<24}{seconds:8.1f}{checked:9d}{records:9d}{checked / seconds:11.0f}"
                  f"{records / seconds:11.0f}{ratio:9.2f}x{cpu:8.1f}{cpu / seconds:10.2f}")
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the building process: {peak:.0f} MB (media-check workers apart)")
        media_share = (rows[1][1] - rows[0][1]) / rows[1][1]
        print(f"media checks: {100 * media_share:.0f}% of the 1-job build; outputs of 1 and "
              f"{args.jobs} jobs byte-identical: {identical}")
        print(f"target: >= 1.6x from 1 to 2 jobs -> {rows[1][1] / rows[2][1]:.2f}x with "
              f"{args.jobs} jobs")
        if not identical:
            raise SystemExit("outputs differ between 1 and N jobs")
    finally:
        if not (args.data and args.keep):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
