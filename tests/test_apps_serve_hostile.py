"""`emollm serve` against hostile requests, in-process with a fake engine (the request path up to
the model is the server's own: parsing, media checks, image reduction, error mapping):
every answer to client input is 2xx or 4xx with an OpenAI-style error object, no server path
appears in a message, in-root symlinks are followed, and preparation is bounded in time and
concurrency."""
from __future__ import annotations

import base64
import io
import logging
import math
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from emollm_plugin.apps.openai_request import MAX_JSON_DEPTH, MIN_TEMPERATURE, Limits
from emollm_plugin.runtime.errors import Unanswerable
from emollm_plugin.media.errors import CORRUPT, MediaError

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = {"type": "text", "text": "How does she feel?"}


class Reply:
    text, prompt_tokens, completion_tokens, finish_reason = "joy", 12, 1, "stop"


class Job:
    generation = ()


class FakeEngine:
    """Records what it is asked; ``fail`` makes ``prepare`` raise it; ``slow_s`` makes it slow."""

    model_id = "fake"
    audio_tower = False
    context_length = 100
    max_question_chars = 1600

    def __init__(self, fail=None, slow_s=0.0):
        self.fail, self.slow_s = fail, slow_s
        self.asked: list[dict] = []
        self.running = self.most_running = 0
        self.lock = threading.Lock()

    def prepare(self, question, media, *settings):
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            time.sleep(self.slow_s)
            self.asked.append({"question": question, "media": dict(media), "settings": settings,
                               "sizes": {k: _image_size(p) for k, p in media.items() if k == "image"}})
            if self.fail is not None:
                raise self.fail(media) if callable(self.fail) else self.fail
            return Job()
        finally:
            with self.lock:
                self.running -= 1


def _image_size(path: Path):
    from PIL import Image
    with Image.open(path) as image:
        return image.size


class AnsweringBatcher:
    waiting = 0

    def submit(self, key, job):
        from concurrent.futures import Future
        future = Future()
        future.set_result(Reply())
        return future


def app(engine=None, media_root=None, **limits):
    from fastapi.testclient import TestClient

    from emollm_plugin.apps.serve import create_app
    return TestClient(create_app(engine or FakeEngine(), AnsweringBatcher(), Limits(**limits), media_root,
                                 api_key=KEY), raise_server_exceptions=False)


def post(client, body=None, content=None, **kw):
    if content is not None:
        return client.post("/v1/chat/completions", content=content, headers={**AUTH, "Content-Type":
                                                                             "application/json"}, **kw)
    return client.post("/v1/chat/completions", json=body, headers=AUTH, **kw)


def ask(*parts, **extra):
    return {"messages": [{"role": "user", "content": list(parts)}], **extra}


def assert_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def png_data_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


