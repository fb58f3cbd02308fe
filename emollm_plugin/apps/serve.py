"""``emollm serve``: an OpenAI-compatible HTTP API for a checkpoint, with images, clips and audio.

    emollm serve --model CKPT [--model-base BASE] [--host 127.0.0.1] [--port 8000] [--media-root DIR]
                 [--api-key KEY | env EMOLLM_API_KEY] [--batch-size 8] [--max-queue 64] [limits...]

Endpoints: ``POST /v1/chat/completions`` (``stream: true`` sends server-sent events),
``GET /v1/models``, ``GET /health``. Request format and refusals: ``openai_request.py``; status
codes, error codes and limits: docs/serving.md. The bearer key is compared in constant time and
never printed or logged.
"""
# no `from __future__ import annotations`: FastAPI reads the route functions' annotations (Request)
import argparse
import asyncio
import hmac
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import Optional

from ..constants import NUM_VIDEO_FRAMES
from ..runtime.arguments import add_model_arguments
from ..runtime.errors import InferInputError, Unanswerable
from .openai_request import ApiError, ChatRequest, Limits, parse_body, parse_json, read_parts

log = logging.getLogger("emollm.serve")
API_KEY_ENV = "EMOLLM_API_KEY"
RETRY_AFTER_S = 1


def _error_response(err: ApiError):
    from fastapi.responses import JSONResponse
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def _read_body(request, limit: int) -> bytearray:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is {declared} bytes, over this server's limit of "
                       f"{limit} bytes (--max-body-mb)")
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise ApiError(413, "body_too_large", f"the request body is over this server's limit of {limit} bytes "
                           "(--max-body-mb)")
        body += chunk
    return body


def _media_for(engine, request: ChatRequest) -> dict:
    """kind -> the opened file, at its start; a clip whose sound track decodes (as its limit check
    noted, by ``media.probe.has_sound``'s rule) is the audio too."""
    for part in request.media:
        part.file.seek(0)
    media = {part.kind: part.file for part in request.media}
    clip = next((p for p in request.media if p.kind == "video"), None)
    if clip is not None and "audio" not in media and engine.audio_tower and clip.has_sound:
        media["audio"] = clip.file
    return media


def _refusal(engine, request: ChatRequest, err: Unanswerable) -> ApiError:
    """What the client is told when the model cannot take the request: built from the reason and
    the part as the client sent it, never from the error's text (it names server files)."""
    from ..media.errors import MediaError
    if err.reason == "prompt_too_long":
        context = getattr(engine, "context_length", None)
        return ApiError(400, "context_length_exceeded", "the question and its media take more positions than the "
                        f"model's context{f' of {context}' if context else ''}; ask a shorter question or send "
                        "shorter media", "messages[0].content")
    if err.reason in ("no_vision_tower", "no_audio_tower"):
        what = "images or videos" if err.reason == "no_vision_tower" else "audio"
        return ApiError(400, err.reason, f"this model has no {err.reason[3:].replace('_', ' ')}: it cannot take "
                        f"{what}", "messages[0].content")
    cause = err.__cause__
    failed = getattr(cause, "path", None)
    part = next((p for p in request.media if failed is not None and Path(failed).name == p.path.name), None)
    param = part.param if part else "messages[0].content"
    if err.reason.startswith("media_") and err.reason != "media_path_refused":
        detail = cause.cause if isinstance(cause, MediaError) else err.reason[len("media_"):]
        what = f"the {part.kind}" if part else "the media"
        return ApiError(400, "media_unreadable", f"{param}: {what} cannot be read ({detail})", param)
    if err.reason == "media_path_refused":
        return ApiError(403, "media_path_refused", f"{param}: the path is refused: paths must stay inside the "
                        "server's --media-root", param)
    return ApiError(400, err.reason if err.reason.isidentifier() else "unanswerable",
                    f"the model cannot take this request ({err.reason})", param)


def _prepare(engine, request: ChatRequest, parts: list, media_root: Optional[Path], limits: Limits, uploads: Path):
    """Blocking: read the parts (each path resolved and opened once), check the media against the
    limits, shrink large images, decode and tokenise from the same opened files, close them."""
    from .media_limits import check_media, reduced_image
    try:
        read_parts(request, parts, uploads, media_root, getattr(engine, "max_question_chars", None))
        for part in request.media:
            check_media(part, limits, getattr(engine, "num_video_frames", NUM_VIDEO_FRAMES))
        for index, part in enumerate(request.media):
            if part.kind == "image":
                request.media[index] = reduced_image(part)
        scoring = {key: value for key, value in (("task", request.task), ("options", request.options),
                                                  ("answer_mode", request.answer_mode)) if value is not None}
        return engine.prepare(request.question, _media_for(engine, request), request.max_tokens,
                              request.temperature, request.top_p, **scoring)
    except Unanswerable as err:
        raise _refusal(engine, request, err) from None
    finally:
        for part in request.media:
            part.close()


