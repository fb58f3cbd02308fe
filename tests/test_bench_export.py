"""benchmarks/bench_export.py runs end to end on tiny sizes and writes its tables (a smoke test:
the measurements are the benchmark's business, not a test's)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_export_measures_memory_and_generation_side_by_side(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_export.py"), "--tiny", "--repeats", "1",
                           "--new-tokens", "2", "--work", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "export.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines() if line.startswith("| ")}
    assert {"load", "save_file", "export", "LLaVA (plugin)", "exported (transformers)"} <= set(rows)
    assert rows["load"][3].strip() == "1.00" and rows["LLaVA (plugin)"][3].strip() == "1.00"
    assert float(rows["export"][2]) > 0 and float(rows["exported (transformers)"][2]) > 0
    assert "Same tokens: True." in table
    assert (tmp_path / "exported" / "config.json").is_file()
