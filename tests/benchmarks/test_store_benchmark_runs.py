"""Smoke test of `benchmarks/store.py`: small stores on SQLite and PostgreSQL, a small mailbox on
a throwaway Dovecot. The script's own checks pass (ticks claim / select exactly what they should
and leave the store as they found it; the poll of the new mail fetches only its 10 bodies) and
every figure is well formed. No timing is asserted: the figures only have to be numbers."""

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
def test_store_benchmark_runs_on_small_stores_and_a_small_mailbox() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.store", "--sizes", "200,600", "--ticks", "2",
         "--accounts", "5", "--mail-sizes", "50", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    report = json.loads(proc.stdout)
    assert report["verified"] is True and report["problems"] == []
    runs = report["store"]
    assert [(r["backend"], r["cases"]) for r in runs] == [
        ("sqlite", 200),
        ("sqlite", 600),
        ("postgresql", 200),
        ("postgresql", 600),
    ]
    for r in runs:
        assert sum(r["fill"]["states"].values()) == r["cases"]
        assert r["fill"]["states"]["queued"] >= 5 and r["due_for_check"] > 0
        for tick in (r["dispatch_tick"], r["status_tick"]):
            assert all(_positive(tick[k]) for k in ("median_ms", "p90_ms", "max_ms", "statements"))
            assert tick["median_ms"] <= tick["p90_ms"] <= tick["max_ms"]
            assert 1 <= tick["started"] <= 4  # max_concurrency 4 (the script checks the exact count)
    for backend in ("sqlite", "postgresql"):  # no per-case round trips: the SQL does not grow
        small, large = (r for r in runs if r["backend"] == backend)  # (3x the cases and due ones)
        assert small["dispatch_tick"]["statements"] == large["dispatch_tick"]["statements"]
        # the started checks' reads of their cases may or may not fall inside the timed tick
        assert large["status_tick"]["statements"] <= small["status_tick"]["statements"] + 4 * 5
    (mail,) = report["mail"]
    assert (mail["messages"], mail["new"], mail["prime_messages"]) == (50, 10, 50)
    assert (mail["fetched"], mail["applied"], mail["bodies_client"]) == (10, 10, 10)
    assert mail["bodies_dovecot"] == 10 and _positive(mail["poll_s"])
