"""media/reader.py reads media through the one media-path rule, for training and inference alike."""
from __future__ import annotations

import os

import pytest

from emollm_plugin.media.paths import MediaPathError
from emollm_plugin.media.reader import MediaReader


@pytest.fixture
def rooted(tmp_path):
    from PIL import Image
    root, outside = tmp_path / "media", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    os.symlink(outside / "secret.png", root / "link.png")
    return root, outside


@pytest.mark.parametrize("rel", ["../outside/secret.png", "link.png", "ABS"])
def test_the_reader_refuses_paths_that_leave_the_media_root(rooted, rel):
    root, outside = rooted
    rel = str(outside / "secret.png") if rel == "ABS" else rel
    reader = MediaReader(root, image_processor=None)
    for read in (reader.image, reader.video):
        with pytest.raises(MediaPathError, match="refused"):
            read(rel)
    with pytest.raises(MediaPathError, match="refused"):
        MediaReader(root, None, log_mel=lambda samples: samples).audio(rel)


def test_inference_counts_a_refused_path_as_a_skip_reason(rooted):
    from types import SimpleNamespace

    from emollm_plugin.runtime.errors import Unanswerable
    from emollm_plugin.runtime.media import MediaLoader
    root, _ = rooted
    loader = MediaLoader(root, image_processor=object(), model_config=SimpleNamespace(image_aspect_ratio="square"))
    with pytest.raises(Unanswerable, match="refused") as err:
        loader.load({"id": "x", "image": "../outside/secret.png"})
    assert err.value.reason == "media_path_refused"
