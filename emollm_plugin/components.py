"""The plugin's built-in components, registered by the names users pass on the command line.

A projector entry is a ``ProjectorSpec``: how to build it from a model config, how to copy its
training flags into that config (so a checkpoint rebuilds itself), and whether it is upstream
LLaVA's (then LLaVA's own builder makes it, unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .configs import TEMPLATE_NAME, AudioConfig, EmoPromptConfig
from .configs.audio import AUDIO_PROJECTOR_TYPES
from .registry import AUDIO_PROJECTORS, AUDIO_TOWERS, PROJECTORS, VISION_TOWERS

UPSTREAM_PROJECTORS = ("linear", "mlp2x_gelu", "identity")


@dataclass(frozen=True)
class ProjectorSpec:
    build: Optional[Callable[[Any], Any]]  # hf_config -> nn.Module; None = upstream builder
    write_config: Optional[Callable[[Any, Any], None]] = None  # (hf_config, model_args) -> None
    upstream: bool = False


def _build_mvp(hf_config):
    from .projectors.mvp import build_mvp_projector
    return build_mvp_projector(hf_config)


def _write_mvp_config(hf_config, model_args) -> None:
    from .projectors.mvp import MVPConfig
    MVPConfig.from_model_config(model_args).write_to(hf_config)


def _build_whisper_tower(hf_config):
    from .audio.tower import WhisperAudioTower
    return WhisperAudioTower(AudioConfig.from_model_config(hf_config).tower, frozen=True)


def _build_audio_projector(hf_config):
    from .audio.projector import build_audio_projector
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
    from .emoprompt.template import register_templates
    register_templates()


def plugin_projector(name: Optional[str]) -> Optional[ProjectorSpec]:
    """The spec of a projector the plugin (or a third party through it) owns; None for upstream's."""
    if name is None or name not in PROJECTORS:
        return None
    spec = PROJECTORS.get(name)
    return None if spec.upstream else spec


def uses_plugin(hf_config) -> bool:
    return (plugin_projector(getattr(hf_config, "mm_projector_type", None)) is not None
            or bool(getattr(hf_config, "mm_audio_tower", None)))


def write_projector_config(hf_config, model_args) -> None:
    spec = plugin_projector(getattr(model_args, "mm_projector_type", None))
    if spec is not None and spec.write_config is not None:
        spec.write_config(hf_config, model_args)


def write_emoprompt_config(hf_config, model_args) -> None:
    """With ``--version emoprompt_v1`` (or a bank given), the EmoPrompt settings go into the
    model config; EmoPrompt on without a bank stops here (``EmoPromptConfig.require_bank``)."""
    config = EmoPromptConfig.from_args(model_args)
    if getattr(model_args, "version", None) == TEMPLATE_NAME:
        config.require_bank("training")
    if config.bank is not None:
        config.write_to(hf_config)


def write_audio_config(hf_config, model_args) -> None:
    AudioConfig.from_args(model_args).write_to(hf_config)


def build_audio_tower(hf_config):
    return AUDIO_TOWERS.get(AudioConfig.from_model_config(hf_config).tower_type)(hf_config)


def build_audio_projector(hf_config):
    return AUDIO_PROJECTORS.get(AudioConfig.from_model_config(hf_config).projector_type)(hf_config)
