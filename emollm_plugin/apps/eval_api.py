"""``emollm eval api``: answer an EmoBench question file through an OpenAI-compatible chat endpoint,
so another model (a GPT-4V-class API, a stock LLaVA behind ``emollm serve``) sits beside your own
in the same table, as the paper's Table 3 does.

    emollm eval api --base-url URL --model NAME --question-file Q.json --answers-file A.jsonl \\
        [--media-root DIR] [--api-key-env VAR | --api-key-file FILE] [--resume]

Each record is asked once, from its ``question_only`` view (the scorer alone reads the label):
one user message with the question text (``question_without_placeholders``) and the record's
image as a ``data:`` URL. Records with a video or audio are not sent (the chat-completions format
has no standard part for them): they are counted as ``api_images_only`` in
``ANSWERS.skipped.jsonl``, like the other skips (missing or refused media, a request the endpoint
rejects). The answers file has ``emollm eval infer``'s format, ``model_id`` being ``--model-id``
or ``--model``, so ``emollm eval score`` reads it (and prints Table 3's layout for a
``bench subset --table3`` file).

The key (docs/security.md): read from the environment variable ``--api-key-env`` or the file
``--api-key-file``, never from the command line; masked in every message before it is cut; sent
only to ``--base-url`` itself: redirects are refused, not followed (a redirect would carry the
Authorization header elsewhere), and no proxy from the environment is used. A reply longer than
``--max-reply-bytes`` is refused; ``--deadline`` bounds the whole run (the answers so far are
kept; ``--resume`` continues). Temperature 0 (``--temperature``).
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

from ..emoprompt.generator.secret import Secret
from ..errors import EmoLLMError
from ..eval.questions import QuestionError, load_questions, question_without_placeholders
from ..records import AppendOnlyJsonl, question_only
from ..runtime.batch import answer_line, read_answered, skipped_path
from ..runtime.errors import InferInputError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".bmp": "image/bmp"}
SHOWN_CHARS = 300  # of a server's error text in a message
REJECTED = (400, 413, 415, 422)  # this record only: skipped, the run goes on
RETRIED = (429, 500, 502, 503, 504)
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


class ApiRunError(EmoLLMError, RuntimeError):
    """The run cannot go on (endpoint, key, deadline); answers written so far are kept."""


class RecordSkipped(EmoLLMError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to another URL refused (HTTP {code}): the "
                                     "key is sent to --base-url only; give the final URL as --base-url",
                                     headers, fp)


def read_key(env: Optional[str], file: Optional[Path]) -> Secret:
    """The API key from ``file``, or from the environment variable ``env`` (None:
    ``DEFAULT_KEY_ENV``; empty, or the variable unset: no key, for an endpoint without one)."""
    if env is not None and file is not None:
        raise ApiRunError("give --api-key-env or --api-key-file, not both")
    if file is not None:
        try:
            return Secret(file.read_text(encoding="utf-8").strip() or None)
        except OSError as err:
            raise ApiRunError(f"--api-key-file {file}: cannot read it: {err.strerror}") from None
    name = DEFAULT_KEY_ENV if env is None else env
    return Secret(os.environ.get(name) if name else None)


class ChatEndpoint:
    """One chat-completions request per ``ask``; a run-wide deadline and reply size cap."""

    def __init__(self, base_url: str, model: str, secret: Secret, timeout_s: float, deadline_s: float,
                 max_reply_bytes: int, temperature: float, max_tokens: int, max_attempts: int = 3,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if not base_url.startswith(("http://", "https://")):
            raise ApiRunError(f"--base-url {base_url!r} must start with http:// or https://")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.secret, self.timeout_s = model, secret, timeout_s
        self.max_reply_bytes, self.temperature, self.max_tokens = max_reply_bytes, temperature, max_tokens
        self.max_attempts, self.clock, self.sleep = max_attempts, clock, sleep
        self.ends_at = clock() + deadline_s
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects())

    def _remaining(self) -> float:
        left = self.ends_at - self.clock()
        if left <= 0:
            raise ApiRunError("--deadline reached; the answers so far are kept: rerun with --resume to continue")
        return left

    def ask(self, text: str, image_url: Optional[str]) -> str:
        content: list[dict] = [{"type": "text", "text": text}]
        if image_url is not None:
            content.append({"type": "image_url", "image_url": {"url": image_url}})
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": content}],
                           "temperature": self.temperature, "max_tokens": self.max_tokens}).encode("utf-8")
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._once(body)
            except _Transient as err:
                if attempt == self.max_attempts:
                    raise ApiRunError(f"{self.secret.mask(self.url)}: failed {attempt} times in a row: {err}; "
                                      "the answers so far are kept (--resume continues)") from None
                self.sleep(min(2.0 ** (attempt - 1), max(0.0, self._remaining() - 1)))
        raise AssertionError("unreachable")

    def _once(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json"}
        if self.secret.value:
            headers["Authorization"] = f"Bearer {self.secret.value}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=min(self.timeout_s, self._remaining())) as response:
                raw = response.read(self.max_reply_bytes + 1)
        except urllib.error.HTTPError as err:
            shown = self.secret.show(err.read() or str(err.msg), SHOWN_CHARS)
            message = f"HTTP {err.code} from {self.secret.mask(self.url)}: {shown}"
            if err.code in RETRIED:
                raise _Transient(message) from None
            if err.code in REJECTED:
                raise RecordSkipped("api_rejected", message) from None
            raise ApiRunError(message + (" (check the key: --api-key-env / --api-key-file)"
                                         if err.code in (401, 403) else "")) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            raise _Transient(f"connection failed: {self.secret.show(str(getattr(err, 'reason', err)), SHOWN_CHARS)}"
                             ) from None
        if len(raw) > self.max_reply_bytes:
            raise RecordSkipped("api_reply_too_large", f"the reply is over --max-reply-bytes {self.max_reply_bytes}")
        try:
            reply = json.loads(raw)["choices"][0]["message"]["content"]
            if isinstance(reply, list):
                reply = "".join(p.get("text", "") for p in reply if isinstance(p, dict))
            if not isinstance(reply, str):
                raise TypeError(type(reply).__name__)
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise RecordSkipped("api_bad_reply", f"not a chat completion ({type(err).__name__}): "
                                f"{self.secret.show(raw, SHOWN_CHARS)!r}") from None
        if self.secret.found_in(reply):
            raise RecordSkipped("api_reply_echoes_key", "the reply echoes the API key; refused, not written")
        return reply.strip()


class _Transient(EmoLLMError):
    """A failure worth another attempt (HTTP 429 / 5xx, connection, timeout)."""


def image_data_url(record: dict, media_root: Path, max_bytes: int) -> Optional[str]:
    """The record's image as a data URL (None for a record without media)."""
    from ..media.paths import MediaPathError, resolve_media

    if "video" in record or "audio" in record:
        raise RecordSkipped("api_images_only", f"record {record['id']}: the chat-completions format has no "
                            "standard video or audio part; only image records are sent")
    if "image" not in record:
        return None
    try:
        path = resolve_media(media_root, record["image"])
    except MediaPathError as err:
        raise RecordSkipped("media_path_refused", str(err)) from None
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise RecordSkipped("media_type", f"record {record['id']}: {record['image']} is not one of "
                            f"{', '.join(IMAGE_TYPES)}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise RecordSkipped("media_too_large", f"record {record['id']}: {record['image']} has {size} bytes, "
                                f"over --max-image-bytes {max_bytes}")
        data = path.read_bytes()
    except OSError as err:
        raise RecordSkipped("media_missing", f"record {record['id']}: cannot read {record['image']}: "
                            f"{err.strerror}") from None
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


