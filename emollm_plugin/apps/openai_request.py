"""OpenAI chat-completion requests -> one EmoLLM question with its media, checked against limits.

Accepted (``POST /v1/chat/completions``): one ``user`` message whose ``content`` is a string or a
list of parts:

- ``{"type": "text", "text": ...}`` (joined with spaces: the question);
- ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..." | "PATH"}}``;
- ``{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,..." | "PATH"}}`` (vLLM's name);
- ``{"type": "input_audio", "input_audio": {"data": BASE64, "format": "wav" | "mp3"}}``.

At most one image or video and one audio part (the model takes one of each). A PATH is relative
to the server's ``--media-root`` and resolved by the one media-path resolver
(``media/paths.py``): ``..``, absolute paths and symlinks leading out are refused. ``http(s)://``
URLs are refused: the server fetches nothing from the network. Every refusal is an ``ApiError``
whose status and ``code`` are listed in docs/serving.md.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional

from ..errors import EmoLLMError

VISUAL_PARTS = {"image_url": "image", "video_url": "video"}
AUDIO_FORMATS = ("wav", "mp3")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[\w.-]+)*);base64,(?P<data>.*)$", re.S)
MAX_JSON_DEPTH = 32      # a request is 5 levels deep
MAX_PARTS = 64           # content parts of the user message
MAX_PATH_CHARS = 1024    # a media path under --media-root
MAX_NAME_BYTES = 255     # one component of it (the file systems' limit)
MIN_TEMPERATURE = 0.01   # logits / temperature must stay finite: 1e-5 already overflows float16 logits of 30
_EXTENSIONS = {"jpeg": "jpg", "quicktime": "mov", "x-matroska": "mkv", "mpeg": "mp3", "x-wav": "wav"}


class ApiError(EmoLLMError):
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 408: "timeout_error", 413: "invalid_request_error",
             500: "server_error", 503: "server_overloaded"}

    def __init__(self, status: int, code: str, message: str, param: Optional[str] = None,
                 headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "api_error"),
                          "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Limits:
    """What one request may ask; each default is the ``emollm serve`` option's default."""

    max_body_bytes: int = 64 * 2**20      # --max-body-mb 64
    max_media_seconds: float = 120.0      # --max-media-seconds 120
    max_video_frames: int = 7200          # --max-video-frames 7200 (frames in the container)
    max_image_pixels: int = 40_000_000    # --max-image-pixels
    max_tokens: int = 512                 # --max-tokens 512
    request_timeout: float = 120.0        # --request-timeout 120 (seconds: preparation, queue and generation)
    max_preparing: int = 4                # --max-preparing 4 (requests whose media are decoded at once)

    def __post_init__(self):
        for name in ("max_body_bytes", "max_media_seconds", "max_video_frames", "max_image_pixels",
                     "max_tokens", "request_timeout", "max_preparing"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(f"limit {name} must be positive and finite, got {value!r}")


@dataclass
class MediaPart:
    """One media file of a request: its path resolved once, the file opened once (every later
    read, from the limit checks to decoding, goes through ``file``; ``close()`` when done)."""

    kind: str                 # image | video | audio
    path: Path                # the file to read (an upload, or a file under --media-root), resolved
    source: str               # "upload" | "media_root"
    param: str                # where in the request, for error messages
    file: Optional[BinaryIO] = None  # ``path`` opened for reading (None: not opened)
    has_sound: Optional[bool] = None  # a clip's sound track decodes (set by the limit check)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class ChatRequest:
    question: str
    media: list[MediaPart] = field(default_factory=list)
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None  # None: the server's --temperature
    top_p: Optional[float] = None
    stream: bool = False
    model: Optional[str] = None
    answer_mode: Optional[str] = None    # None: the server's --answer-mode
    task: Optional[str] = None           # with answer_mode "score": the question's task
    options: Optional[list[str]] = None  # its options (closed-set tasks; default: the task's label set)


def parse_json(raw: bytes) -> object:
    """The request body as JSON: standard JSON only (no ``NaN``/``Infinity``), nested at most
    ``MAX_JSON_DEPTH`` deep."""
    def no_constant(name: str):
        raise ValueError(f"{name} is not JSON")
    try:
        body = json.loads(raw, parse_constant=no_constant)
    except RecursionError:
        raise ApiError(400, "json_too_deep", f"the request body is nested deeper than {MAX_JSON_DEPTH} "
                       "levels") from None
    except (ValueError, UnicodeDecodeError) as err:
        where = isinstance(err, json.JSONDecodeError)
        detail = f" ({err.msg} at line {err.lineno} column {err.colno})" if where else ""
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON{detail}") from None
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, "json_too_deep", f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values() if isinstance(v, (dict, list))]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value if isinstance(v, (dict, list))]
    return body


