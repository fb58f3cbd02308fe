"""Batch inference on EmoBench records through LLaVA's own loader: answers for ``emollm eval score``.

    python -m emollm_plugin.commands.infer --model-path CKPT [--model-base BASE] \\
        --question-file test.json --answers-file answers.jsonl [--media-root DIR] [--resume]

The command line has the shape of ``llava.eval.model_vqa_loader`` and writes its answers format,
one line per record: ``{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}``.
It differs where EmoBench needs it to:

- Records with an image, a video clip and/or audio (``questions.py`` builds the prompt training saw).
- Batches, left-padded with an attention mask (``model.config.tokenizer_padding_side = "left"``).
- The conversation template is the one training used, read from the checkpoint config
  (``emollm_conv_mode``, written at training time); ``--conv-mode`` given explicitly wins.
- Greedy by default (``--temperature 0``), and ``answer_id`` derives from the model id, the record
  id and a digest of the question, so the same run always writes the same bytes.
- Lines are flushed after every batch. ``--resume`` keeps the answered ids, cuts a truncated last
  line left by a crash, and answers the rest. Batches are fixed slices of the record list, and a
  batch with any unanswered record is generated whole (answered members are not written again),
  so the model sees the batches, and the padding, of an uninterrupted run: the files are equal.
- A record the model cannot take (audio without an audio tower, media that cannot be read, a
  prompt longer than the model's context) is not answered: it is counted by reason, listed in
  ``ANSWERS.skipped.jsonl`` (written only when a record is skipped) and summarised on stderr; the
  scorer counts it as unanswered.

The runtime it drives is ``emollm_plugin.runtime``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from ..configs import ConfigError
from ..eval.questions import QuestionError, load_questions
from ..records import AppendOnlyJsonl, OutputFileError, WrittenOnDemand
from ..runtime.answerer import Answerer
from ..runtime.arguments import add_model_arguments
from ..runtime.batch import Summary, answer_batches, answer_line, chunk, read_answered, skipped_path
from ..runtime.errors import InferInputError
from ..runtime.loading import checkpoint_conv_mode, model_id_for, resolve_conv_mode


def run(args: argparse.Namespace) -> Summary:
    from tqdm import tqdm

    from .. import register
    from ..eval.questions import conversation

    register()  # the plugin's conversation templates exist from here on
    if args.batch_size < 1:
        raise InferInputError(f"--batch-size must be >= 1, got {args.batch_size}")
    args.conv_mode = resolve_conv_mode(args.conv_mode, checkpoint_conv_mode(args.model_path), args.model_path)
    try:
        conversation(args.conv_mode)
    except ValueError as err:
        raise InferInputError(str(err)) from None
    records = chunk(load_questions(args.question_file), args.num_chunks, args.chunk_idx)
    answers_file = Path(args.answers_file)
    model_id = args.model_id or model_id_for(args.model_path)
    answered = read_answered(answers_file, model_id) if args.resume else set()
    before = sum(str(r["id"]) in answered for r in records)
    if len(answered) > before:
        print(f"emollm infer: note: {len(answered) - before} answer(s) in {answers_file} name no record of "
              f"{args.question_file} (chunk {args.chunk_idx}); kept as they are", file=sys.stderr)
    answerer = Answerer(args) if before < len(records) else None  # nothing left: no model to load
    if args.temperature > 0:
        import torch
        torch.manual_seed(args.seed)

    answers_file.parent.mkdir(parents=True, exist_ok=True)
    with AppendOnlyJsonl(answers_file).open(truncate=not args.resume) as out, \
            WrittenOnDemand(skipped_path(answers_file)) as skip_out, \
            tqdm(total=len(records) - before, desc="answering", unit="record", disable=None) as bar:
        written, skipped = answer_batches(answerer, records, args.batch_size, answered, out, skip_out, bar,
                                          lambda record, text, _timing, probabilities: answer_line(
                                              record, text, model_id, probabilities),
                                          args.limit)
    return Summary(len(records), before, written, skipped, answers_file, skipped_path(answers_file))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emollm_plugin.commands.infer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--question-file", required=True, type=Path, help="EmoBench records: JSON list or JSONL")
    p.add_argument("--answers-file", required=True, type=Path, help="answers JSONL to write")
    p.add_argument("--media-root", "--image-folder", dest="media_root", type=Path, default=None,
                   help="folder the records' media paths are relative to (default: 'media' next to "
                        "--question-file, as `emollm bench build` writes it)")
    p.add_argument("--resume", action="store_true", help="keep the answers already in --answers-file")
    p.add_argument("--limit", type=int, default=None, help="stop after this many new answers (default: all)")
    p.add_argument("--num-chunks", type=int, default=1, help="split the records into chunks (default: 1)")
    p.add_argument("--chunk-idx", type=int, default=0, help="the chunk this process answers (default: 0)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from ..runtime.quiet_load import deprecations_once_per_run
    deprecations_once_per_run()
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except (QuestionError, InferInputError, ConfigError, OutputFileError) as err:
        print(f"emollm infer: {err}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
