"""The API key, kept out of every message: masked first, cut to a display length after.

Cutting before masking would leave a key that straddles the cut partly visible (the cut-off
piece no longer matches the key). ``show`` therefore masks the whole text, then cuts. The key is
also masked in its JSON-escaped form, the way it appears inside a JSON body.
"""
from __future__ import annotations

import json

MASK = "***"


class Secret:
    """An API key (or None) with the one way to put untrusted text into a message."""

    def __init__(self, value: str | None):
        self._value = value or None
        self._forms = () if not self._value else tuple(
            {self._value, json.dumps(self._value)[1:-1]})

    def __repr__(self) -> str:
        return "Secret(***)" if self._value else "Secret(None)"

    @property
    def value(self) -> str | None:
        return self._value

    def found_in(self, text: str) -> bool:
        return any(form in text for form in self._forms)

    def mask(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def show(self, text: str | bytes, limit: int) -> str:
        """``text`` masked, then cut to ``limit`` characters (bytes are decoded first)."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return self.mask(text)[:limit]
