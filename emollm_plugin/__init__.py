"""EmoLLM as a plugin for an unmodified LLaVA v1.5 installation.

``from emollm_plugin import register; register()`` before LLaVA builds a model, or
``with register(): ...`` to undo it all on leaving the block (``seams.uninstall()``). Importing
this package is cheap; ``register()`` imports torch, LLaVA and the plugin's modules.

Layout (lower layers never import higher ones; ``tests/layers.py`` holds the table and
``tests/test_layering.py`` checks it): foundation (``constants``, ``errors``, ``registry``,
``records``, ``media``, ``llava_compat``, ...) <- components (``projectors``, ``audio``,
``model``) <- ``bench`` <- ``emoprompt`` <- ``eval`` | ``train`` <- ``apps`` <- entry points
(``components`` wiring, ``seams``, this module, ``cli``, ``run``, ``doctor``, ...).
"""
from __future__ import annotations

from .constants import __version__


class _Registration:
    """What ``register()`` returns: ignore it, or use it as a context manager that uninstalls."""

    def __enter__(self) -> "_Registration":
        return self

    def __exit__(self, *exc) -> None:
        from . import seams
        seams.uninstall()


def register() -> _Registration:
    """Install the plugin into LLaVA (idempotent): components, registries, seams."""
    from . import seams
    seams.register()
    return _Registration()


def is_registered() -> bool:
    from . import seams
    return seams.registered()


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
