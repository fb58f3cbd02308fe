"""media/paths.py: one resolver refuses '..', absolute paths and escaping symlinks; the build's
own media/<dataset> links are the one exception."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from emollm_plugin.media.paths import (ABSOLUTE, ESCAPES, PARENT, MediaPathError,
                                       resolve_media)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """data/MELD (a dataset), secret/ outside it, out/media/meld -> data/MELD (a build link)."""
    dataset = tmp_path / "data" / "MELD"
    (dataset / "train").mkdir(parents=True)
    (dataset / "train" / "dia1_utt0.mp4").write_bytes(b"clip")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("k")
    media = tmp_path / "out" / "media"
    media.mkdir(parents=True)
    os.symlink(dataset, media / "meld", target_is_directory=True)
    return {"dataset": dataset, "secret": secret, "media": media}


@pytest.mark.parametrize("path", ["../secret/key.txt", "train/../../secret/key.txt",
                                  "a/b/../c.jpg", "..", "train\\..\\..\\x.jpg"])
def test_parent_components_are_refused(tree, path):
    with pytest.raises(MediaPathError) as err:
        resolve_media(tree["dataset"], path)
    assert err.value.reason == PARENT
    assert path in str(err.value) or repr(path) in str(err.value)


@pytest.mark.parametrize("path", ["/etc/passwd", "\\\\host\\share\\x.jpg", "C:\\x.jpg",
                                  "c:x.jpg"])
def test_absolute_paths_are_refused(tree, path):
    with pytest.raises(MediaPathError) as err:
        resolve_media(tree["dataset"], path)
    assert err.value.reason == ABSOLUTE
    assert str(tree["dataset"]) in str(err.value)


def test_plain_relative_path_resolves_under_the_root(tree):
    got = resolve_media(tree["dataset"], "train/dia1_utt0.mp4")
    assert got == tree["dataset"] / "train" / "dia1_utt0.mp4"
    # a missing file is not a path error: existence is the caller's check
    assert resolve_media(tree["dataset"], "train/missing.mp4").name == "missing.mp4"


def test_symlink_leading_outside_is_refused(tree):
    os.symlink(tree["secret"] / "key.txt", tree["dataset"] / "train" / "leak.mp4")
    os.symlink(tree["secret"], tree["dataset"] / "train" / "outdir", target_is_directory=True)
    for path in ("train/leak.mp4", "train/outdir/key.txt"):
        with pytest.raises(MediaPathError) as err:
            resolve_media(tree["dataset"], path)
        assert err.value.reason == ESCAPES and str(tree["secret"]) in str(err.value)


def test_symlink_staying_inside_is_allowed(tree):
    os.symlink(tree["dataset"] / "train" / "dia1_utt0.mp4", tree["dataset"] / "alias.mp4")
    os.symlink("train", tree["dataset"] / "again", target_is_directory=True)  # relative link
    assert resolve_media(tree["dataset"], "alias.mp4").read_bytes() == b"clip"
    assert resolve_media(tree["dataset"], "again/dia1_utt0.mp4").read_bytes() == b"clip"


def test_build_dataset_link_is_the_one_exception(tree):
    media = tree["media"]
    assert resolve_media(media, "meld/train/dia1_utt0.mp4").read_bytes() == b"clip"
    # past the dataset link the path must stay inside the link's target
    os.symlink(tree["secret"], tree["dataset"] / "train" / "outdir", target_is_directory=True)
    with pytest.raises(MediaPathError, match="outside"):
        resolve_media(media, "meld/train/outdir/key.txt")
    # the exception covers folder links directly under the media root only
    os.symlink(tree["secret"] / "key.txt", media / "key.txt")
    with pytest.raises(MediaPathError, match="outside"):
        resolve_media(media, "key.txt")
    nested = media / "sub"
    nested.mkdir()
    os.symlink(tree["secret"], nested / "ds", target_is_directory=True)
    with pytest.raises(MediaPathError, match="outside"):
        resolve_media(media, "sub/ds/key.txt")
    # and not at all where the root is a dataset's own folder
    os.symlink(tree["secret"], tree["dataset"] / "extra", target_is_directory=True)
    with pytest.raises(MediaPathError, match="outside"):
        resolve_media(tree["dataset"], "extra/key.txt", dataset_links=False)


def test_error_survives_pickling(tree):
    import pickle

    with pytest.raises(MediaPathError) as err:
        resolve_media(tree["dataset"], "../x")
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value) and again.reason == PARENT


def test_build_drops_a_sample_whose_image_link_leaves_the_dataset(tmp_path, tree):
    import shutil

    from bench_helpers import FIXTURES, build_one

    root = tmp_path / "caer"
    shutil.copytree(FIXTURES / "caer_s", root)
    victim = sorted((root / "train" / "Happy").glob("*.png"))[0]
    victim.unlink()
    os.symlink(tree["secret"] / "key.txt", victim)
    built = build_one("caer_s", tmp_path / "out", root=root)
    drops = built["manifest"]["datasets"]["caer_s"]["drops"]["train"]
    assert drops[f"media path refused ({ESCAPES})"]["count"] == 1
    assert all(not r["image"].endswith(f"Happy/{victim.name}") for r in built["train"])


def test_validate_counts_a_record_whose_media_leaves_the_root(tmp_path, tree):
    import shutil

    from bench_helpers import FIXTURES, build_one
    from emollm_plugin.bench.validate import validate_file

    root, out = tmp_path / "caer", tmp_path / "out"
    shutil.copytree(FIXTURES / "caer_s", root)
    built = build_one("caer_s", out, root=root)
    assert validate_file(out / "train.json", progress=False).ok
    # after the build, the dataset's first image becomes a link that leads outside
    image = root / built["train"][0]["image"].split("/", 1)[1]
    image.unlink()
    os.symlink(tree["secret"] / "key.txt", image)
    report = validate_file(out / "train.json", progress=False)
    assert not report.ok
    assert report.media_problems == {f"image path refused ({ESCAPES})": 1}
    assert report.examples[f"image path refused ({ESCAPES})"] == [built["train"][0]["id"]]
