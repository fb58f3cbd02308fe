"""Training data: LLaVA instruction records with an image, a video clip and/or audio.

One record -> ``input_ids`` (S), ``labels`` (S), ``image`` (3 x H x W image | T x 3 x H x W clip |
None) and ``audio`` (n_mels x T log-mel | None). Text goes through LLaVA's own
``preprocess_multimodal`` / ``preprocess`` (so targets are masked exactly as upstream masks them);
``<video>`` becomes ``<image>`` (the clip's MVP tokens) and ``<audio>`` its own placeholder.

Upstream silently trains on samples whose targets are all masked (a tokenizer mismatch, or a
``--model_max_length`` shorter than visual tokens + prompt): loss 0.0 and no word. Here such a
sample raises, naming the record and the cause.

Before step 1 every record is checked (``data_check.py``, ``--data_check off|fast|full``), and
any failure turning a record into a sample later (``--data_check off``, or a case the check
misses) raises ``TrainingRecordError`` naming the record's index and id, never a batch position. A
media file that still fails while training (deleted or changed after the check) is handled by
``--on_bad_media``: ``stop`` (default) raises ``BadMediaError`` naming the record, and the trainer
saves a checkpoint of the steps done first (``trainer.py``); ``skip`` logs the record with a
running count and trains on the next record in its place. Media paths follow ``media/paths.py``.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch.utils.data import Dataset

from ..audio.mel import log_mel_for
from ..configs.recorded import write_video_frames
from ..constants import AUDIO_TOKEN_INDEX, DEFAULT_VIDEO_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX, NUM_VIDEO_FRAMES
from ..errors import EmoLLMError
from ..plugin.compat import current_default_conversation, default_conversation
from ..media.errors import MediaError
from ..media.paths import MediaPathError
from ..media.reader import MediaReader
from ..model.tokens import MediaTokenCounts, media_extra_positions, token_counts_for
from ..records import load_records


from .data_check import (BAD_MEDIA_POLICIES, DEFAULT_DATA_CHECK, DEFAULT_ON_BAD_MEDIA, PLACEHOLDERS,
                         check_training_data)

log = logging.getLogger(__name__)


class UnsupervisedSampleError(EmoLLMError, ValueError):
    """A record would train on no target token at all."""


class TrainingRecordError(EmoLLMError, RuntimeError):
    """Turning one record into a sample failed; the message names the data file, the record's
    index and id, and the cause (not a batch position). One message argument, as BadMediaError."""


class BadMediaError(EmoLLMError, RuntimeError):
    """A record's media failed while training (``--on_bad_media stop``); the message names the
    record. Takes one message argument, so a DataLoader worker can re-raise it in the trainer."""


def load_training_records(path: str | os.PathLike) -> list:
    """A JSON list (LLaVA's format) or JSONL of records; errors name the file and position. The
    records themselves are checked by ``data_check.check_training_data``."""
    return load_records(path, "training data (--data_path)")


def check_data(data_args, records: list, has_audio_tower: bool, conversation=None) -> None:
    """``--data_check`` on the records of ``--data_path`` (media under ``--image_folder``), for
    the training template ``conversation`` (default: the one ``--version`` chose)."""
    check_training_data(data_args.data_path, records, getattr(data_args, "image_folder", None) or ".",
                        getattr(data_args, "data_check", DEFAULT_DATA_CHECK), has_audio_tower,
                        conversation=conversation or current_default_conversation())


class EmoSupervisedDataset(Dataset):
    def __init__(self, data_path: str, tokenizer, data_args, token_counts: Optional[MediaTokenCounts] = None,
                 n_mels: Optional[int] = None, emoprompt=None, audio_window: Optional[str] = None):
        """emoprompt: an ``EmoPromptRuntime`` when training with ``--version emoprompt_v1``: each
        record's system prompt then carries a worked exemplar (never the record itself).
        n_mels, audio_window: the audio tower's (``WhisperAudioTower``); None without one."""
        self.records = load_training_records(data_path)
        self.on_bad_media = getattr(data_args, "on_bad_media", DEFAULT_ON_BAD_MEDIA)
        if self.on_bad_media not in BAD_MEDIA_POLICIES:
            raise BadMediaError(f"--on_bad_media {self.on_bad_media!r}: use one of {', '.join(BAD_MEDIA_POLICIES)}")
        self.skipped = 0  # records skipped for bad media in this process (--on_bad_media skip)
        self.emoprompt = emoprompt
        # the template train() chose for --version, fixed now: LLaVA's preprocess reads a module
        # global that anything may change later (another run, a test), and a sample must not move
        self.conversation = current_default_conversation()
        self.data_path = data_path
        self.tokenizer = tokenizer
        self.data_args = data_args
        self.token_counts = token_counts
        self.media = MediaReader(Path(getattr(data_args, "image_folder", None) or "."), data_args.image_processor,
                                 getattr(data_args, "image_aspect_ratio", "square"),
                                 getattr(data_args, "num_video_frames", NUM_VIDEO_FRAMES), log_mel_for(n_mels, audio_window))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def lengths(self) -> list[int]:
        return [self._words(r) + (128 if self._has_media(r) else 0) for r in self.records]

    @property
    def modality_lengths(self) -> list[int]:
        return [(1 if self._has_media(r) else -1) * self._words(r) for r in self.records]

    @staticmethod
    def _words(rec) -> int:
        """Words in the record's turns; 0 for a malformed record (``__getitem__`` names it)."""
        try:
            return sum(len(c["value"].split()) for c in rec["conversations"])
        except (KeyError, TypeError, AttributeError):
            return 0

    @staticmethod
    def _has_media(rec) -> bool:
        return isinstance(rec, dict) and any(k in rec for k in ("image", "video", "audio"))

    def _load_media(self, i: int, rec: dict):
        """(visual, audio) of record i; a media failure becomes BadMediaError naming the record."""
        loaded = {}
        for kind in PLACEHOLDERS:
            if kind in rec:
                try:
                    loaded[kind] = getattr(self.media, kind)(rec[kind])
                except (MediaError, MediaPathError) as err:
                    raise BadMediaError(f"{self.data_path}: record {i} (id {rec.get('id', '?')!r}), field "
                                        f"{kind!r}: {err}") from err
        return loaded.get("image", loaded.get("video")), loaded.get("audio")

    def _name(self, i: int) -> str:
        rec = self.records[i]
        rid = rec.get("id", "?") if isinstance(rec, dict) else "?"
        return f"{self.data_path}: record {i} (id {rid!r})"

    def __getitem__(self, i: int) -> dict:
        for attempt in range(len(self.records)):
            index = (i + attempt) % len(self.records)
            try:
                return self._named_sample(index)
            except BadMediaError as err:
                if self.on_bad_media == "stop":
                    raise
                self.skipped += 1
                log.warning("--on_bad_media skip: %s; training on the next record instead (%d record(s) "
                            "skipped so far in this process)", err, self.skipped)
        raise BadMediaError(f"{self.data_path}: no record's media can be read ({self.skipped} skipped)")

    def _named_sample(self, i: int) -> dict:
        """``_sample(i)``; any failure names the record (index and id), whatever raised it."""
        try:
            return self._sample(i)
        except (BadMediaError, UnsupervisedSampleError, TrainingRecordError):
            raise  # these name the record already
        except Exception as err:  # upstream's preprocess asserts, KeyErrors, tokenizer errors
            raise TrainingRecordError(f"{self._name(i)}: cannot be made a training sample "
                                      f"({type(err).__name__}: {err}); run with --data_check fast to list "
                                      "every such record, then fix or drop it") from err

    def _sample(self, i: int) -> dict:
        import llava.train.train as upstream

        rec = self.records[i]
        visual, audio = self._load_media(i, rec)

        conversations = copy.deepcopy(rec["conversations"])
        for turn in conversations:
            turn["value"] = turn["value"].replace(DEFAULT_VIDEO_TOKEN, "<image>")
        if self.emoprompt is not None:  # --emoprompt_target: the first answer turn
            answer = next((t for t in conversations if t.get("from") == "gpt"), None)
            if answer is not None:
                answer["value"] = self.emoprompt.answer_target(rec, answer["value"])
        sources = [conversations]
        if visual is not None:
            sources = upstream.preprocess_multimodal(sources, self.data_args)
        has_media = visual is not None or audio is not None
        conversation = self.conversation
        if self.emoprompt is not None:
            conversation, _ = self.emoprompt.conversation_for(rec, conversation)
        with default_conversation(conversation):
            data = upstream.preprocess(sources, self.tokenizer, has_image=has_media)
        input_ids, labels = data["input_ids"][0], data["labels"][0]
        self._check_placeholders(i, input_ids, visual, audio)
        self._check_supervised(i, rec, input_ids, labels, visual, audio)
        return dict(input_ids=input_ids, labels=labels, image=visual, audio=audio)

    def _check_placeholders(self, i: int, input_ids, visual, audio) -> None:
        """The splice takes exactly one placeholder per media given, none without: checked here,
        where the record is known, not in the model's forward, which knows a batch position only."""
        for index, media, name in ((IMAGE_TOKEN_INDEX, visual, "<image>/<video>"), (AUDIO_TOKEN_INDEX, audio, "<audio>")):
            count, wanted = int((input_ids == index).sum()), int(media is not None)
            if count != wanted:
                raise TrainingRecordError(
                    f"{self._name(i)}: the tokenized prompt holds {count} {name} placeholder(s) for {wanted} "
                    f"{name} input(s); the splice takes exactly one per media. Run --data_check fast on the data.")

    def _check_supervised(self, i, rec, input_ids, labels, visual, audio) -> None:
        name = f"record {i} (id={rec.get('id', '?')}) of {self.data_path}"
        supervised = torch.nonzero(labels != IGNORE_INDEX).flatten()
        if supervised.numel() == 0:
            raise UnsupervisedSampleError(
                f"{name}: every target token is masked. LLaVA's preprocess found a tokenization mismatch "
                "(it printed 'WARNING: tokenization mismatch') or the answer is empty. The tokenizer must be "
                "a slow sentencepiece LlamaTokenizer saved with legacy=True (use_fast=False), and "
                "--version must match the prompt format (e.g. v1).")
        if self.token_counts is None:
            return
        extra = media_extra_positions(self.token_counts, visual, audio)
        first_target = int(supervised[0]) + extra
        max_len = self.tokenizer.model_max_length
        if first_target >= max_len:
            raise UnsupervisedSampleError(
                f"{name}: all target tokens are cut off: the answer starts at position {first_target} "
                f"({int(supervised[0])} prompt tokens + {extra} extra media embeddings) but "
                f"--model_max_length is {max_len}. Raise --model_max_length or use fewer media tokens.")


@dataclass
class EmoDataCollator:
    """Pads like upstream; media stay one entry per sample (None where a sample has none)."""
    tokenizer: object

    def __call__(self, instances: Sequence[dict]) -> dict:
        input_ids = torch.nn.utils.rnn.pad_sequence([x["input_ids"] for x in instances], batch_first=True,
                                                    padding_value=self.tokenizer.pad_token_id)
        labels = torch.nn.utils.rnn.pad_sequence([x["labels"] for x in instances], batch_first=True,
                                                 padding_value=IGNORE_INDEX)
        max_len = self.tokenizer.model_max_length
        input_ids, labels = input_ids[:, :max_len], labels[:, :max_len]
        batch = dict(input_ids=input_ids, labels=labels, attention_mask=input_ids.ne(self.tokenizer.pad_token_id))
        if any(x.get("image") is not None for x in instances):
            batch["images"] = [x.get("image") for x in instances]
        if any(x.get("audio") is not None for x in instances):
            batch["audios"] = [x.get("audio") for x in instances]
        return batch


def make_emo_data_module(tokenizer, data_args, model) -> dict:
    from llava import conversation as conversation_lib

    from ..emoprompt.runtime import EmoPromptRuntime, is_emoprompt
    tower = model.get_model().get_audio_tower() if hasattr(model.get_model(), "get_audio_tower") else None
    emoprompt = (EmoPromptRuntime.from_config(model.config, phase="train")
                 if is_emoprompt(conversation_lib.default_conversation) else None)
    dataset = EmoSupervisedDataset(data_args.data_path, tokenizer, data_args, token_counts=token_counts_for(model),
                                   n_mels=getattr(tower, "n_mels", None), emoprompt=emoprompt,
                                   audio_window=getattr(tower, "window", None))
    check_data(data_args, dataset.records, has_audio_tower=tower is not None)
    from .audio_norm import fit_audio_input_norm
    fit_audio_input_norm(model, dataset)
    write_video_frames(model.config, getattr(data_args, "num_video_frames", NUM_VIDEO_FRAMES))  # saved with it
    return dict(train_dataset=dataset, eval_dataset=None, data_collator=EmoDataCollator(tokenizer))
