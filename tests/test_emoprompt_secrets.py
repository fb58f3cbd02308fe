"""The API key never reaches a message, an exception, a log line, printed output or the bank.

A local 127.0.0.1 server (bounded: at most ``max_requests`` requests and ``lifetime_s`` seconds,
then it stops itself) echoes the key in 401, 500 and 200 bodies. The key is placed so that it
straddles every cut position of the generator's display-length truncation (``CUTS``: 300 characters
of an HTTP error body, 200 of a body that is not a chat completion, 120 of a reply that is not a
JSON object), for a 10- and a 164-character key: masking must happen before any cut. A successful
reply whose text echoes the key is refused, never written to the bank.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emollm_plugin.tasks.schema import make_record
from emollm_plugin.emoprompt.generator import GenerationError, GeneratorConfig, generate_bank

CUTS = (120, 200, 300)  # display lengths: reply text, non-chat body, HTTP error body
KEY_LENGTHS = (10, 164)
ALPHABET = "QXZJVKqxzjvk"  # 4-grams of these letters appear in no message the generator writes


def make_key(length: int) -> str:
    rng = random.Random(length)
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def fragments(key: str, n: int = 4) -> set[str]:
    return {key[i:i + n] for i in range(len(key) - n + 1)}


def assert_no_key(key: str, *texts: str) -> None:
    for text in texts:
        leaked = sorted(f for f in fragments(key) if f in text)
        assert not leaked, f"{len(leaked)} fragments of the key leaked, e.g. {leaked[:3]} in {text[:400]!r}"


class EchoServer:
    """Answers each POST with the next ``(status, body)`` of ``replies`` (``body(key, request)``
    -> bytes, ``key`` taken from the request's Authorization header), then 503."""

    def __init__(self, replies, max_requests: int, lifetime_s: float = 60.0):
        self.replies, self.max_requests, self.lifetime_s = deque(replies), max_requests, lifetime_s
        self.count = 0

    def __enter__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.count += 1
                status, body = (503, lambda key, request: b"{}")
                if server.count <= server.max_requests and server.replies:
                    status, body = server.replies.popleft()
                data = body(self.headers.get("Authorization", "").removeprefix("Bearer "), request)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.stopper = threading.Timer(self.lifetime_s, self.httpd.shutdown)
        self.stopper.daemon = True
        self.stopper.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        return self

    def __exit__(self, *exc):
        self.stopper.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def error_body(key_offset: int):
    """An error body (JSON) whose text has the key starting at character ``key_offset``."""
    def body(key: str, request: dict) -> bytes:
        head = '{"error": "'
        pad = "." * (key_offset - len(head))
        return (head + pad + key + ' was refused"}').encode()
    return body


def chat_body(content_of):
    def body(key: str, request: dict) -> bytes:
        content = content_of(key, request)
        return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
    return body


def not_a_chat_body(key_offset: int):
    """A 200 body that is not a chat completion; the generator shows ``repr(body[:cut])``, whose
    first two characters are ``b'``."""
    def body(key: str, request: dict) -> bytes:
        return ("x" * (key_offset - 2) + key + " end").encode()
    return body


def not_json_reply(key_offset: int):
    return chat_body(lambda key, request: "y" * key_offset + key + " and no JSON")


def echo_in_reasoning(key: str, request: dict) -> str:
    """A well-formed exemplar reply with the right answer whose reasoning quotes the key."""
    text = request["messages"][1]["content"][0]["text"]
    answer = text.split("Ground-truth answer: ", 1)[1].split("\n", 1)[0]
    return json.dumps({"reasoning": f"The face shows it clearly; the credential {key} is beside the "
                                    "point.", "answer": answer})


def straddling(length: int):
    """Every start offset at which a key of ``length`` characters crosses one of ``CUTS``."""
    return [(cut, start) for cut in CUTS for start in range(max(cut - length + 1, 12), cut)]


@pytest.fixture()
def bench(tmp_path):
    from PIL import Image
    media = tmp_path / "media"
    (media / "demo").mkdir(parents=True)
    records = []
    for i, label in enumerate(["joy", "anger"]):
        Image.new("RGB", (16, 16), (60 * i, 90, 120)).save(media / f"demo/e{i}.png")
        records.append(make_record(record_id=f"demo/e{i}/emotion_open", task="emotion_open",
                                   dataset="demo", split="train", label=label, source_id=f"e{i}",
                                   question="What emotion?", image=f"demo/e{i}.png"))
    return records, media


def run(server, bench, out, key, monkeypatch, **kw):
    monkeypatch.setenv("EMOPROMPT_SECRET_TEST_KEY", key)
    records, media = bench
    kw = {"progress": False, "requests_per_minute": None, "backoff_base_s": 0.0, "backoff_max_s": 0.0,
          "timeout_s": 5.0, **kw}
    config = GeneratorConfig(out, 1, server.url, "fake-vlm", "EMOPROMPT_SECRET_TEST_KEY", media,
                             tasks=("emotion_open",), **kw)
    return generate_bank(records, config, sleep=lambda s: None)


def outputs(caplog, capsys, out, *errors) -> list[str]:
    captured = capsys.readouterr()
    files = [p.read_text(errors="replace") for p in out.parent.rglob("*") if p.is_file()
             and p.suffix not in (".png",)]
    return [caplog.text, captured.out, captured.err, *map(str, errors), *files]


@pytest.mark.parametrize("length", KEY_LENGTHS)
def test_401_echo_is_masked_at_every_cut_position(tmp_path, bench, caplog, capsys, monkeypatch, length):
    caplog.set_level(logging.DEBUG)
    key = make_key(length)
    out = tmp_path / "bank.jsonl"
    errors = []
    positions = straddling(length)
    with EchoServer([(401, error_body(start)) for _, start in positions], len(positions)) as server:
        for _ in positions:
            with pytest.raises(GenerationError) as raised:
                run(server, bench, out, key, monkeypatch)
            errors.append(raised.value)
    assert server.count == len(positions)
    assert all("HTTP 401" in str(e) for e in errors)
    assert_no_key(key, *outputs(caplog, capsys, out, *errors))


@pytest.mark.parametrize("length", KEY_LENGTHS)
def test_500_and_unparsable_200_echoes_are_masked_in_retries_logs_and_the_final_error(
        tmp_path, bench, caplog, capsys, monkeypatch, length):
    caplog.set_level(logging.DEBUG)
    key = make_key(length)
    out = tmp_path / "bank.jsonl"
    positions = straddling(length)
    # the last reply is shown in the final error: its key crosses the error-body cut (300)
    replies = ([(200, not_a_chat_body(start)) for _, start in positions]
               + [(500, error_body(start)) for _, start in positions]
               + [(500, error_body(CUTS[-1] - length + 1))])
    with EchoServer(replies, len(replies)) as server:
        with pytest.raises(GenerationError) as raised:
            run(server, bench, out, key, monkeypatch, max_attempts=len(replies))
    assert server.count == len(replies)
    assert caplog.text.count("attempt") >= len(replies) - 1  # every failure was logged
    assert_no_key(key, *outputs(caplog, capsys, out, raised.value))


@pytest.mark.parametrize("length", KEY_LENGTHS)
def test_a_reply_that_is_not_json_is_masked_before_its_cut(tmp_path, bench, caplog, capsys, monkeypatch,
                                                            length):
    caplog.set_level(logging.DEBUG)
    key = make_key(length)
    out = tmp_path / "bank.jsonl"
    positions = straddling(length)
    replies = [(200, not_json_reply(start)) for _, start in positions]
    honest = chat_body(lambda k, request: echo_in_reasoning("", request))
    with EchoServer(replies + [(200, honest)], len(replies) + 1) as server:
        report = run(server, bench, out, key, monkeypatch, max_attempts=len(replies))
    assert server.count == len(replies) + 1
    # refused for the echo before its text could be quoted (and cut) in a "not JSON" message
    assert report.dropped == {"reply echoes the API key": 1} and sum(report.written.values()) == 1
    assert_no_key(key, *outputs(caplog, capsys, out), report.summary())


@pytest.mark.parametrize("length", KEY_LENGTHS)
def test_a_reply_that_echoes_the_key_is_refused_and_never_written(tmp_path, bench, caplog, capsys,
                                                                  monkeypatch, length):
    caplog.set_level(logging.DEBUG)
    key = make_key(length)
    out = tmp_path / "bank.jsonl"
    with EchoServer([(200, chat_body(echo_in_reasoning))] * 4, 4) as server:
        report = run(server, bench, out, key, monkeypatch, max_attempts=2)
    assert server.count == 4  # two records, each asked twice
    assert report.dropped == {"reply echoes the API key": 2} and not report.written
    assert not out.exists() or not out.read_text().strip()
    assert_no_key(key, *outputs(caplog, capsys, out), report.summary())
