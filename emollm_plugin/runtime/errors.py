"""What the inference runtime refuses: bad input (the message says what to change) and records a
model cannot take (counted by reason)."""
from __future__ import annotations

from ..errors import EmoLLMError


class InferInputError(EmoLLMError, ValueError):
    """A command-line value or input file that cannot be used; the message says what to change."""


class CheckpointError(InferInputError):
    """The model folder cannot be routed through LLaVA's loader; the message says what to pass."""


class AnswersFileError(InferInputError):
    """An existing answers file cannot be resumed."""


class Unanswerable(EmoLLMError):
    """A record this model cannot take; ``reason`` is the counted key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
