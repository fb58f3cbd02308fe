"""scripts/gpu_check.sh --dry-run: every step of the GPU check at tiny size on the CPU, one table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ("lora_sdpa", "lora_flash", "zero2", "answer_4bit", "answer_8bit", "bench_answer", "bench_throughput",
         "score_mode", "serve")


@pytest.mark.slow  # nine steps, each its own process: several minutes on a CPU
def test_dry_run_runs_every_step_and_prints_one_table(tmp_path):
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--dry-run", "--work", str(tmp_path),
                           "--requests", "4", "--clients", "2"], capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in proc.stdout.splitlines() if line.startswith("| ") and not line.startswith("| step")}
    assert list(rows) == list(STEPS)
    for name, cells in rows.items():
        status = cells[0]
        assert status == "ok" or status.startswith("skipped: flash-attn"), (name, cells)
        if status == "ok":
            assert float(cells[1]) > 0, (name, cells)  # seconds
    assert "4/4 ok from 2 clients" in rows["serve"][-1]
    assert "dry run: full precision" in rows["answer_4bit"][-1]
    assert "target: score <= 0.5x" in rows["score_mode"][-1]
