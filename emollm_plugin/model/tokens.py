"""Tokenising prompts that hold media placeholders, and how long they get once media are spliced in.

``tokenizer_media_token`` is a drop-in for ``llava.mm_utils.tokenizer_image_token``: the same ids
for prompts with ``<image>`` only, plus ``<audio>`` -> AUDIO_TOKEN_INDEX. Each text chunk is
tokenised on its own (as upstream does), so the BOS of every chunk but the first is dropped.

The splice (``model/splice.py``) replaces each placeholder id by that medium's embeddings, so a
position p of the ids lands at ``p + extra`` with

    extra = sum over the sample's media m of (tokens(m) - 1)
    tokens(image) = projector.num_tokens_image, tokens(clip of T frames) = projector.num_tokens_video(T),
    tokens(log-mel of T_mel frames) = audio_projector.tokens_for(T_mel)

(``media_extra_positions``; training uses it for the first target position, inference for the
prompt length).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from ..constants import AUDIO_TOKEN_INDEX, DEFAULT_AUDIO_TOKEN, DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX

_PLACEHOLDER_RE = re.compile(f"({re.escape(DEFAULT_IMAGE_TOKEN)}|{re.escape(DEFAULT_AUDIO_TOKEN)})")


def tokenizer_media_token(prompt, tokenizer, image_token_index=IMAGE_TOKEN_INDEX, return_tensors=None):
    parts = _PLACEHOLDER_RE.split(prompt)
    texts, placeholders = parts[0::2], parts[1::2]
    index_of = {DEFAULT_IMAGE_TOKEN: image_token_index, DEFAULT_AUDIO_TOKEN: AUDIO_TOKEN_INDEX}
    chunks = [tokenizer(text).input_ids for text in texts]

    input_ids: list[int] = []
    offset = 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        input_ids.append(chunks[0][0])
    for i, chunk in enumerate(chunks):
        input_ids.extend(chunk[offset:])
        if i < len(placeholders):
            input_ids.append(index_of[placeholders[i]])

    if return_tensors is None:
        return input_ids
    if return_tensors == "pt":
        import torch
        return torch.tensor(input_ids, dtype=torch.long)
    raise ValueError(f"Unsupported tensor type: {return_tensors}")


@dataclass
class MediaTokenCounts:
    """How many embeddings each placeholder expands into (read from a built model)."""
    image: int
    video: Callable[[int], int]  # num_frames -> tokens
    audio: Callable[[int], int]  # mel frames -> tokens


def media_extra_positions(counts: MediaTokenCounts, visual, audio) -> int:
    """Positions the splice adds to a sample's ids (module docstring): visual None | 3 x H x W
    (image) | T x 3 x H x W (clip); audio None | n_mels x T_mel."""
    extra = 0
    if visual is not None:
        extra += (counts.image if visual.ndim == 3 else counts.video(visual.shape[0])) - 1
    if audio is not None:
        extra += counts.audio(audio.shape[-1]) - 1
    return extra


def token_counts_for(model) -> Optional[MediaTokenCounts]:
    """Read how many embeddings each placeholder becomes from a built model (None if unknown)."""
    inner = model.get_model()
    projector = getattr(inner, "mm_projector", None)
    if projector is None or not hasattr(projector, "num_tokens_image"):
        return None
    audio_projector = getattr(inner, "audio_projector", None)
    return MediaTokenCounts(
        image=int(projector.num_tokens_image),
        video=lambda frames: int(projector.num_tokens_video(frames)),
        audio=audio_projector.tokens_for if audio_projector is not None else (lambda mel_frames: 0),
    )