def run(args: argparse.Namespace, endpoint: Optional[ChatEndpoint] = None) -> tuple[int, int, Counter]:
    """(records, answered now, skipped by reason)."""
    records = [question_only(r) for r in load_questions(args.question_file)]
    media_root = Path(args.media_root or Path(args.question_file).parent / "media")
    model_id = args.model_id or args.model
    answers_file = Path(args.answers_file)
    answered = read_answered(answers_file, model_id) if args.resume else set()
    endpoint = endpoint or ChatEndpoint(args.base_url, args.model, read_key(args.api_key_env, args.api_key_file),
                                        args.timeout, args.deadline, args.max_reply_bytes, args.temperature,
                                        args.max_tokens)
    answers_file.parent.mkdir(parents=True, exist_ok=True)
    written, skipped = 0, Counter()
    with AppendOnlyJsonl(answers_file).open(truncate=not args.resume) as out, \
            open(skipped_path(answers_file), "w", encoding="utf-8") as skip_out:
        for record in records:
            if str(record["id"]) in answered:
                continue
            try:
                url = image_data_url(record, media_root, args.max_image_bytes)
                text = endpoint.ask(question_without_placeholders(record), url)
            except RecordSkipped as err:
                skip_out.write(json.dumps({"question_id": record["id"], "reason": err.reason,
                                           "message": str(err)}) + "\n")
                skipped[err.reason] += 1
                continue
            out.write(answer_line(record, text, model_id))
            out.flush()
            written += 1
    return len(records), written, skipped


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emollm eval api", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="the endpoint, e.g. https://api.openai.com/v1 or "
                                                     "http://127.0.0.1:8000/v1 (emollm serve)")
    p.add_argument("--model", required=True, help="model name sent with each request")
    p.add_argument("--question-file", required=True, type=Path, help="EmoBench records: JSON list or JSONL")
    p.add_argument("--answers-file", required=True, type=Path, help="answers JSONL to write")
    p.add_argument("--media-root", type=Path, default=None,
                   help="folder the records' media paths are relative to (default: 'media' next to --question-file)")
    p.add_argument("--api-key-env", default=None,
                   help=f"environment variable holding the key; unset, or '': no key (default: {DEFAULT_KEY_ENV})")
    p.add_argument("--api-key-file", type=Path, default=None, help="a file holding the key (instead of --api-key-env)")
    p.add_argument("--model-id", default=None, help="model_id written per answer (default: --model)")
    p.add_argument("--temperature", type=float, default=0.0, help="(default: 0)")
    p.add_argument("--max-tokens", type=int, default=128, help="(default: 128)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    p.add_argument("--deadline", type=float, default=6 * 3600.0, help="seconds for the whole run (default: 21600)")
    p.add_argument("--max-reply-bytes", type=int, default=1 << 20, help="largest reply read (default: 1 MiB)")
    p.add_argument("--max-image-bytes", type=int, default=20 << 20, help="largest image sent (default: 20 MiB)")
    p.add_argument("--resume", action="store_true", help="keep the answers already in --answers-file")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        total, written, skipped = run(args)
    except (QuestionError, ApiRunError, InferInputError) as err:
        print(f"emollm eval api: {err}", file=sys.stderr)
        return 2
    print(f"emollm eval api: {total} record(s): {written} answered now, {sum(skipped.values())} skipped"
          + (" (" + ", ".join(f"{r} {n}" for r, n in sorted(skipped.items())) + f"; listed in "
             f"{skipped_path(args.answers_file)})" if skipped else ""), file=sys.stderr)
    return 0
