"""One chat-completions request (``ChatClient``), request pacing (``RateLimiter``) and retries
(``RetryPolicy``).

The request goes straight over ``http.client``: a redirect is never followed (the key would go
with it to whatever host the redirect names) but stops the run; ``timeout_s`` is a total deadline
for the whole request (connecting, headers and body; a watchdog closes the socket when it
passes); a reply over ``max_reply_bytes`` is refused while it is read, so memory stays bounded.

What a message shows of a failed reply is decided by the reply's structure: the HTTP status, the
error's ``type`` and ``code`` when they are short identifiers, and its ``message`` reduced to plain
words (``secret.sanitised``); a body that is not JSON is not shown. A successful reply whose text
holds the key (``Secret.found_in``) raises ``ReplyError("reply echoes the API key")``, so it is
retried like any unusable reply and never becomes an exemplar.

Retry delays: ``min(backoff_max_s, backoff_base_s * 2**(attempt-1))``, at least the server's
Retry-After (capped at ``backoff_max_s``).
"""
from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import GenerationError, RejectedError, ReplyError, TransientError
from .secret import Secret

log = logging.getLogger(__name__)

ERROR_MESSAGE_CHARS = 200  # of an error reply's message shown in a message
LOG_CHARS = 300            # of a failure shown in a retry log line
MAX_REPLY_BYTES = 16 * 2**20  # a chat completion is a few KiB; more is refused while reading
ERROR_BODY_BYTES = 64 * 2**10  # of an error reply read to find its type, code and message
_CHUNK = 64 * 2**10
_REJECTED_STATUS = (400, 413, 422)
_HINTS = {401: "check the API key in the environment variable named by --api-key-env",
          403: "the key has no access to this model",
          404: "check --base-url (usually ends in /v1) and --model"}
_IDENTIFIER = re.compile(r"^[a-z]+(?:_[a-z]+){0,5}$")
KEY_ECHO = "reply echoes the API key"
TOO_LARGE = "reply too large"

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


