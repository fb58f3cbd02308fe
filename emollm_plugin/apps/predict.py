"""``emollm predict``: answer questions about your own images, clips and recordings.

    emollm predict --model CKPT [--model-base BASE] INPUT... --out answers.jsonl
                   [--task emotion_closed|emotion_open|intention|hate|humor|sarcasm] [--options a,b,c]
                   [--prompt TEXT] [--explain] [--audio FILE] [--no-audio] [--resume]

INPUT: media files, folders (every media file under them) or manifests (``.csv`` with a header /
``.jsonl``; fields ``path[,audio][,prompt][,label]``), see ``apps/inputs.py``. A video's own sound
track is its audio unless ``--no-audio``; it is left out for a clip without one, or a model
without an audio tower.

Each answer line (JSONL) holds ``question_id`` (the media file's resolved path), ``media``, ``prompt``, ``text``
(the answer; with ``--explain``, the model's whole reply, ``reasoning`` and ``answer`` split),
``label`` and ``parse`` (the scorer's parser on the answer, with a task preset), ``gold`` (a
manifest's label), ``timing`` and ``model_id``; with ``--answer-mode score``, a closed-set or
yes/no task's ``option_probabilities`` (``runtime/scoring.py``). The model, batching and generation
are the runtime's (``runtime/``), so an answer here equals ``emollm eval`` infer's for the same record.

Inputs that cannot be answered (unknown extension, missing, unreadable or corrupt media, a broken
link, a folder that cannot be listed) are listed with their reason on stderr and in
``OUT.skipped.jsonl`` (written only when an input is skipped), and counted; the rest are answered.
The exit status tells which happened (below). ``question_id`` is the file's resolved path
(non-UTF-8 bytes of a name as ``\\xNN``), so ``--resume`` keeps the answers in ``--out`` and
answers only what is missing however the inputs are spelled. A file that cannot be written (a
full disk) stops the run with its name; ``--resume`` continues it. With labels in a manifest, the scorer's
table is printed (questions in ``OUT.questions.json``, so ``emollm eval score`` can repeat it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional

from ..media.probe import has_sound
from ..tasks.labels import TASKS
from ..configs.emoprompt import ILLUSTRATIVE_BANK, TEMPLATE_NAME
from ..runtime.answerer import Answerer
from ..runtime.arguments import add_model_arguments
from ..runtime.batch import answer_batches, answer_id, read_answered, skipped_path
from ..runtime.errors import InferInputError
from ..runtime.loading import check_quantization, checkpoint_conv_mode, model_id_for, resolve_device_dtype
from ..records import OutputFileError, WrittenOnDemand, open_output
from .inputs import InputError, Item, Rejected, collect, shown
from .prompts import PromptError, Question, record_for, split_explained

SHOWN_SKIPS = 20  # skipped inputs listed one by one on stderr
EXIT_ALL_ANSWERED = 0
EXIT_SOME_SKIPPED = 3  # 1 is Python's own failure, 2 a usage or input error
EXIT_NONE_ANSWERED = 4
EXIT_CODES = f"""exit status:
  {EXIT_ALL_ANSWERED}  every input has its answer in --out
  {EXIT_SOME_SKIPPED}  some inputs were answered, the others skipped (listed in OUT.skipped.jsonl)
  {EXIT_NONE_ANSWERED}  no input was answered (none found, or every one skipped)
  2  a usage or input error (the message says what to change); nothing was answered
"""


def media_root(items: list[Item]) -> Path:
    """The deepest folder holding every item's (resolved) files: records name paths under it."""
    files = [str(f.resolve()) for item in items for f in (item.path, item.audio) if f is not None]
    return Path(os.path.commonpath([os.path.dirname(f) for f in files]))


def item_record(item: Item, root: Path, question: Question, audio_tower: bool) -> dict:
    """The EmoBench record for an item; a clip's own sound track only when usable."""
    rel = lambda f: str(f.resolve().relative_to(root))  # noqa: E731
    media = {item.kind: rel(item.path)}
    if item.audio is not None and not (item.own_audio and (not audio_tower or not has_sound(item.path))):
        media["audio"] = rel(item.audio)
    return record_for(item.id, media, question.text(item.kind, item.prompt), question.task,
                      question.label_set)  # no label: a manifest's gold goes to the scorer only


class RandomExemplars:
    """EmoPrompt exemplars for --explain: drawn by item id from the task's exemplars
    (``random``, as every answering path: nothing that answers reads a gold label)."""

    def __init__(self, bank_path: str, seed: int = 0):
        from ..emoprompt.bank import load_bank, resolve_bank
        from ..emoprompt.select import ExemplarSelector
        self.selector = ExemplarSelector(load_bank(resolve_bank(bank_path)), strategy="random", seed=seed)

    def conversation_for(self, record: dict, conv):
        from ..emoprompt.template import with_exemplar
        exemplar = self.selector.select(record)
        return with_exemplar(conv, exemplar), exemplar


