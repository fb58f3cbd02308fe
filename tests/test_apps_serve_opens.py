"""A served request resolves each media path once and opens each file once: the limit checks, the
sound-track check, the reduction of a large image (kept in memory) and decoding all read the one
opened file, which is closed after the request."""
from __future__ import annotations

import base64
import builtins
import collections
import io
import os
import shutil
from pathlib import Path

import pytest

from apps_helpers import apps_setup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory):
    return apps_setup(tiny_models, tmp_path_factory)


@pytest.fixture(scope="module")
def engine(setup):
    import emollm_plugin
    from emollm_plugin.apps import engine, serve
    with emollm_plugin.register():
        yield engine.Engine(serve.build_parser().parse_args(setup.model_args))


@pytest.fixture
def counted(monkeypatch):
    """(paths resolved, files opened for reading, the file objects opened), by resolved path."""
    import av

    from emollm_plugin.media import paths, reader
    resolved, opened, files = collections.Counter(), collections.Counter(), []
    real_resolve, real_open, real_av_open = paths.resolve_media, builtins.open, av.open

    def resolve(*args, **kwargs):
        path = real_resolve(*args, **kwargs)
        resolved[path] += 1
        return path

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and "r" in mode:
            opened[Path(file).resolve()] += 1
            files.append(handle)
        return handle

    def av_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened[Path(file).resolve()] += 1
        return real_av_open(file, *args, **kwargs)

    monkeypatch.setattr(paths, "resolve_media", resolve)
    monkeypatch.setattr(reader, "resolve_media", resolve)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)  # pathlib and PIL open through io.open
    monkeypatch.setattr(av, "open", av_open)
    return resolved, opened, files


def _under(opened: collections.Counter, folder: Path) -> dict:
    return {path: n for path, n in opened.items() if folder.resolve() in path.parents}


def _prepare(engine, parts, media_root, uploads):
    from emollm_plugin.apps import serve
    from emollm_plugin.apps.openai_request import ChatRequest, Limits
    return serve._prepare(engine, ChatRequest(question=""), [{"type": "text", "text": "How do they feel?"}, *parts],
                          media_root, Limits(), uploads)


def test_a_clip_under_the_media_root_is_resolved_once_and_opened_once(setup, engine, counted, tmp_path):
    resolved, opened, files = counted
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(setup.clip_with_sound(), root / "talking.mp4")
    clip = (root / "talking.mp4").resolve()

    job = _prepare(engine, [{"type": "video_url", "video_url": {"url": "talking.mp4"}}], root, tmp_path / "up")

    assert job.prepared.audio is not None  # the clip's sound track is the audio: read from the same file
    assert dict(resolved) == {clip: 1}
    assert _under(opened, root) == {clip: 1}
    assert all(f.closed for f in files)
    by_path = engine.answerer.media.reader  # the same tensors as reading the file by its path
    assert (job.prepared.visual == by_path.video_from(clip)).all()
    assert (job.prepared.audio == by_path.audio_from(clip)).all()


def test_an_uploaded_image_is_opened_once(setup, engine, counted, tmp_path):
    _, opened, files = counted
    url = "data:image/png;base64," + base64.b64encode(setup.image().read_bytes()).decode()

    job = _prepare(engine, [{"type": "image_url", "image_url": {"url": url}}], None, tmp_path / "up")

    uploads = _under(opened, tmp_path / "up")
    assert list(uploads.values()) == [1]
    assert all(f.closed for f in files)
    assert (job.prepared.visual == engine.answerer.media.reader.image_from(next(iter(uploads)))).all()


def test_a_large_image_is_opened_once_and_reduced_in_memory(setup, engine, counted, tmp_path):
    from PIL import Image

    from emollm_plugin.apps.media_limits import REDUCED_SIDE
    _, opened, files = counted
    large = tmp_path / "large.png"
    with Image.open(setup.image()) as small:
        small.convert("RGB").resize((2 * REDUCED_SIDE, REDUCED_SIDE + 200)).save(large)
    url = "data:image/png;base64," + base64.b64encode(large.read_bytes()).decode()
    reference = tmp_path / "reference.png"  # the reduction done by hand: fit REDUCED_SIDE, bicubic
    with Image.open(large) as image:
        image.thumbnail((REDUCED_SIDE, REDUCED_SIDE), Image.Resampling.BICUBIC, reducing_gap=2.0)
        image.save(reference)

    job = _prepare(engine, [{"type": "image_url", "image_url": {"url": url}}], None, tmp_path / "up")

    uploads = _under(opened, tmp_path / "up")
    assert list(uploads.values()) == [1]  # the upload, opened once; the reduced image is never written
    assert [p.name for p in (tmp_path / "up").iterdir()] == [next(iter(uploads)).name]
    assert all(f.closed for f in files)
    assert (job.prepared.visual == engine.answerer.media.reader.image_from(reference)).all()
