"""`emollm demo-ui` on the tiny trained checkpoint: answers through gradio_client (image, clip with
sound, explain), equal to `emollm predict`'s answer for the same question, with `emollm mvp show`'s
picture; and once in headless Chromium, whose DOM dump and screenshot (work/demo_ui.png) show the
answer."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from apps_helpers import apps_setup, running_command

pytestmark = pytest.mark.slow
STARTUP_S = 180
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tiny_models, tmp_path_factory):
    """The page as a user starts it, with the demo image as its example; yields (url, setup, log file)."""
    from emollm_plugin.emoprompt.bank import example_bank_path

    setup = apps_setup(tiny_models, tmp_path_factory)
    work = tmp_path_factory.mktemp("demo_ui")
    log = work / "demo.log"
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(work / "gradio")}
    with running_command("demo-ui", [*setup.model_args, "--exemplar-bank", str(example_bank_path()),
                                     "--example", str(setup.image()), "--example-task", "emotion_closed"],
                         log, env, STARTUP_S, ready_path="/") as (base, _):
        yield base + "/", setup, log


def _ask(url, image=None, video=None, task="emotion_closed", question="", explain=False):
    from gradio_client import Client, handle_file
    client = Client(url, verbose=False)
    return client.predict(image=handle_file(str(image)) if image else None,
                          video=handle_file(str(video)) if video else None,
                          task=task, question=question, explain=explain, api_name="/answer")


def _predicted(setup, tmp_path, *args) -> str:
    from emollm_plugin.commands.cli import main
    out = tmp_path / "a.jsonl"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["predict", *setup.model_args, *args, "--out", str(out)]) == 0
    return json.loads(out.read_text())["text"]


def _same_picture(got: str, media, setup) -> None:
    """The page's MVP picture is `emollm mvp show`'s drawing of the same media for this checkpoint."""
    import numpy as np
    from PIL import Image

    from emollm_plugin.apps.mvp_show import MVPShow, render_mvp
    expected, _ = render_mvp(media, MVPShow.from_checkpoint(setup.ckpt))
    with Image.open(got) as picture:
        assert np.array_equal(np.asarray(picture.convert("RGB")), np.asarray(expected))


def test_page_answers_through_gradio_client_as_predict_does(demo, tmp_path):
    from PIL import Image

    from emollm_plugin.media.video import sample_frames

    url, setup, _ = demo
    answer, reasoning, label, shown, picture = _ask(url, image=setup.image())
    with Image.open(setup.image()) as image:
        _same_picture(picture, image.convert("RGB"), setup)
    assert answer == _predicted(setup, tmp_path, str(setup.image()), "--task", "emotion_closed")
    assert reasoning == "" and "Asked about the image: Which emotion does the person in this image" in shown
    from emollm_plugin.tasks.answers import parse_answer
    from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS
    parsed = parse_answer(answer, "emotion_closed", CANONICAL_EMOTIONS)
    assert label == (f"{parsed.label} ({parsed.status})" if parsed.label else parsed.status)

    answer, _, _, shown, picture = _ask(url, video=setup.clip_with_sound(), task="free question",
                                        question="How is he?")
    assert "Asked about the video with its sound track: How is he?" in shown
    _same_picture(picture, sample_frames(setup.clip_with_sound(), num_frames=4), setup)  # GENERATION's 4 frames
    assert answer == _predicted(setup, tmp_path, str(setup.clip_with_sound()), "--prompt", "How is he?")
    _, _, _, shown, _ = _ask(url, video=setup.clip(), task="hate")
    assert "Asked about the video: Is the speaker in this clip hateful?" in shown  # no sound track: no audio

    answer, reasoning, _, shown, _ = _ask(url, image=setup.image(), task="emotion_open", explain=True)
    assert "First explain your reasoning" in shown and isinstance(reasoning, str)


def test_start_up_says_what_was_loaded_and_where_without_gradios_share_hint(demo):
    url, setup, log = demo
    text = log.read_text()
    assert f"emollm demo-ui: {setup.ckpt.name} on {url.rstrip('/')} (--share adds a public link)" in text, text
    assert f"emollm: loaded {setup.ckpt} on base {setup.base}" in text
    assert "share=True" not in text and "Running on local URL" not in text


def test_missing_upload_is_an_error_on_the_page(demo):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="Upload an image or a clip first"):
        _ask(demo[0])


class _ById(HTMLParser):
    """Text inside the element with a given id."""

    def __init__(self, wanted: str):
        super().__init__()
        self.wanted, self.depth, self.text = wanted, 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.wanted:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is missing: EMOLLM_BROWSER=1 bash scripts/install.sh installs Debian's chromium package"
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=60000", *args],
                          capture_output=True, text=True, timeout=240)


def test_headless_chromium_shows_the_answer(demo):
    url, setup, _ = demo
    expected, _, _, _, _ = _ask(url, image=setup.image())  # the example the page answers when it opens
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = _ById("emollm-answer-shown")
    found.feed(dom.stdout)
    assert " ".join("".join(found.text).split()) == " ".join(f"Answer: {expected}".split())
    picture = dom.stdout[dom.stdout.index('id="emollm-mvp"'):]
    assert "<img" in picture[:5000]  # the example's MVP picture is on the page
    shot = REPO / "work" / "demo_ui.png"
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    taken = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", url)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    from PIL import Image
    with Image.open(shot) as image:
        assert image.size == (1280, 1600) and len(set(image.convert("L").tobytes())) > 16  # a drawn page
