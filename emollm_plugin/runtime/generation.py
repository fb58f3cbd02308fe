"""Prompt length against the model's context, and batched left-padded generation."""
from __future__ import annotations

import argparse
from typing import Optional

from .errors import Unanswerable


def check_length(record_id: str, ids, visual, audio, token_counts, max_length: Optional[int]) -> None:
    """Raise Unanswerable when prompt + media embeddings exceed the model's context (the splice
    would silently cut the question off)."""
    from ..model.tokens import media_extra_positions

    if token_counts is None or not max_length:
        return
    length = len(ids) + media_extra_positions(token_counts, visual, audio)
    if length > max_length:
        frames = visual.shape[0] if visual is not None and visual.ndim == 4 else None
        change = (f"the clip was read as {frames} frames: pass --num-video-frames N with the N the checkpoint was "
                  "trained with (the training run's --num_video_frames), " if frames else "")
        raise Unanswerable("prompt_too_long", f"record {record_id}: prompt + media take {length} positions, "
                           f"more than the model's {max_length} (tokenizer_model_max_length, the training run's "
                           f"--model_max_length); {change}ask a shorter question, or train with a longer "
                           "--model_max_length")


def pad_token_id(tokenizer) -> int:
    return next(i for i in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id, 0)
                if i is not None)


def pad_left(tokenizer, input_ids: list):
    """B prompts (1-D id tensors) -> (ids B x S left-padded, attention mask B x S)."""
    import torch

    width = max(len(ids) for ids in input_ids)
    batch = torch.full((len(input_ids), width), pad_token_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, ids in enumerate(input_ids):
        batch[row, width - len(ids):] = ids
        mask[row, width - len(ids):] = 1
    return batch, mask


def generate(model, tokenizer, input_ids: list, visuals: list, audios: list, **generation) -> list[str]:
    """Left-pad B prompts (1-D id tensors) and decode greedily or as ``generation`` asks."""
    import torch

    batch, mask = pad_left(tokenizer, input_ids)
    pad_id = pad_token_id(tokenizer)
    device, dtype = model.device, model.dtype

    def moved(items, float_dtype):
        if all(x is None for x in items):
            return None
        return [None if x is None else x.to(device=device, dtype=float_dtype) for x in items]

    with torch.inference_mode():
        output = model.generate(batch.to(device), images=moved(visuals, dtype), audios=moved(audios, dtype),
                                attention_mask=mask.to(device), pad_token_id=pad_id, use_cache=True,
                                **generation)
    return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]


def generation_kwargs(args: argparse.Namespace) -> dict:
    kwargs = dict(do_sample=args.temperature > 0, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    if args.temperature > 0:
        kwargs.update(temperature=args.temperature, top_p=args.top_p)
    return kwargs
