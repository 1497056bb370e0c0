"""Smoke test of `benchmarks/scaling.py`: 1 and 2 accounts with 2 cases each go through the real
scheduler service (`python -m bot run`), the sandbox, Dovecot and Chromium (throughput.py's
runs); each run's own admin-API check says every order was submitted exactly once, and the
figures fit together. No timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.e2e
def test_scaling_benchmark_runs_with_one_and_two_accounts() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", "--accounts", "1,2", "--cases-per-account", "2",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["verified"] is True and report["problems"] == []
    runs = report["runs"]
    assert [(r["accounts"], r["concurrency"], r["cases"]) for r in runs] == [(1, 1, 2), (2, 2, 4)]
    for r in runs:
        assert r["verified"] is True
        assert all(_positive(r[k]) for k in ("cases_per_minute", "wall_s", "peak_tree_pss_mb",
                                             "peak_tree_rss_mb", "service_vmhwm_mb"))  # fmt: skip
        assert r["cases_per_minute"] == pytest.approx(r["cases"] / (r["wall_s"] / 60), rel=0.02)
        assert r["peak_tree_pss_mb"] <= r["peak_tree_rss_mb"] and r["max_processes"] >= 3
    slope = report["per_added_account"]
    assert slope["pss_mb_per_account"] == pytest.approx(
        runs[1]["peak_tree_pss_mb"] - runs[0]["peak_tree_pss_mb"], abs=0.2
    )
