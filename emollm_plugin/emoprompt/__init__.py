"""EmoPrompt: a bank of worked reasoning examples, one shown in each prompt's system message.

Light to import (no torch, no LLaVA): ``bank`` (JSONL exemplar bank), ``select`` (which exemplar a
query gets), ``template`` (the ``emoprompt_v1`` conversation; imports LLaVA only when a
conversation is built), ``generator`` (bank generation against a chat-completions endpoint).
"""
from __future__ import annotations

from .bank import (BankError, BankReport, Exemplar, append_exemplar, example_bank_path, load_bank,
                   validate_bank)
from .select import STRATEGIES, ExemplarSelector, NoExemplarError
from .template import (EMOPROMPT_TEMPLATE_NAME, emoprompt_conversation, register_templates,
                       render_system, with_exemplar)

__all__ = ["BankError", "BankReport", "Exemplar", "append_exemplar", "example_bank_path",
           "load_bank", "validate_bank", "STRATEGIES", "ExemplarSelector", "NoExemplarError",
           "EMOPROMPT_TEMPLATE_NAME", "emoprompt_conversation", "register_templates",
           "render_system", "with_exemplar"]
