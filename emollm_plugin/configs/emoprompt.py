"""EmoPrompt's settings, stored in the model config as ``emoprompt_*`` keys so evaluation uses the
bank, strategy and target that training used.

EmoPrompt is on when the conversation template is ``TEMPLATE_NAME`` (``--version emoprompt_v1``
for training, ``--conv-mode emoprompt_v1`` for evaluation). It then needs a bank: a JSONL file
made by ``emollm emoprompt generate``, or ``ILLUSTRATIVE_BANK`` by name for the 18 hand-written
exemplars packaged with the plugin (toy runs). There is no silent default bank:
``require_bank`` raises ``MissingBankError`` saying how to make one or how to turn EmoPrompt off.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .base import ConfigError, ModelConfigFields, check_choice, fail

TEMPLATE_NAME = "emoprompt_v1"
ILLUSTRATIVE_BANK = "illustrative"
STRATEGIES = ("random", "same-label-excluded", "nearest")
TARGETS = ("label", "reasoning")


class MissingBankError(ConfigError):
    """EmoPrompt is on but no exemplar bank was chosen."""


@dataclass(frozen=True)
class EmoPromptConfig(ModelConfigFields):
    """Which bank, how an exemplar is chosen for training, and what the answer turn trains on.

    Args:
        bank: a bank file, or ``"illustrative"`` for the packaged hand-written exemplars
            (default: None: EmoPrompt cannot run until one is chosen).
        strategy: training-time exemplar selection (default: ``"random"``).
        seed: seed of the exemplar selection (default: ``0``).
        target: ``"label"`` trains on the record's answer; ``"reasoning"`` trains on
            ``Reasoning: {chain} Answer: {answer}`` for records whose own reasoning chain is in the
            bank (others keep the answer) (default: ``"label"``).
    """

    bank: Optional[str] = field(default=None, metadata={
        "flag": "emoprompt_bank", "key": "emoprompt_bank",
        "help": f"EmoPrompt exemplar bank (JSONL, from `emollm emoprompt generate`), or "
                f"'{ILLUSTRATIVE_BANK}' for the 18 packaged hand-written exemplars; required with "
                f"--version {TEMPLATE_NAME} (default: none)"})
    strategy: str = field(default="random", metadata={
        "flag": "emoprompt_strategy", "key": "emoprompt_strategy",
        "help": "training-time exemplar selection: " + " | ".join(STRATEGIES)
                + "; evaluation always uses random, which never reads the label (default: random)"})
    seed: int = field(default=0, metadata={
        "flag": "emoprompt_seed", "key": "emoprompt_seed",
        "help": "seed of the exemplar selection (default: 0)"})
    target: str = field(default="label", metadata={
        "flag": "emoprompt_target", "key": "emoprompt_target",
        "help": "what the answer turn trains on: label (the record's answer) | reasoning "
                "(the record's reasoning chain from the bank, then the answer) (default: label)"})

    def _validate(self) -> None:
        check_choice("emoprompt_strategy", self.strategy, STRATEGIES)
        check_choice("emoprompt_target", self.target, TARGETS)
        if self.bank is not None and not self.bank.strip():
            fail("emoprompt_bank", self.bank, f"a bank file or '{ILLUSTRATIVE_BANK}'")

    def require_bank(self, where: str) -> str:
        """The bank, or ``MissingBankError`` explaining the choices; ``where`` names the step
        (e.g. ``"training"``)."""
        if self.bank is None:
            raise MissingBankError(missing_bank_message(where))
        return self.bank


def missing_bank_message(where: str) -> str:
    return (f"{where}: EmoPrompt is on ({TEMPLATE_NAME}) but no exemplar bank was given. Make one "
            "with `emollm emoprompt generate --bench data/emobench/train.json --out "
            "work/emoprompt_bank.jsonl --per-task 100 --base-url URL --model MODEL` and pass "
            f"--emoprompt_bank work/emoprompt_bank.jsonl (or --emoprompt_bank {ILLUSTRATIVE_BANK} "
            "for the 18 packaged hand-written exemplars, a toy). To train or evaluate without "
            "EmoPrompt on purpose, use --version v1 (evaluation: --conv-mode vicuna_v1).")
