"""The audio branch's settings (Whisper tower + pooled projector), stored in the model config as
``mm_audio_*`` keys so ``load_pretrained_model`` rebuilds what was trained.

=================  ==========================  =====================  ==============
field              flag                        model-config key       default
=================  ==========================  =====================  ==============
tower              ``--audio_tower``           ``mm_audio_tower``     None (no audio)
tower_type         ``--audio_tower_type``      ``mm_audio_tower_type`` ``whisper``
projector_type     ``--mm_audio_projector_type`` ``mm_audio_projector_type`` ``mlp2x_gelu``
num_tokens         ``--mm_audio_num_tokens``   ``mm_audio_num_tokens`` 32
window             ``--audio_window``          ``mm_audio_window``    ``padded``
input_norm         ``--mm_audio_input_norm``   ``mm_audio_input_norm`` ``standardize``
=================  ==========================  =====================  ==============

``window``: ``padded`` runs the encoder on openai-whisper's standard 30 s window (the clip padded
with zeros, as Whisper was trained) and keeps the frames the clip covers; ``trimmed`` runs it on
the clip's own length only (faster, but a window the encoder never saw in training).

``input_norm``: ``standardize`` subtracts the tower's output for silence at each position (what
every clip shares: positional table, biases) and standardises each feature,
``(x - shift) * scale``, with ``shift`` and ``scale`` trainable and set from the training data's
audio before step 1 (``audio.projector``); ``none`` feeds the pooled frames to the MLP as they
are. A checkpoint saved before ``mm_audio_input_norm`` existed keeps ``none``, as it was trained.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

from .base import ModelConfigFields, check_choice, fail, has_key

AUDIO_PROJECTOR_TYPES = ("mlp2x_gelu", "linear")  # built in; a plugin may register more
AUDIO_WINDOWS = ("padded", "trimmed")
AUDIO_INPUT_NORMS = ("standardize", "none")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # registry names (registry.py)


@dataclass(frozen=True)
class AudioConfig(ModelConfigFields):
    """Audio tower and projector settings (table: module docstring)."""

    tower: Optional[str] = field(default=None, metadata={
        "flag": "audio_tower", "key": "mm_audio_tower",
        "help": "path to a local openai-whisper checkpoint; enables <audio> (default: none)"})
    tower_type: str = field(default="whisper", metadata={
        "flag": "audio_tower_type", "key": "mm_audio_tower_type",
        "help": "registered audio tower name (default: whisper)"})
    projector_type: str = field(default="mlp2x_gelu", metadata={
        "flag": "mm_audio_projector_type", "key": "mm_audio_projector_type",
        "help": "audio projector: mlp2x_gelu | linear (default: mlp2x_gelu)"})
    num_tokens: int = field(default=32, metadata={
        "flag": "mm_audio_num_tokens", "key": "mm_audio_num_tokens",
        "help": "audio tokens per clip after pooling the encoder frames; 0 keeps every encoder "
                "frame of the clip's window, one token per 20 ms (eq. 1 as printed) (default: 32)"})
    window: str = field(default="padded", metadata={
        "flag": "audio_window", "key": "mm_audio_window",
        "help": "Whisper encoder window: padded (openai-whisper's standard 30 s window, the "
                "frames the clip covers kept) | trimmed (the clip's own length, faster) "
                "(default: padded)"})
    input_norm: str = field(default="standardize", metadata={
        "flag": "mm_audio_input_norm", "key": "mm_audio_input_norm",
        "help": "before the audio projector's MLP: standardize (subtract the tower's output for "
                "silence, then standardise each feature with statistics of the training audio, "
                "trainable) | none (default: standardize)"})

    def _validate(self) -> None:
        for name, flag in (("tower_type", "audio_tower_type"),
                           ("projector_type", "mm_audio_projector_type")):
            value = getattr(self, name)
            if not _NAME.match(value):
                fail(flag, value, "a registered name, e.g. "
                     + ("whisper" if name == "tower_type" else " | ".join(AUDIO_PROJECTOR_TYPES)))
        if self.num_tokens < 0:
            fail("mm_audio_num_tokens", self.num_tokens,
                 "0 (every encoder frame of the clip) or a token budget, e.g. 32")
        check_choice("audio_window", self.window, AUDIO_WINDOWS)
        check_choice("mm_audio_input_norm", self.input_norm, AUDIO_INPUT_NORMS)

    @classmethod
    def from_model_config(cls, hf_config):
        """As the base reads it, except that a checkpoint with an audio tower saved before
        ``mm_audio_window`` existed keeps ``trimmed`` (the only window those checkpoints knew),
        and one saved before ``mm_audio_input_norm`` existed keeps ``none``."""
        config = super().from_model_config(hf_config)
        if config.tower:
            for name, old in (("window", "trimmed"), ("input_norm", "none")):
                if not has_key(hf_config, cls.key_of(cls.__dataclass_fields__[name])):
                    config = replace(config, **{name: old})
        return config
