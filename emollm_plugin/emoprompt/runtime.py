"""EmoPrompt at training and inference time: which bank, which strategy, which conversation.

The settings (``configs.EmoPromptConfig``: bank, strategy, seed, target) are written into the
model config, so evaluation uses what training used. There is no default bank: EmoPrompt on
without one raises ``MissingBankError`` (``"illustrative"`` chooses the packaged toy bank by name).

Eval-time strategy: for multi-class tasks (emotion, intention) the exemplar must not carry the
query's label, so an exemplar cannot reveal the answer (``same-label-excluded``). For yes/no tasks
that rule would itself reveal the answer (the exemplar's answer would always be the opposite), so
those draw ``random`` exemplars, chosen by record id alone and therefore independent of the label.
The query's own record and its media are never shown in either phase.

Training target (``--emoprompt_target``): ``label`` keeps the record's answer turn as it is;
``reasoning`` replaces it with ``Reasoning: {chain} Answer: {answer}`` (the worked examples' own
form) when the bank holds an exemplar made from this record (``exemplar.source_id`` equals the
record's ``id``; the first by exemplar id if several), and keeps the answer otherwise. That
exemplar is never the one in the record's own prompt (selection excludes it).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..tasks.labels import YES_NO_TASKS
from ..configs import EmoPromptConfig
from .bank import load_bank, resolve_bank
from .select import ExemplarSelector
from .template import CONVERSATION_VERSION, reasoning_then_answer, with_exemplar

_DEFAULTS = EmoPromptConfig()


def is_emoprompt(conversation) -> bool:
    return getattr(conversation, "version", "") == CONVERSATION_VERSION


class EmoPromptRuntime:
    """Picks the exemplar for each record and builds its conversation.

    Args:
        bank_path: a bank file or ``"illustrative"``; None raises ``MissingBankError``.
        train_strategy: training-time selection (default: ``EmoPromptConfig().strategy``).
        seed: selection seed (default: ``EmoPromptConfig().seed``).
        phase: ``"train"`` or ``"eval"`` (default: ``"train"``).
        target: ``"label"`` | ``"reasoning"`` (default: ``EmoPromptConfig().target``).
    """

    def __init__(self, bank_path: Optional[str], train_strategy: str = _DEFAULTS.strategy,
                 seed: int = _DEFAULTS.seed, phase: str = "train", target: str = _DEFAULTS.target):
        if phase not in ("train", "eval"):
            raise ValueError(f"phase must be 'train' or 'eval', got {phase!r}")
        self.config = EmoPromptConfig(bank=bank_path, strategy=train_strategy, seed=seed,
                                      target=target)
        step = "training" if phase == "train" else "evaluation"
        self.bank_path = str(resolve_bank(self.config.require_bank(step)))
        bank = load_bank(self.bank_path)
        self.phase = phase
        self._selectors = {
            "train": ExemplarSelector(bank, strategy=self.config.strategy, seed=self.config.seed),
            "eval_multiclass": ExemplarSelector(bank, strategy="same-label-excluded", seed=self.config.seed),
            "eval_yes_no": ExemplarSelector(bank, strategy="random", seed=self.config.seed),
        }
        self._reasoning: dict[str, str] = {}
        for ex in sorted(bank, key=lambda e: e.id):
            self._reasoning.setdefault(ex.source_id, ex.reasoning)

    @classmethod
    def from_config(cls, hf_config, phase: str) -> "EmoPromptRuntime":
        config = EmoPromptConfig.from_model_config(hf_config)
        return cls(config.bank, config.strategy, config.seed, phase=phase, target=config.target)

    def selector_for(self, record: Mapping[str, Any]) -> ExemplarSelector:
        if self.phase == "train":
            return self._selectors["train"]
        return self._selectors["eval_yes_no" if record.get("task") in YES_NO_TASKS else "eval_multiclass"]

    def answer_target(self, record: Mapping[str, Any], answer: str) -> str:
        """The text the answer turn trains on (module docstring: training target)."""
        reasoning = self._reasoning.get(record.get("id"))
        if self.config.target == "label" or reasoning is None:
            return answer
        return reasoning_then_answer(reasoning, answer)

    def conversation_for(self, record: Mapping[str, Any], base_conversation):
        """The conversation with the record's exemplar, and the exemplar. A record without a
        ``task`` (general instruction data in ``STRATEGY=mix``) is no EmoBench question: it keeps
        the template's own system prompt and gets no exemplar (``None``)."""
        if "task" not in record:
            return base_conversation, None
        exemplar = self.selector_for(record).select(record)
        return with_exemplar(base_conversation, exemplar), exemplar