def _completion(request_id: str, model_id: str, reply) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": reply.finish_reason}
    if getattr(reply, "probabilities", None) is not None:  # replies of a scored answer
        choice["option_probabilities"] = reply.probabilities
    return {"id": request_id, "object": "chat.completion", "created": int(time.time()), "model": model_id,
            "choices": [choice],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens}}


def _sse_events(request_id: str, model_id: str, reply):
    """The finished reply as OpenAI chunks: role, the text word by word, finish, [DONE]."""
    import re
    created = int(time.time())

    def chunk(delta: dict, finish: Optional[str] = None) -> str:
        body = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"\S+\s*|\s+", reply.text):
        yield chunk({"content": piece})
    yield chunk({}, reply.finish_reason)
    yield "data: [DONE]\n\n"


def create_app(engine, batcher, limits: Limits, media_root: Optional[Path] = None, api_key: Optional[str] = None):
    """The FastAPI app around a loaded ``engine`` and its ``batcher`` (both injectable for tests).

    Every answer to a client's input is 2xx or 4xx with an OpenAI-style error object; a 5xx is a
    server fault, logged with the request id the client is given. The request timeout runs from
    the request's arrival: waiting to be prepared, preparing (reading, checking, decoding and
    tokenising the media) and generating; at most ``limits.max_preparing`` requests are prepared
    at once.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .batcher import QueueFull

    app = FastAPI(title="EmoLLM", docs_url=None, redoc_url=None, openapi_url=None)
    slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()

    def authorised(request: Request) -> bool:
        if api_key is None:
            return True
        given = request.headers.get("authorization", "")
        token = given[7:] if given[:7].lower() == "bearer " else ""
        return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), api_key.encode())

    def authorise(request: Request) -> None:
        if not authorised(request):
            raise ApiError(401, "invalid_api_key", "missing or wrong API key: send 'Authorization: Bearer KEY'",
                           headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(ApiError)
    async def api_error(_request, err: ApiError):
        return _error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, err: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "invalid_request")
        status = err.status_code if 400 <= err.status_code < 500 else 400
        return _error_response(ApiError(status, code, f"{err.detail}: this server answers POST "
                                        "/v1/chat/completions, GET /v1/models and GET /health"))

    @app.exception_handler(Exception)
    async def server_fault(request: Request, err: Exception):
        request_id = getattr(request.state, "request_id", None) or f"req-{uuid.uuid4().hex}"
        log.error("request %s: server fault", request_id, exc_info=(type(err), err, err.__traceback__))
        return _error_response(ApiError(500, "server_error", f"the server failed on this request (request id "
                                        f"{request_id}); its log has the cause"))

    answered = {"n": 0}

    @app.get("/health")
    async def health(request: Request):
        """Liveness for anyone; the model and counters for a client with the key."""
        if not authorised(request):
            return {"status": "ok"}
        return {"status": "ok", "model": engine.model_id, "waiting": batcher.waiting, "answered": answered["n"]}

    @app.get("/v1/models")
    async def models(request: Request):
        authorise(request)
        return {"object": "list", "data": [{"id": engine.model_id, "object": "model", "created": 0,
                                            "owned_by": "emollm"}]}

    def timed_out(stage: str) -> ApiError:
        return ApiError(408, "request_timeout", f"no answer within this server's request timeout of "
                        f"{limits.request_timeout:g} s (--request-timeout; {stage})")

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.request_timeout
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        request.state.request_id = request_id
        authorise(request)
        raw = await _read_body(request, limits.max_body_bytes)
        chat_request, parts = parse_body(parse_json(raw), limits)
        del raw
        if chat_request.model not in (None, engine.model_id):
            raise ApiError(404, "model_not_found", f"model {chat_request.model!r} is not served here; "
                           f"this server serves {engine.model_id!r}", "model")
        preparing = slots.setdefault(loop, asyncio.Semaphore(limits.max_preparing))  # one loop when served
        try:
            await asyncio.wait_for(preparing.acquire(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise timed_out("waiting to be prepared") from None
        uploads = Path(tempfile.mkdtemp(prefix="emollm-upload-"))
        prepared = loop.run_in_executor(None, _prepare, engine, chat_request, parts, media_root, limits, uploads)

        def finished(done) -> None:  # a request that timed out still holds its slot until then
            if not done.cancelled():
                done.exception()  # retrieved here: a request that timed out no longer awaits it
            preparing.release()
            shutil.rmtree(uploads, ignore_errors=True)  # media are decoded into tensors by now

        prepared.add_done_callback(finished)
        try:
            job = await asyncio.wait_for(asyncio.shield(prepared), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise timed_out("preparing the media") from None
        try:
            future = batcher.submit(job.generation, job)
        except QueueFull as err:
            raise ApiError(503, "queue_full", f"the server is busy ({err}); retry after {RETRY_AFTER_S} s",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        try:
            reply = await asyncio.wait_for(asyncio.wrap_future(future), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            future.cancel()
            raise timed_out("waiting for and generating the answer") from None
        except Exception as err:  # the batch's generate call failed (e.g. out of memory): a server fault
            log.error("request %s: generation failed", request_id, exc_info=(type(err), err, err.__traceback__))
            raise ApiError(500, "generation_failed", f"generation failed ({type(err).__name__}; request id "
                           f"{request_id})") from None
        answered["n"] += 1
        if chat_request.stream:
            return StreamingResponse(_sse_events(request_id, engine.model_id, reply), media_type="text/event-stream")
        return _completion(request_id, engine.model_id, reply)

    return app


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emollm serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    defaults = Limits()
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="(default: 8000)")
    p.add_argument("--media-root", type=Path, default=None,
                   help="folder that path media (not data URLs) are read from (default: none, data URLs only)")
    p.add_argument("--api-key", default=None, help=f"require 'Authorization: Bearer KEY' (prefer the {API_KEY_ENV} "
                                                   "environment variable: a command line is visible to other users)")
    p.add_argument("--max-queue", type=int, default=64, help="requests waiting before 503 (default: 64)")
    p.add_argument("--batch-wait-ms", type=float, default=10.0, help="wait for more requests to batch (default: 10)")
    p.add_argument("--max-body-mb", type=float, default=defaults.max_body_bytes / 2**20,
                   help="(default: %(default)g)")
    p.add_argument("--max-media-seconds", type=float, default=defaults.max_media_seconds, help="(default: %(default)g)")
    p.add_argument("--max-video-frames", type=int, default=defaults.max_video_frames, help="(default: %(default)d)")
    p.add_argument("--max-image-pixels", type=int, default=defaults.max_image_pixels, help="(default: %(default)d)")
    p.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                   help="largest max_tokens a request may ask (default: %(default)d)")
    p.add_argument("--request-timeout", type=float, default=defaults.request_timeout,
                   help="seconds a request may take from its arrival: waiting, preparing its media and "
                        "generating (default: %(default)g)")
    p.add_argument("--max-preparing", type=int, default=defaults.max_preparing,
                   help="requests whose media are read and decoded at once; more wait (default: %(default)d)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from .batcher import Batcher
    from .engine import Engine

    args = build_parser().parse_args(argv)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    try:
        limits = Limits(int(args.max_body_mb * 2**20), args.max_media_seconds, args.max_video_frames,
                        args.max_image_pixels, args.max_tokens, args.request_timeout, args.max_preparing)
        if args.media_root is not None and not args.media_root.is_dir():
            raise InferInputError(f"--media-root {args.media_root} is not a folder")
        media_root = args.media_root.resolve() if args.media_root else None
        engine = Engine(args)
        batcher = Batcher(engine.run_batch, args.batch_size, args.max_queue, args.batch_wait_ms / 1000)
    except (ValueError, InferInputError) as err:
        print(f"emollm serve: {err}", file=sys.stderr)
        return 2
    import uvicorn
    print(f"emollm serve: {engine.model_id} on http://{args.host}:{args.port} (API key "
          f"{'required' if api_key else 'not required'}; media root {media_root or 'none: data URLs only'})",
          file=sys.stderr, flush=True)
    try:
        uvicorn.run(create_app(engine, batcher, limits, media_root, api_key), host=args.host, port=args.port,
                    log_level="warning")
    finally:
        batcher.close()
    return 0
