"""What a hostile request within the limits costs `emollm serve` (the tiny trained checkpoint, its
own process on 127.0.0.1): a 50 MiB text part is refused by its length before tokenising, and
6,300 x 6,300 1-bit PNGs (5 KB each, 40 million pixels) are decoded once at reduced size, one and
four at once. The server's peak resident memory (``VmHWM`` of /proc, reset before each case) and
the time to the answer are printed and bounded.
"""
from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apps_helpers import apps_setup, running_server

pytestmark = pytest.mark.slow
KEY = "cost-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
STARTUP_S = 120
MAX_GROWTH_MIB = 600   # peak resident memory over the warmed-up server's, per case
MAX_REFUSAL_S = 30     # the 50 MiB text took 127 s before it was refused by length


def _kib(field: str, pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    setup = apps_setup(tiny_models, tmp_path_factory)
    work = tmp_path_factory.mktemp("serve_cost")
    log = work / "server.log"
    with running_server([*setup.model_args, "--max-body-mb", "64", "--max-tokens", "8", "--max-preparing", "2"],
                        log, {"EMOLLM_API_KEY": KEY}, STARTUP_S) as (base, process):
        yield base, process.pid, setup, log


def _post(base: str, parts: list, timeout: float = 300):
    import httpx
    body = json.dumps({"messages": [{"role": "user", "content": parts}], "max_tokens": 4}).encode()
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/chat/completions", content=body, timeout=timeout,
                          headers={**AUTH, "Content-Type": "application/json"})
    return response, time.monotonic() - started


def _png_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_hostile_requests_within_the_limits_cost_bounded_memory_and_time(server):
    from PIL import Image

    base, pid, setup, log = server
    question = {"type": "text", "text": "What emotion does the person show?"}
    small = {"type": "image_url", "image_url": {"url": _png_url(Image.open(setup.image()))}}
    warm, _ = _post(base, [small, question])
    assert warm.status_code == 200, warm.text[:300]
    rows = []

    def case(name: str, send):
        _reset_peak(pid)
        rss = _kib("VmRSS", pid)
        responses, seconds = send()
        growth = (_kib("VmHWM", pid) - rss) / 1024
        rows.append((name, sorted({r.status_code for r in responses}), seconds, growth))
        return responses, seconds, growth

    text = {"type": "text", "text": "word " * (10 * 2**20)}  # 50 MiB

    def long_text():
        response, took = _post(base, [text])
        return (response,), took

    (refused,), seconds, growth = case("50 MiB text part", long_text)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "context_length_exceeded"
    assert seconds < MAX_REFUSAL_S and growth < MAX_GROWTH_MIB, rows

    bitmap = {"type": "image_url", "image_url": {"url": _png_url(Image.new("1", (6300, 6300)))}}

    def one():
        response, took = _post(base, [bitmap, question])
        return (response,), took

    def four():
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            responses = [r for r, _ in pool.map(lambda _: _post(base, [bitmap, question]), range(4))]
        return responses, time.monotonic() - started

    for name, send in (("6300x6300 1-bit PNG", one), ("4 x 6300x6300 1-bit PNG at once", four)):
        responses, seconds, growth = case(name, send)
        assert all(r.status_code == 200 for r in responses), [r.text[:200] for r in responses]
        assert growth < MAX_GROWTH_MIB, rows
    print("\nserve cost (tiny checkpoint, CPU): case | statuses | seconds | peak RSS growth MiB")
    for name, statuses, seconds, growth in rows:
        print(f"  {name:<34} | {statuses} | {seconds:6.2f} | {growth:7.1f}")