# ---- 5: client input gives 4xx with an error object -----------------------------------------
@pytest.mark.parametrize("raw, code", [
    (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
    (b'{"messages": ' + b"[" * (MAX_JSON_DEPTH + 5) + b"]" * (MAX_JSON_DEPTH + 5) + b"}", "json_too_deep"),
    (b'{"messages": [], "temperature": NaN}', "invalid_json"),
    (b'{"max_tokens": Infinity}', "invalid_json"),
    (b'{"max_tokens": 1' + b"0" * 5000 + b"}", "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    (b'{"a": "\\ud800"', "invalid_json"),
])
def test_malformed_json_is_400(raw, code):
    assert_error(post(app(), content=raw), 400, code)


@pytest.mark.parametrize("body, code", [
    (ask(QUESTION, temperature=1e-300), "invalid_value"),
    (ask(QUESTION, temperature=MIN_TEMPERATURE / 2), "invalid_value"),
    (ask(QUESTION, temperature=-0.0001), "invalid_value"),
    (ask(QUESTION, temperature=2.5), "invalid_value"),
    (ask(QUESTION, temperature="0.5"), "invalid_value"),
    (ask(QUESTION, top_p=1.5), "invalid_value"),
    (ask(QUESTION, top_p=-0.1), "invalid_value"),
    (ask(QUESTION, top_p=[0.5]), "invalid_value"),
    (ask(QUESTION, max_tokens=0), "invalid_value"),
    (ask(QUESTION, max_tokens=1.5), "invalid_value"),
    (ask(QUESTION, max_tokens=True), "invalid_value"),
    (ask(QUESTION, max_tokens="5"), "invalid_value"),
    (ask(QUESTION, max_tokens=10**30), "max_tokens_exceeded"),
    (ask(QUESTION, max_completion_tokens=5, max_tokens=0), "invalid_value"),
    (ask(QUESTION, max_completion_tokens=0, max_tokens=5), "invalid_value"),
    (ask(QUESTION, max_completion_tokens=5, max_tokens=6), "conflicting_fields"),
    (ask(QUESTION, n=True), "unsupported_n"),
    (ask(QUESTION, n=1.0), "unsupported_n"),
    (ask(QUESTION, n="1"), "unsupported_n"),
    (ask(QUESTION, stream="yes"), "invalid_value"),
    (ask(QUESTION, model={"id": "fake"}), "invalid_value"),
    (ask(QUESTION, model=["fake"]), "invalid_value"),
    (ask({"type": {"a": 1}, "text": "x"}), "invalid_content"),
    (ask({"type": ["text"], "text": "x"}), "invalid_content"),
    (ask({"type": "text", "text": {"a": 1}}), "invalid_content"),
    (ask({"type": "text", "text": "x", "image_url": {"url": "a.png"}}), "unexpected_field"),
    (ask(QUESTION, {"type": "image_url", "image_url": [1, 2]}), "invalid_media"),
    (ask(QUESTION, {"type": "image_url", "image_url": {"url": {"a": 1}}}), "invalid_media"),
    (ask(QUESTION, {"type": "image_url", "image_url": {"url": "x.png", "detail": {"a": 1}}}), "invalid_value"),
    (ask(QUESTION, {"type": "image_url", "image_url": {"url": "x.png", "path": "y.png"}}), "unexpected_field"),
    (ask(QUESTION, {"type": "input_audio", "input_audio": {"data": "AAAA", "format": {"a": 1}}}),
     "invalid_audio_format"),
    (ask(QUESTION, {"type": "input_audio", "input_audio": {"data": 5, "format": "wav"}}), "invalid_media"),
    (ask(QUESTION, {"type": "input_audio", "input_audio": "AAAA"}), "invalid_media"),
    ({"messages": [{"role": {"a": 1}, "content": "x"}]}, "unsupported_messages"),
    ({"messages": [{"role": "user", "content": {"a": 1}}]}, "invalid_content"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}, "unexpected_field"),
    ({"messages": "hello"}, "invalid_messages"),
    ([1, 2], "invalid_json"),
    (ask(*[QUESTION] * 65), "too_many_parts"),
])
def test_wrongly_typed_or_out_of_range_fields_are_400(body, code):
    engine = FakeEngine()
    assert_error(post(app(engine), body), 400, code)
    assert engine.asked == []


def test_sampling_values_the_sampler_takes_are_accepted():
    engine = FakeEngine()
    client = app(engine)
    for extra in ({"temperature": 0}, {"temperature": MIN_TEMPERATURE}, {"temperature": 2, "top_p": 0},
                  {"top_p": 1}, {"max_tokens": 7, "max_completion_tokens": 7}, {"n": 1, "stream": None}):
        assert post(client, ask(QUESTION, **extra)).status_code == 200, extra
    assert [a["settings"][0] for a in engine.asked][4] == 7


def test_a_5000_character_media_path_is_400_and_names_no_server_path(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    for url in ("a" * 5000 + ".png", "d/" * 2500 + "x.png", "x" * 300 + ".png"):
        error = assert_error(post(app(media_root=root), ask(QUESTION, image_part(url))), 400, "media_path_too_long")
        assert str(tmp_path) not in error["message"] and len(error["message"]) < 400


@pytest.mark.parametrize("method, path", [("get", "/v1/nothing"), ("delete", "/v1/chat/completions"),
                                          ("get", "/" + "x" * 5000)])
def test_unknown_routes_and_methods_get_error_objects(method, path):
    response = getattr(app(), method)(path, headers=AUTH)
    assert_error(response, 404 if "nothing" in path or "x" in path else 405)


def test_a_server_fault_is_a_500_with_a_request_id_in_the_reply_and_the_log(caplog):
    caplog.set_level(logging.ERROR)
    engine = FakeEngine(fail=ZeroDivisionError("division by zero in /srv/models/secret/path.py"))
    error = assert_error(post(app(engine), ask(QUESTION)), 500, "server_error")
    request_id = error["message"].split("request id ")[1].split(")")[0]
    assert request_id.startswith("chatcmpl-") and request_id in caplog.text
    assert "/srv/models" not in error["message"] and "ZeroDivisionError" in caplog.text


# ---- 6: bounded cost -------------------------------------------------------------------------
def test_a_question_longer_than_the_context_can_hold_is_refused_before_the_engine():
    engine = FakeEngine()
    big = {"type": "text", "text": "word " * 2**20}
    image = image_part("data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"0" * 100).decode())
    error = assert_error(post(app(engine), ask(big, image)), 400, "context_length_exceeded")
    assert "1600" in error["message"] and engine.asked == []


def test_the_request_timeout_covers_preparation():
    engine = FakeEngine(slow_s=3.0)
    with app(engine, request_timeout=0.5) as client:  # one event loop for the client's lifetime
        started = time.monotonic()
        error = assert_error(post(client, ask(QUESTION)), 408, "request_timeout")
        took = time.monotonic() - started
    assert "preparing" in error["message"] and took < 2.5


def test_at_most_max_preparing_requests_are_prepared_at_once():
    engine = FakeEngine(slow_s=0.3)
    with app(engine, max_preparing=2) as client, ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: post(client, ask(QUESTION)).status_code, range(6)))
    assert statuses == [200] * 6 and engine.most_running == 2


# ---- 6, 9: images as a memory budget, decompression bombs ------------------------------------
def test_a_large_1_bit_png_is_decoded_once_and_reduced_before_the_engine():
    from PIL import Image
    from emollm_plugin.apps.media_limits import REDUCED_SIDE
    engine = FakeEngine()
    url = png_data_url(Image.new("1", (6300, 6300)))
    assert len(url) < 100_000  # a few KiB that decode to 40 million pixels
    assert post(app(engine), ask(QUESTION, image_part(url))).status_code == 200
    assert engine.asked[0]["sizes"]["image"] == (REDUCED_SIDE, REDUCED_SIDE)


def test_an_image_whose_decoded_size_is_over_the_budget_is_413_before_decoding():
    from PIL import Image
    url = png_data_url(Image.new("RGBA", (4000, 3000)))
    error = assert_error(post(app(max_image_pixels=13_000_000), ask(QUESTION, image_part(url))), 413,
                         "image_too_large")
    assert "MiB" in error["message"]


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def _text_bomb() -> bytes:
    import struct
    import zlib
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    png = buffer.getvalue()
    data = b"Comment\0\0" + zlib.compress(b"a" * (16 * 2**20), 1)
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


@pytest.mark.parametrize("make, code", [(lambda: _png_header(20_000, 20_000), "decompression_bomb"),
                                        (lambda: _png_header(9_000, 5_000), "image_too_large"),
                                        (_text_bomb, "decompression_bomb")])
def test_decompression_bombs_and_oversized_images_are_413(make, code):
    url = "data:image/png;base64," + base64.b64encode(make()).decode()
    assert_error(post(app(), ask(QUESTION, image_part(url))), 413, code)


# ---- 7, 8: server paths never shown; in-root symlinks followed --------------------------------
def test_an_unreadable_upload_is_named_as_the_client_sent_it_never_by_its_temp_path():
    def corrupt(media):
        path = next(iter(media.values()))
        error = Unanswerable(f"media_{CORRUPT}", f"{path}: broken")
        error.__cause__ = MediaError(path, CORRUPT, f"{path} is broken")
        return error
    url = "data:video/mp4;base64," + base64.b64encode(b"not a video at all").decode()
    for engine in (FakeEngine(fail=corrupt), FakeEngine()):
        response = post(app(engine), ask(QUESTION, {"type": "video_url", "video_url": {"url": url}}))
        error = assert_error(response, 400, "media_unreadable")
        assert error["param"] == "messages[0].content[1]"
        for leak in (tempfile.gettempdir(), "emollm-upload", "messages_0_content"):
            assert leak not in error["message"], error


def test_an_in_root_symlink_is_followed_and_an_escaping_one_is_refused_by_the_clients_name(tmp_path):
    from PIL import Image
    root = tmp_path / "media"
    (root / "faces").mkdir(parents=True)
    (root / "links").mkdir()
    Image.new("RGB", (20, 20)).save(root / "faces" / "a.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "private.png")
    (root / "links" / "in.png").symlink_to(root / "faces" / "a.png")
    (root / "links" / "to-faces").symlink_to(root / "faces")
    (root / "links" / "out.png").symlink_to(tmp_path / "private.png")
    (root / "loop.png").symlink_to(root / "loop.png")
    engine = FakeEngine()
    client = app(engine, media_root=root)
    for url in ("links/in.png", "links/to-faces/a.png"):
        assert post(client, ask(QUESTION, image_part(url))).status_code == 200, url
    # the engine is handed the link's target, opened: its name is the resolved path
    assert [Path(a["media"]["image"].name) for a in engine.asked] == [(root / "faces" / "a.png").resolve()] * 2
    error = assert_error(post(client, ask(QUESTION, image_part("links/out.png"))), 403, "media_path_refused")
    assert "links/out.png" in error["message"] and "private" not in error["message"]
    assert str(tmp_path) not in error["message"]
    looping = post(client, ask(QUESTION, image_part("loop.png")))
    error = assert_error(looping, looping.status_code)
    assert looping.status_code in (403, 404) and str(tmp_path) not in error["message"]


# ---- 9: /health ------------------------------------------------------------------------------
def test_health_gives_liveness_to_anyone_and_details_with_the_key():
    client = app()
    assert client.get("/health").json() == {"status": "ok"}
    assert set(client.get("/health", headers=AUTH).json()) == {"status", "model", "waiting", "answered"}


def test_nan_never_reaches_the_engine():
    engine = FakeEngine()
    client = app(engine)
    for raw in (b'{"messages": [{"role": "user", "content": "x"}], "top_p": NaN}',
                b'{"messages": [{"role": "user", "content": "x"}], "temperature": -Infinity}'):
        assert_error(post(client, content=raw), 400, "invalid_json")
    assert engine.asked == [] and not math.isnan(0.0)


def test_lone_surrogates_in_the_question_or_the_model_are_4xx():
    import json
    engine = FakeEngine()
    client = app(engine)
    text = post(client, content=json.dumps(ask({"type": "text", "text": "why \ud800?"})).encode())
    assert_error(text, 400, "invalid_content")
    model = post(client, content=json.dumps(ask(QUESTION, model="fake\udcff")).encode())
    assert_error(model, 404, "model_not_found")
    assert engine.asked == []


def test_a_clip_whose_sampled_frames_are_over_the_pixel_budget_is_413(tmp_path):
    from emollm_plugin.testing.synth import write_video
    clip = write_video(tmp_path / "wide.mp4", num_frames=2, size=(640, 480))
    url = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    part = {"type": "video_url", "video_url": {"url": url}}
    engine = FakeEngine()
    engine.num_video_frames = 32  # 32 x 640 x 480 = 9.8 million pixels decoded
    error = assert_error(post(app(engine, max_image_pixels=2_000_000), ask(QUESTION, part)), 413, "image_too_large")
    assert "640 x 480" in error["message"] and "32 of them" in error["message"]
    assert post(app(engine, max_image_pixels=3_000_000), ask(QUESTION, part)).status_code == 200
