"""The API key, kept out of every message, log line and file.

What a message shows of server text is decided by the text's shape, not by searching it for the
key: an endpoint can echo the key in any encoding (``\\u0073\\u006b…``, ``%73%6B…``, spaced out,
base64, reversed), and no search finds them all. ``sanitised`` keeps only plain words: a word
longer than ``WORD_CHARS`` characters, one holding a digit, a case change inside it, or any
character but letters and light punctuation becomes ``…``, and so does a run of words holding
``SHORT_RUN`` or more one- or two-letter words (a key spelled out piece by piece). Known literal forms of the key
are masked as well, before anything is cut to its display length.

``found_in`` looks for the key in the encodings an echo most often takes; it is the last check on
a reply's text before the text can reach the bank file (a reply's text has no structure to rely
on), never the rule for what a message shows.
"""
from __future__ import annotations

import base64
import json
import re
import urllib.parse

MASK = "***"
HIDDEN = "…"
WORD_CHARS = 15
SHORT_RUN = 3
_PLAIN_WORD = re.compile(r"^[(\"'`]?[A-Za-z][a-z]*(?:'[a-z]+)?[)\"'`]?[.,:;!?)\"'`]*$")
_WORD_OR_SPACE = re.compile(r"\S+|\s+")


def sanitised(text: str | bytes, limit: int) -> str:
    """Server text reduced to plain words (module docstring), at most ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    words = []
    for word in text.split():
        plain = len(word.strip("()\"'`.,:;!?")) <= WORD_CHARS and _PLAIN_WORD.match(word) is not None
        words.append(word if plain else HIDDEN)
    out: list[str] = []
    run: list[str] = []  # consecutive short or hidden words

    def short(word: str) -> bool:
        return word != HIDDEN and len(word.strip("()\"'`.,:;!?")) <= 2

    for word in words + [""]:
        if word and (word == HIDDEN or short(word)):
            run.append(word)
            continue
        out += [HIDDEN] if sum(map(short, run)) >= SHORT_RUN else run
        run = []
        if word:
            out.append(word)
    joined = " ".join(out)
    joined = re.sub(rf"{HIDDEN}(?: {HIDDEN})+", HIDDEN, joined)
    return joined[:limit]


def _encodings(key: str) -> set[str]:
    raw = key.encode("utf-8")
    forms = {key, json.dumps(key)[1:-1], urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key),
             "".join(f"%{b:02x}" for b in raw), "".join(f"%{b:02X}" for b in raw),
             "".join(f"\\u{ord(c):04x}" for c in key), "".join(f"\\u{ord(c):04X}" for c in key),
             raw.hex(), raw.hex().upper(), key[::-1]}
    for shift in range(3):  # the key's base64 at each alignment, without the edge characters
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        inner = encoded[(shift * 4 + 2) // 3 + 1: -4]
        if len(inner) >= 8:
            forms.add(inner)
            forms.add(inner.replace("+", "-").replace("/", "_"))
    return {form for form in forms if form}


class Secret:
    """An API key (or None) with the ways untrusted text may meet it."""

    def __init__(self, value: str | None):
        self._value = value or None
        self._forms = () if not self._value else tuple(sorted(_encodings(self._value), key=len, reverse=True))

    def __repr__(self) -> str:
        return "Secret(***)" if self._value else "Secret(None)"

    @property
    def value(self) -> str | None:
        return self._value

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds the key: as it is, escaped, URL-encoded, hex, base64, reversed,
        or spelled out with anything between its characters."""
        if not self._value:
            return False
        folded = re.sub(r"[\s\"'`.,:;|_+-]", "", text)
        bare = re.sub(r"[\s\"'`.,:;|_+-]", "", self._value)
        if any(form in text for form in self._forms) or (len(bare) >= 6 and bare in folded):
            return True
        decoded = urllib.parse.unquote(text)
        return decoded != text and self._value in decoded

    def mask(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def show(self, text: str | bytes, limit: int) -> str:
        """Server text as a message may show it: plain words only (``sanitised``), key forms
        masked, at most ``limit`` characters."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return sanitised(self.mask(text), limit)
