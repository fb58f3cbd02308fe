"""Tokenising prompts that hold media placeholders.

Drop-in for ``llava.mm_utils.tokenizer_image_token``: the same ids for prompts with ``<image>``
only, plus ``<audio>`` -> AUDIO_TOKEN_INDEX. Each text chunk is tokenised on its own (as upstream
does), so the BOS of every chunk but the first is dropped.
"""
from __future__ import annotations

import re

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