def _shown(value: object, limit: int = 80) -> str:
    """A client's value, quoted and cut for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _number(body: dict, name: str, kind, low: float, high: Optional[float] = None):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) \
            or not math.isfinite(value) or not low <= value <= (high if high is not None else float("inf")):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ApiError(400, "invalid_value", f"'{name}' must be {'an integer' if kind is int else 'a number'} "
                                             f"{bound}, got {_shown(value)}", name)
    return value


def _string(mapping: dict, name: str, param: str, limit: int = 256) -> Optional[str]:
    value = mapping.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise ApiError(400, "invalid_value", f"'{param}' must be a string of at most {limit} characters, "
                       f"got {_shown(value)}", param)
    return value


def _only_keys(mapping: dict, allowed: tuple, param: str) -> None:
    extra = [key for key in mapping if key not in allowed]
    if extra:
        raise ApiError(400, "unexpected_field", f"{param}: unexpected field(s) {_shown(extra)}; this part takes "
                       f"{', '.join(allowed)}", param)


def _max_tokens(body: dict, limits: Limits) -> Optional[int]:
    """``max_completion_tokens`` and its older name ``max_tokens``: each checked, and refused
    when both are sent with different values."""
    given = {name: _number(body, name, int, 1) for name in ("max_completion_tokens", "max_tokens")}
    values = {v for v in given.values() if v is not None}
    if len(values) > 1:
        raise ApiError(400, "conflicting_fields", "'max_completion_tokens' and 'max_tokens' mean the same; "
                       f"send one (got {given['max_completion_tokens']} and {given['max_tokens']})",
                       "max_completion_tokens")
    max_tokens = values.pop() if values else None
    if max_tokens is not None and max_tokens > limits.max_tokens:
        raise ApiError(400, "max_tokens_exceeded", f"max_tokens {max_tokens} is above this server's limit of "
                       f"{limits.max_tokens}", "max_tokens")
    return max_tokens


def _temperature(body: dict) -> Optional[float]:
    """0 (greedy) or a temperature the sampler divides the logits by without overflow."""
    value = _number(body, "temperature", float, 0, 2)
    if value is not None and 0 < value < MIN_TEMPERATURE:
        raise ApiError(400, "invalid_value", f"'temperature' must be 0 (greedy) or in [{MIN_TEMPERATURE}, 2], got "
                       f"{value!r}: a smaller one makes logits / temperature overflow in the sampler", "temperature")
    return value


def parse_body(body: object, limits: Limits) -> tuple[ChatRequest, list[dict]]:
    """The request's settings and its content parts (media not read yet)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_messages", "'messages' must be a non-empty list", "messages")
    if len(messages) != 1 or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise ApiError(400, "unsupported_messages", "this server answers one user turn: send exactly one message "
                       "with role 'user' holding the question and its media (no system or earlier turns)",
                       "messages")
    _only_keys(messages[0], ("role", "content", "name"), "messages[0]")
    _string(messages[0], "name", "messages[0].name")
    n = body.get("n", 1)
    if n is not None and (isinstance(n, bool) or n != 1 or not isinstance(n, int)):
        raise ApiError(400, "unsupported_n", f"'n' must be 1, got {_shown(n)}", "n")
    max_tokens = _max_tokens(body, limits)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(400, "invalid_value", "'stream' must be true or false", "stream")
    content = messages[0].get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise ApiError(400, "invalid_content", "the user message's 'content' must be a string or a list of parts",
                       "messages[0].content")
    if len(content) > MAX_PARTS:
        raise ApiError(400, "too_many_parts", f"the user message has {len(content)} content parts; at most "
                       f"{MAX_PARTS}", "messages[0].content")
    request = ChatRequest("", [], max_tokens, _temperature(body), _number(body, "top_p", float, 0, 1), stream,
                          _string(body, "model", "model"), *_answer_mode(body))
    return request, content


MAX_OPTIONS = 64  # options one scored question may carry (each is one row of the option forward)


