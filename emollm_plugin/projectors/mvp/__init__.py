"""MVP, EmoLLM's multi-perspective visual projector (arXiv 2406.16442; docs/mvp.md).

``MVPConfig`` is importable without torch; ``MVPProjector``, ``MVPTrace`` and ``build_mvp_projector`` load
torch on first use. The plugin registers ``build_mvp_projector`` under the name ``"mvp"``.
"""
from __future__ import annotations

from typing import Any

from ...configs.mvp import MVPConfig

__all__ = ["MVPConfig", "MVPProjector", "MVPTrace", "build_mvp_projector"]


def __getattr__(name: str) -> Any:
    if name in ("MVPProjector", "MVPTrace", "build_mvp_projector"):
        from . import module
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