def exemplar_bank(args: argparse.Namespace) -> str:
    if args.exemplar_bank:
        return str(args.exemplar_bank)
    config = json.loads((Path(args.model_path) / "config.json").read_text()) \
        if (Path(args.model_path) / "config.json").is_file() else {}
    if config.get("emoprompt_bank"):
        return config["emoprompt_bank"]
    raise InputError(f"--explain needs an EmoPrompt exemplar bank: {args.model_path} names none (its config has "
                     f"no emoprompt_bank); pass --exemplar-bank PATH (the bank it was trained with), or "
                     f"--exemplar-bank {ILLUSTRATIVE_BANK} for the shipped hand-written exemplars")


def answer_line(record: dict, item: Item, question: Question, text: str, timing: dict, model_id: str,
                probabilities: dict | None = None) -> str:
    from ..tasks.answers import parse_answer
    from ..tasks.schema import question_without_placeholders

    reasoning, answer = split_explained(text) if question.explain else (None, text)
    media = {kind: shown(item.path) for kind in ("image", "video") if kind in record}
    if "audio" in record:
        media["audio"] = shown(item.path if item.kind == "audio" else item.audio)
    row = {"question_id": record["id"], "media": media, "prompt": question_without_placeholders(record), "text": text}
    if question.explain:
        row.update(reasoning=reasoning, answer=answer)
    if question.task is not None:
        parsed = parse_answer(text, question.task, question.label_set)  # as the scorer: the last "Answer:" decides
        row.update(task=question.task, label=parsed.label, parse=parsed.status)
    if probabilities is not None:
        row["option_probabilities"] = probabilities
    if item.label is not None:
        row["gold"] = item.label
    row.update(timing=timing, model_id=model_id, answer_id=answer_id(model_id, record["id"], row["prompt"]))
    return json.dumps(row) + "\n"


def _skip_line(rejected: Rejected) -> str:
    return json.dumps({"question_id": rejected.source, "reason": rejected.reason, "message": rejected.message}) + "\n"


def _check_labels(items: list[Item], question: Question, path: Path) -> Optional[Path]:
    """Write the labelled items as EmoBench questions and check them with the scorer's own rules
    before any model is loaded; None when no item has a label."""
    from ..eval.score import load_questions

    labelled = [i for i in items if i.label is not None]
    if not labelled:
        return None
    if question.task is None:
        raise InputError("the manifest has labels but no --task was given: a label is scored against a task preset")
    records = [record_for(i.id, {i.kind: shown(i.path)}, "", question.task, question.label_set, i.label)
               for i in labelled]
    with open_output(path, "w", "questions") as questions_out:
        questions_out.write(json.dumps(records, indent=1))
    load_questions(path)  # raises ScoringInputError naming each bad label
    return path


def _check_same_questions(out: Path, items: list[Item], question: Question) -> None:
    """--resume keeps answers only to the questions this run asks: another --task, --options or
    --prompt for an answered item is refused, not mixed into one file."""
    from ..records import load_records
    asked = {item.id: question.text(item.kind, item.prompt).strip() for item in items}
    for row in load_records(out, "answers", InputError):
        before = row.get("prompt") if isinstance(row, dict) else None
        if row.get("question_id") in asked and before != asked[row["question_id"]]:
            raise InputError(f"{out}: {row['question_id']} was answered to {before!r}, but this run asks "
                             f"{asked[row['question_id']]!r}; use another --out, or run without --resume to start over")


