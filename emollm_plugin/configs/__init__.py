"""The plugin's settings as frozen, validated dataclasses: ``MVPConfig`` (``mvp.py``),
``AudioConfig`` (``audio.py``) and ``EmoPromptConfig`` (``emoprompt.py``).

Each config writes itself to and reads itself from the model config (so a checkpoint rebuilds
what was trained) and lists its CLI flags; ``train/arguments.py`` generates LLaVA's extended
``ModelArguments`` from them, so every default is defined once.
"""
from __future__ import annotations

from .audio import AUDIO_INPUT_NORMS, AUDIO_WINDOWS, AudioConfig
from .base import CliField, ConfigError
from .emoprompt import (ILLUSTRATIVE_BANK, STRATEGIES, TARGETS, TEMPLATE_NAME, EmoPromptConfig,
                        MissingBankError)
from .mvp import MVPConfig

__all__ = ["AUDIO_INPUT_NORMS", "AUDIO_WINDOWS", "AudioConfig", "CliField", "ConfigError", "ILLUSTRATIVE_BANK",
           "STRATEGIES", "TARGETS", "TEMPLATE_NAME", "EmoPromptConfig", "MissingBankError", "MVPConfig"]
