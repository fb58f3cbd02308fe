"""Splice media features into the token embedding sequence.

For sample b with token ids x_b (placeholders IMAGE_TOKEN_INDEX / AUDIO_TOKEN_INDEX at most once
each), the output sequence is

    e_b = [E(x_b[:p1]), F_1, E(x_b[p1+1:p2]), F_2, E(x_b[p2+1:])]

where E is the token embedding and F_k the (n_k x D) features of the k-th placeholder in order.
Labels of feature positions are IGNORE_INDEX. Sequences are truncated to
``tokenizer_model_max_length`` and padded on the configured side, exactly as upstream LLaVA does.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..constants import AUDIO_TOKEN_INDEX, IGNORE_INDEX, IMAGE_TOKEN_INDEX


def _features_for_sample(b: int, ids: torch.Tensor, visual, audio) -> dict[int, torch.Tensor]:
    found = {}
    for index, feats, name in ((IMAGE_TOKEN_INDEX, visual, "<image>/<video>"), (AUDIO_TOKEN_INDEX, audio, "<audio>")):
        count = int((ids == index).sum())
        if count > 1:
            raise ValueError(f"sample {b}: {count} {name} placeholders; EmoLLM takes at most one per sample")
        if count == 1 and feats is None:
            raise ValueError(f"sample {b}: the prompt has a {name} placeholder but no such media was given")
        if count == 0 and feats is not None:
            raise ValueError(f"sample {b}: {name} media was given but the prompt has no {name} placeholder; "
                             "put the placeholder where the features belong")
        if count == 1:
            found[index] = feats
    return found


def splice(embed_tokens, input_ids: torch.Tensor, position_ids, attention_mask, labels,
           visual_features: Sequence[Optional[torch.Tensor]], audio_features: Sequence[Optional[torch.Tensor]],
           max_length: Optional[int], padding_side: str = "right"):
    """input_ids: B x S; *_features: per sample (n x D) or None. Returns (position_ids,
    attention_mask, inputs_embeds B x S' x D, labels B x S') with the None-ness of the inputs kept."""
    _labels, _position_ids, _attention_mask = labels, position_ids, attention_mask
    attention_mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    labels = torch.full_like(input_ids, IGNORE_INDEX) if labels is None else labels

    embeds, new_labels = [], []
    for b in range(input_ids.shape[0]):
        ids = input_ids[b][attention_mask[b]]
        lab = labels[b][attention_mask[b]]
        feats = _features_for_sample(b, ids, visual_features[b], audio_features[b])
        is_text = (ids != IMAGE_TOKEN_INDEX) & (ids != AUDIO_TOKEN_INDEX)
        text_embeds = embed_tokens(ids[is_text])  # one embedding call per sample
        pieces, piece_labels, start, text_pos = [], [], 0, 0
        for pos in torch.nonzero(~is_text).flatten().tolist() + [ids.shape[0]]:
            n_text = pos - start
            pieces.append(text_embeds[text_pos:text_pos + n_text])
            piece_labels.append(lab[start:pos])
            text_pos += n_text
            if pos < ids.shape[0]:
                f = feats[int(ids[pos])].to(device=text_embeds.device, dtype=text_embeds.dtype)
                pieces.append(f)
                piece_labels.append(torch.full((f.shape[0],), IGNORE_INDEX, device=lab.device, dtype=lab.dtype))
            start = pos + 1
        embeds.append(torch.cat(pieces))
        new_labels.append(torch.cat(piece_labels))

    if max_length is not None:
        embeds = [e[:max_length] for e in embeds]
        new_labels = [x[:max_length] for x in new_labels]

    batch, width = len(embeds), max(e.shape[0] for e in embeds)
    dim, dtype, device = embeds[0].shape[1], embeds[0].dtype, embeds[0].device
    out_embeds = torch.zeros(batch, width, dim, dtype=dtype, device=device)
    out_labels = torch.full((batch, width), IGNORE_INDEX, dtype=labels.dtype, device=labels.device)
    out_mask = torch.zeros(batch, width, dtype=attention_mask.dtype, device=attention_mask.device)
    out_pos = torch.zeros(batch, width, dtype=torch.long, device=input_ids.device)
    for b, (e, lab) in enumerate(zip(embeds, new_labels)):
        n = e.shape[0]
        sl = slice(width - n, width) if padding_side == "left" else slice(0, n)
        out_embeds[b, sl] = e
        out_labels[b, sl] = lab
        out_mask[b, sl] = True
        out_pos[b, sl] = torch.arange(n, device=input_ids.device)

    return (
        None if _position_ids is None else out_pos.to(_position_ids.dtype),
        None if _attention_mask is None else out_mask.to(_attention_mask.dtype),
        out_embeds,
        None if _labels is None else out_labels,
    )
