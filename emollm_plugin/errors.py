"""One base for the plugin's errors: ``except EmoLLMError`` catches every error the plugin raises.

Each subsystem's error classes derive from ``EmoLLMError`` and from the builtin that fits
(``ValueError``, ``LookupError``, ``FileNotFoundError``, ``RuntimeError``), so code that catches the
builtin works too.
"""
from __future__ import annotations


class EmoLLMError(Exception):
    """Base of every exception class the plugin defines."""


__all__ = ["EmoLLMError"]
