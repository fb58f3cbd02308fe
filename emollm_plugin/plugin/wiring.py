"""The plugin's built-in components, registered by the names users pass on the command line.

``register_builtin_components`` (run by ``register()``) puts the MVP projector, the Whisper audio
tower and projectors, the CLIP tower and the EmoPrompt conversation template into the registries
of ``registry.py``; the model and the seams then find them by name there. A projector entry is a
``registry.ProjectorSpec``. This module wires the layers together, so it sits with the entry
points (see the layer table in ``tests/layers.py``).
"""
from __future__ import annotations

from ..configs import AudioConfig
from ..configs.audio import AUDIO_PROJECTOR_TYPES
from ..registry import AUDIO_PROJECTORS, AUDIO_TOWERS, PROJECTORS, UPSTREAM_PROJECTORS, VISION_TOWERS, ProjectorSpec


def _build_mvp(hf_config):
    from ..projectors.mvp import build_mvp_projector
    return build_mvp_projector(hf_config)


def _write_mvp_config(hf_config, model_args) -> None:
    from ..configs import MVPConfig
    MVPConfig.from_model_config(model_args).write_to(hf_config)


def _build_whisper_tower(hf_config):
    from ..audio.tower import WhisperAudioTower
    config = AudioConfig.from_model_config(hf_config)
    return WhisperAudioTower(config.tower, frozen=True, window=config.window)


def _build_audio_projector(hf_config):
    from ..audio.projector import build_audio_projector
    return build_audio_projector(hf_config)


def _upstream_clip_tower(cfg, **kwargs):
    from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
    path = getattr(cfg, "mm_vision_tower", getattr(cfg, "vision_tower", None))
    return CLIPVisionTower(path, args=cfg, **kwargs)


_UPSTREAM_SPEC = ProjectorSpec(build=None, upstream=True)
_MVP_SPEC = ProjectorSpec(build=_build_mvp, write_config=_write_mvp_config)


def register_builtin_components() -> None:
    """Idempotent: re-registering the same objects is a no-op."""
    for name in UPSTREAM_PROJECTORS:
        PROJECTORS.register(name, _UPSTREAM_SPEC)
    PROJECTORS.register("mvp", _MVP_SPEC)
    VISION_TOWERS.register("clip", _upstream_clip_tower)
    AUDIO_TOWERS.register("whisper", _build_whisper_tower)
    for name in AUDIO_PROJECTOR_TYPES:
        AUDIO_PROJECTORS.register(name, _build_audio_projector)
    from ..emoprompt.template import register_templates
    register_templates()
