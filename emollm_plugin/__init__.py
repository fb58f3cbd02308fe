"""EmoLLM as a plugin for an unmodified LLaVA v1.5 installation.

``from emollm_plugin import register; register()`` before LLaVA builds a model. Importing this
package is cheap; ``register()`` imports torch, LLaVA and the plugin's modules.
"""
from __future__ import annotations

__version__ = "0.1.0"

_registered = False


def register() -> None:
    """Install the plugin into LLaVA (idempotent): components, registries, seams."""
    global _registered
    from . import components, seams
    components.register_builtin_components()
    seams.install()
    seams.sync_conversation_templates()
    _registered = True


def is_registered() -> bool:
    return _registered


def list_projectors() -> list[str]:
    from . import components
    components.register_builtin_components()
    from .registry import PROJECTORS
    return PROJECTORS.names()


def list_audio_towers() -> list[str]:
    from . import components
    components.register_builtin_components()
    from .registry import AUDIO_TOWERS
    return AUDIO_TOWERS.names()


__all__ = ["register", "is_registered", "list_projectors", "list_audio_towers", "__version__"]
