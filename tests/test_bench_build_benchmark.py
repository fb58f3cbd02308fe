"""The build benchmark's synthetic layouts are read by every adapter without a drop, so
benchmarks/bench_emobench_build.py times real media checks on every sample."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from bench_emobench_build import TABLE1, make_all, n, timed_build  # noqa: E402


@pytest.mark.slow
def test_synthetic_layouts_build_without_drops(tmp_path):
    scale = 0.002
    roots = make_all(tmp_path / "src", scale)
    assert sorted(roots) == sorted(TABLE1)
    _, cpu, manifest = timed_build(roots, tmp_path / "out", scale, jobs=2)
    assert cpu > 0
    for name, entry in manifest["datasets"].items():
        assert entry["drops"] == {}, name
        train, test = (n(s, scale) for s in TABLE1[name])
        if name == "emotion6":  # no official split: 1/3 of all images go to test
            assert sum(entry["available"].values()) == train + test
        elif name == "mmhs150k":  # 150k tweets at scale 1: 10k test, 140k train side
            assert entry["available"] == {"train": n(150_000, scale) - round(n(150_000, scale)
                                                                            / 15),
                                          "test": round(n(150_000, scale) / 15)}
        else:
            assert entry["available"] == {"train": train, "test": test}, name
