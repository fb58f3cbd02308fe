"""`emollm emoprompt generate | validate`: build and check an EmoPrompt exemplar bank."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

from .generator.config import GeneratorConfig

_DEFAULT = {f.name: f.default for f in fields(GeneratorConfig)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emollm emoprompt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = _DEFAULT

    g = sub.add_parser("generate", help="ask an OpenAI-compatible endpoint for worked examples "
                                        "(resumes an existing bank)")
    g.add_argument("--bench", type=Path, required=True, help="EmoBench records file (e.g. train.json)")
    g.add_argument("--out", type=Path, required=True, help="bank to write or extend (JSONL)")
    g.add_argument("--per-task", type=int, required=True, help="exemplars wanted per task")
    g.add_argument("--base-url", required=True, help="endpoint, e.g. https://api.openai.com/v1")
    g.add_argument("--model", required=True, help="model name sent to the endpoint")
    g.add_argument("--api-key-env", default=d["api_key_env"],
                   help=f"environment variable holding the API key; '' for none (default: {d['api_key_env']})")
    g.add_argument("--media-root", type=Path,
                   help="folder the records' media paths resolve against (default: BENCH's dir/media)")
    g.add_argument("--tasks", nargs="+", help="tasks to fill (default: all in the records)")
    g.add_argument("--split", nargs="+", default=list(d["splits"]),
                   help=f"record splits to use (default: {' '.join(d['splits'])})")
    g.add_argument("--num-frames", type=int, default=d["num_frames"],
                   help=f"frames sent per video (default: {d['num_frames']})")
    g.add_argument("--max-image-side", type=int, default=d["max_image_side"],
                   help=f"images are shrunk to fit this many pixels (default: {d['max_image_side']})")
    g.add_argument("--rpm", type=float, default=d["requests_per_minute"],
                   help=f"requests per minute; 0 = no limit (default: {d['requests_per_minute']:g})")
    g.add_argument("--max-attempts", type=int, default=d["max_attempts"],
                   help=f"attempts per record (default: {d['max_attempts']})")
    g.add_argument("--backoff", type=float, default=d["backoff_base_s"],
                   help=f"first retry delay in s, doubling (default: {d['backoff_base_s']:g})")
    g.add_argument("--timeout", type=float, default=d["timeout_s"],
                   help=f"total seconds one request may take, reading the reply included "
                        f"(default: {d['timeout_s']:g})")
    g.add_argument("--max-reply-mb", type=float, default=d["max_reply_bytes"] / 2**20,
                   help="a reply over this size is refused (default: %(default)g)")
    g.add_argument("--temperature", type=float, default=d["temperature"],
                   help=f"sampling temperature (default: {d['temperature']:g})")
    g.add_argument("--seed", type=int, default=d["seed"], help=f"record order seed (default: {d['seed']})")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    v = sub.add_parser("validate", help="check a bank: schema, tasks, labels, answers, unique ids")
    v.add_argument("bank", type=Path)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from ..bench.validate import load_bench_records
    from .generator import generate_bank

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    config = GeneratorConfig(
        out_path=args.out, per_task=args.per_task, base_url=args.base_url, model=args.model,
        api_key_env=args.api_key_env or None, media_root=args.media_root or args.bench.parent / "media",
        tasks=args.tasks, splits=args.split, num_frames=args.num_frames,
        max_image_side=args.max_image_side, requests_per_minute=args.rpm or None,
        max_attempts=args.max_attempts, backoff_base_s=args.backoff, timeout_s=args.timeout,
        max_reply_bytes=max(1, int(args.max_reply_mb * 2**20)),
        temperature=args.temperature, seed=args.seed, progress=not args.quiet)
    print(generate_bank(load_bench_records(args.bench), config).summary())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .bank import validate_bank

    report = validate_bank(args.bank)
    print(report.summary())
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .generator import GenerationError

    handler = {"generate": _generate, "validate": _validate}[args.command]
    try:
        return handler(args)
    except (OSError, ValueError, GenerationError) as err:
        print(f"emollm emoprompt {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
