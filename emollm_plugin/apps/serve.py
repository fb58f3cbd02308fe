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
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

from ..runtime.arguments import add_model_arguments
from ..runtime.errors import InferInputError, Unanswerable
from .openai_request import ApiError, ChatRequest, Limits, parse_body, read_parts

API_KEY_ENV = "EMOLLM_API_KEY"
RETRY_AFTER_S = 1


def _error_response(err: ApiError):
    from fastapi.responses import JSONResponse
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def _read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is {declared} bytes, over this server's limit of "
                       f"{limit} bytes (--max-body-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the request body is over this server's limit of {limit} bytes "
                           "(--max-body-mb)")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_for(engine, request: ChatRequest) -> dict[str, Path]:
    from .media_limits import has_sound
    media = {part.kind: part.path for part in request.media}
    clip = next((p for p in request.media if p.kind == "video"), None)
    if clip is not None and "audio" not in media and engine.audio_tower and has_sound(clip):
        media["audio"] = clip.path
    return media


def _prepare(engine, request: ChatRequest, parts: list, media_root: Optional[Path], limits: Limits, uploads: Path):
    """Blocking: read the parts, check the media against the limits, decode and tokenise."""
    from .media_limits import check_media
    read_parts(request, parts, uploads, media_root)
    for part in request.media:
        check_media(part, limits)
    try:
        return engine.prepare(request.question, _media_for(engine, request), request.max_tokens,
                              request.temperature, request.top_p)
    except Unanswerable as err:
        status, code = (400, "context_length_exceeded") if err.reason == "prompt_too_long" else \
            (400, "media_unreadable") if err.reason.startswith("media_") else (400, err.reason)
        raise ApiError(status, code, str(err)) from None


def _completion(request_id: str, model_id: str, reply) -> dict:
    return {"id": request_id, "object": "chat.completion", "created": int(time.time()), "model": model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason}],
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
    """The FastAPI app around a loaded ``engine`` and its ``batcher`` (both injectable for tests)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool

    from .batcher import QueueFull

    app = FastAPI(title="EmoLLM", docs_url=None, redoc_url=None, openapi_url=None)

    def authorise(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        token = given[7:] if given[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(token.encode(), api_key.encode()):
            raise ApiError(401, "invalid_api_key", "missing or wrong API key: send 'Authorization: Bearer KEY'",
                           headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(ApiError)
    async def api_error(_request, err: ApiError):
        return _error_response(err)

    answered = {"n": 0}

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": engine.model_id, "waiting": batcher.waiting, "answered": answered["n"]}

    @app.get("/v1/models")
    async def models(request: Request):
        authorise(request)
        return {"object": "list", "data": [{"id": engine.model_id, "object": "model", "created": 0,
                                            "owned_by": "emollm"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        authorise(request)
        raw = await _read_body(request, limits.max_body_bytes)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
        chat_request, parts = parse_body(body, limits)
        if chat_request.model not in (None, engine.model_id):
            raise ApiError(404, "model_not_found", f"model {chat_request.model!r} is not served here; "
                           f"this server serves {engine.model_id!r}", "model")
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        uploads = Path(tempfile.mkdtemp(prefix="emollm-upload-"))
        try:
            job = await run_in_threadpool(_prepare, engine, chat_request, parts, media_root, limits, uploads)
        finally:
            shutil.rmtree(uploads, ignore_errors=True)  # media are decoded into tensors by now
        try:
            future = batcher.submit(job.generation, job)
        except QueueFull as err:
            raise ApiError(503, "queue_full", f"the server is busy ({err}); retry after {RETRY_AFTER_S} s",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        try:
            reply = await asyncio.wait_for(asyncio.wrap_future(future), timeout=limits.request_timeout)
        except asyncio.TimeoutError:
            future.cancel()
            raise ApiError(408, "request_timeout", f"no answer within this server's request timeout of "
                           f"{limits.request_timeout:g} s (--request-timeout)") from None
        except Exception as err:  # the batch's generate call failed (e.g. out of memory)
            raise ApiError(500, "generation_failed", f"generation failed: {type(err).__name__}: {err}") from None
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
                   help="seconds a request may wait and generate (default: %(default)g)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from .batcher import Batcher
    from .engine import Engine

    args = build_parser().parse_args(argv)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    try:
        limits = Limits(int(args.max_body_mb * 2**20), args.max_media_seconds, args.max_video_frames,
                        args.max_image_pixels, args.max_tokens, args.request_timeout)
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
