"""EmoPrompt at training and inference time: which bank, which strategy, which conversation.

The settings (``configs.EmoPromptConfig``: bank, strategy, seed, target) are written into the
model config, so evaluation uses what training used. There is no default bank: EmoPrompt on
without one raises ``MissingBankError`` (``"illustrative"`` chooses the packaged toy bank by name).

Eval-time strategy: ``random`` for every task: the exemplar is chosen by the record's id alone,
from the record's ``question_only`` view, so nothing about the answer can reach the prompt.
``same-label-excluded`` (and any other strategy that reads the query's label) is a training-time
option only: asking for it at evaluation raises ``AnsweringStrategyError``. The query's own record
and its media are never shown in either phase.

Training target (``--emoprompt_target``): ``label`` keeps the record's answer turn as it is;
``reasoning`` replaces it with ``Reasoning: {chain} Answer: {answer}`` (the worked examples' own
form) when the bank holds an exemplar made from this record (``exemplar.source_id`` equals the
record's ``id``; the first by exemplar id if several), and keeps the answer otherwise. That
exemplar is never the one in the record's own prompt (selection excludes it).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..configs import EmoPromptConfig
from ..errors import EmoLLMError
from ..records import question_only
from .bank import load_bank, resolve_bank
from .select import ExemplarSelector
from .template import CONVERSATION_VERSION, reasoning_then_answer, with_exemplar

_DEFAULTS = EmoPromptConfig()
ANSWERING_STRATEGY = "random"  # the only selection at evaluation: independent of the answer
LABEL_READING_STRATEGIES = ("same-label-excluded",)


class AnsweringStrategyError(EmoLLMError, ValueError):
    """A selection strategy that reads the gold label was asked for while answering."""


def check_answering_strategy(strategy: str) -> None:
    """Raise AnsweringStrategyError for a strategy that reads the query's gold label."""
    if strategy in LABEL_READING_STRATEGIES:
        raise AnsweringStrategyError(
            f"exemplar strategy {strategy!r} reads the query's gold label, so it may only be used "
            f"to train (--emoprompt_strategy); answering uses {ANSWERING_STRATEGY!r}, which picks "
            "the exemplar by record id alone")


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
        eval_strategy: the selection when answering (default: ``ANSWERING_STRATEGY``, ``random``);
            a strategy that reads the label raises ``AnsweringStrategyError``.
    """

    def __init__(self, bank_path: Optional[str], train_strategy: str = _DEFAULTS.strategy,
                 seed: int = _DEFAULTS.seed, phase: str = "train", target: str = _DEFAULTS.target,
                 eval_strategy: str = ANSWERING_STRATEGY):
        if phase not in ("train", "eval"):
            raise ValueError(f"phase must be 'train' or 'eval', got {phase!r}")
        check_answering_strategy(eval_strategy)
        self.config = EmoPromptConfig(bank=bank_path, strategy=train_strategy, seed=seed,
                                      target=target)
        step = "training" if phase == "train" else "evaluation"
        self.bank_path = str(resolve_bank(self.config.require_bank(step)))
        bank = load_bank(self.bank_path)
        self.phase = phase
        strategy = self.config.strategy if phase == "train" else eval_strategy
        self.selector = ExemplarSelector(bank, strategy=strategy, seed=self.config.seed)
        self._reasoning: dict[str, str] = {}
        for ex in sorted(bank, key=lambda e: e.id):
            self._reasoning.setdefault(ex.source_id, ex.reasoning)

    @classmethod
    def from_config(cls, hf_config, phase: str) -> "EmoPromptRuntime":
        config = EmoPromptConfig.from_model_config(hf_config)
        return cls(config.bank, config.strategy, config.seed, phase=phase, target=config.target)

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
        if self.phase == "eval":
            record = question_only(dict(record))
        exemplar = self.selector.select(record)
        return with_exemplar(base_conversation, exemplar), exemplar
