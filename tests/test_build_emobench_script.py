"""scripts/build_emobench.sh: dataset roots from the environment -> a validated EmoBench."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the build script end to end in a subprocess

REPO = Path(__file__).parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def _run(**env):
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_ROOT")}
    return subprocess.run(["bash", str(REPO / "scripts" / "build_emobench.sh")], capture_output=True, text=True,
                          env={**clean, **env}, cwd=REPO)


def test_builds_and_validates_the_datasets_given(tmp_path):
    proc = _run(OUT_DIR=str(tmp_path / "eb"), CAER_S_ROOT=str(FIXTURES / "caer_s"),
                MINTREC_ROOT=str(FIXTURES / "mintrec"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "eb" / "manifest.json").read_text())
    records = json.loads((tmp_path / "eb" / "test.json").read_text())
    assert {r["dataset"] for r in records} == {"caer_s", "mintrec"}
    assert "caer_s" in json.dumps(manifest) and "mintrec" in json.dumps(manifest)
    assert (tmp_path / "eb" / "media" / "caer_s").resolve() == (FIXTURES / "caer_s").resolve()


def test_no_dataset_root_is_a_clear_error(tmp_path):
    proc = _run(OUT_DIR=str(tmp_path / "eb"))
    assert proc.returncode == 2 and "set at least one of EMOTIC_ROOT" in proc.stderr
    proc = _run(OUT_DIR=str(tmp_path / "eb"), MELD_ROOT=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "meld root" in proc.stderr