class _Deadline:
    """Closes a connection's socket when ``seconds`` have passed, so no read outlives it."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float):
        self.connection, self.expired = connection, False
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = self.connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()


class ChatClient:
    """One chat-completions request per ``complete`` call (no retries here)."""

    def __init__(self, base_url: str, model: str, secret: Secret, timeout_s: float,
                 limiter: RateLimiter, temperature: float, max_tokens: int,
                 max_reply_bytes: int = MAX_REPLY_BYTES):
        self.url = base_url.rstrip("/") + "/chat/completions"
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GenerationError(f"--base-url {secret.mask(base_url)!r} is not an http(s) URL")
        self._parsed = parsed
        self.model, self.timeout_s, self.limiter = model, timeout_s, limiter
        self.temperature, self.max_tokens = temperature, max_tokens
        self.max_reply_bytes = max_reply_bytes
        self.secret = secret
        self.requests = 0

    def complete(self, messages: list[dict]) -> str:
        """The reply's text; ``TransientError``, ``RejectedError``, ``ReplyError`` or
        ``GenerationError`` otherwise (messages built from the reply's structure)."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.secret.value:
            headers["Authorization"] = f"Bearer {self.secret.value}"
        self.limiter.wait()
        self.requests += 1
        status, reply_headers, raw = self._send(body, headers)
        if 300 <= status < 400:
            raise GenerationError(
                f"HTTP {status} from {self.secret.mask(self.url)}: the endpoint redirects; redirects are "
                "not followed, so the API key never goes to another address. Set --base-url to the "
                "address the endpoint answers at")
        if status != 200:
            self._raise_for_status(status, reply_headers, raw)
        try:
            content = _content(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
            raise TransientError(f"response is not a chat completion ({type(err).__name__}, "
                                 f"{len(raw)} bytes)") from None
        if self.secret.found_in(content) or self.secret.found_in(raw.decode("utf-8", "replace")):
            raise ReplyError(KEY_ECHO, "the reply is refused and not written")
        return content

    def _send(self, body: bytes, headers: dict) -> tuple[int, http.client.HTTPMessage, bytes]:
        """(status, headers, body) of one POST, read within ``timeout_s`` in all; a body over
        ``max_reply_bytes`` (``ERROR_BODY_BYTES`` for an error reply) is refused or cut."""
        connection, target, proxy_headers = self._connection()
        deadline = _Deadline(connection, self.timeout_s)
        try:
            with deadline:
                connection.request("POST", target, body=body, headers={**headers, **proxy_headers})
                response = connection.getresponse()
                limit = self.max_reply_bytes if response.status == 200 else ERROR_BODY_BYTES
                declared = response.getheader("Content-Length")
                if response.status == 200 and declared and declared.isdigit() and int(declared) > limit:
                    raise ReplyError(TOO_LARGE, f"the endpoint announces {declared} bytes, over the "
                                     f"limit of {limit} bytes")
                chunks, size = [], 0
                while size <= limit:
                    chunk = response.read(min(_CHUNK, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                if deadline.expired:  # the watchdog closed the socket: what was read is cut off
                    raise TimeoutError
                if size > limit and response.status == 200:
                    raise ReplyError(TOO_LARGE, f"the reply is over the limit of {limit} bytes")
                return response.status, response.headers, b"".join(chunks)[:limit]
        except ReplyError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as err:
            if deadline.expired:
                raise TransientError(f"no complete reply within {self.timeout_s:g} s (--timeout)") from None
            if isinstance(err, TimeoutError):
                raise TransientError(f"no data for {self.timeout_s:g} s (--timeout)") from None
            reason = self.secret.show(str(getattr(err, "reason", None) or err), ERROR_MESSAGE_CHARS)
            raise TransientError(f"connection failed ({type(err).__name__}: {reason})") from None
        finally:
            connection.close()

    def _connection(self) -> tuple[http.client.HTTPConnection, str, dict]:
        """A connection to the endpoint, through the proxy the environment names for its scheme
        (``http_proxy``, ``https_proxy``, ``no_proxy``, as urllib reads them), the request target
        and the headers the proxy needs. Through a proxy, an https request is tunnelled (CONNECT),
        so the proxy never sees the key; an http request goes to the proxy with the full URL, key
        included, as with any plain-HTTP proxy."""
        parsed = self._parsed
        https = parsed.scheme == "https"
        path = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
        proxy = urllib.request.getproxies().get(parsed.scheme)
        if not proxy or urllib.request.proxy_bypass(parsed.hostname):
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            return kind(parsed.hostname, parsed.port, timeout=self.timeout_s), path, {}
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        headers = {}
        if via.username is not None:
            credentials = f"{urllib.parse.unquote(via.username)}:{urllib.parse.unquote(via.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        if https:
            connection = http.client.HTTPSConnection(via.hostname, via.port or 80, timeout=self.timeout_s)
            connection.set_tunnel(parsed.hostname, parsed.port or 443, headers=headers)
            return connection, path, {}
        connection = http.client.HTTPConnection(via.hostname, via.port or 80, timeout=self.timeout_s)
        return connection, self.url, headers

    def _raise_for_status(self, status: int, headers, raw: bytes):
        message = f"HTTP {status} from {self.secret.mask(self.url)}" + _error_summary(raw, self.secret)
        if status == 429 or status >= 500:
            retry_after = headers.get("Retry-After") if headers else None
            raise TransientError(message, float(retry_after) if _is_number(retry_after) else None)
        if status in _REJECTED_STATUS:
            raise RejectedError(message)
        hint = _HINTS.get(status, "")
        raise GenerationError(message + (f" ({hint})" if hint else ""))


def _error_summary(raw: bytes, secret: Secret) -> str:
    """What an error reply says, from its structure: OpenAI's ``{"error": {"type", "code",
    "message"}}`` (or ``{"error": "message"}``); nothing for a body of another shape."""
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError, RecursionError):
        return " (the body is not a JSON error object; not shown)"
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        return " (no error object in the body)"
    shown = [f"{name} {error[name]}" for name in ("type", "code")
             if isinstance(error.get(name), str) and len(error[name]) <= 40 and _IDENTIFIER.match(error[name])]
    if isinstance(error.get("message"), str):
        shown.append(f"message: {secret.show(error['message'], ERROR_MESSAGE_CHARS)!r}")
    return f" ({'; '.join(shown)})" if shown else ""


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
                        self.max_attempts, secret.mask(str(last))[:LOG_CHARS], delay)
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
