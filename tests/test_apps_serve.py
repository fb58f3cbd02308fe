"""`emollm serve` on the tiny trained checkpoint, driven by the official `openai` client on 127.0.0.1:
image / video / video+audio / audio, streaming and not, refusals with their status codes, and a bounded
load test (64 requests from 16 concurrent clients) that prints latency and throughput."""
from __future__ import annotations

import base64
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apps_helpers import apps_setup, running_server

pytestmark = pytest.mark.slow
KEY = "test-key-0123456789"
STARTUP_S = 120


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    """The server as a user starts it (its own process); yields (base_url, media_root, log)."""
    setup = apps_setup(tiny_models, tmp_path_factory)
    work = tmp_path_factory.mktemp("serve")
    root = work / "media"
    (root / "clips").mkdir(parents=True)
    (root / "clips" / "talking.mp4").write_bytes(setup.clip_with_sound().read_bytes())
    (root / "face.png").write_bytes(setup.image().read_bytes())
    (work / "outside.png").write_bytes(setup.image().read_bytes())
    (root / "escape.png").symlink_to(work / "outside.png")
    (root / "links").mkdir()
    (root / "links" / "face.png").symlink_to(root / "face.png")  # stays inside the root
    log = work / "server.log"
    with running_server([*setup.model_args, "--media-root", str(root), "--batch-size", "8", "--max-body-mb", "2",
                         "--max-media-seconds", "5", "--max-tokens", "16"], log,
                        {"EMOLLM_API_KEY": KEY}, STARTUP_S) as (base, _):
        yield base, setup, log


def _client(server, key=KEY):
    from openai import OpenAI
    return OpenAI(base_url=f"{server[0]}/v1", api_key=key, max_retries=0, timeout=60)


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _ask(client, *parts, **extra):
    return client.chat.completions.create(model="emollm-llava-lora-eval", **{"max_tokens": 6, **extra},
                                          messages=[{"role": "user", "content": list(parts)}])


QUESTION = {"type": "text", "text": "What emotion does the person show? Answer with one word."}


def test_models_and_health(server):
    models = _client(server).models.list()
    assert [m.id for m in models.data] == ["emollm-llava-lora-eval"]


def test_image_video_and_video_with_audio_streaming_and_not(server):
    _, setup, _ = server
    client = _client(server)
    image = {"type": "image_url", "image_url": {"url": _data_url(setup.image(), "image/png")}}
    clip = {"type": "video_url", "video_url": {"url": "clips/talking.mp4"}}
    sound = {"type": "input_audio", "input_audio": {"data": base64.b64encode(
        _wav(setup, server)).decode(), "format": "wav"}}
    texts = []
    for parts in ((image, QUESTION), (clip, QUESTION), (clip, sound, QUESTION), (sound, QUESTION),
                  ({"type": "video_url", "video_url": {"url": _data_url(setup.clip(), "video/mp4")}}, QUESTION)):
        reply = _ask(client, *parts)
        text = reply.choices[0].message.content
        assert isinstance(text, str) and reply.choices[0].finish_reason in ("stop", "length")
        assert reply.usage.prompt_tokens > 10 and reply.usage.completion_tokens >= 1
        assert reply.model == "emollm-llava-lora-eval" and reply.id.startswith("chatcmpl-")
        chunks = list(_ask(client, *parts, stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices[0].finish_reason == reply.choices[0].finish_reason
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == text  # greedy: the same answer
        texts.append(text)
    assert len(set(texts)) > 1  # the media reach the model: answers differ
    sampled = _ask(client, image, QUESTION, temperature=1.0, top_p=0.9)  # its own batch key: sampling
    assert isinstance(sampled.choices[0].message.content, str)


def test_answer_mode_score_returns_the_option_probabilities(server):
    """A request field: the answer is one of the options, with every option's probability."""
    _, setup, _ = server
    client = _client(server)
    image = {"type": "image_url", "image_url": {"url": _data_url(setup.image(), "image/png")}}
    options = ["anger", "joy", "sadness"]
    reply = _ask(client, image, QUESTION, extra_body={"answer_mode": "score", "task": "emotion_closed",
                                                       "options": options})
    choice = reply.choices[0]
    probabilities = choice.model_extra["option_probabilities"]
    assert list(probabilities) == options and abs(sum(probabilities.values()) - 1) < 1e-4
    assert choice.message.content == max(probabilities, key=probabilities.get)
    yes_no = _ask(client, image, {"type": "text", "text": "Is this sarcastic?"},
                  extra_body={"answer_mode": "score", "task": "sarcasm"}).choices[0]
    assert set(yes_no.model_extra["option_probabilities"]) == {"yes", "no"}
    assert yes_no.message.content in ("Yes", "No")
    plain = _ask(client, image, QUESTION).choices[0]  # the server's default: generated, no probabilities
    assert not (plain.model_extra or {}).get("option_probabilities")


def _wav(setup, server) -> bytes:
    from emollm_plugin.testing.synth import tone, write_wav
    path = Path(server[2]).parent / "tone.wav"
    if not path.exists():
        write_wav(path, tone(1.0, 550.0))
    return path.read_bytes()


def test_refusals_get_their_status_codes(server, tmp_path):
    import openai
    from emollm_plugin.testing.synth import tone, write_corrupt_video, write_wav

    _, setup, log = server
    client = _client(server)
    write_corrupt_video(tmp_path / "bad.mp4")
    write_wav(tmp_path / "long.wav", tone(8.0, 440.0))
    cases = [
        (_client(server, "wrong-key"), (QUESTION,), openai.AuthenticationError, 401, "invalid_api_key"),
        (client, ({"type": "video_url", "video_url": {"url": _data_url(tmp_path / "bad.mp4", "video/mp4")}}, QUESTION),
         openai.BadRequestError, 400, "media_unreadable"),
        (client, ({"type": "image_url", "image_url": {"url": "../outside.png"}}, QUESTION),
         openai.PermissionDeniedError, 403, "media_path_refused"),
        (client, ({"type": "image_url", "image_url": {"url": "escape.png"}}, QUESTION),
         openai.PermissionDeniedError, 403, "media_path_refused"),
        (client, ({"type": "image_url", "image_url": {"url": str(tmp_path / "bad.mp4")}}, QUESTION),
         openai.PermissionDeniedError, 403, "media_path_refused"),
        (client, ({"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/a.png"}}, QUESTION),
         openai.BadRequestError, 400, "url_fetch_disabled"),
        (client, ({"type": "input_audio", "input_audio": {"data": base64.b64encode(
            (tmp_path / "long.wav").read_bytes()).decode(), "format": "wav"}}, QUESTION),
         openai.APIStatusError, 413, "media_too_long"),
        (client, ({"type": "text", "text": "x" * (3 * 2**20)},), openai.APIStatusError, 413, "body_too_large"),
    ]
    for who, parts, error, status, code in cases:
        with pytest.raises(error) as err:
            _ask(who, *parts)
        assert err.value.status_code == status and err.value.body["code"] == code, (code, err.value.body)
    with pytest.raises(openai.BadRequestError) as err:
        _ask(client, QUESTION, max_tokens=17)
    assert err.value.body["code"] == "max_tokens_exceeded" and "16" in err.value.body["message"]
    assert KEY not in log.read_text() and "wrong-key" not in log.read_text()


def test_bounded_load_every_request_answered_once(server):
    """64 requests from 16 concurrent clients; prints p50/p95 latency and throughput."""
    import httpx

    _, setup, _ = server
    client = _client(server)
    image = {"type": "image_url", "image_url": {"url": _data_url(setup.image(), "image/png")}}
    auth = {"Authorization": f"Bearer {KEY}"}
    before = httpx.get(f"{server[0]}/health", headers=auth).json()["answered"]

    def one(i: int):
        began = time.perf_counter()
        reply = _ask(client, image, {"type": "text", "text": f"Request {i}: what emotion is shown?"})
        return i, reply.id, time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(64), timeout=600))
    wall = time.perf_counter() - began
    assert sorted(i for i, _, _ in results) == list(range(64))
    assert len({reply_id for _, reply_id, _ in results}) == 64
    assert httpx.get(f"{server[0]}/health", headers=auth).json()["answered"] - before == 64
    latencies = sorted(s for _, _, s in results)
    p50, p95 = statistics.median(latencies), latencies[int(0.95 * len(latencies)) - 1]
    print(f"\nload test: 64 requests, 16 concurrent clients, tiny checkpoint on {os.cpu_count()} CPU core(s): "
          f"p50 {p50:.3f} s, p95 {p95:.3f} s, throughput {64 / wall:.1f} requests/s (wall {wall:.2f} s)")