def _answer_mode(body: dict) -> tuple[Optional[str], Optional[str], Optional[list[str]]]:
    """The request's ``answer_mode`` ("generate" | "score"), ``task`` and ``options``: a scored
    answer picks one of the options of a closed-set or yes/no task by likelihood."""
    from ..tasks.labels import CLOSED_TASKS, YES_NO_TASKS
    mode, task, options = body.get("answer_mode"), body.get("task"), body.get("options")
    if mode not in (None, "generate", "score"):
        raise ApiError(400, "invalid_value", f"'answer_mode' must be 'generate' or 'score', got {mode!r}",
                       "answer_mode")
    scorable = CLOSED_TASKS + YES_NO_TASKS
    if task is not None and task not in scorable:
        raise ApiError(400, "invalid_value", f"'task' must be one of {', '.join(scorable)}, got {task!r}", "task")
    if mode == "score" and task is None:
        raise ApiError(400, "missing_task", "'answer_mode': 'score' needs 'task' (one of "
                       f"{', '.join(scorable)}) to know the options to score", "task")
    if options is not None:
        if task not in CLOSED_TASKS:
            raise ApiError(400, "invalid_value", f"'options' is for the closed-set tasks ({', '.join(CLOSED_TASKS)})",
                           "options")
        if not isinstance(options, list) or not 0 < len(options) <= MAX_OPTIONS or not all(
                isinstance(o, str) and 0 < len(o.strip()) <= 256 for o in options):
            raise ApiError(400, "invalid_value", f"'options' must be a list of 1 to {MAX_OPTIONS} non-empty strings "
                           "of at most 256 characters", "options")
    return mode, task, options


def _decode_base64(data: object, param: str) -> bytes:
    if not isinstance(data, str):
        raise ApiError(400, "invalid_media", f"{param}: base64 data must be a string", param)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_base64", f"{param}: the data is not valid base64", param) from None


def _media_path(url: str, param: str, media_root: Path) -> Path:
    """The file a client's path names under the media root, symlinks resolved (a link inside the
    root is followed; one leading out is refused). Messages name the path as the client sent it."""
    from ..media.paths import MediaPathError, resolve_media

    shown = _shown(url)
    if len(url) > MAX_PATH_CHARS or any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
                                        for p in re.split(r"[/\\]", url)):
        raise ApiError(400, "media_path_too_long", f"{param}: path {shown} is longer than {MAX_PATH_CHARS} "
                       f"characters or has a name over {MAX_NAME_BYTES} bytes", param)
    try:
        path = resolve_media(media_root, url, dataset_links=False)
        real = Path(os.path.realpath(path))
        found = real.is_file()
    except MediaPathError as err:
        raise ApiError(403, "media_path_refused", f"{param}: path {shown} refused: {err.reason}; paths must stay "
                       "inside the server's --media-root", param) from None
    except (OSError, ValueError):  # a name the file system refuses (NUL, encoding, loops)
        raise ApiError(400, "invalid_media_path", f"{param}: path {shown} cannot name a file", param) from None
    if not found:
        raise ApiError(404, "media_not_found", f"{param}: no file {shown} under the server's --media-root", param)
    return real


def _from_url(url: object, kind: str, param: str, uploads: Path, media_root: Optional[Path]) -> MediaPart:
    if not isinstance(url, str) or not url:
        raise ApiError(400, "invalid_media", f"{param}: 'url' must be a non-empty string", param)
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if match is None:
            raise ApiError(400, "invalid_data_url", f"{param}: expected data:<mime>;base64,<data>", param)
        mime = match.group("mime") or ""
        if mime and mime.split("/")[0] not in (kind, "application"):
            raise ApiError(400, "media_kind_mismatch", f"{param}: a {mime} data URL in a {kind} part", param)
        subtype = mime.split("/")[-1] if mime else ""
        ext = _EXTENSIONS.get(subtype, subtype if re.fullmatch(r"[a-z0-9]{1,8}", subtype) else "bin")
        return _write(_decode_base64(match.group("data"), param), kind, ext, param, uploads)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        raise ApiError(400, "url_fetch_disabled", f"{param}: this server does not fetch URLs; send the media as a "
                       "data URL or as a path under its --media-root", param)
    if media_root is None:
        raise ApiError(400, "no_media_root", f"{param}: a path was given but the server has no --media-root; "
                       "send the media as a data URL", param)
    path = _media_path(url, param, media_root)
    try:
        file = open(path, "rb")
    except OSError as err:  # gone since it was found, or not readable by this server
        raise ApiError(400, "media_unreadable", f"{param}: path {_shown(url)} cannot be read "
                       f"({err.strerror or type(err).__name__})", param) from None
    return MediaPart(kind, path, "media_root", param, file)


