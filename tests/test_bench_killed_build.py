"""A build killed with SIGKILL at any point leaves nothing `bench validate` accepts; the next
build removes the temp files it left and its output validates."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench_helpers import FIXTURES
from emollm_plugin.bench.cli import main as bench_main

# Runs `emollm bench build ARGS` and SIGKILLs itself at the KILL-th records/manifest write
# (0-based): "before" kills before writing it, "mid" leaves the write's temp file half-written.
CHILD = """
import os, signal, sys
import emollm_plugin.bench.build as build
kill_at, how = int(sys.argv[1]), sys.argv[2]
real, calls = build.atomic_write, []
def atomic_write(path, text):
    if len(calls) == kill_at:
        if how == "mid":
            tmp = path.with_name(f".{path.name}{build.TEMP_MARK}{os.getpid()}")
            tmp.write_bytes(text.encode()[: len(text) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    calls.append(path.name)
    return real(path, text)
build.atomic_write = atomic_write
from emollm_plugin.bench.cli import main
sys.exit(main(sys.argv[3:]))
"""


def write_config(tmp: Path, out: Path, seed: int) -> Path:
    config = tmp / f"bench{seed}.yaml"
    config.write_text(f"out: {out}\nseed: {seed}\ndatasets:\n"
                      f"  caer_s: {{root: {FIXTURES / 'caer_s'}, val_size: 2}}\n"
                      f"  mmsd2: {{root: {FIXTURES / 'mmsd2'}}}\n")
    return config


def build_args(config: Path) -> list[str]:
    return ["build", "--config", str(config), "--quiet", "--jobs", "1"]


def killed_build(config: Path, kill_at: int, how: str) -> int:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(kill_at), how, *build_args(config)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode


def records_files(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.json") if p.name != "manifest.json")


def accepted(out: Path) -> list[str]:
    """The records files in out that `bench validate` accepts (structure and manifest)."""
    return [p.name for p in records_files(out)
            if bench_main(["validate", str(p), "--no-media", "--quiet"]) == 0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """A complete build of each seed: its manifest lists the files a build writes."""
    tmp = tmp_path_factory.mktemp("reference")
    built = {}
    for seed in (1, 2):
        out = tmp / f"out{seed}"
        assert bench_main(build_args(write_config(tmp, out, seed))) == 0
        built[seed] = json.loads((out / "manifest.json").read_text())
    return built


def kill_points(reference: dict) -> list[tuple[int, str]]:
    n_files = len(reference[2]["files"])  # records files; the manifest is write n_files
    return [(0, "before"), (1, "mid"), (n_files // 2, "before"), (n_files - 1, "mid"),
            (n_files, "before")]


@pytest.mark.slow
@pytest.mark.parametrize("over_old_build", [False, True], ids=["fresh", "rebuild"])
def test_killed_build_is_never_accepted(tmp_path, reference, over_old_build, capsys):
    assert len(reference[2]["files"]) >= 8  # train/val/test x per-task files: several points
    for kill_at, how in kill_points(reference):
        out = tmp_path / f"out_{kill_at}_{how}"
        if over_old_build:
            assert bench_main(build_args(write_config(tmp_path, out, 1))) == 0
            assert len(accepted(out)) == len(reference[1]["files"])
        assert killed_build(write_config(tmp_path, out, 2), kill_at, how) == -9
        left = records_files(out)
        assert left or not over_old_build
        assert accepted(out) == [], (kill_at, how, [p.name for p in left])
        temps = [p.name for p in out.iterdir() if ".tmp" in p.name]
        assert bool(temps) == (how == "mid"), temps
        capsys.readouterr()

        (out / ".notes.tmpl").write_text("a user's file that only looks like a temp file")
        assert bench_main(build_args(write_config(tmp_path, out, 2))) == 0  # the next build
        assert (out / ".notes.tmpl").exists()
        err = capsys.readouterr().err
        if how == "mid":
            assert f"removed 1 temp file(s) left by a killed build in {out}: {temps[0]}" in err
        assert not [p for p in out.rglob("*") if ".tmp" in p.name and p.name != ".notes.tmpl"]
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["files"] == reference[2]["files"]
        assert accepted(out) == sorted(reference[2]["files"])


def test_validate_refuses_missing_unlisted_and_changed_files(tmp_path, capsys):
    out = tmp_path / "out"
    assert bench_main(build_args(write_config(tmp_path, out, 1))) == 0
    train = out / "train.json"
    assert bench_main(["validate", str(train), "--quiet"]) == 0
    capsys.readouterr()

    data = train.read_bytes()
    train.write_bytes(data + b" ")  # one byte more
    assert bench_main(["validate", str(train), "--no-media"]) == 1
    assert "the folder mixes two builds or the file was edited" in capsys.readouterr().err
    edited = bytearray(data)
    index = data.index(b'"value": "') + len(b'"value": "')
    edited[index] = ord("X") if data[index] != ord("X") else ord("Y")  # same size, new hash
    train.write_bytes(bytes(edited))
    assert bench_main(["validate", str(train), "--no-media"]) == 1
    assert "differ from what" in capsys.readouterr().err
    train.write_bytes(data)
    assert bench_main(["validate", str(train), "--no-media", "--quiet"]) == 0

    (out / "extra.json").write_text("[]\n")
    assert bench_main(["validate", str(out / "extra.json"), "--no-media"]) == 1
    assert "not listed in" in capsys.readouterr().err
    assert bench_main(["validate", str(out / "extra.json"), "--no-media", "--no-manifest"]) == 0

    (out / "media" / "mmsd2").unlink()
    (out / "media" / "mmsd2").symlink_to(FIXTURES / "mmhs150k", target_is_directory=True)
    assert bench_main(["validate", str(train), "--no-media"]) == 1
    assert "media/mmsd2 points to" in capsys.readouterr().err

    (out / "manifest.json").unlink()
    assert bench_main(["validate", str(train), "--no-media"]) == 1
    assert "no manifest.json beside it" in capsys.readouterr().err
