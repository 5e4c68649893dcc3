"""benchmarks/bench_gpu.py --dry-run: every code path of the GPU benchmark, on the CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_benchmark_dry_run_measures_every_mode(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--dry-run",
         "--batches", "64", "--steps", "30", "--transitions", "2000", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    for algo in ("cql", "iql"):
        mine = [r for r in rows if r["algo"] == algo]
        modes = {r["mode"] for r in mine if not r["compile_graph"]}
        assert modes == {"bare", "1 job", "2 thread", "2 process"}
        for r in mine:
            if r["compile_graph"]:  # CUDA graphs on the CPU: refused before anything runs
                assert "needs a CUDA device" in r["note"]
                continue
            assert r["updates_per_s"] > 0 and math.isfinite(r["updates_per_s"])
            assert math.isfinite(r["vs_bare"]) and math.isfinite(r["hours_per_1m"])
            assert len(r["per_job"]) == r["n_jobs"]
            if r["n_jobs"] > 1:
                assert math.isfinite(r["vs_one_job"])
    assert "| algo | batch | CUDA graphs |" in proc.stdout
    assert "goal: 1M CQL updates <= 20 min" in proc.stdout
