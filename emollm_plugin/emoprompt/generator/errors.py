"""The generator's errors: what stops the run, what drops one record, what is retried."""
from __future__ import annotations

from ...errors import EmoLLMError


class GenerationError(EmoLLMError, RuntimeError):
    """The run cannot go on (authentication, endpoint down, systematic failure)."""


class ReplyError(EmoLLMError, ValueError):
    """The model's reply is not a usable exemplar; ``reason`` is the drop-count key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class TransientError(EmoLLMError):
    """Worth another attempt: HTTP 429 / 5xx, timeouts, dropped connections, a non-chat body."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RejectedError(EmoLLMError):
    """The endpoint refuses this request (HTTP 400 / 413 / 422, e.g. a content filter)."""
