"""LLaVA's ModelArguments / DataArguments extended with the plugin's flags.

The new classes subclass upstream's dataclasses, so every upstream flag keeps its name, type and
default; `llava.train.train.train()` parses them because the seams rebind the module's names.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


def _mvp_fields() -> list[tuple]:
    from ..projectors.mvp import MVPConfig
    fields = []
    for name, type_, default, help_ in MVPConfig.cli_fields():
        if isinstance(default, list):
            spec = dataclasses.field(default_factory=lambda d=tuple(default): list(d), metadata={"help": help_})
        else:
            spec = dataclasses.field(default=default, metadata={"help": help_})
        fields.append((f"mvp_{name}", type_, spec))
    return fields


def _field(default, help_: str):
    return dataclasses.field(default=default, metadata={"help": help_})


def extend_model_arguments(upstream_cls):
    fields = [
        ("audio_tower", Optional[str], _field(None, "path to a local openai-whisper checkpoint; enables <audio>")),
        ("audio_tower_type", str, _field("whisper", "registered audio tower name")),
        ("mm_audio_projector_type", str, _field("mlp2x_gelu", "audio projector: mlp2x_gelu | linear")),
        ("mm_audio_num_tokens", int, _field(32, "audio tokens per clip after pooling the encoder frames")),
        ("emoprompt_bank", Optional[str], _field(None, "EmoPrompt exemplar bank (JSONL) for --version "
                                                 "emoprompt_v1 (default: the packaged illustrative bank)")),
        ("emoprompt_strategy", str, _field("random", "training-time exemplar selection: random | "
                                           "same-label-excluded | nearest")),
        ("emoprompt_seed", int, _field(0, "seed of the exemplar selection")),
    ] + _mvp_fields()
    return dataclasses.make_dataclass("ModelArguments", fields, bases=(upstream_cls,))


def extend_data_arguments(upstream_cls):
    fields = [
        ("num_video_frames", int, _field(8, "frames sampled uniformly from each video clip")),
    ]
    return dataclasses.make_dataclass("DataArguments", fields, bases=(upstream_cls,))
