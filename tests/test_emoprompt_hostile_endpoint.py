"""`emoprompt generate` against a hostile chat-completions endpoint on 127.0.0.1 (each server
bounded in requests and lifetime): redirects never carry the key anywhere, ``--timeout`` is a
total deadline, encoded echoes of the key never reach a message, log or file, and replies have a
size cap with bounded memory."""
from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import tracemalloc
import urllib.parse
from types import SimpleNamespace

import pytest

from emollm_plugin.emoprompt.generator import GenerationError, Secret
from emollm_plugin.emoprompt.generator.secret import sanitised
from test_emoprompt_secrets import EchoServer, bench, chat_body, echo_in_reasoning, outputs, run  # noqa: F401

KEY = "sk-proj-QxZv7Jk2Wq9Tz4Vb"


class RawServer:
    """A TCP server on 127.0.0.1 whose ``answer(conn, request_head)`` writes raw bytes; it takes at
    most ``max_connections`` connections and stops after ``lifetime_s``. ``seen`` keeps each
    request's head (request line and headers)."""

    def __init__(self, answer, max_connections: int = 5, lifetime_s: float = 30.0):
        self.answer, self.max_connections, self.lifetime_s = answer, max_connections, lifetime_s
        self.seen: list[str] = []
        self.stop = threading.Event()

    def __enter__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        started = time.monotonic()
        while not self.stop.is_set() and time.monotonic() - started < self.lifetime_s \
                and len(self.seen) < self.max_connections:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.seen.append(head.decode("latin-1"))
                self.answer(conn, head.decode("latin-1"), self.stop)
            except OSError:
                pass

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def redirect_to(location: str, status: int = 302):
    def answer(conn, head, stop):
        conn.sendall(f"HTTP/1.1 {status} Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
    return answer


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_key_goes_nowhere_else(tmp_path, bench, monkeypatch, status):
    with RawServer(lambda conn, head, stop: None) as other:
        for target in (f"http://127.0.0.1:{other.port}/v1/chat/completions",  # another origin
                       "/v1/elsewhere/chat/completions"):                   # the same origin
            with RawServer(redirect_to(target, status)) as endpoint:
                with pytest.raises(GenerationError, match=f"HTTP {status}.*redirects are not followed"):
                    run(endpoint, bench, tmp_path / "bank.jsonl", KEY, monkeypatch, max_attempts=3)
            assert len(endpoint.seen) == 1  # one request, no retry, no second request
            assert "Bearer " + KEY in endpoint.seen[0]
        time.sleep(0.3)
    assert other.seen == []


def dripping(header_too: bool):
    """A reply sent one byte every 0.2 s, forever (until the server stops)."""
    def answer(conn, head, stop):
        body = json.dumps({"choices": [{"message": {"content": "x" * 10_000}}]}).encode()
        data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        if not header_too:
            head_end = data.index(b"\r\n\r\n") + 4
            conn.sendall(data[:head_end])
            data = data[head_end:]
        for byte in data:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
    return answer


@pytest.mark.parametrize("header_too", [False, True])
def test_timeout_is_a_total_deadline_for_a_server_that_drips_bytes(tmp_path, bench, monkeypatch, header_too):
    with RawServer(dripping(header_too), lifetime_s=30) as endpoint:
        started = time.monotonic()
        with pytest.raises(GenerationError, match=r"no complete reply within 1\.5 s") as raised:
            run(endpoint, bench, tmp_path / "bank.jsonl", KEY, monkeypatch, max_attempts=2, timeout_s=1.5)
        took = time.monotonic() - started
    assert len(endpoint.seen) == 2 and "failed 2 times" in str(raised.value)
    assert took < 15, f"two attempts with a 1.5 s deadline took {took:.1f} s"


def encodings(key: str) -> dict[str, str]:
    """Ways a careless or hostile endpoint may echo the key."""
    return {"json-unicode-escape": "".join(f"\\u{ord(c):04x}" for c in key),
            "url-encoded": "".join(f"%{b:02X}" for b in key.encode()),
            "url-quoted": urllib.parse.quote(key, safe=""),
            "spaced-out": " ".join(key),
            "dotted": ".".join(key),
            "base64": base64.b64encode(key.encode()).decode(),
            "base64-offset": base64.b64encode(b"key=" + key.encode()).decode(),
            "hex": key.encode().hex(),
            "reversed": key[::-1],
            "html-entities": "".join(f"&#{ord(c)};" for c in key)}


def leaks(key: str, encoded: str, text: str) -> list[str]:
    """Pieces of the key (or of its encoded echo) found in ``text``, however spaced."""
    squeezed = re.sub(r"\s|…", "", text)
    pieces = {key[i:i + 6] for i in range(len(key) - 5)}
    squeezed_echo = re.sub(r"\s", "", encoded)
    pieces |= {squeezed_echo[i:i + 8] for i in range(len(squeezed_echo) - 7)}
    return sorted(p for p in pieces if p in squeezed or p in text)


def error_json(encoded: str, status: int) -> tuple[int, object]:
    def body(key, request):
        raw = '{"error": {"message": "Incorrect API key provided: ' + encoded.replace('"', '') + \
              '. You can find your key on the dashboard.", "type": "invalid_request_error", ' \
              '"code": "invalid_api_key"}}'
        return raw.encode()
    return status, body


@pytest.mark.parametrize("name", sorted(encodings(KEY)))
def test_encoded_echoes_of_the_key_reach_no_warning_error_log_or_file(tmp_path, bench, caplog, capsys,
                                                                     monkeypatch, name):
    caplog.set_level(logging.DEBUG)
    encoded = encodings(KEY)[name]
    out = tmp_path / "bank.jsonl"
    errors = []
    # retried (warnings) then final error; rejected (drop log); fatal; non-chat 200; not-JSON reply
    replies = [error_json(encoded, 500), error_json(encoded, 429), error_json(encoded, 503)]
    with EchoServer(replies, len(replies)) as server:
        with pytest.raises(GenerationError) as raised:
            run(server, bench, out, KEY, monkeypatch, max_attempts=3)
        errors.append(raised.value)
    with EchoServer([error_json(encoded, 401)], 1) as server:
        with pytest.raises(GenerationError) as raised:
            run(server, bench, out, KEY, monkeypatch)
        errors.append(raised.value)
    replies = [error_json(encoded, 400), error_json(encoded, 400),
               (200, lambda key, request: ("<html>bad gateway " + encoded + "</html>").encode()),
               (200, lambda key, request: b"x" * 1000),
               (200, chat_body(lambda key, request: "Sorry, I cannot: " + encoded + " is all I know.")),
               (200, chat_body(lambda key, request: "plain words, no JSON")),
               (200, chat_body(lambda key, request: echo_in_reasoning("", request).replace(
                   "beside the point", "beside the point " + encoded)))]
    with EchoServer(replies, len(replies)) as server:
        report = run(server, bench, out, KEY, monkeypatch, max_attempts=3, max_consecutive_drops=5)
    assert "HTTP 401" in str(errors[1]) and "invalid_api_key" in str(errors[1])
    assert "attempt 1/3 failed" in caplog.text and "HTTP 500" in caplog.text
    assert sum(report.dropped.values()) == 2, report.dropped
    texts = outputs(caplog, capsys, out, *errors) + [report.summary()]
    for text in texts:
        assert not leaks(KEY, encoded, text), (name, leaks(KEY, encoded, text)[:3], text[:500])


def test_secret_found_in_sees_the_common_encodings():
    secret = Secret(KEY)
    for name, encoded in encodings(KEY).items():
        if name != "html-entities":
            assert secret.found_in(f"quoting {encoded} here"), name
    assert not secret.found_in("an ordinary reasoning chain about a smiling face")


def test_sanitised_keeps_plain_words_only():
    assert sanitised("The model does not exist, sorry.", 100) == "The model does not exist, sorry."
    assert sanitised("key s k - p r o j - Q x Z v here", 100) == "key … here"
    assert sanitised("use sk-proj-QxZv7 or c2stcHJvai1ReFp2 or %73%6B now", 100) == "use … or … or … now"
    assert len(sanitised("word " * 1000, 50)) <= 50


def streaming(total_bytes: int, announce: bool):
    def answer(conn, head, stop):
        length = f"Content-Length: {total_bytes}\r\n" if announce else "Connection: close\r\n"
        conn.sendall(f"HTTP/1.1 200 OK\r\n{length}\r\n".encode())
        block = b"[" * 65536
        sent = 0
        while sent < total_bytes and not stop.is_set():
            conn.sendall(block)
            sent += len(block)
    return answer


@pytest.mark.parametrize("announce", [True, False])
def test_a_reply_over_the_size_cap_is_refused_with_bounded_memory(tmp_path, bench, monkeypatch, caplog, announce):
    caplog.set_level(logging.WARNING)
    with RawServer(streaming(64 * 2**20, announce), max_connections=4) as endpoint:
        tracemalloc.start()
        try:
            report = run(endpoint, bench, tmp_path / "bank.jsonl", KEY, monkeypatch, max_attempts=1,
                         max_reply_bytes=2**20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.dropped == {"reply too large": 2} and not report.written
    assert "over the limit of 1048576 bytes" in caplog.text
    assert peak < 8 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB while a 64 MiB reply came in"


def test_the_environment_proxy_is_used_as_urllib_would(tmp_path, bench, monkeypatch):
    """An http endpoint through ``http_proxy``: the proxy gets the full URL (and no redirect is
    followed through it either); ``no_proxy`` bypasses it."""
    with RawServer(redirect_to("http://127.0.0.1:9/elsewhere")) as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        with pytest.raises(GenerationError, match="redirects are not followed"):
            run(SimpleNamespace(url="http://api.example.invalid/v1"), bench, tmp_path / "bank.jsonl", KEY,
                monkeypatch)
    assert proxy.seen[0].startswith("POST http://api.example.invalid/v1/chat/completions HTTP/1.1")
    with RawServer(redirect_to("/x")) as endpoint:
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with pytest.raises(GenerationError):
            run(endpoint, bench, tmp_path / "bank.jsonl", KEY, monkeypatch)
    assert endpoint.seen[0].startswith("POST /v1/chat/completions HTTP/1.1")
