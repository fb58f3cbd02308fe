"""EmoPrompt at training and inference time: which bank, which strategy, which conversation.

The bank path, strategy and seed are written into the model config (``emoprompt_bank``,
``emoprompt_strategy``, ``emoprompt_seed``), so evaluation uses what training used.

Eval-time strategy: for multi-class tasks (emotion, intention) the exemplar must not carry the
query's label, so an exemplar cannot reveal the answer (``same-label-excluded``). For yes/no tasks
that rule would itself reveal the answer (the exemplar's answer would always be the opposite), so
those draw ``random`` exemplars, chosen by record id alone and therefore independent of the label.
The query's own record and its media are never shown in either phase.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..bench.labels import YES_NO_TASKS
from .bank import example_bank_path, load_bank
from .select import ExemplarSelector
from .template import CONVERSATION_VERSION, with_exemplar

CONFIG_KEYS = ("emoprompt_bank", "emoprompt_strategy", "emoprompt_seed")


def is_emoprompt(conversation) -> bool:
    return getattr(conversation, "version", "") == CONVERSATION_VERSION


def write_config(hf_config, args) -> None:
    """Copy the EmoPrompt choices of the training arguments into the model config."""
    hf_config.emoprompt_bank = str(getattr(args, "emoprompt_bank", None) or example_bank_path())
    hf_config.emoprompt_strategy = getattr(args, "emoprompt_strategy", "random")
    hf_config.emoprompt_seed = int(getattr(args, "emoprompt_seed", 0))


class EmoPromptRuntime:
    """Picks the exemplar for each record and builds its conversation."""

    def __init__(self, bank_path: Optional[str] = None, train_strategy: str = "random", seed: int = 0,
                 phase: str = "train"):
        if phase not in ("train", "eval"):
            raise ValueError(f"phase must be 'train' or 'eval', got {phase!r}")
        self.bank_path = str(bank_path or example_bank_path())
        bank = load_bank(self.bank_path)
        self.phase = phase
        self._selectors = {
            "train": ExemplarSelector(bank, strategy=train_strategy, seed=seed),
            "eval_multiclass": ExemplarSelector(bank, strategy="same-label-excluded", seed=seed),
            "eval_yes_no": ExemplarSelector(bank, strategy="random", seed=seed),
        }

    @classmethod
    def from_config(cls, hf_config, phase: str) -> "EmoPromptRuntime":
        return cls(getattr(hf_config, "emoprompt_bank", None), getattr(hf_config, "emoprompt_strategy", "random"),
                   int(getattr(hf_config, "emoprompt_seed", 0) or 0), phase=phase)

    def selector_for(self, record: Mapping[str, Any]) -> ExemplarSelector:
        if self.phase == "train":
            return self._selectors["train"]
        return self._selectors["eval_yes_no" if record.get("task") in YES_NO_TASKS else "eval_multiclass"]

    def conversation_for(self, record: Mapping[str, Any], base_conversation):
        exemplar = self.selector_for(record).select(record)
        return with_exemplar(base_conversation, exemplar), exemplar
