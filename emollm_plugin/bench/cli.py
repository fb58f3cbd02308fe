"""`emollm bench build | validate | stats`."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from .adapters import list_adapters


def _parser() -> argparse.ArgumentParser:
    from .build import DEFAULT_VAL, BuildConfig

    parser = argparse.ArgumentParser(prog="emollm bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build EmoBench from datasets in their original layouts")
    b.add_argument("--config", type=Path, help="bench.yaml naming datasets, roots and sizes")
    b.add_argument("--dataset", choices=list_adapters(), help="one dataset, without a config")
    b.add_argument("--root", type=Path, help="that dataset's folder")
    b.add_argument("--out", type=Path, help="output folder (overrides the config's 'out')")
    b.add_argument("--seed", type=int, help="sampling/question seed (default: 0)")
    b.add_argument("--train-size", type=int, help="train samples (default: paper's Table 1)")
    b.add_argument("--test-size", type=int, help="test samples (default: paper's Table 1)")
    b.add_argument("--closed-fraction", type=float,
                   help="share of emotion train samples asked closed-set (default: 0.5)")
    b.add_argument("--val-size", type=int, metavar="N",
                   help="val samples per dataset, carved out of the training side by whole "
                        f"groups (default: {DEFAULT_VAL.replace('%', '%%')}; 0: no val files)")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"build": _build, "validate": _validate, "stats": _stats}[args.command]
    try:
        return handler(args)
    except (OSError, ValueError, KeyError) as err:  # layout, format, config errors: no traceback
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"emollm bench {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
