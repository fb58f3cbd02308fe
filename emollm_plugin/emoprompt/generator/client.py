"""One chat-completions request (``ChatClient``), request pacing (``RateLimiter``) and retries
(``RetryPolicy``).

Every piece of server text that reaches a message goes through ``Secret.show`` (the key masked
before the text is cut to its display length). A reply whose text contains the key is refused:
it raises ``ReplyError("reply echoes the API key")``, so it is retried like any unusable reply and
never becomes an exemplar.

Retry delays: ``min(backoff_max_s, backoff_base_s * 2**(attempt-1))``, at least the server's
Retry-After (capped at ``backoff_max_s``).
"""
from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import GenerationError, RejectedError, ReplyError, TransientError
from .secret import Secret

log = logging.getLogger(__name__)

ERROR_BODY_CHARS = 300  # of an HTTP error body shown in a message
BODY_CHARS = 200        # of a 200 body that is not a chat completion
LOG_CHARS = 200         # of a failure shown in a retry log line
_REJECTED_STATUS = (400, 413, 422)
_HINTS = {401: "check the API key in the environment variable named by --api-key-env",
          403: "the key has no access to this model",
          404: "check --base-url (usually ends in /v1) and --model"}
KEY_ECHO = "reply echoes the API key"

T = TypeVar("T")


@dataclass
class RateLimiter:
    """At most ``requests_per_minute`` request starts per minute: ``60 / rpm`` s between starts
    (None or 0: no limit)."""

    requests_per_minute: float | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _last: float | None = None

    def wait(self) -> None:
        if self.requests_per_minute:
            if self._last is not None:
                delay = self._last + 60.0 / self.requests_per_minute - self.clock()
                if delay > 0:
                    self.sleep(delay)
            self._last = self.clock()


class ChatClient:
    """One chat-completions request per ``complete`` call (no retries here)."""

    def __init__(self, base_url: str, model: str, secret: Secret, timeout_s: float,
                 limiter: RateLimiter, temperature: float, max_tokens: int):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.timeout_s, self.limiter = model, timeout_s, limiter
        self.temperature, self.max_tokens = temperature, max_tokens
        self.secret = secret
        self.requests = 0

    def complete(self, messages: list[dict]) -> str:
        """The reply's text; ``TransientError``, ``RejectedError``, ``ReplyError`` or
        ``GenerationError`` otherwise (messages masked)."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.secret.value:
            headers["Authorization"] = f"Bearer {self.secret.value}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self.limiter.wait()
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            self._raise_for_status(err)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            reason = self.secret.show(str(getattr(err, "reason", err)), ERROR_BODY_CHARS)
            raise TransientError(f"connection failed: {reason}") from None
        try:
            content = _content(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise TransientError(f"response is not a chat completion ({type(err).__name__}): "
                                 f"{self.secret.show(raw, BODY_CHARS)!r}") from None
        if self.secret.found_in(content) or self.secret.found_in(raw.decode("utf-8", "replace")):
            raise ReplyError(KEY_ECHO, "the reply is refused and not written")
        return content

    def _raise_for_status(self, err: urllib.error.HTTPError):
        status = err.code
        message = f"HTTP {status} from {self.secret.mask(self.url)}: " + self.secret.show(
            err.read(), ERROR_BODY_CHARS)
        if status == 429 or status >= 500:
            retry_after = err.headers.get("Retry-After") if err.headers else None
            raise TransientError(message, float(retry_after) if _is_number(retry_after) else None) from None
        if status in _REJECTED_STATUS:
            raise RejectedError(message) from None
        hint = _HINTS.get(status, "")
        raise GenerationError(message + (f" ({hint})" if hint else "")) from None


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` attempts in all, exponential backoff (module docstring)."""

    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        if retry_after:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def run(self, attempt_once: Callable[[], T], what: str, secret: Secret) -> T | ReplyError:
        """``attempt_once()``'s result, or the ``ReplyError`` that drops ``what``; transient
        failures that outlast the attempts raise ``GenerationError``."""
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return attempt_once()
            except RejectedError as err:
                return ReplyError("rejected by the endpoint", str(err))
            except (TransientError, ReplyError) as err:
                last = err
            if attempt == self.max_attempts:
                break
            delay = self.delay(attempt, getattr(last, "retry_after", None))
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs", what, attempt,
                        self.max_attempts, secret.show(str(last), LOG_CHARS), delay)
            self.sleep(delay)
        if isinstance(last, TransientError):
            raise GenerationError(f"the endpoint failed {self.max_attempts} times in a row for {what}: "
                                  f"{secret.mask(str(last))}. Finished exemplars are kept; rerun to "
                                  "resume") from None
        return last  # type: ignore[return-value]


def _is_number(text: str | None) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _content(reply: dict) -> str:
    content = reply["choices"][0]["message"]["content"]
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}")
    return content
