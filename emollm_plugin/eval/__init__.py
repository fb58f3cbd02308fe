"""EmoBench evaluation: batch inference (``infer``), scoring (``score``) and the report (``report``).

``from emollm_plugin.eval import score_files, to_markdown, write_report`` imports the scorer on
first use only, so importing the package stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"score_files": "score", "to_markdown": "report", "write_report": "report"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
