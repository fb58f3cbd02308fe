"""Answering with a folder written by ``emollm export`` (``config.json`` model_type ``emollm``)
through the same ``runtime.answerer.Answerer`` as LLaVA checkpoints: ``emollm predict``, ``emollm serve`` and the
lmms-eval model accept such a folder as ``--model-path``.

``load_exported`` returns what LLaVA's loader returns, (tokenizer, model, image processor), with
the model wrapped in ``ExportedModel``, which takes LLaVA's calling convention:

    input_ids with IMAGE_TOKEN_INDEX / AUDIO_TOKEN_INDEX placeholders
    images: per sample None | 3 x H x W | T x 3 x H x W      audios: per sample None | n_mels x F

and hands the exported model its own inputs: the folder's placeholder ids (image or video by the
sample's media), ``pixel_values`` / ``pixel_values_videos``, and each log-mel padded to Whisper's
3000 frames with the silence value (``audio/tower.py``: what WhisperFeatureExtractor gives) plus
its covered frame count. ``generate`` returns the new tokens only, as LLaVA's does.

The folder's own Python files (configuration/modeling/processing_emollm.py) are the code that
runs: loading an exported folder is ``trust_remote_code=True`` (docs/export.md).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ..audio.tower import SILENCE_FLOOR
from ..constants import AUDIO_TOKEN_INDEX, IMAGE_TOKEN_INDEX

MODEL_TYPE = "emollm"
PADDED_FRAMES = 3000  # Whisper's 30 s window in log-mel frames


def is_exported(model_path) -> bool:
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except ValueError:
        return False


def _auto_class():
    import transformers
    return getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForVision2Seq


def load_exported(model_path, device: str, dtype):
    """(tokenizer, ExportedModel, CLIP image processor) of an exported folder."""
    from transformers import AutoTokenizer, CLIPImageProcessor

    model = _auto_class().from_pretrained(str(model_path), trust_remote_code=True, torch_dtype=dtype)
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), use_fast=False)
    return tokenizer, ExportedModel(model), CLIPImageProcessor.from_pretrained(str(model_path))


class ExportedModel:
    """An exported EmoLLM behind LLaVA's calling convention (module doc)."""

    def __init__(self, model):
        self.hf = model
        self.config = model.config
        audio_config = model.config.audio_config
        self._inner = SimpleNamespace(
            mm_projector=model.mm_projector,
            audio_projector=(None if model.audio_projector is None else
                             SimpleNamespace(tokens_for=lambda frames: min(frames // 2, model.audio_projector.num_tokens))),
            get_audio_tower=lambda: (None if audio_config is None else
                                     SimpleNamespace(n_mels=audio_config.num_mel_bins, window="padded")))

    @property
    def device(self):
        return self.hf.device

    @property
    def dtype(self):
        return self.hf.dtype

    def get_model(self):
        return self._inner

    def eval(self):
        self.hf.eval()
        return self

    def inputs(self, input_ids, images=None, audios=None, attention_mask=None) -> dict:
        """The exported model's keyword arguments for LLaVA-style inputs."""
        import torch

        cfg = self.config
        batch = input_ids.shape[0]
        visuals = list(images) if images is not None else [None] * batch
        mels = list(audios) if audios is not None else [None] * batch
        ids = input_ids.clone()
        for b, visual in enumerate(visuals):
            if visual is not None:
                ids[b][input_ids[b] == IMAGE_TOKEN_INDEX] = (cfg.image_token_index if visual.ndim == 3
                                                             else cfg.video_token_index)
        ids[input_ids == AUDIO_TOKEN_INDEX] = cfg.audio_token_index
        out = {"input_ids": ids, "attention_mask": attention_mask}
        pictures = [v for v in visuals if v is not None and v.ndim == 3]
        clips = [v for v in visuals if v is not None and v.ndim == 4]
        if pictures:
            out["pixel_values"] = torch.stack(pictures)
        if clips:
            out["pixel_values_videos"] = torch.stack(clips)
        present = [m for m in mels if m is not None]
        if present:
            padded = present[0].new_empty(len(present), present[0].shape[0], PADDED_FRAMES)
            for i, mel in enumerate(present):
                padded[i].fill_(max(float(mel.max()) - 2.0, SILENCE_FLOOR))
                padded[i, :, :mel.shape[1]] = mel
            out["input_features"] = padded
            out["audio_feature_lengths"] = torch.tensor([m.shape[1] for m in present])
        return out

    def __call__(self, input_ids, images=None, audios=None, attention_mask=None, **kwargs):
        return self.hf(**self.inputs(input_ids, images, audios, attention_mask), **kwargs)

    def generate(self, input_ids, images=None, audios=None, attention_mask=None, **kwargs):
        output = self.hf.generate(**self.inputs(input_ids, images, audios, attention_mask), **kwargs)
        return output[:, input_ids.shape[1]:]
