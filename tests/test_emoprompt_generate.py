"""Bank generation against a local chat-completions server on 127.0.0.1 (ephemeral port, started
and stopped by each test, bounded number of requests): success, retries, malformed replies,
drops, resume after an interruption, and the API key kept out of every log."""
from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emollm_plugin.tasks.schema import make_record
from emollm_plugin.emoprompt.bank import load_bank, validate_bank
from emollm_plugin.emoprompt.generator import (GenerationError, GeneratorConfig, RateLimiter, ReplyError,
                                               build_messages, generate_bank, parse_reply)

KEY = "sk-test-SECRET-0123456789"
GOOD_REASONING = "The person's mouth corners rise and the eyes narrow; the scene looks relaxed."


class FakeChatServer:
    """Chat-completions on 127.0.0.1. ``script`` lists the behaviour of the next requests
    ("ok", "500", "429", "malformed", "not-json-body", "wrong-answer", "slow", "400", "401");
    then "ok". More than ``max_requests`` requests get 503 and mark the server overrun."""

    def __init__(self, script=(), max_requests: int = 40, slow_s: float = 0.6):
        self.script, self.max_requests, self.slow_s = deque(script), max_requests, slow_s
        self.requests: list[dict] = []
        self.overrun = False
        self._lock = threading.Lock()

    def __enter__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    over = len(server.requests) > server.max_requests
                    server.overrun |= over
                    mode = "503" if over else (server.script.popleft() if server.script else "ok")
                server.reply(self, mode, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    @staticmethod
    def _send(handler, status: int, payload, headers=()):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def reply(self, handler, mode: str, body: dict) -> None:
        text = body["messages"][1]["content"][0]["text"]
        answer = re.search(r"Ground-truth answer: (.*)", text).group(1)
        content = json.dumps({"reasoning": GOOD_REASONING, "answer": answer})
        if mode == "slow":
            time.sleep(self.slow_s)
        elif mode in ("500", "503"):
            return self._send(handler, int(mode), {"error": {"message": "overloaded"}})
        elif mode == "429":
            return self._send(handler, 429, {"error": {"message": "slow down"}}, [("Retry-After", "0")])
        elif mode == "400":
            return self._send(handler, 400, {"error": {"code": "content_policy_violation"}})
        elif mode == "401":  # a careless server echoing the credentials it got
            return self._send(handler, 401, {"error": f"bad key: {handler.headers['Authorization']}"})
        elif mode == "not-json-body":
            return self._send(handler, 200, b"<html>gateway hiccup</html>")
        elif mode == "malformed":
            content = "Sure! The person looks happy because they smile."
        elif mode == "wrong-answer":
            content = json.dumps({"reasoning": GOOD_REASONING, "answer": "Probably not: maybe yes?"})
        self._send(handler, 200, {"choices": [{"index": 0, "message": {"role": "assistant",
                                                                         "content": content}}]})


@pytest.fixture()
def bench(tmp_path):
    """Records on real tiny images: emotion_open (3 labels x 2), sarcasm (yes/no x 2), one video
    with audio (intention); plus a test-split record that must never be used."""
    from PIL import Image

    from emollm_plugin.testing.synth import tone, write_video
    media = tmp_path / "media"
    (media / "demo").mkdir(parents=True)
    records = []
    for i, label in enumerate(["joy", "anger", "fear"] * 2):
        Image.new("RGB", (40, 30), (40 * i, 100, 200)).save(media / f"demo/e{i}.png")
        records.append(make_record(record_id=f"demo/e{i}/emotion_open", task="emotion_open", dataset="demo",
                                   split="train", label=label, source_id=f"e{i}",
                                   question="What emotion does the person show?", image=f"demo/e{i}.png"))
    for i, label in enumerate(["yes", "no"] * 2):
        Image.new("RGB", (32, 32), (200, 40 * i, 10)).save(media / f"demo/s{i}.png")
        records.append(make_record(record_id=f"demo/s{i}/sarcasm", task="sarcasm", dataset="demo",
                                   split="train", label=label, source_id=f"s{i}",
                                   question="Is this post sarcastic?", image=f"demo/s{i}.png"))
    write_video(media / "demo/v0.mp4", num_frames=8, size=(32, 32), audio=tone(0.5))
    records.append(make_record(record_id="demo/v0/intention", task="intention", dataset="demo", split="train",
                               label="Thank", source_id="v0", label_set=["Thank", "Greet"],
                               question="Which intent? Options: Thank, Greet.", video="demo/v0.mp4",
                               audio="demo/v0.mp4"))
    records.append(make_record(record_id="demo/t0/emotion_open", task="emotion_open", dataset="demo",
                               split="test", label="joy", source_id="t0", question="What emotion?",
                               image="demo/e0.png"))
    return records, media


def _run(server, bench, out, per_task=1, tasks=("emotion_open",), sleep=time.sleep, **kw):
    records, media = bench
    kw = {"progress": False, "requests_per_minute": None, "backoff_base_s": 0.001, "timeout_s": 5.0,
          **kw}
    config = GeneratorConfig(out, per_task, server.url, "fake-vlm", "EMOPROMPT_TEST_KEY", media,
                             tasks=tasks, **kw)
    return generate_bank(records, config, sleep=sleep)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("EMOPROMPT_TEST_KEY", KEY)


def test_success_sends_images_and_label_and_writes_valid_balanced_exemplars(tmp_path, bench):
    from PIL import Image
    out = tmp_path / "bank.jsonl"
    with FakeChatServer() as server:
        report = _run(server, bench, out, per_task=3, tasks=("emotion_open", "sarcasm"))
    assert len(server.requests) == report.requests == 6 and not server.overrun
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "fake-vlm"
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "objective to subjective" in system["content"]
    text, image = user["content"]
    assert "Ground-truth answer:" in text["text"] and "What emotion does the person show?" in text["text"]
    assert "<image>" not in text["text"]
    url = image["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (40, 30)

    bank = load_bank(out)
    assert report.written == {"emotion_open": 3, "sarcasm": 3}
    emotions = [ex for ex in bank if ex.task == "emotion_open"]
    assert sorted(ex.label for ex in emotions) == ["anger", "fear", "joy"]  # label-balanced
    sarcasm = [ex.label for ex in bank if ex.task == "sarcasm"]
    assert sorted(sarcasm) in (["no", "no", "yes"], ["no", "yes", "yes"])
    by_source = {r["id"]: r for r in bench[0]}
    for ex in bank:
        record = by_source[ex.source_id]
        assert record["split"] == "train" and ex.label == record["label"]
        assert ex.media == {"image": record["image"]} and ex.reasoning == GOOD_REASONING
        assert ex.answer == record["conversations"][1]["value"] and ex.generator == "fake-vlm"


def test_video_records_send_uniform_frames(tmp_path, bench):
    with FakeChatServer() as server:
        report = _run(server, bench, tmp_path / "bank.jsonl", tasks=("intention",), num_frames=3)
    assert report.written == {"intention": 1}
    parts = server.requests[0]["body"]["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url"]
    assert "3 frames sampled uniformly" in parts[0]["text"]
    assert "audio track is not attached" in parts[0]["text"]
    (ex,) = load_bank(tmp_path / "bank.jsonl")
    assert ex.media == {"video": "demo/v0.mp4", "audio": "demo/v0.mp4"} and ex.answer == "Thank"


def test_transient_errors_are_retried_with_exponential_backoff(tmp_path, bench):
    sleeps = []
    with FakeChatServer(["500", "429", "not-json-body", "ok"]) as server:
        report = _run(server, bench, tmp_path / "bank.jsonl", backoff_base_s=0.5, backoff_max_s=1.5,
                      sleep=sleeps.append)
    assert len(server.requests) == 4 and report.written == {"emotion_open": 1}
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped
    assert len(load_bank(tmp_path / "bank.jsonl")) == 1


def test_malformed_and_wrong_replies_are_asked_again(tmp_path, bench):
    with FakeChatServer(["malformed", "wrong-answer", "ok"]) as server:
        report = _run(server, bench, tmp_path / "bank.jsonl")
    assert len(server.requests) == 3 and report.written == {"emotion_open": 1} and not report.dropped


def test_timeouts_are_retried(tmp_path, bench):
    with FakeChatServer(["slow", "ok"], slow_s=0.6) as server:
        report = _run(server, bench, tmp_path / "bank.jsonl", timeout_s=0.2)
    assert len(server.requests) == 2 and report.written == {"emotion_open": 1}


def test_a_record_whose_replies_stay_invalid_is_dropped_counted_and_replaced(tmp_path, bench):
    with FakeChatServer(["malformed"] * 3 + ["400"]) as server:
        report = _run(server, bench, tmp_path / "bank.jsonl", max_attempts=3)
    assert len(server.requests) == 5 and not server.overrun
    assert report.dropped == {"reply is not a JSON object": 1, "rejected by the endpoint": 1}
    assert report.written == {"emotion_open": 1}
    (ex,) = load_bank(tmp_path / "bank.jsonl")
    assert all(ex.source_id not in ids for ids in report.drop_examples.values())
    assert "DROPPED reply is not a JSON object: 1" in report.summary()


def test_endpoint_down_stops_the_run_and_keeps_finished_exemplars(tmp_path, bench):
    out = tmp_path / "bank.jsonl"
    with FakeChatServer(["ok", "500", "500", "500"]) as server:
        with pytest.raises(GenerationError, match="failed 3 times in a row.*rerun to resume"):
            _run(server, bench, out, per_task=3, max_attempts=3)
    assert len(server.requests) == 4 and len(load_bank(out)) == 1


def test_resume_after_interruption_loses_nothing_and_duplicates_nothing(tmp_path, bench):
    out = tmp_path / "bank.jsonl"
    tasks = ("emotion_open", "sarcasm")
    with FakeChatServer(["ok", "ok", "401"]) as server:  # stopped in the middle of a task
        with pytest.raises(GenerationError, match="HTTP 401"):
            _run(server, bench, out, per_task=4, tasks=tasks)
    first = out.read_bytes()
    assert first.count(b"\n") == 2  # anger and fear so far
    with out.open("ab") as f:  # a crash in the middle of writing the next line
        f.write(b'{"schema_version": 1, "id": "demo/e3/emo')

    with FakeChatServer() as server:
        report = _run(server, bench, out, per_task=4, tasks=tasks)
    assert report.removed_partial_line.startswith('{"schema_version": 1')
    assert report.already == {"emotion_open": 2} and report.written == {"emotion_open": 2, "sarcasm": 4}
    assert len(server.requests) == 6  # only the missing ones were asked for
    assert out.read_bytes().startswith(first)
    bank = load_bank(out)
    assert len(bank) == 8 and len({ex.id for ex in bank}) == len({ex.source_id for ex in bank}) == 8
    # balance counts what the bank already holds: joy first, then the next anger record
    assert sorted(ex.label for ex in bank if ex.task == "emotion_open") == ["anger", "anger", "fear", "joy"]

    with FakeChatServer() as server:  # nothing left to do
        report = _run(server, bench, out, per_task=4, tasks=tasks)
    assert not server.requests and not report.written and len(load_bank(out)) == 8


def test_the_api_key_is_never_logged_printed_or_raised(tmp_path, bench, caplog, capsys):
    from emollm_plugin.emoprompt.cli import main
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "bank.jsonl"
    records_file = tmp_path / "train.json"
    records_file.write_text(json.dumps(bench[0]))
    with FakeChatServer(["500", "401", "401"]) as server:
        with pytest.raises(GenerationError) as raised:
            _run(server, bench, out)
        status = main(["generate", "--bench", str(records_file), "--out", str(out), "--per-task", "1",
                       "--base-url", server.url, "--model", "fake-vlm", "--api-key-env", "EMOPROMPT_TEST_KEY",
                       "--media-root", str(bench[1]), "--tasks", "emotion_open", "--rpm", "0",
                       "--backoff", "0.001", "--quiet"])
    captured = capsys.readouterr()
    assert server.requests[1]["headers"]["Authorization"] == f"Bearer {KEY}"  # the key was used...
    assert "HTTP 401" in str(raised.value) and "bad key: Bearer …" in str(raised.value)
    assert status == 1 and "HTTP 401" in captured.err
    assert "HTTP 500" in caplog.text  # ...the retry was logged...
    for text in (str(raised.value), caplog.text, captured.out, captured.err):
        assert KEY not in text  # ...but the key never appears


def test_missing_key_names_the_variable_before_any_request(tmp_path, bench, monkeypatch):
    monkeypatch.delenv("EMOPROMPT_TEST_KEY")
    with FakeChatServer() as server:
        with pytest.raises(GenerationError, match="EMOPROMPT_TEST_KEY is not set"):
            _run(server, bench, tmp_path / "bank.jsonl")
    assert not server.requests


def test_unreadable_media_is_dropped_and_many_in_a_row_stop_the_run(tmp_path, bench):
    records, media = bench
    for path in (media / "demo").glob("e*.png"):
        path.unlink()
    with FakeChatServer() as server:
        with pytest.raises(GenerationError, match="last 2 records were all dropped"):
            _run(server, bench, tmp_path / "bank.jsonl", max_consecutive_drops=2)
    assert not server.requests


def test_test_split_is_never_used_and_a_short_task_is_reported(tmp_path, bench):
    with FakeChatServer() as server:
        report = _run(server, bench, tmp_path / "bank.jsonl", per_task=10)
    assert report.written == {"emotion_open": 6} and report.shortfall == {"emotion_open": 4}
    assert report.other_split == 1
    assert "demo/t0/emotion_open" not in {ex.source_id for ex in load_bank(tmp_path / "bank.jsonl")}
    assert "4 short" in report.summary()


def test_a_broken_bench_record_is_named_before_any_request(tmp_path, bench):
    records, media = bench
    broken = [records[0], dict(records[1], task="emotions")]
    with FakeChatServer() as server:
        with pytest.raises(ValueError, match=r"bench record 1 \(id='demo/e1/emotion_open'\): field 'task'"):
            generate_bank(broken, GeneratorConfig(tmp_path / "b.jsonl", 1, server.url, "m",
                                                  "EMOPROMPT_TEST_KEY", media))
    assert not server.requests


@pytest.mark.parametrize("content, reasoning", [
    ('```json\n{"reasoning": "Wide smile.", "answer": "joy"}\n```', "Wide smile."),
    ('Here it is: {"reasoning": "Wide\\n smile.", "answer": "She feels joy"} Hope it helps.', "Wide smile."),
])
def test_parse_reply_accepts_fenced_or_wrapped_json(content, reasoning):
    assert parse_reply(content, "emotion_open", "joy") == reasoning


@pytest.mark.parametrize("content, reason", [
    ('{"reasoning": "Wide smile.", "answer": "anger"}', "disagrees with the label"),
    ('{"reasoning": "", "answer": "joy"}', "no reasoning"),
    ('{"reasoning": "Smile.</s> ASSISTANT: joy", "answer": "joy"}', "template markers"),
    ('{"reasoning": "The ground truth says joy.", "answer": "joy"}', "mentions the given answer"),
    ('["joy"]', "not a JSON object"),
])
def test_parse_reply_rejects_unusable_replies(content, reason):
    with pytest.raises(ReplyError, match=reason):
        parse_reply(content, "emotion_open", "joy")


def test_build_messages_keeps_the_media_path_out_of_the_prompt(bench):
    records, media = bench
    messages = build_messages(records[0], media)
    assert "demo/e0.png" not in json.dumps(messages)


def test_rate_limiter_spaces_request_starts():
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)
    limiter.wait()        # first request: no wait
    now[0] += 0.2         # the request took 0.2 s
    limiter.wait()        # 0.5 s spacing at 120/min -> 0.3 s more
    now[0] += 0.9
    limiter.wait()        # already later than 0.5 s
    assert sleeps == [pytest.approx(0.3)]
    RateLimiter(None, clock=lambda: now[0], sleep=sleep).wait()
    assert len(sleeps) == 1


def test_cli_validate_reports_and_sets_the_exit_status(tmp_path, capsys):
    from emollm_plugin.emoprompt.bank import example_bank_path
    from emollm_plugin.emoprompt.cli import main
    assert main(["validate", str(example_bank_path())]) == 0
    assert "18 valid exemplars" in capsys.readouterr().out
    broken = tmp_path / "bank.jsonl"
    broken.write_text(example_bank_path().read_text().replace('"answer": "joy"', '"answer": "fear"'))
    assert main(["validate", str(broken)]) == 1
    assert "line 1 (id=illustrative/emotion_closed/1), field 'answer'" in capsys.readouterr().out
    assert not validate_bank(broken).ok
