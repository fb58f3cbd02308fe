"""The plugin's built-in components, registered by the names users pass on the command line.

``register_builtin_components`` (run by ``register()``) puts the MVP projector, the Whisper audio
tower and projectors, the CLIP tower and the EmoPrompt conversation template into the registries
of ``registry.py``; the model and the seams then find them by name there. A projector entry is a
``registry.ProjectorSpec``.

``register_components`` adds the third-party components: it imports every module named in the
``emollm_plugin.components`` entry-point group of an installed distribution and in the
comma-separated ``EMOLLM_PLUGINS`` environment variable; those modules register their parts with
the ``registry.register_*`` decorators on import (``docs/extending.md``).
"""
from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from ..errors import EmoLLMError

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


ENTRY_POINT_GROUP = "emollm_plugin.components"
PLUGINS_ENV = "EMOLLM_PLUGINS"


class PluginImportError(EmoLLMError, ImportError):
    """A third-party component module named in the entry points or ``EMOLLM_PLUGINS`` failed to import."""


def third_party_modules() -> list[tuple[str, str]]:
    """(module name, where it was named) for every third-party component module, in load order."""
    found = [(point.value.partition(":")[0].strip(),
              f"entry point {point.name!r} of {getattr(point.dist, 'name', '?')!r} in group {ENTRY_POINT_GROUP!r}")
             for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name)]
    found += [(name.strip(), f"{PLUGINS_ENV}={os.environ[PLUGINS_ENV]!r}")
              for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]
    return found


def register_third_party_components() -> list[str]:
    """Import each third-party component module (idempotent: Python imports a module once)."""
    loaded = []
    for module, origin in third_party_modules():
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise PluginImportError(
                f"cannot import the component module {module!r} named by {origin}: {err}; install it or "
                f"put it on PYTHONPATH, or remove it from there") from err
        loaded.append(module)
    return loaded


def register_components() -> None:
    """The built-in components, then the third-party ones (which may not take a built-in name
    unless they register with ``exist_ok=True``)."""
    register_builtin_components()
    register_third_party_components()


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
