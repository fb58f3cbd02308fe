"""`emollm bench build | validate | subset | stats`."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from .adapters import list_adapters


def _parser() -> argparse.ArgumentParser:
    from .build import DEFAULT_VAL, DEFAULT_VALTEST_SPLIT, EMOTION_LABEL_COUNTS, VAL_FROM, BuildConfig

    parser = argparse.ArgumentParser(prog="emollm bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build EmoBench from datasets in their original layouts")
    b.add_argument("--config", type=Path, help="bench.yaml naming datasets, roots and sizes")
    b.add_argument("--dataset", choices=list_adapters(), help="one dataset, without a config")
    b.add_argument("--root", type=Path, help="that dataset's folder")
    b.add_argument("--out", type=Path, help="output folder (overrides the config's 'out')")
    b.add_argument("--seed", type=int, help="sampling/question seed (default: 0)")
    b.add_argument("--train-size", type=int, help="train samples (default: paper's Table 1)")
    b.add_argument("--test-size", type=int,
                   help="test samples per dataset (default with --val-from valtest: "
                        f"{DEFAULT_VALTEST_SPLIT.split(',')[0]}; with train: Table 1's Val&Test size)")
    b.add_argument("--closed-fraction", type=float,
                   help="share of emotion train samples asked closed-set (default: 0.5)")
    b.add_argument("--val-size", type=int, metavar="N",
                   help="val samples per dataset, taken by whole groups (default with --val-from "
                        f"valtest: the rest of Table 1's Val&Test size, or val : test = 14.4 : 30 "
                        "around a given --test-size; with train: "
                        f"{DEFAULT_VAL.replace('%', '%%')}; 0: no val files)")
    b.add_argument("--val-from", choices=VAL_FROM,
                   help="where val comes from: the datasets' test side, beside a test set of about "
                        "30k samples, as Tables 1 and 2 print it (valtest), or the training side "
                        f"(train) (default: {BuildConfig.val_from})")
    b.add_argument("--emotion-labels", type=int, choices=EMOTION_LABEL_COUNTS,
                   help="emotion label set: 7 with neutral (Table 1's sizes need it) or 6, as "
                        "section 3.2's Emo-C example lists (neutral samples dropped) (default: "
                        f"{BuildConfig.emotion_labels})")
    b.add_argument("--emotion-questions", choices=("both", "split"),
                   help="val/test emotion samples asked closed AND open (both) or one way, like "
                        f"train (split) (default: {BuildConfig.emotion_questions})")
    b.add_argument("--jobs", type=int, metavar="N",
                   help="processes checking media (default: the CPUs available); the output "
                        "does not depend on it")
    b.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="adapter option for --dataset, e.g. variant=clean (repeatable)")
    b.add_argument("--templates", type=Path, help="extra question templates JSON")
    b.add_argument("--no-media-check", action="store_true",
                   help="keep samples without checking their media (presence, image decode, "
                        "clip probe)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")

    v = sub.add_parser("validate", help="check records files: schema, labels, media")
    v.add_argument("files", type=Path, nargs="+")
    v.add_argument("--media-root", type=Path,
                   help="folder the media paths resolve against (default: FILE's dir/media)")
    v.add_argument("--no-media", action="store_true", help="check the structure only")
    v.add_argument("--no-manifest", action="store_true",
                   help="check a file no build wrote (default: the file must be listed, with "
                        "its size and sha256, in the manifest.json beside it)")
    v.add_argument("--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser("subset", help="a test subset: --table3, the paper's image-only six-emotion set")
    t.add_argument("--table3", action="store_true", required=True,
                   help="image-only Emo-C and Emo-O test records with the six emotions (no neutral), "
                        "Emo-C asked with the six-option list (docs/evaluation.md)")
    t.add_argument("--questions", type=Path, required=True, help="a built test file (test.json)")
    t.add_argument("--out", type=Path, required=True, help="the subset to write (JSON list)")
    t.add_argument("--per-label", type=int, default=None, metavar="N",
                   help="at most N images per label, chosen by a seeded hash (default: all)")
    t.add_argument("--seed", type=int, default=0, help="seed of the --per-label choice (default: 0)")

    s = sub.add_parser("stats", help="counts per dataset / split / task / label")
    s.add_argument("files", type=Path, nargs="+")
    return parser


def _options(pairs: list[str]) -> dict:
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"emollm bench build: --option {pair!r} must look like KEY=VALUE")
        options[key] = yaml.safe_load(value)
    return options


def _build(args: argparse.Namespace) -> int:
    from .build import BuildConfig, DatasetSpec, build, load_config

    if args.config is not None:
        if args.dataset or args.root or args.option:
            raise SystemExit("emollm bench build: give either --config or --dataset/--root")
        config = load_config(args.config)
        if args.out is not None:
            config.out = args.out
        if args.seed is not None:
            config.seed = args.seed
        if args.closed_fraction is not None:
            config.closed_fraction = args.closed_fraction
        for spec in config.datasets:
            for size in ("train_size", "test_size", "val_size"):
                if getattr(args, size) is not None:
                    setattr(spec, size, getattr(args, size))
    else:
        missing = [f for f in ("dataset", "root", "out") if getattr(args, f) is None]
        if missing:
            raise SystemExit("emollm bench build: without --config, give --"
                             + ", --".join(missing))
        spec = DatasetSpec(args.dataset, args.root, args.train_size, args.test_size,
                           _options(args.option), args.val_size)
        config = BuildConfig([spec], args.out, seed=args.seed or 0,
                             closed_fraction=0.5 if args.closed_fraction is None
                             else args.closed_fraction)
    if args.emotion_questions is not None:
        config.emotion_questions = args.emotion_questions
    if args.jobs is not None:
        config.jobs = args.jobs
    if args.val_from is not None:
        config.val_from = args.val_from
    if args.emotion_labels is not None:
        config.emotion_labels = args.emotion_labels
    config.__post_init__()  # re-check what the flags changed
    if args.templates is not None:
        config.templates = args.templates
    if args.no_media_check:
        config.check_media = False
    manifest = build(config, progress=not args.quiet)
    print(_summary(manifest, config.out))
    return 0


def _summary(manifest: dict, out: Path) -> str:
    lines = [f"EmoBench written to {out} (seed {manifest['seed']})"]
    for name, entry in manifest["datasets"].items():
        sel, req = entry["selected"], entry["requested"]
        lines.append(f"  {name:<10} train {sel['train']}/{req['train']}  "
                     f"val {sel['val']}/{req['val']}  test {sel['test']}/{req['test']}")
        for split, reasons in entry["drops"].items():
            for reason, info in reasons.items():
                lines.append(f"    dropped {info['count']} {split}: {reason}")
        for split, note in entry["short_of_request"].items():
            lines.append(f"    {split}: {note}")
    for split, tasks in manifest["totals"].items():
        if tasks:
            lines.append(f"  {split}: " + ", ".join(f"{t} {n}" for t, n in tasks.items()))
    return "\n".join(lines)


def _validate(args: argparse.Namespace) -> int:
    from .validate import RecordError, validate_file

    status = 0
    for path in args.files:
        try:
            report = validate_file(path, args.media_root, check_media=not args.no_media,
                                   progress=not args.quiet, manifest=not args.no_manifest)
        except RecordError as err:
            print(f"ERROR {err}", file=sys.stderr)
            return 1
        print(report.summary())
        status |= 0 if report.ok else 1
    return status


def _stats(args: argparse.Namespace) -> int:
    from .validate import check_structure, load_bench_records

    for path in args.files:
        records = load_bench_records(path)
        check_structure(path, records)  # stats of a broken file would mislead
        print(f"{path}: {len(records)} records")
        by_task: dict[tuple[str, str, str], Counter[str]] = {}
        for r in records:
            by_task.setdefault((r["dataset"], r["split"], r["task"]), Counter())[r["label"]] += 1
        for (dataset, split, task), labels in sorted(by_task.items()):
            spread = ", ".join(f"{label} {n}" for label, n in labels.most_common())
            print(f"  {dataset:<10} {split:<5} {task:<15} {sum(labels.values()):>7}  {spread}")
    return 0


def _subset(args: argparse.Namespace) -> int:
    from .build import atomic_write, dumps_records
    from .subset import images_per_label, table3_subset
    from .validate import check_structure, load_bench_records

    records = load_bench_records(args.questions)
    check_structure(args.questions, records)
    subset = table3_subset(records, args.per_label, args.seed)
    if not subset:
        raise ValueError(f"{args.questions}: no image-only emotion record with one of the six emotions; "
                         "give a test file built with image emotion datasets (caer_s, emotic, emotion6)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, dumps_records(subset))
    tasks = Counter(r["task"] for r in subset)
    print(f"{args.out}: {len(subset)} records (" + ", ".join(f"{t} {n}" for t, n in sorted(tasks.items()))
          + "); images per label: " + ", ".join(f"{k} {v}" for k, v in images_per_label(subset).items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"build": _build, "validate": _validate, "stats": _stats, "subset": _subset}[args.command]
    try:
        return handler(args)
    except (OSError, ValueError, KeyError) as err:  # layout, format, config errors: no traceback
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"emollm bench {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