def _write(data: bytes, kind: str, ext: str, param: str, uploads: Path) -> MediaPart:
    if not data:
        raise ApiError(400, "invalid_media", f"{param}: the {kind} data is empty", param)
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / f"{param.replace('[', '_').replace(']', '').replace('.', '_')}.{ext}"
    path.write_bytes(data)
    return MediaPart(kind, path, "upload", param, open(path, "rb"))


def _check_part(part: object, param: str) -> tuple[str, object]:
    """(type, what the part carries) after checking the part's shape; nothing is decoded yet."""
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise ApiError(400, "invalid_content", f"{param}: a content part must be an object with a string 'type'",
                       param)
    kind = part["type"]
    if kind not in ("text", "input_audio", *VISUAL_PARTS):
        raise ApiError(400, "unsupported_content_part", f"{param}: part type {_shown(kind)} is not one of text, "
                       "image_url, video_url, input_audio", param)
    _only_keys(part, ("type", kind), param)
    inner = part.get(kind)
    if kind == "text":
        if not isinstance(inner, str):
            raise ApiError(400, "invalid_content", f"{param}: 'text' must be a string", param)
        try:
            inner.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
            raise ApiError(400, "invalid_content", f"{param}: 'text' is not valid Unicode", param) from None
        return kind, inner
    if kind in VISUAL_PARTS:
        if isinstance(inner, dict):
            _only_keys(inner, ("url", "detail"), f"{param}.{kind}")
            _string(inner, "detail", f"{param}.{kind}.detail", 16)
            inner = inner.get("url")
        if not isinstance(inner, str) or not inner:
            raise ApiError(400, "invalid_media", f"{param}: '{kind}' must be a non-empty url string or "
                           "{\"url\": ...}", param)
        return kind, inner
    if not isinstance(inner, dict):
        raise ApiError(400, "invalid_media", f"{param}: 'input_audio' must be an object with 'data' and "
                       "'format'", param)
    _only_keys(inner, ("data", "format"), f"{param}.input_audio")
    if not isinstance(inner.get("format"), str) or inner["format"] not in AUDIO_FORMATS:
        raise ApiError(400, "invalid_audio_format", f"{param}: input_audio 'format' must be one of "
                       f"{', '.join(AUDIO_FORMATS)}, got {_shown(inner.get('format'))}", param)
    if not isinstance(inner.get("data"), str):
        raise ApiError(400, "invalid_media", f"{param}: base64 data must be a string", param)
    return kind, inner


def read_parts(request: ChatRequest, parts: list, uploads: Path, media_root: Optional[Path],
               max_question_chars: Optional[int] = None) -> ChatRequest:
    """Fill ``request.question`` and ``request.media`` from the content parts; uploads are
    written under ``uploads`` (the caller removes it). Every part's shape, the number of media and
    the question's length (``max_question_chars``: more characters than the context can hold)
    are checked before any media is decoded. Each media part's file is open: the caller closes them
    (``MediaPart.close``), also when this raises."""
    checked = [(f"messages[0].content[{index}]", *_check_part(part, f"messages[0].content[{index}]"))
               for index, part in enumerate(parts)]
    kinds = [kind for _, kind, _ in checked]
    if sum(k in VISUAL_PARTS for k in kinds) > 1 or kinds.count("input_audio") > 1:
        raise ApiError(400, "too_many_media", "at most one image or video and one audio part per request "
                       "(the model takes one of each)", "messages[0].content")
    texts = [value.strip() for _, kind, value in checked if kind == "text"]
    request.question = " ".join(t for t in texts if t)
    if not request.question:
        raise ApiError(400, "no_question", "the user message has no text part: ask a question", "messages[0].content")
    if max_question_chars is not None and len(request.question) > max_question_chars:
        raise ApiError(400, "context_length_exceeded", f"the question has {len(request.question)} characters; "
                       f"the model's context holds at most {max_question_chars}", "messages[0].content")
    for param, kind, value in checked:
        if kind in VISUAL_PARTS:
            request.media.append(_from_url(value, VISUAL_PARTS[kind], param, uploads, media_root))
        elif kind == "input_audio":
            request.media.append(_write(_decode_base64(value["data"], param), "audio", value["format"], param,
                                        uploads))
    return request
