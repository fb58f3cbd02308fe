"""Property-based tests (hypothesis) for `emollm serve`'s request schema: hostile request bodies
(wrong JSON types anywhere, out-of-range and non-finite numbers, deep nesting, hostile media
paths and data URLs, raw bytes) give a 4xx with an OpenAI-style error object or a valid answer,
never an unhandled exception or a 5xx.

Profiles (tests/conftest.py): ``ci`` by default (the fast tier); ``HYPOTHESIS_PROFILE=long`` runs
10,000 examples per property.
"""
from __future__ import annotations

import base64
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emollm_plugin.apps.openai_request import ApiError, ChatRequest, Limits, parse_body, parse_json, read_parts
from test_apps_serve_hostile import AUTH, FakeEngine, app

LIMITS = Limits(max_tokens=64)

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.sampled_from([0, 1, 2, -1, 0.5, 1e-300, 5e-324, 1e308, "1", "", "user", "text", "\ud800",
                                     "fake\udcff", "\x00"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)

media_urls = st.one_of(
    st.sampled_from(["a.png", "links/in.png", "links/out.png", "../a.png", "/etc/passwd", "a.png\x00", "C:\\x",
                     "\\\\host\\share\\a.png", "loop.png", "missing.png", "file:///etc/passwd",
                     "http://127.0.0.1:1/a.png", "data:", "data:image/png;base64,", "data:image/png;base64,@@",
                     "data:video/mp4;base64,AAAA", "./a.png", "links/../a.png", "a" * 5000, "d/" * 600 + "x",
                     "\udcff.png", "%2e%2e/a.png"]),
    st.text(max_size=60),
    st.builds(lambda mime, data: f"data:{mime};base64,{base64.b64encode(data).decode()}",
              st.sampled_from(["image/png", "image/jpeg", "video/mp4", "audio/wav", "application/octet-stream",
                               "image/x", ""]),
              st.binary(max_size=64)),
)
def mostly(valid, hostile, weight: int = 5):
    """``valid`` drawn ``weight`` times as often as ``hostile``: most examples get deep enough to
    meet the later checks."""
    return st.integers(0, weight).flatmap(lambda pick: hostile if pick == weight else valid)


part_types = mostly(st.sampled_from(["text", "image_url", "video_url", "input_audio"]),
                    st.one_of(st.sampled_from(["file", "", "TEXT"]), json_values))


@st.composite
def parts(draw):
    kind = draw(part_types)
    part = {"type": kind}
    key = kind if isinstance(kind, str) else "text"
    if kind == "text":
        part["text"] = draw(st.one_of(st.text(max_size=40), json_values))
    elif kind in ("image_url", "video_url"):
        url = draw(mostly(media_urls, json_values))
        inner = draw(mostly(st.sampled_from(["dict", "bare"]), st.just("extra")))
        part[key] = {"url": url} if inner == "dict" else url if inner == "bare" else {"url": url, "x": 1}
    elif kind == "input_audio":
        part[key] = draw(st.one_of(
            st.fixed_dictionaries({"data": st.one_of(st.binary(max_size=32).map(
                lambda b: base64.b64encode(b).decode()), json_values),
                "format": mostly(st.sampled_from(["wav", "mp3"]), st.one_of(st.just("ogg"), json_values))}),
            json_values))
    else:
        part[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 5:
        part.update(draw(st.dictionaries(st.sampled_from(["type", "text", "image_url", "detail", "x"]), json_values,
                                         max_size=2)))
    return part


fields = {"temperature": st.one_of(st.sampled_from([0, 0.01, 0.7, 2]), st.floats(0, 2)),
          "top_p": st.floats(0, 1), "max_tokens": st.integers(1, 64), "max_completion_tokens": st.integers(1, 64),
          "n": st.just(1), "stream": st.booleans(), "model": st.sampled_from(["fake", None])}
hostile_numbers = st.one_of(json_values, st.sampled_from([0, 65, 10**30, -1, 1e-300, 5e-324, 0.009, 2.0001,
                                                          float("nan"), float("inf"), True, "5"]))


@st.composite
def bodies(draw):
    question = draw(mostly(st.just([{"type": "text", "text": "How does she feel?"}]), st.just([])))
    content = draw(mostly(st.lists(parts(), max_size=3).map(lambda ps: question + ps),
                          st.one_of(st.text(max_size=40), st.just([]), json_values)))
    message = {"role": draw(mostly(st.just("user"), st.one_of(st.sampled_from(["system", "assistant"]), json_values))),
               "content": content}
    if draw(st.integers(0, 5)) == 5:
        message.update(draw(st.dictionaries(st.sampled_from(["name", "tool_calls", "x"]), json_values, max_size=2)))
    messages = draw(mostly(st.just([message]), st.one_of(st.lists(st.just(message), max_size=3), json_values)))
    body = {"messages": messages}
    for field, valid in fields.items():
        if draw(st.integers(0, 3)) == 3:
            body[field] = draw(mostly(valid, hostile_numbers, 3))
    return draw(mostly(st.just(body), json_values, 8))


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    from PIL import Image
    base = tmp_path_factory.mktemp("fuzz_media")
    root = base / "media"
    (root / "links").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "a.png")
    Image.new("RGB", (8, 8)).save(base / "private.png")
    (root / "links" / "in.png").symlink_to(root / "a.png")
    (root / "links" / "out.png").symlink_to(base / "private.png")
    (root / "loop.png").symlink_to(root / "loop.png")
    return root


def _schema(body, media_root: Path) -> None:
    """The schema validator alone: a ChatRequest, or an ApiError with a 4xx and an error object."""
    uploads = Path(tempfile.mkdtemp(prefix="fuzz-uploads-"))
    request = None
    try:
        request, content = parse_body(body, LIMITS)
        read_parts(request, content, uploads, media_root, max_question_chars=1000)
    except ApiError as err:
        event(f"refused: {err.status} {err.code}")
        assert 400 <= err.status < 500, err
        error = err.body()["error"]
        assert isinstance(error["message"], str) and error["message"] and isinstance(error["code"], str)
        assert str(media_root.parent) not in error["message"]
        return
    finally:
        for part in request.media if request is not None else ():
            part.close()  # read_parts leaves each part's file open for the caller
        shutil.rmtree(uploads, ignore_errors=True)
    event(f"accepted with {len(request.media)} media")
    assert isinstance(request, ChatRequest) and request.question
    assert request.max_tokens is None or 1 <= request.max_tokens <= LIMITS.max_tokens
    assert request.temperature is None or request.temperature == 0 or 0.01 <= request.temperature <= 2
    assert request.top_p is None or 0 <= request.top_p <= 1
    assert len([m for m in request.media if m.kind in ("image", "video")]) <= 1
    for part in request.media:
        if part.source == "media_root":
            assert part.path.resolve().is_relative_to(media_root.resolve())


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_schema_validator_gives_a_request_or_a_4xx_error(body, media_root):
    _schema(body, media_root)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200), bodies().map(lambda b: json.dumps(b).encode()),
                     st.integers(1, 3000).map(lambda n: b'{"messages": ' + b"[" * n + b"]" * n + b"}"),
                     st.integers(1, 3000).map(lambda n: b'{"a": ' + b'{"a": ' * n + b"1" + b"}" * (n + 1))))
def test_raw_bodies_parse_or_give_a_4xx_error(raw, media_root):
    try:
        body = parse_json(raw)
    except ApiError as err:
        assert 400 <= err.status < 500 and err.code in ("invalid_json", "json_too_deep")
        return
    _schema(body, media_root)


@pytest.fixture(scope="module")
def fuzz_client(media_root):
    with app(FakeEngine(), media_root=media_root) as client:
        yield client


@settings(max_examples=max(10, settings.default.max_examples // 3),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_the_server_answers_hostile_requests_with_2xx_or_a_4xx_error_object(body, fuzz_client):
    response = fuzz_client.post("/v1/chat/completions", content=json.dumps(body).encode(),
                                headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    elif body.get("stream") is True:  # server-sent events
        assert response.text.endswith("data: [DONE]\n\n") and '"content": "joy"' in response.text
    else:
        assert response.json()["choices"][0]["message"]["content"] == "joy"
