"""Fit the audio projector's input standardisation on the training audio, before step 1.

With ``--mm_audio_input_norm standardize`` (``configs/audio.py``) a freshly built audio projector
holds a per-feature shift and scale (``audio/projector.py``). They are set here from up to
``MAX_CLIPS`` clips spread evenly over the records that have audio: each clip's tower frames,
minus the tower's frames for silence, pooled as the projector pools them. A projector loaded from
a checkpoint (fine-tuning, resuming) keeps its trained values.
"""
from __future__ import annotations

import logging

import torch

from ..media.errors import MediaError
from ..media.paths import MediaPathError
from .data import BadMediaError

log = logging.getLogger(__name__)

MAX_CLIPS = 64


@torch.no_grad()
def fit_audio_input_norm(model, dataset, max_clips: int = MAX_CLIPS) -> int:
    """Fit ``model``'s audio projector input norm on ``dataset``'s audio; return the clips used
    (0 when the projector needs no fit). Unreadable audio stops with the record named, or is
    skipped and counted under ``--on_bad_media skip``."""
    inner = model.get_model()
    projector = getattr(inner, "audio_projector", None)
    if projector is None or not getattr(projector, "needs_input_fit", False):
        return 0
    tower = inner.get_audio_tower()
    picks = [i for i, rec in enumerate(dataset.records) if "audio" in rec]
    if not picks:
        log.warning("audio input norm: %s has no record with audio; the shift/scale stay 0/1 "
                    "(identity) and are learned from there", dataset.data_path)
        return 0
    picks = picks[:: max(1, len(picks) // max_clips)][:max_clips]
    frames, skipped = [], 0
    for i in picks:
        rec = dataset.records[i]
        try:
            mel = dataset.media.audio(rec["audio"])
        except (MediaError, MediaPathError) as err:
            if dataset.on_bad_media != "skip":
                raise BadMediaError(f"{dataset.data_path}: record {i} (id {rec.get('id', '?')!r}), "
                                    f"field 'audio': {err}") from err
            skipped += 1
            continue
        encoded = tower([mel])[0]
        frames.append(encoded - tower.silence([mel.shape[-1]])[0])
    if not frames:
        raise RuntimeError(f"audio input norm: none of the {len(picks)} audio clips of {dataset.data_path} "
                           "could be read; fix the media or train with --mm_audio_input_norm none")
    projector.fit_input_norm(frames)
    log.info("audio input norm: shift/scale fitted on %d clips of %s%s", len(frames), dataset.data_path,
             f" ({skipped} unreadable, skipped)" if skipped else "")
    return len(frames)
