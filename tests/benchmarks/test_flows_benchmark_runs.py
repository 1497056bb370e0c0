"""Smoke test of `benchmarks/flows.py`: one case per kind and variant runs end to end (its own
sandbox and Chromium), passes the script's own admin-API verification and prints well-formed
figures. No timing is asserted: the figures only have to be numbers."""

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
def test_benchmark_runs_with_one_case_and_prints_figures() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.flows", "--n", "1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["n"] == 1 and report["layout"] == "a"
    assert report["verified"] is True and report["problems"] == []
    for kind in ("cancel", "refund"):
        row = report["cases"][kind]
        for variant in ("flows", "bare"):
            figures = row[variant]
            assert len(figures["runs_s"]) == 1
            assert all(_positive(figures[k]) for k in ("median_s", "p90_s"))
            assert figures["median_s"] == figures["runs_s"][0] == figures["p90_s"]
        assert _positive(row["ratio_median"]) and _positive(row["ratio_p90"])
        assert row["ratio_median"] == pytest.approx(row["flows"]["median_s"] / row["bare"]["median_s"],
                                                    rel=0.01)
        evidence = row["evidence_bytes_per_case"]
        assert isinstance(evidence["flows_median"], int) and evidence["flows_median"] > 0
        assert evidence["bare"] == 0

