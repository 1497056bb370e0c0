"""Smoke test of `benchmarks/throughput.py`: 8 cases over 2 accounts go through the real scheduler
service (`python -m bot run`), the sandbox, Dovecot and Chromium; the script's own admin-API check
says every order was submitted exactly once, and every figure is well formed. No timing is
asserted: the figures only have to be numbers that fit together."""

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
def test_throughput_benchmark_runs_with_eight_cases() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.throughput", "--cases", "8", "--accounts", "2", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert (report["cases"], report["accounts"], report["concurrency"]) == (8, 2, 4)
    assert report["verified"] is True and report["problems"] == []

    t = report["throughput"]
    assert all(_positive(t[k]) for k in ("cases_per_minute", "wall_s", "first_submitted_after_s"))
    assert t["cases_per_minute"] == pytest.approx(8 / (t["wall_s"] / 60), rel=0.02)
    assert t["first_submitted_after_s"] <= t["wall_s"]
    for dist in (report["queued_to_submitted_s"], report["claimed_to_submitted_s"]):
        assert all(_positive(dist[k]) for k in ("p50", "p95", "max"))
        assert dist["p50"] <= dist["p95"] <= dist["max"]
    assert report["claimed_to_submitted_s"]["max"] <= report["queued_to_submitted_s"]["max"]
    assert report["queued_to_submitted_s"]["max"] <= t["wall_s"] + 60  # created just before the start

    memory = report["memory"]
    assert memory["samples"] > 0 and memory["max_processes"] >= 3  # python, the driver, Chromium...
    assert _positive(memory["service_vmhwm_mb"]) and _positive(memory["peak_tree_pss_mb"])
    assert memory["peak_tree_rss_mb"] > memory["service_vmhwm_mb"]  # Chromium counted too

    pages = report["page_loads"]
    assert pages["during_run"]["pages"] >= 8  # at least one page per case
    polls = pages["status_poll"]["polls"]
    assert {p["kind"] for p in polls} == {"cancel", "refund"}
    assert {p["open_cases"] for p in polls} == {1, 2}  # 1, 5 and 20 capped at the 2 cases per kind
    assert all(isinstance(p["pages"], int) and p["pages"] >= 1 for p in polls)

    states = report["outcomes_at_stop"]
    assert sum(states.values()) == 8
    assert set(states) <= {"submitted", "approved", "rejected", "refunded", "counter_offer"}
    assert report["webhook"]["duplicates"] == 0 and report["webhook"]["deliveries"] >= 8
