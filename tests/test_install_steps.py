"""scripts/install.sh's quiet steps: one line on success, pip's whole output and a non-zero exit on failure."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _steps(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f". scripts/install_steps.sh; {script}"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env})


def test_a_successful_step_prints_one_line_and_hides_its_output():
    proc = _steps("step 'say hello' bash -c 'echo noisy build warning; echo more >&2'; echo after")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("[install] say hello ... ok (") and lines[1] == "after"
    assert "noisy" not in proc.stdout + proc.stderr


def test_verbose_shows_everything():
    proc = _steps("step 'say hello' bash -c 'echo noisy build warning'", VERBOSE="1")
    assert proc.returncode == 0 and "noisy build warning" in proc.stdout


def test_a_failing_pip_install_prints_pips_output_and_exits_non_zero():
    proc = _steps(f"step 'fake package' {sys.executable} -m pip install --no-index --no-cache-dir "
                  "emollm-no-such-package==1.0; echo not reached")
    assert proc.returncode != 0 and "not reached" not in proc.stdout
    assert "[install] fake package ... FAILED" in proc.stdout
    assert "No matching distribution found for emollm-no-such-package==1.0" in proc.stdout
    assert "failed at: fake package" in proc.stderr


def test_unknown_stack_is_refused_before_installing_anything(tmp_path):
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "EMOLLM_STACK": "nightly", "EMOLLM_VENV": str(tmp_path / "venv")})
    assert proc.returncode == 2 and "use pinned or current" in proc.stderr
    assert not (tmp_path / "venv").exists()


def test_summary_explains_the_llava_torch_pins_in_one_sentence():
    proc = _steps("summary pinned /some/venv")
    assert proc.returncode == 0
    out = proc.stdout
    assert "the pinned row" in out and "without its own pins (torch 2.0.1, transformers 4.36.2" in out
    assert "emollm doctor" in out
