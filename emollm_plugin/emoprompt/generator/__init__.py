"""Write an EmoPrompt exemplar bank by asking an OpenAI-compatible chat-completions endpoint.

Modules: ``config`` (``GeneratorConfig``, every setting of a run), ``run`` (``generate_bank``:
records -> requests -> checked exemplars appended to the bank), ``client`` (HTTP request, rate
limit, retries), ``secret`` (the API key masked before any text is cut for display), ``prompt``
(what a request asks), ``reply`` (is a reply a usable exemplar?), ``queue`` (label-balanced
record order), ``report`` (what the run did), ``errors``.
"""
from __future__ import annotations

from .client import ChatClient, RateLimiter, RetryPolicy
from .config import GeneratorConfig
from .errors import GenerationError, ReplyError
from .prompt import GENERATOR_SYSTEM, PROMPT_VERSION, build_messages, question_without_placeholders
from .reply import parse_reply
from .report import GenerationReport
from .run import exemplar_id, generate_bank
from .secret import Secret

__all__ = ["ChatClient", "RateLimiter", "RetryPolicy", "GeneratorConfig", "GenerationError", "ReplyError",
           "GENERATOR_SYSTEM", "PROMPT_VERSION", "build_messages", "question_without_placeholders",
           "parse_reply", "GenerationReport", "exemplar_id", "generate_bank", "Secret"]
