"""The few LLaVA names and host choices the plugin's data path needs, in one place.

``default_conversation``: LLaVA's ``preprocess`` reads the module global
``llava.conversation.default_conversation``; a per-record conversation (EmoPrompt) is swapped in
for the duration of one call. ``choose_attn_implementation``: the attention kernel the installed
stack supports.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os


@contextlib.contextmanager
def default_conversation(conversation):
    """Temporarily make `conversation` LLaVA's default (its preprocess reads the module global)."""
    import llava.conversation as conversation_lib
    previous = conversation_lib.default_conversation
    conversation_lib.default_conversation = conversation
    try:
        yield conversation
    finally:
        conversation_lib.default_conversation = previous


def current_default_conversation():
    """LLaVA's default conversation template as ``--version`` set it."""
    import llava.conversation as conversation_lib
    return conversation_lib.default_conversation


def choose_attn_implementation() -> str:
    """flash_attention_2 on CUDA when flash-attn is installed, else PyTorch SDPA (never a crash)."""
    forced = os.environ.get("EMOLLM_ATTN_IMPLEMENTATION")
    if forced:
        return forced
    import torch
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
