"""The server's queue, request parsing and error mapping without a model (fake engine, in-process)."""
from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass

import pytest

from emollm_plugin.apps.batcher import Batcher, QueueFull
from emollm_plugin.apps.openai_request import ApiError, Limits, parse_body, read_parts


def test_batcher_groups_by_key_in_order_and_answers_each_job_once():
    calls = []
    gate = threading.Event()

    def run(payloads):
        gate.wait(5)
        calls.append(list(payloads))
        return [p * 10 for p in payloads]

    batcher = Batcher(run, batch_size=3, capacity=10, wait_s=0.05)
    try:
        first = batcher.submit("a", 0)
        time.sleep(0.2)  # the worker holds job 0 (blocked in run) before the rest arrive
        futures = [batcher.submit(key, value) for key, value in
                   (("a", 1), ("b", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 6))]
        gate.set()
        assert [f.result(5) for f in [first, *futures]] == [0, 10, 20, 30, 40, 50, 60]
        assert calls == [[0], [1, 3, 4], [2, 6], [5]]
    finally:
        batcher.close()


def test_batcher_refuses_past_capacity_and_drops_cancelled_jobs():
    gate = threading.Event()
    seen = []
    batcher = Batcher(lambda p: (gate.wait(5), seen.extend(p), p)[2], batch_size=1, capacity=2, wait_s=0)
    try:
        running = batcher.submit("k", "running")
        time.sleep(0.2)
        queued = [batcher.submit("k", "q1"), batcher.submit("k", "q2")]
        with pytest.raises(QueueFull, match="capacity 2"):
            batcher.submit("k", "one too many")
        queued[0].cancel()
        gate.set()
        assert running.result(5) == "running" and queued[1].result(5) == "q2"
        assert seen == ["running", "q2"]
    finally:
        batcher.close()


def test_batcher_hands_a_batch_failure_to_every_job():
    def boom(payloads):
        raise RuntimeError("model fell over")
    batcher = Batcher(boom, batch_size=4, capacity=8, wait_s=0.05)
    try:
        futures = [batcher.submit("k", i) for i in range(3)]
        for future in futures:
            with pytest.raises(RuntimeError, match="fell over"):
                future.result(5)
    finally:
        batcher.close()


def body(*parts, **extra):
    return {"messages": [{"role": "user", "content": list(parts)}], **extra}


def text(t="How does she feel?"):
    return {"type": "text", "text": t}


@pytest.mark.parametrize("request_body, status, code", [
    ({"messages": []}, 400, "invalid_messages"),
    ({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}, 400, "unsupported_messages"),
    (body(text(), max_tokens=10_000), 400, "max_tokens_exceeded"),
    (body(text(), max_tokens=0), 400, "invalid_value"),
    (body(text(), temperature=7), 400, "invalid_value"),
    (body(text(), n=2), 400, "unsupported_n"),
    (body(text(), answer_mode="vote"), 400, "invalid_value"),
    (body(text(), answer_mode="score"), 400, "missing_task"),
    (body(text(), answer_mode="score", task="emotion_open"), 400, "invalid_value"),
    (body(text(), answer_mode="score", task="sarcasm", options=["yes"]), 400, "invalid_value"),
    (body(text(), answer_mode="score", task="intention", options=[]), 400, "invalid_value"),
])
def test_parse_body_refusals(request_body, status, code):
    with pytest.raises(ApiError) as err:
        parse_body(request_body, Limits(max_tokens=64))
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.body()["error"]["code"] == code and err.value.body()["error"]["message"]


def test_parse_body_reads_the_answer_mode_task_and_options():
    request, _ = parse_body(body(text(), answer_mode="score", task="emotion_closed", options=["joy", "anger"]), Limits())
    assert (request.answer_mode, request.task, request.options) == ("score", "emotion_closed", ["joy", "anger"])
    request, _ = parse_body(body(text()), Limits())
    assert (request.answer_mode, request.task, request.options) == (None, None, None)


def _parts(tmp_path, media_root, *parts):
    """read_parts, then each part's opened file closed (the caller's duty)."""
    request, content = parse_body(body(*parts), Limits())
    try:
        return read_parts(request, content, tmp_path / "uploads", media_root)
    finally:
        for part in request.media:
            part.close()


