"""The loaded model with everything a batch needs: media loading, prompts, generation."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..configs.recorded import model_video_frames
from ..constants import CONV_MODE_CONFIG_KEY
from ..eval.questions import build_prompt
from ..records import question_only
from .generation import check_length, generation_kwargs
from .loading import load_model, resolve_conv_mode, resolve_device_dtype
from .media import MediaLoader


@dataclass
class Prepared:
    """One record ready for ``generate``: its prompt ids and media."""

    record: dict
    input_ids: object  # S (long), placeholders as negative ids
    visual: object  # None | 3 x H x W | T x 3 x H x W
    audio: object  # None | n_mels x T


class Answerer:
    """The loaded model with everything a batch needs: media loading, prompts, generation."""

    def __init__(self, args: argparse.Namespace, emoprompt=None):
        """emoprompt: an object with ``conversation_for(record, conv)`` choosing each record's
        exemplar (default: the checkpoint config's ``EmoPromptRuntime`` when ``--conv-mode`` is
        ``emoprompt_v1``)."""
        from ..model.tokens import token_counts_for

        device, dtype = resolve_device_dtype(args.device, args.dtype)
        self.tokenizer, self.model, processor = load_model(
            args.model_path, args.model_base, device, dtype,
            getattr(args, "load_4bit", False), getattr(args, "load_8bit", False))
        config = self.model.config
        tower = getattr(self.model.get_model(), "get_audio_tower", lambda: None)()
        self.media = MediaLoader(Path(args.media_root or Path(args.question_file).parent / "media"), processor,
                                 config, model_video_frames(args.num_video_frames, config),
                                 getattr(tower, "n_mels", None),
                                 getattr(tower, "window", None))
        self.token_counts = token_counts_for(self.model)
        self.max_length = getattr(config, "tokenizer_model_max_length", None)
        self.use_start_end = bool(getattr(config, "mm_use_im_start_end", False))
        self.conv_mode = resolve_conv_mode(args.conv_mode, getattr(config, CONV_MODE_CONFIG_KEY, None),
                                           args.model_path)
        self.generation = generation_kwargs(args)
        self.answer_mode = getattr(args, "answer_mode", "generate")
        from ..emoprompt.runtime import EmoPromptRuntime, is_emoprompt
        from ..eval.questions import conversation
        if not is_emoprompt(conversation(self.conv_mode)):
            self.emoprompt = None
        else:
            self.emoprompt = emoprompt or EmoPromptRuntime.from_config(config, phase="eval")

    def prepare(self, record: dict, media: Optional[dict] = None, exemplars=None) -> Prepared:
        """Raises Unanswerable for a record this model cannot take. media: kind -> the file already
        resolved (a path, or a file opened in binary mode) in place of the record's paths under
        ``--media-root`` (``MediaLoader.load``); exemplars: an EmoPrompt exemplar chooser (as
        ``emoprompt`` in ``__init__``) that asks this record with ``emoprompt_v1`` whatever this
        run's ``--conv-mode`` (the demo's per-question "explain")."""
        from ..emoprompt.template import EMOPROMPT_TEMPLATE_NAME
        from ..model.tokens import tokenizer_media_token

        record = question_only(record)  # nothing below can read the gold answer
        visual, audio = self.media.load(record, media)
        conv_mode, emoprompt = (EMOPROMPT_TEMPLATE_NAME, exemplars) if exemplars else (self.conv_mode, self.emoprompt)
        prompt = build_prompt(record, conv_mode, self.use_start_end, emoprompt)
        ids = tokenizer_media_token(prompt, self.tokenizer, return_tensors="pt")
        check_length(record["id"], ids, visual, audio, self.token_counts, self.max_length)
        return Prepared(record, ids, visual, audio)

    def answer(self, prepared: list[Prepared]) -> list[str]:
        return [text for text, _ in self.answer_with_probabilities(prepared)]

    def answer_with_probabilities(self, prepared: list[Prepared]) -> list[tuple[str, Optional[dict]]]:
        """(text, per-option probabilities) per record; probabilities only for records scored by
        ``--answer-mode score`` (``scoring.py``), None for generated ones."""
        from .scoring import answer_prepared
        return answer_prepared(self.model, self.tokenizer, prepared, self.generation, self.answer_mode)
