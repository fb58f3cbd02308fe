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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import EmoLLMError

VISUAL_PARTS = {"image_url": "image", "video_url": "video"}
AUDIO_FORMATS = ("wav", "mp3")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[\w.-]+)*);base64,(?P<data>.*)$", re.S)
_EXTENSIONS = {"jpeg": "jpg", "quicktime": "mov", "x-matroska": "mkv", "mpeg": "mp3", "x-wav": "wav"}


class ApiError(EmoLLMError):
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 408: "timeout_error", 413: "invalid_request_error",
             503: "server_overloaded"}

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
    request_timeout: float = 120.0        # --request-timeout 120 (seconds, queue + generation)

    def __post_init__(self):
        for name in ("max_body_bytes", "max_media_seconds", "max_video_frames", "max_image_pixels",
                     "max_tokens", "request_timeout"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(f"limit {name} must be positive and finite, got {value!r}")


@dataclass
class MediaPart:
    kind: str                 # image | video | audio
    path: Path                # the file to read (an upload, or a file under --media-root)
    source: str               # "upload" | "media_root"
    param: str                # where in the request, for error messages


@dataclass
class ChatRequest:
    question: str
    media: list[MediaPart] = field(default_factory=list)
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None  # None: the server's --temperature
    top_p: Optional[float] = None
    stream: bool = False
    model: Optional[str] = None


def _number(body: dict, name: str, kind, low: float, high: Optional[float] = None):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) \
            or not low <= value <= (high if high is not None else float("inf")):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ApiError(400, "invalid_value", f"'{name}' must be {'an integer' if kind is int else 'a number'} "
                                             f"{bound}, got {value!r}", name)
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
    if body.get("n", 1) != 1:
        raise ApiError(400, "unsupported_n", "'n' must be 1", "n")
    max_tokens = _number(body, "max_completion_tokens", int, 1) or _number(body, "max_tokens", int, 1)
    if max_tokens is not None and max_tokens > limits.max_tokens:
        raise ApiError(400, "max_tokens_exceeded", f"max_tokens {max_tokens} is above this server's limit of "
                       f"{limits.max_tokens}", "max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "invalid_value", "'stream' must be true or false", "stream")
    content = messages[0].get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise ApiError(400, "invalid_content", "the user message's 'content' must be a string or a list of parts",
                       "messages[0].content")
    request = ChatRequest("", [], max_tokens, _number(body, "temperature", float, 0, 2),
                          _number(body, "top_p", float, 0, 1), stream, body.get("model"))
    return request, content


def _decode_base64(data: object, param: str) -> bytes:
    if not isinstance(data, str):
        raise ApiError(400, "invalid_media", f"{param}: base64 data must be a string", param)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_base64", f"{param}: the data is not valid base64", param) from None


def _from_url(url: object, kind: str, param: str, uploads: Path, media_root: Optional[Path]) -> MediaPart:
    from ..media.paths import MediaPathError, resolve_media

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
    try:
        path = resolve_media(media_root, url, dataset_links=False)
    except MediaPathError as err:
        raise ApiError(403, "media_path_refused", f"{param}: path {url!r} refused: {err.reason}; paths must stay "
                       "inside the server's --media-root", param) from None
    if not path.is_file():
        raise ApiError(404, "media_not_found", f"{param}: no file {url!r} under the server's --media-root", param)
    return MediaPart(kind, path, "media_root", param)


def _write(data: bytes, kind: str, ext: str, param: str, uploads: Path) -> MediaPart:
    if not data:
        raise ApiError(400, "invalid_media", f"{param}: the {kind} data is empty", param)
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / f"{param.replace('[', '_').replace(']', '').replace('.', '_')}.{ext}"
    path.write_bytes(data)
    return MediaPart(kind, path, "upload", param)


def read_parts(request: ChatRequest, parts: list, uploads: Path, media_root: Optional[Path]) -> ChatRequest:
    """Fill ``request.question`` and ``request.media`` from the content parts; uploads are
    written under ``uploads`` (the caller removes it)."""
    texts = []
    for index, part in enumerate(parts):
        param = f"messages[0].content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise ApiError(400, "invalid_content", f"{param}: 'text' must be a string", param)
            texts.append(part["text"].strip())
        elif kind in VISUAL_PARTS:
            inner = part.get(kind) if isinstance(part.get(kind), dict) else {"url": part.get(kind)}
            request.media.append(_from_url(inner.get("url"), VISUAL_PARTS[kind], param, uploads, media_root))
        elif kind == "input_audio":
            inner = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
            if inner.get("format") not in AUDIO_FORMATS:
                raise ApiError(400, "invalid_audio_format", f"{param}: input_audio 'format' must be one of "
                               f"{', '.join(AUDIO_FORMATS)}, got {inner.get('format')!r}", param)
            request.media.append(_write(_decode_base64(inner.get("data"), param), "audio", inner["format"],
                                        param, uploads))
        else:
            raise ApiError(400, "unsupported_content_part", f"{param}: part type {kind!r} is not one of text, "
                           "image_url, video_url, input_audio", param)
    visuals = [m for m in request.media if m.kind in ("image", "video")]
    audios = [m for m in request.media if m.kind == "audio"]
    if len(visuals) > 1 or len(audios) > 1:
        raise ApiError(400, "too_many_media", "at most one image or video and one audio part per request "
                       "(the model takes one of each)", "messages[0].content")
    request.question = " ".join(t for t in texts if t)
    if not request.question:
        raise ApiError(400, "no_question", "the user message has no text part: ask a question", "messages[0].content")
    return request
