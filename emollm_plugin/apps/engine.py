"""The loaded model behind ``emollm serve`` and ``emollm demo-ui``: a question with media in, text out.

Loading, media decoding, prompts and generation are the runtime's ``Answerer`` (the same code
path as ``emollm eval`` and ``emollm predict``); requests are grouped into its ``generate`` calls
by a ``Batcher``. A clip's own sound track is its audio when no separate audio is given, the
model has an audio tower and the clip has sound (as in ``predict``).
"""
from __future__ import annotations

import argparse
import functools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..configs.emoprompt import TEMPLATE_NAME
from ..media.errors import source_path
from ..runtime.answerer import Answerer
from ..runtime.errors import InferInputError
from ..runtime.generation import generate
from ..runtime.loading import checkpoint_conv_mode, model_id_for
from ..runtime.scoring import options_for, score_options
from .prompts import record_for


FALLBACK_QUESTION_CHARS = 200_000


@dataclass
class Job:
    prepared: object          # runtime.answerer.Prepared
    generation: tuple         # sorted generation kwargs: the batching key


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str        # stop | length
    probabilities: Optional[dict] = None  # label -> probability, for an answer scored over its options


class Engine:
    def __init__(self, args: argparse.Namespace):
        if args.conv_mode == TEMPLATE_NAME:
            raise InferInputError("--conv-mode emoprompt_v1 needs a task for its worked example; the server "
                                  "answers free questions: use the checkpoint's plain template (vicuna_v1)")
        if args.conv_mode is None and checkpoint_conv_mode(args.model_path) == TEMPLATE_NAME:
            args.conv_mode = "vicuna_v1"  # trained with EmoPrompt: free questions have no task for an exemplar
        args.media_root = getattr(args, "media_root", None) or Path(".")
        self.answerer = Answerer(args)
        self.model_id = args.model_id or model_id_for(args.model_path)
        self.defaults = argparse.Namespace(temperature=args.temperature, top_p=args.top_p, num_beams=args.num_beams,
                                           max_new_tokens=args.max_new_tokens,
                                           answer_mode=getattr(args, "answer_mode", "generate"))

    @property
    def audio_tower(self) -> bool:
        return self.answerer.media.n_mels is not None

    @property
    def num_video_frames(self) -> int:
        """Frames sampled from a clip (``--num-video-frames``)."""
        return self.answerer.media.num_video_frames

    @property
    def context_length(self) -> Optional[int]:
        """Positions the model takes (prompt + media), None when the checkpoint does not say."""
        length = self.answerer.max_length or getattr(self.answerer.tokenizer, "model_max_length", None)
        return int(length) if length and length < 10**7 else None

    @functools.cached_property
    def max_question_chars(self) -> int:
        """A question longer than this cannot fit the context, whatever its words: no token stands
        for more characters than the vocabulary's longest piece, so a question takes at least
        ``characters / longest piece`` positions. Checked before tokenising, which a many-megabyte
        text would make slow and large. Without a known context: ``FALLBACK_QUESTION_CHARS``."""
        vocab = getattr(self.answerer.tokenizer, "get_vocab", dict)()
        longest = max((len(piece) for piece in vocab), default=0)
        if self.context_length is None or not longest:
            return FALLBACK_QUESTION_CHARS
        return self.context_length * longest

    def prepare(self, question: str, media: dict, max_tokens: Optional[int] = None,
                temperature: Optional[float] = None, top_p: Optional[float] = None, task: Optional[str] = None,
                exemplars=None, options: Optional[list[str]] = None, answer_mode: Optional[str] = None) -> Job:
        """``media``: kind (image | video | audio) -> the file, resolved (a path, or a file opened in
        binary mode, which the caller closes); the clip's own file serves as its audio too.
        Generation settings not given are the command line's (--temperature, --top-p, --num-beams,
        --max-new-tokens). ``exemplars`` (with ``task``): ask with an EmoPrompt worked example
        (``predict.RandomExemplars``). Raises runtime.errors.Unanswerable. ``answer_mode`` "score"
        (default: --answer-mode) picks one of ``options`` (default: the task's label set) by
        likelihood (``runtime/scoring.py``) for a closed-set or yes/no ``task``; other questions
        are generated."""
        names = {kind: source_path(source).name for kind, source in media.items()}
        record = record_for(f"req-{uuid.uuid4().hex}", names, question, task, options)
        prepared = self.answerer.prepare(record, media, exemplars)
        if temperature is None:  # the command line's --temperature / --top-p
            temperature, top_p = self.defaults.temperature, self.defaults.top_p if top_p is None else top_p
        generation = dict(do_sample=temperature > 0, num_beams=self.defaults.num_beams,
                          max_new_tokens=max_tokens or self.defaults.max_new_tokens)
        if temperature > 0:
            generation.update(temperature=temperature, top_p=top_p)
        if (answer_mode or self.defaults.answer_mode) == "score" and options_for(record) is not None:
            generation = {"answer_mode": "score"}
        return Job(prepared, tuple(sorted(generation.items())))

    def run_batch(self, jobs: list[Job]) -> list[Reply]:
        """One ``generate`` call for jobs that share their generation settings."""
        settings = dict(jobs[0].generation)
        if settings.get("answer_mode") == "score":
            scored = score_options(self.answerer.model, self.answerer.tokenizer, [j.prepared.input_ids for j in jobs],
                                   [j.prepared.visual for j in jobs], [j.prepared.audio for j in jobs],
                                   [j.prepared.record["task"] for j in jobs],
                                   [options_for(j.prepared.record) for j in jobs])
            return [Reply(s.text, int(j.prepared.input_ids.numel()), 0, "stop", s.probabilities)
                    for j, s in zip(jobs, scored)]
        texts = generate(self.answerer.model, self.answerer.tokenizer, [j.prepared.input_ids for j in jobs],
                         [j.prepared.visual for j in jobs], [j.prepared.audio for j in jobs], **settings)
        replies = []
        for job, text in zip(jobs, texts):
            completion = len(self.answerer.tokenizer(text, add_special_tokens=False).input_ids)
            prompt = int(job.prepared.input_ids.numel())
            replies.append(Reply(text, prompt, completion,
                                 "length" if completion >= settings["max_new_tokens"] else "stop"))
        return replies