def test_in_root_symlinks_are_followed_and_errors_name_no_server_path(server, tmp_path):
    import tempfile

    import openai
    from emollm_plugin.testing.synth import write_corrupt_video

    base, setup, log = server
    client = _client(server)
    reply = _ask(client, {"type": "image_url", "image_url": {"url": "links/face.png"}}, QUESTION)
    assert isinstance(reply.choices[0].message.content, str)
    write_corrupt_video(tmp_path / "bad.mp4")
    refused = []
    for part in ({"type": "video_url", "video_url": {"url": _data_url(tmp_path / "bad.mp4", "video/mp4")}},
                 {"type": "image_url", "image_url": {"url": "escape.png"}},
                 {"type": "image_url", "image_url": {"url": "a" * 5000 + ".png"}}):
        with pytest.raises(openai.APIStatusError) as err:
            _ask(client, part, QUESTION)
        assert 400 <= err.value.status_code < 500
        refused.append(err.value.body["message"])
    for message in refused:
        for leak in (tempfile.gettempdir(), "emollm-upload", str(log.parent), "outside.png"):
            assert leak not in message, (leak, message)
    assert "escape.png" in refused[1]


def test_eval_api_answers_a_question_file_through_emollm_serve(server, tmp_path, monkeypatch):
    """`emollm eval api` against this server: the way a stock LLaVA or another checkpoint sits
    beside your own in Table 3."""
    import contextlib
    import io
    import json

    from emollm_plugin.apps.eval_api import main as api_main

    base, setup, _ = server
    media = tmp_path / "media" / "demo"
    media.mkdir(parents=True)
    media.joinpath("face.png").write_bytes(setup.image().read_bytes())
    questions = tmp_path / "table3.json"
    questions.write_text(json.dumps([
        {"id": f"q{k}", "image": "demo/face.png", "task": task, "dataset": "demo", "label": "joy",
         "conversations": [{"from": "human", "value": "<image>\n" + text}]}
        for k, (task, text) in enumerate([("emotion_open", "Which emotion does the person show?"),
                                          ("emotion_closed", "Out of anger, joy, what does the person feel?")])]))
    monkeypatch.setenv("SERVE_KEY", KEY)
    answers = tmp_path / "answers.jsonl"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = api_main(["--base-url", f"{base}/v1", "--model", "emollm-llava-lora-eval", "--question-file",
                         str(questions), "--answers-file", str(answers), "--api-key-env", "SERVE_KEY",
                         "--max-tokens", "6", "--deadline", "120"])
    assert code == 0, stderr.getvalue()
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["q0", "q1"] and all(r["text"] for r in rows)
    assert KEY not in stderr.getvalue()