def test_parts_data_urls_paths_and_their_refusals(tmp_path):
    root = tmp_path / "root"
    (root / "clips").mkdir(parents=True)
    (root / "clips" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"x")
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    png = "data:image/png;base64," + base64.b64encode(b"png bytes").decode()
    request = _parts(tmp_path, root, text("Q?"), {"type": "video_url", "video_url": {"url": "clips/a.mp4"}},
                     {"type": "input_audio",
                      "input_audio": {"data": base64.b64encode(b"RIFF").decode(), "format": "wav"}})
    assert request.question == "Q?"
    assert [(m.kind, m.source, m.path.suffix) for m in request.media] == [("video", "media_root", ".mp4"),
                                                                           ("audio", "upload", ".wav")]
    assert _parts(tmp_path, None, {"type": "image_url", "image_url": {"url": png}}, text()).media[0].path.read_bytes() \
        == b"png bytes"
    for part, status, code in [
        ({"type": "image_url", "image_url": {"url": "../secret.png"}}, 403, "media_path_refused"),
        ({"type": "image_url", "image_url": {"url": str(tmp_path / "secret.png")}}, 403, "media_path_refused"),
        ({"type": "image_url", "image_url": {"url": "link.png"}}, 403, "media_path_refused"),
        ({"type": "image_url", "image_url": {"url": "nope.png"}}, 404, "media_not_found"),
        ({"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}, 400, "url_fetch_disabled"),
        ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, 400, "url_fetch_disabled"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, 400, "invalid_base64"),
        ({"type": "image_url", "image_url": {"url": "data:video/mp4;base64,AAAA"}}, 400, "media_kind_mismatch"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}, 400, "invalid_audio_format"),
        ({"type": "file", "file": {}}, 400, "unsupported_content_part"),
    ]:
        with pytest.raises(ApiError) as err:
            _parts(tmp_path, root, text(), part)
        assert (err.value.status, err.value.code) == (status, code), part
    with pytest.raises(ApiError, match="no --media-root"):
        _parts(tmp_path, None, text(), {"type": "image_url", "image_url": {"url": "a.png"}})
    with pytest.raises(ApiError, match="at most one image or video"):
        _parts(tmp_path, None, text(), {"type": "image_url", "image_url": {"url": png}},
               {"type": "image_url", "image_url": {"url": png}})
    with pytest.raises(ApiError, match="no text part"):
        _parts(tmp_path, None, {"type": "image_url", "image_url": {"url": png}})


@dataclass
class FakeJob:
    generation: tuple = ()


class FakeEngine:
    model_id = "fake"
    audio_tower = False

    def prepare(self, question, media, *settings, **mode):
        return FakeJob()


class StuckBatcher:
    """A batcher whose jobs never finish, that is full, or whose generate call fails."""

    def __init__(self, full=False, fails=False):
        self.full, self.fails, self.waiting = full, fails, 0

    def submit(self, key, job):
        from concurrent.futures import Future
        if self.full:
            raise QueueFull("3 requests are already waiting (queue capacity 3)")
        future = Future()
        if self.fails:
            future.set_exception(RuntimeError("CUDA out of memory"))
        return future


def client(batcher, **limits):
    from fastapi.testclient import TestClient
    from emollm_plugin.apps.serve import create_app
    return TestClient(create_app(FakeEngine(), batcher, Limits(**limits), None, api_key="s3cret"))


AUTH = {"Authorization": "Bearer s3cret"}


def test_app_maps_queue_full_timeout_key_and_body_size_to_status_codes():
    full = client(StuckBatcher(full=True)).post("/v1/chat/completions", json=body(text()), headers=AUTH)
    assert full.status_code == 503 and full.headers["Retry-After"] == "1"
    assert full.json()["error"]["code"] == "queue_full"
    slow = client(StuckBatcher(), request_timeout=0.2).post("/v1/chat/completions", json=body(text()), headers=AUTH)
    assert slow.status_code == 408 and slow.json()["error"]["code"] == "request_timeout"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        refused = client(StuckBatcher()).get("/v1/models", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert "s3cret" not in refused.text
    big = client(StuckBatcher(), max_body_bytes=1000).post("/v1/chat/completions", json=body(text("x" * 2000)),
                                                           headers=AUTH)
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    assert client(StuckBatcher()).get("/health").json() == {"status": "ok"}  # liveness only without the key
    assert client(StuckBatcher()).get("/health", headers={"Authorization": "Bearer wrong"}).json() == {"status": "ok"}
    assert client(StuckBatcher()).get("/health", headers=AUTH).json() == {"status": "ok", "model": "fake",
                                                                          "waiting": 0, "answered": 0}
    other = client(StuckBatcher()).post("/v1/chat/completions", json=body(text(), model="gpt-4o"), headers=AUTH)
    assert other.status_code == 404 and other.json()["error"]["param"] == "model"
    failed = client(StuckBatcher(fails=True)).post("/v1/chat/completions", json=body(text()), headers=AUTH)
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "generation_failed"
    assert "RuntimeError" in failed.json()["error"]["message"] and "request id chatcmpl-" in \
        failed.json()["error"]["message"]
