"""The chat template of an exported folder: the conversation the checkpoint was trained with, as
Jinja over transformers-style messages.

For a LLaVA template with separator style TWO (``vicuna_v1``, ``llava_v1``, ``emoprompt_v1``) the
prompt LLaVA builds is

    {system}{sep}USER: {user turn}{sep}ASSISTANT: {answer}{sep2}USER: ...{sep}ASSISTANT:

and a user turn with media is ``<image>\\n`` (or ``<video>\\n``), then ``<audio>\\n``, then the
question: the order ``eval.questions.human_turn`` gives a record's first turn. A system message
replaces the template's system prompt (for EmoPrompt: ``processor.emoprompt_system(ID)``).
"""
from __future__ import annotations

import json

from ..errors import EmoLLMError


class TemplateError(EmoLLMError, ValueError):
    """A conversation template the exported chat template cannot reproduce."""


def _lit(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Jinja string literal


def jinja_template(system: str, roles: tuple[str, str], sep: str, sep2: str) -> str:
    user, assistant = roles
    return "".join([
        "{%- if messages and messages[0]['role'] == 'system' -%}",
        "{%- set c = messages[0]['content'] -%}",
        "{%- set system = c if c is string else (c | selectattr('type', 'equalto', 'text') "
        "| map(attribute='text') | join('\\n')) -%}",
        "{%- set turns = messages[1:] -%}",
        "{%- else -%}",
        f"{{%- set system = {_lit(system)} -%}}",
        "{%- set turns = messages -%}",
        "{%- endif -%}",
        f"{{{{- system ~ {_lit(sep)} -}}}}",
        "{%- for message in turns -%}",
        "{%- if message['content'] is string -%}",
        "{%- set parts = [] -%}{%- set text = message['content'] -%}",
        "{%- else -%}",
        "{%- set parts = message['content'] -%}",
        "{%- set text = parts | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('\\n') -%}",
        "{%- endif -%}",
        "{%- if message['role'] == 'user' -%}",
        f"{{{{- {_lit(user + ': ')} -}}}}",
        "{%- for p in parts if p['type'] == 'image' -%}{{- '<image>\\n' -}}{%- endfor -%}",
        "{%- for p in parts if p['type'] == 'video' -%}{{- '<video>\\n' -}}{%- endfor -%}",
        "{%- for p in parts if p['type'] == 'audio' -%}{{- '<audio>\\n' -}}{%- endfor -%}",
        f"{{{{- text ~ {_lit(sep)} -}}}}",
        "{%- else -%}",
        f"{{{{- {_lit(assistant + ': ')} ~ text ~ {_lit(sep2)} -}}}}",
        "{%- endif -%}",
        "{%- endfor -%}",
        f"{{%- if add_generation_prompt -%}}{{{{- {_lit(assistant + ':')} -}}}}{{%- endif -%}}",
    ])


def template_for(conversation) -> str:
    """The Jinja template of a LLaVA ``Conversation`` (separator style TWO only)."""
    from llava.conversation import SeparatorStyle

    if conversation.sep_style != SeparatorStyle.TWO:
        raise TemplateError(
            f"the checkpoint's conversation template has separator style {conversation.sep_style.name}; "
            "export reproduces style TWO (vicuna_v1, llava_v1, emoprompt_v1) only")
    return jinja_template(conversation.system, tuple(conversation.roles), conversation.sep, conversation.sep2)
