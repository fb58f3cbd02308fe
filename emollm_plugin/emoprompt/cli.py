"""`emollm emoprompt generate | validate`: build and check an EmoPrompt exemplar bank."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emollm emoprompt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="ask an OpenAI-compatible endpoint for worked examples "
                                        "(resumes an existing bank)")
    g.add_argument("--bench", type=Path, required=True, help="EmoBench records file (e.g. train.json)")
    g.add_argument("--out", type=Path, required=True, help="bank to write or extend (JSONL)")
    g.add_argument("--per-task", type=int, required=True, help="exemplars wanted per task")
    g.add_argument("--base-url", required=True, help="endpoint, e.g. https://api.openai.com/v1")
    g.add_argument("--model", required=True, help="model name sent to the endpoint")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key; '' for none (default: OPENAI_API_KEY)")
    g.add_argument("--media-root", type=Path,
                   help="folder the records' media paths resolve against (default: BENCH's dir/media)")
    g.add_argument("--tasks", nargs="+", help="tasks to fill (default: all in the records)")
    g.add_argument("--split", nargs="+", default=["train"], help="record splits to use (default: train)")
    g.add_argument("--num-frames", type=int, default=4, help="frames sent per video (default: 4)")
    g.add_argument("--max-image-side", type=int, default=512,
                   help="images are shrunk to fit this many pixels (default: 512)")
    g.add_argument("--rpm", type=float, default=30.0, help="requests per minute; 0 = no limit (default: 30)")
    g.add_argument("--max-attempts", type=int, default=5, help="attempts per record (default: 5)")
    g.add_argument("--backoff", type=float, default=1.0, help="first retry delay in s, doubling (default: 1)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    g.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (default: 0.2)")
    g.add_argument("--seed", type=int, default=0, help="record order seed (default: 0)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    v = sub.add_parser("validate", help="check a bank: schema, tasks, labels, answers, unique ids")
    v.add_argument("bank", type=Path)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from ..bench.validate import load_records
    from .generate import generate_bank

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    report = generate_bank(
        load_records(args.bench), args.out, args.per_task, args.base_url, args.model,
        api_key_env=args.api_key_env or None,
        media_root=args.media_root or args.bench.parent / "media", tasks=args.tasks,
        splits=args.split, num_frames=args.num_frames, max_image_side=args.max_image_side,
        requests_per_minute=args.rpm or None, max_attempts=args.max_attempts,
        backoff_base_s=args.backoff, timeout_s=args.timeout, temperature=args.temperature,
        seed=args.seed, progress=not args.quiet)
    print(report.summary())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .bank import validate_bank

    report = validate_bank(args.bank)
    print(report.summary())
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .generate import GenerationError

    handler = {"generate": _generate, "validate": _validate}[args.command]
    try:
        return handler(args)
    except (OSError, ValueError, GenerationError) as err:
        print(f"emollm emoprompt {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
