"""``emollm eval score|report|aggregate|export-questions``: score a LLaVA answers file against
EmoBench questions, aggregate the scores of several runs (seeds), or write the questions for
LLaVA's own ``model_vqa_loader``.

    emollm eval score  --answers A.jsonl --questions Q.json [--out-json S.json] [--out-md S.md] [--model-card CKPT]
    emollm eval report --answers A.jsonl --questions Q.json --out DIR
    emollm eval aggregate RUN_DIR... [--out DIR]
    emollm eval export-questions --questions Q.json --out Q.jsonl [--media-root DIR]
    emollm eval api --base-url URL --model NAME --question-file Q.json --answers-file A.jsonl
                                 (apps/eval_api.py: answers from an OpenAI-compatible endpoint)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .report import accuracy_table, to_markdown, write_report
from .score import ScoringInputError, score_files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emollm eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("score", "print the per-task table; optionally write JSON / Markdown"),
                        ("report", "write scores.json, scores.md and PNG plots into --out")):
        command = commands.add_parser(name, help=help_)
        command.add_argument("--answers", required=True, type=Path,
                             help="LLaVA answers file (JSONL: question_id, text)")
        command.add_argument("--questions", required=True, type=Path,
                             help="EmoBench records (JSON list or JSONL)")
        command.add_argument("--strict", action="store_true",
                             help="exit 1 when any question is unanswered, any answer has no "
                                  "question or any answer line is duplicated")
    score = commands.choices["score"]
    score.add_argument("--out-json", type=Path, help="write the full scores here")
    score.add_argument("--out-md", type=Path, help="write the Markdown report here")
    score.add_argument("--model-card", type=Path, default=None, metavar="CKPT",
                       help="also write these scores into the model card (README.md) of checkpoint folder CKPT")
    commands.choices["report"].add_argument("--out", required=True, type=Path,
                                            help="folder for scores and plots (created)")
    aggregate = commands.add_parser(
        "aggregate", help="mean ± sample std of every figure over runs (each RUN_DIR holds a scores.json)")
    aggregate.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                           help="evaluation folder holding scores.json (or the scores.json itself)")
    aggregate.add_argument("--out", type=Path, default=None,
                           help="write aggregate.json, aggregate.md and aggregate.png here (created); "
                                "default: print the Markdown only")
    export = commands.add_parser("export-questions",
                                 help="image records -> question JSONL for llava.eval.model_vqa_loader")
    export.add_argument("--questions", required=True, type=Path, help="EmoBench records (JSON list or JSONL)")
    export.add_argument("--out", required=True, type=Path, help="question JSONL to write")
    export.add_argument("--media-root", type=Path, default=None,
                        help="also leave out images that are missing or unreadable under this folder "
                             "(default: no check)")
    return parser


def _export_questions(args: argparse.Namespace) -> int:
    from .questions import QuestionError, load_questions, to_llava_questions
    try:
        exported = to_llava_questions(load_questions(args.questions), args.media_root)
    except QuestionError as err:
        print(f"emollm eval: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(line) + "\n" for line in exported.lines), encoding="utf-8")
    print(f"emollm eval: wrote {args.out}: {exported.summary()}", file=sys.stderr)
    return 0


def _input_problems(scores: dict) -> list[str]:
    checks = scores["input"]
    found = [(checks["unanswered"], "question(s) have no answer; scored as wrong"),
             (checks["answers_without_question"], "answer(s) name no question; not scored"),
             (checks["duplicate_answers"], "duplicate answer line(s); the first line is scored")]
    return [f"{listing['count']} {what} (e.g. {', '.join(listing['ids'])})"
            for listing, what in found if listing["count"]]


def _aggregate(args: argparse.Namespace) -> int:
    from .aggregate import AggregateInputError, aggregate, to_markdown as aggregate_markdown, write_aggregate
    try:
        result = aggregate(args.runs)
    except AggregateInputError as err:
        print(f"emollm eval: {err}", file=sys.stderr)
        return 2
    print(aggregate_markdown(result), end="")
    if args.out is not None:
        written = write_aggregate(result, args.out)
        print(f"wrote {', '.join(path.name for path in written)} to {args.out}", file=sys.stderr)
    return 0


def update_model_card(folder: Path, scores: dict) -> Path:
    """Render ``folder/README.md`` again with ``scores``, keeping the training facts its card holds."""
    from ..model_card import render_model_card, training_from_card

    config_file, card = folder / "config.json", folder / "README.md"
    if not config_file.is_file():
        raise ValueError(f"--model-card {folder}: no config.json there; pass the checkpoint folder training wrote")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    training = training_from_card(card.read_text(encoding="utf-8")) if card.is_file() else {}
    card.write_text(render_model_card(config, scores=scores, training=training), encoding="utf-8")
    return card


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export-questions":
        return _export_questions(args)
    if args.command == "aggregate":
        return _aggregate(args)
    for path in (args.answers, args.questions):
        if not path.is_file():
            print(f"emollm eval: {path} does not exist or is not a file", file=sys.stderr)
            return 2
    try:
        scores = score_files(args.answers, args.questions)
    except ScoringInputError as err:
        print(f"emollm eval: {err}", file=sys.stderr)
        return 2
    problems = _input_problems(scores)
    for problem in problems:
        print(f"emollm eval: warning: {problem}", file=sys.stderr)
    if args.command == "score":
        print(to_markdown(scores), end="")
        for path, text in ((args.out_json, json.dumps(scores, indent=2) + "\n"),
                           (args.out_md, to_markdown(scores))):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        if args.model_card is not None:
            try:
                print(f"emollm eval: scores written into {update_model_card(args.model_card, scores)}",
                      file=sys.stderr)
            except ValueError as err:
                print(f"emollm eval: {err}", file=sys.stderr)
                return 2
    else:
        written = write_report(scores, args.out)
        print("\n".join(accuracy_table(scores)))
        print(f"wrote {len(written)} files to {args.out}: "
              f"{', '.join(path.name for path in written)}")
    return 1 if args.strict and problems else 0


if __name__ == "__main__":
    sys.exit(main())
