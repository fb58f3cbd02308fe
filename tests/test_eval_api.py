"""Table 3: `emollm bench subset --table3` (image-only emotion test records, six labels, Emo-C with the
six-option list), `emollm eval api` answering it through an OpenAI-compatible endpoint (a stub
server on 127.0.0.1), and `emollm eval score` printing Table 3's layout. Key handling as
docs/security.md says: never on the command line or in messages, no redirects, a reply size cap
and a total deadline."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench_helpers import FIXTURES
from emollm_plugin.bench.cli import main as bench_main
from emollm_plugin.bench.subset import SIX_EMOTIONS, is_table3, table3_subset
from emollm_plugin.apps.eval_api import main as api_main
from emollm_plugin.eval.cli import main as eval_main

KEY = "sk-test-secret-0123456789"


class Stub:
    """A chat-completions endpoint on 127.0.0.1 that records what it receives; ``mode`` picks the
    reply: ok | echo_key_401 | redirect | huge | slow."""

    def __init__(self, mode: str = "ok", answer: str = "anger", redirect_to: str = ""):
        self.mode, self.answer, self.redirect_to = mode, answer, redirect_to
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if stub.mode == "redirect":
                    self.send_response(307)
                    self.send_header("Location", stub.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if stub.mode == "echo_key_401":
                    return self._send(401, {"error": f"bad key {self.headers.get('Authorization')}"})
                if stub.mode == "slow":
                    time.sleep(3)
                text = "x" * 5000 if stub.mode == "huge" else stub.answer
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (the deadline test) is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    servers = []

    def make(*args, **kwargs) -> Stub:
        servers.append(Stub(*args, **kwargs))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def table3(tmp_path_factory) -> Path:
    """A bench of the three image emotion datasets (fixtures), then its Table 3 subset."""
    tmp = tmp_path_factory.mktemp("table3")
    config = tmp / "bench.yaml"
    config.write_text(f"out: {tmp / 'bench'}\nseed: 1\ndatasets:\n" + "".join(
        f"  {d}: {{root: {FIXTURES / d}}}\n" for d in ("caer_s", "emotic", "emotion6", "meld")))
    assert bench_main(["build", "--config", str(config), "--quiet", "--val-from", "train"]) == 0
    out = tmp / "bench" / "table3.json"
    assert bench_main(["subset", "--table3", "--questions", str(tmp / "bench" / "test.json"), "--out", str(out)]) == 0
    return out


def _run_api(*argv: str) -> tuple[int, str]:
    """``emollm eval api ARGV`` through the console entry point."""
    from emollm_plugin.commands.cli import main
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["eval", "api", *argv])
    return code, stderr.getvalue()


def test_the_subset_is_image_only_six_emotions_with_six_options(table3):
    test = json.loads((table3.parent / "test.json").read_text())
    subset = json.loads(table3.read_text())
    assert is_table3(subset) and not is_table3(test)
    assert {r["task"] for r in subset} == {"emotion_closed", "emotion_open"}
    assert {r["dataset"] for r in subset} <= {"caer_s", "emotic", "emotion6"}  # no MELD clip
    assert all("image" in r and "video" not in r and "audio" not in r and r["label"] in SIX_EMOTIONS
               for r in subset)
    kept = [r for r in test if r["task"].startswith("emotion") and "image" in r and r["label"] != "neutral"]
    assert len(subset) == len(kept) and any(r["label"] == "neutral" and "image" in r for r in test)
    by_id = {r["id"]: r for r in test}
    for r in subset:
        if r["task"] == "emotion_closed":
            assert r["label_set"] == [o for o in by_id[r["id"]]["label_set"] if o != "neutral"]
            question = r["conversations"][0]["value"]
            assert ", ".join(r["label_set"]) in question and "neutral" not in question
        else:
            assert r == by_id[r["id"]]
    capped = table3_subset(test, per_label=1)
    assert max(sum(1 for r in capped if r["label"] == label and r["task"] == "emotion_open")
               for label in SIX_EMOTIONS) == 1
    assert table3_subset(test, per_label=1) == capped  # deterministic


def test_eval_api_answers_through_the_endpoint_and_score_prints_table_3(table3, stub, tmp_path, monkeypatch):
    server = stub(answer="Answer: anger")
    monkeypatch.setenv("TEST_API_KEY", KEY)
    answers = tmp_path / "answers.jsonl"
    code, stderr = _run_api("--base-url", server.url, "--model", "gpt-4v-stub", "--question-file", str(table3),
                            "--answers-file", str(answers), "--api-key-env", "TEST_API_KEY")
    assert code == 0, stderr
    assert KEY not in stderr
    subset = json.loads(table3.read_text())
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["question_id"] for r in rows] == [r["id"] for r in subset]
    assert {r["model_id"] for r in rows} == {"gpt-4v-stub"} and {r["text"] for r in rows} == {"Answer: anger"}
    assert len(server.requests) == len(subset)
    for request, record in zip(server.requests, subset):
        assert request["path"] == "/v1/chat/completions" and request["auth"] == f"Bearer {KEY}"
        body = request["body"]
        assert set(body) == {"model", "messages", "temperature", "max_tokens"} and body["temperature"] == 0
        text, image = body["messages"][0]["content"]
        assert text["text"] == record["conversations"][0]["value"].replace("<image>\n", "")
        header, data = image["image_url"]["url"].split(",", 1)
        assert header.startswith("data:image/")
        assert base64.b64decode(data) == (table3.parent / "media" / record["image"]).read_bytes()
        assert record["source_id"] not in json.dumps(body)  # CAER-S's names the class folder

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert eval_main(["score", "--answers", str(answers), "--questions", str(table3)]) == 0
    table = out.getvalue().splitlines()
    assert "Table 3 subset" in table[0]
    header = table.index("| Method | Emo-C | Emo-O |")
    anger = [r for r in subset if r["label"] == "anger"]
    closed = [r for r in subset if r["task"] == "emotion_closed"]
    expected = 100.0 * sum(r["task"] == "emotion_closed" for r in anger) / len(closed)
    assert table[header + 2].startswith(f"| gpt-4v-stub | {expected:.2f} |")


def test_records_the_api_cannot_take_are_counted_not_dropped(stub, tmp_path):
    server = stub()
    file = _one_image_question(tmp_path)
    human = lambda kind: {"from": "human", "value": f"<{kind}>\nWhich emotion?"}  # noqa: E731
    questions = json.loads(file.read_text()) + [
        {"id": "clip", "video": "d/c.mp4", "task": "emotion_open", "dataset": "d", "conversations": [human("video")]},
        {"id": "gone", "image": "d/missing.png", "task": "emotion_open", "dataset": "d",
         "conversations": [human("image")]},
        {"id": "escape", "image": "d/../../etc/passwd.png", "task": "emotion_open", "dataset": "d",
         "conversations": [human("image")]}]
    file.write_text(json.dumps(questions))
    answers = tmp_path / "a.jsonl"
    code, stderr = _run_api("--base-url", server.url, "--model", "m", "--question-file", str(file),
                            "--answers-file", str(answers), "--api-key-env", "")
    assert code == 0, stderr
    assert [json.loads(line)["question_id"] for line in answers.read_text().splitlines()] == ["q1"]
    skipped = {json.loads(line)["question_id"]: json.loads(line)["reason"]
               for line in answers.with_name("a.jsonl.skipped.jsonl").read_text().splitlines()}
    assert skipped == {"clip": "api_images_only", "gone": "media_missing", "escape": "media_path_refused"}
    assert "3 skipped" in stderr and server.requests[0]["auth"] is None  # no key: no header


def _one_image_question(tmp_path: Path) -> Path:
    (tmp_path / "media" / "d").mkdir(parents=True)
    src = next((FIXTURES / "emotion6").rglob("*.jpg"))
    (tmp_path / "media" / "d" / "a.jpg").write_bytes(src.read_bytes())
    file = tmp_path / "q.json"
    file.write_text(json.dumps([{"id": "q1", "image": "d/a.jpg", "task": "emotion_open", "dataset": "d",
                                 "conversations": [{"from": "human", "value": "<image>\nWhich emotion?"}]}]))
    return file


def test_the_key_is_masked_in_errors_and_read_from_a_file(stub, tmp_path):
    server = stub("echo_key_401")
    (tmp_path / "key.txt").write_text(KEY + "\n")
    code, stderr = _run_api("--base-url", server.url, "--model", "m", "--question-file",
                            str(_one_image_question(tmp_path)), "--answers-file", str(tmp_path / "a.jsonl"),
                            "--api-key-file", str(tmp_path / "key.txt"))
    assert code == 2 and "HTTP 401" in stderr and KEY not in stderr and KEY[3:] not in stderr
    assert server.requests[0]["auth"] == f"Bearer {KEY}"
    with pytest.raises(SystemExit):  # there is no flag that takes the key itself
        with contextlib.redirect_stderr(io.StringIO()):
            api_main(["--base-url", server.url, "--model", "m", "--question-file", "q", "--answers-file", "a",
                      "--api-key", KEY])


def test_a_redirect_is_refused_and_the_key_goes_nowhere_else(stub, tmp_path, monkeypatch):
    elsewhere = stub()
    server = stub("redirect", redirect_to=elsewhere.url + "/chat/completions")
    monkeypatch.setenv("TEST_API_KEY", KEY)
    code, stderr = _run_api("--base-url", server.url, "--model", "m", "--question-file",
                            str(_one_image_question(tmp_path)), "--answers-file", str(tmp_path / "a.jsonl"),
                            "--api-key-env", "TEST_API_KEY")
    assert code == 2 and "redirect" in stderr and KEY not in stderr
    assert len(server.requests) == 1 and elsewhere.requests == []


def test_a_reply_over_the_size_cap_is_refused(stub, tmp_path):
    server = stub("huge")
    answers = tmp_path / "a.jsonl"
    code, stderr = _run_api("--base-url", server.url, "--model", "m", "--question-file",
                            str(_one_image_question(tmp_path)), "--answers-file", str(answers),
                            "--api-key-env", "", "--max-reply-bytes", "1000")
    assert code == 0 and answers.read_text() == ""
    assert json.loads(answers.with_name("a.jsonl.skipped.jsonl").read_text())["reason"] == "api_reply_too_large"


def test_the_deadline_bounds_the_whole_run(stub, tmp_path):
    server = stub("slow")
    began = time.monotonic()
    code, stderr = _run_api("--base-url", server.url, "--model", "m", "--question-file",
                            str(_one_image_question(tmp_path)), "--answers-file", str(tmp_path / "a.jsonl"),
                            "--api-key-env", "", "--deadline", "1")
    assert code == 2 and ("deadline" in stderr or "timed out" in stderr), stderr
    assert time.monotonic() - began < 2.8  # the stub answers after 3 s