def _uses_exemplars(args: argparse.Namespace, question: Question) -> bool:
    """Whether prompts carry an EmoPrompt exemplar: with --explain, or when the checkpoint was
    trained with emoprompt_v1 (its recorded template) and a task preset names the exemplar's task.
    A free question on such a checkpoint has no task, so it is asked with vicuna_v1 (as serve does).
    Sets ``args.conv_mode`` to match."""
    recorded = checkpoint_conv_mode(args.model_path)
    wanted = args.explain or (args.conv_mode or recorded) == TEMPLATE_NAME
    if wanted and question.task is None:
        args.conv_mode = args.conv_mode if args.conv_mode not in (None, TEMPLATE_NAME) else "vicuna_v1"
        return False
    if wanted:
        args.conv_mode = TEMPLATE_NAME
    return wanted


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    for flag, text in (("--prompt", args.prompt), ("--options", args.options)):
        if text is not None and shown(text) != text:  # bytes of the command line that are not UTF-8
            raise InputError(f"{flag} {shown(text)!r} is not UTF-8 text; the tokenizer cannot take it")
    question = Question(args.task, args.prompt, tuple(o.strip() for o in args.options.split(",") if o.strip())
                        if args.options else None, args.explain)
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.answer_mode == "score" and args.explain:
        raise InputError("--answer-mode score picks an option by its likelihood right after the question; "
                         "--explain asks for reasoning first. Use one of them.")
    check_quantization(resolve_device_dtype(args.device, args.dtype)[0], args.load_4bit, args.load_8bit)
    items, rejected, passed_over = collect(args.inputs, own_audio=not args.no_audio, audio=args.audio)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFileError(f"{out}: cannot make its folder ({err.strerror or err})") from None
    questions_file = _check_labels(items, question, out.with_name(out.name + ".questions.json"))
    model_id = args.model_id or model_id_for(args.model_path)
    answered = read_answered(out, model_id) if args.resume else set()
    if answered:
        _check_same_questions(out, items, question)
    pending = [i for i in items if i.id not in answered]
    if passed_over:
        print(f"emollm predict: passed over {passed_over} file(s) in folders that are not image, video or audio",
              file=sys.stderr)
    written = 0
    with WrittenOnDemand(skipped_path(out)) as skip_out:
        skip_out.writelines(_skip_line(r) for r in rejected)
        if pending:
            with_exemplar = _uses_exemplars(args, question)
            args.media_root = root = media_root(items)
            exemplars = RandomExemplars(exemplar_bank(args), args.seed) if with_exemplar else None
            answerer = Answerer(args, emoprompt=exemplars)
            audio_tower = answerer.media.n_mels is not None
            records = [item_record(i, root, question, audio_tower) for i in items]
            by_id = {i.id: i for i in items}
            with open_output(out, "a" if args.resume else "w", "answers") as answers, \
                    tqdm(total=len(pending), desc="predicting", unit="item", disable=None) as bar:
                written, _ = answer_batches(
                    answerer, records, args.batch_size, answered, answers, skip_out, bar,
                    lambda record, text, timing, probabilities: answer_line(
                        record, by_id[record["id"]], question, text, timing, model_id, probabilities))
    skipped = _report(out, len(items), len(items) - len(pending), written)
    if questions_file is not None:
        _print_scores(out, questions_file)
    return exit_code(answered=len(items) - len(pending) + written, skipped=skipped)


def exit_code(answered: int, skipped: int) -> int:
    """EXIT_ALL_ANSWERED when every input has its answer, EXIT_SOME_SKIPPED when some do,
    EXIT_NONE_ANSWERED when none does (nothing found, or every input skipped)."""
    if answered == 0:
        return EXIT_NONE_ANSWERED
    return EXIT_SOME_SKIPPED if skipped else EXIT_ALL_ANSWERED


def _report(out: Path, total: int, before: int, written: int) -> int:
    """Print the summary and the first skips; the number of inputs not answered."""
    skipped = skipped_path(out)
    lines = [json.loads(line) for line in skipped.read_text(encoding="utf-8").splitlines()] \
        if skipped.is_file() else []
    print(f"emollm predict: {total} item(s): {written} answered now, {before} already in {out}; "
          f"{len(lines)} input(s) not answered", file=sys.stderr)
    if total == 0 and not lines:
        print("emollm predict: nothing to answer: no image, video or audio file among the inputs", file=sys.stderr)
    for row in lines[:SHOWN_SKIPS]:
        print(f"  not answered: {row['question_id']}: {row['reason']}: {row['message']}", file=sys.stderr)
    if len(lines) > SHOWN_SKIPS:
        print(f"  ... and {len(lines) - SHOWN_SKIPS} more, all in {skipped_path(out)}", file=sys.stderr)
    return len(lines)


def _print_scores(out: Path, questions_file: Path) -> None:
    from ..eval.report import accuracy_table
    from ..eval.score import score_files
    print("\n".join(accuracy_table(score_files(out, questions_file))))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emollm predict", description=__doc__, epilog=EXIT_CODES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("inputs", nargs="+", help="media files, folders, or .csv/.jsonl manifests")
    p.add_argument("--out", required=True, type=Path, help="answers JSONL to write")
    p.add_argument("--task", choices=TASKS, default=None, help="ask EmoBench's question for this task")
    p.add_argument("--options", default=None, help="comma-separated options for emotion_closed / intention "
                                                   "(default: the task's EmoBench label set)")
    p.add_argument("--prompt", default=None, help="a free question (with --task, replaces the preset wording)")
    p.add_argument("--explain", action="store_true", help="ask for the reasoning before the answer, with an "
                                                          "EmoPrompt worked example in the system prompt")
    p.add_argument("--exemplar-bank", type=Path, default=None,
                   help="EmoPrompt bank for --explain (default: the checkpoint config's emoprompt_bank)")
    p.add_argument("--audio", type=Path, default=None, help="a sound track for the single media INPUT")
    p.add_argument("--no-audio", action="store_true", help="do not use a video's own sound track")
    p.add_argument("--resume", action="store_true", help="keep the answers already in --out")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from ..eval.score import ScoringInputError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (InputError, PromptError, ScoringInputError, InferInputError, OutputFileError) as err:
        print(f"emollm predict: {err}", file=sys.stderr)
        return 2
