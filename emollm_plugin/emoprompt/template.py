"""The ``emoprompt_v1`` conversation template: Vicuna v1 turns, a worked example in the system prompt.

The prompt LLaVA builds from it (``Conversation.get_prompt``, separator style TWO)::

    {base system}

    Worked example (naming the emotion shown). Input: an image. Reasoning: {chain} Answer: joy
    End of the worked example. USER: <image>
    {question} ASSISTANT: {answer}</s>

Separators are Vicuna v1's (``sep=" "``, ``sep2="</s>"``, roles USER/ASSISTANT) and ``version``
starts with ``"v1"``, so LLaVA's ``preprocess`` dispatches to ``preprocess_v1``, which masks
everything but the assistant's answers. That masking splits the prompt at ``"</s>"`` and at
``" ASSISTANT: "``, and LLaVA's tokenizer turns ``<image>`` into a media token, so the exemplar
text must contain none of ``TEMPLATE_BREAKERS``; ``render_system`` refuses such an exemplar.

The exemplar's media appear in words only ("an image", "a video clip ... with its audio track"):
never its file path, which can name the label (``CAER-S/train/Happy/...``).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from ..errors import EmoLLMError

from ..configs.emoprompt import TEMPLATE_NAME

if TYPE_CHECKING:
    from llava.conversation import Conversation

    from .bank import Exemplar

EMOPROMPT_TEMPLATE_NAME = TEMPLATE_NAME
CONVERSATION_VERSION = "v1_emoprompt"  # must start with "v1": LLaVA's preprocess dispatch

BASE_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions. The assistant recognises "
    "emotions, intentions, humor, sarcasm and hate in images, videos and speech by reasoning from "
    "what is observed to what it means.")

# Strings that would split the prompt in the wrong place or add media tokens (module docstring).
TEMPLATE_BREAKERS = ("</s>", "<s>", "USER:", "ASSISTANT:", "<image>", "<video>", "<audio>")

EXAMPLE_OPENING = "\n\nWorked example ("
EXAMPLE_CLOSING = "\nEnd of the worked example."

TASK_PHRASES = {
    "emotion_closed": "choosing the emotion shown from a list of options",
    "emotion_open": "naming the emotion shown",
    "intention": "choosing the speaker's intention from a list of options",
    "hate": "deciding whether an image-and-text post is hateful",
    "humor": "deciding whether the speaker is being humorous",
    "sarcasm": "deciding whether an image-and-text post is sarcastic",
}


class ConversationTemplateError(EmoLLMError, ValueError):
    """Text that would break the EmoPrompt conversation template."""


def describe_media(media: dict[str, str]) -> str:
    """The exemplar's input in words, without its path."""
    words = "a video clip (frames in time order)" if "video" in media else "an image"
    return words + (" with its audio track" if "audio" in media else "")


def _check_text(text: str, what: str) -> None:
    found = [s for s in TEMPLATE_BREAKERS if s in text]
    if found:
        raise ConversationTemplateError(f"{what} contains {found}, which would break the {EMOPROMPT_TEMPLATE_NAME} "
                            "template (target masking splits on '</s>' and ' ASSISTANT: ', media "
                            "placeholders become media tokens); remove or reword it")


def render_system(exemplar: "Exemplar", base_system: str = BASE_SYSTEM) -> str:
    """``base_system`` followed by the exemplar as a worked example (task, input in words,
    reasoning chain, answer)."""
    _check_text(base_system, "the base system prompt")
    for name in ("reasoning", "answer"):
        _check_text(getattr(exemplar, name), f"exemplar {exemplar.id!r} field {name!r}")
    if exemplar.task not in TASK_PHRASES:
        raise ConversationTemplateError(f"exemplar {exemplar.id!r}: unknown task {exemplar.task!r}; "
                            f"known: {', '.join(TASK_PHRASES)}")
    return (f"{base_system.rstrip()}{EXAMPLE_OPENING}{TASK_PHRASES[exemplar.task]}). "
            f"Input: {describe_media(exemplar.media)}. "
            f"{reasoning_then_answer(exemplar.reasoning, exemplar.answer)}{EXAMPLE_CLOSING}")


def reasoning_then_answer(reasoning: str, answer: str) -> str:
    """``Reasoning: {chain} Answer: {answer}``, whitespace of the chain collapsed: how a worked
    example ends, and the answer turn under ``--emoprompt_target reasoning``."""
    return f"Reasoning: {' '.join(reasoning.split())} Answer: {answer.strip()}"


def emoprompt_conversation(base_system: str = BASE_SYSTEM) -> "Conversation":
    """A fresh ``emoprompt_v1`` conversation with no exemplar yet (Vicuna v1 separators)."""
    from llava.conversation import Conversation, SeparatorStyle

    _check_text(base_system, "the base system prompt")
    return Conversation(system=base_system, roles=("USER", "ASSISTANT"), messages=[], offset=0,
                        sep_style=SeparatorStyle.TWO, sep=" ", sep2="</s>",
                        version=CONVERSATION_VERSION)


def with_exemplar(conv: "Conversation", exemplar: "Exemplar") -> "Conversation":
    """A copy of ``conv`` whose system prompt carries ``exemplar``; a worked example already in
    ``conv``'s system prompt is replaced, not stacked."""
    copy = conv.copy()
    base = conv.system.partition(EXAMPLE_OPENING)[0]
    copy.system = render_system(exemplar, base_system=base)
    return copy


@lru_cache(maxsize=1)
def _registered_conversation() -> "Conversation":
    return emoprompt_conversation()


def register_templates() -> None:
    """Add ``emoprompt_v1`` to the plugin's CONV_TEMPLATES registry (idempotent; ``seams.install``
    copies the registry into ``llava.conversation.conv_templates``)."""
    from ..registry import CONV_TEMPLATES
    CONV_TEMPLATES.register(EMOPROMPT_TEMPLATE_NAME, _registered_conversation())
