"""Benchmark: how the scheduler service scales with the number of accounts, to size a machine.

For each account count A (default 1, 4 and 8) one run of `benchmarks/throughput.py`'s
`benchmark()` — its own sandbox, Dovecot, webhook receiver and fresh store, then
`python -m bot run` in a subprocess with `max_concurrency` = A until every case is submitted —
with `--cases-per-account` cases per account (so A × that many cases). Nothing is copied from
throughput.py: the runs are its runs (without its per-K status-poll page counts).

Printed per A: cases per minute, wall time, queued → submitted p50 / p95, the peak PSS and
RSS of the service's process tree (python, Playwright's driver, Chromium and its renderers;
PSS splits shared pages between the processes, so the PSS sum is what the tree really holds)
and the most processes seen; then, from the smallest to the largest A, the extra PSS and the
extra cases per minute per added account (a straight-line fit through the two ends).

Verification: every run's own exactly-once check (the sandbox admin API shows each planned
order submitted exactly once, nothing else submitted, the service stopped cleanly). Run from
the repository root:

    .venv/bin/python -m benchmarks.scaling [--accounts 1,4,8] [--cases-per-account 3]
        [--database-url postgresql+psycopg2://root@127.0.0.1:5432/test] [--timeout 900] [--json]

Exit codes: 0 figures printed and verified; 1 verification failed; 2 a case failed, the service
died or a run timed out (the runs before it are still printed; no further run starts); 3
Chromium, Dovecot or the database missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a file: `bot` must be the package, not us
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import tempfile
from typing import Any

from loguru import logger

from benchmarks import throughput
from bot.errors import RecoupError


def run_one(
    accounts: int, per_account: int, database_url: str | None, timeout: float, work: Path
) -> dict[str, Any]:
    """One throughput run with `accounts` accounts at concurrency `accounts`; the figures that
    matter for sizing. Raises throughput's SetupError / RunFailed."""
    opts = throughput.Options(
        cases=accounts * per_account,
        accounts=accounts,
        concurrency=accounts,
        database_url=database_url,
        timeout=timeout,
        poll_sizes=[],
    )
    work.mkdir(parents=True)
    r = throughput.benchmark(opts, work)
    m = r["memory"]
    return {
        "accounts": accounts,
        "concurrency": accounts,
        "cases": r["cases"],
        "database": r["database"],
        "cases_per_minute": r["throughput"]["cases_per_minute"],
        "wall_s": r["throughput"]["wall_s"],
        "queued_to_submitted_s": r["queued_to_submitted_s"],
        "peak_tree_pss_mb": m["peak_tree_pss_mb"],
        "peak_tree_rss_mb": m["peak_tree_rss_mb"],
        "service_vmhwm_mb": m["service_vmhwm_mb"],
        "max_processes": m["max_processes"],
        "pages_per_case": r["page_loads"]["during_run"]["pages_per_case"],
        "verified": r["verified"],
        "problems": r["problems"],
    }


def slopes(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """Extra PSS (MB) and extra cases/min per added account, smallest to largest run."""
    if len(runs) < 2:
        return None
    a, b = runs[0], runs[-1]
    extra = b["accounts"] - a["accounts"]
    return {
        "pss_mb_per_account": round((b["peak_tree_pss_mb"] - a["peak_tree_pss_mb"]) / extra, 1),
        "cases_per_minute_per_account": round((b["cases_per_minute"] - a["cases_per_minute"]) / extra, 2),
        "base_pss_mb": round(
            a["peak_tree_pss_mb"] - a["accounts"] * (b["peak_tree_pss_mb"] - a["peak_tree_pss_mb"]) / extra,
            1,
        ),
    }


def print_text(r: dict[str, Any]) -> None:
    print(
        f"scheduler service scaling: {r['cases_per_account']} cases per account, "
        f"max_concurrency = accounts, {r['database']}, `python -m bot run` in a subprocess"
    )
    print(
        f"  {'accounts':>8} {'cases':>6} {'cases/min':>10} {'wall s':>7} {'q→sub p50':>10} "
        f"{'p95':>6} {'PSS MB':>7} {'RSS MB':>7} {'procs':>6}"
    )
    for x in r["runs"]:
        q = x["queued_to_submitted_s"]
        print(
            f"  {x['accounts']:>8} {x['cases']:>6} {x['cases_per_minute']:>10.2f} {x['wall_s']:>7.1f} "
            f"{q['p50']:>10.1f} {q['p95']:>6.1f} {x['peak_tree_pss_mb']:>7.0f} "
            f"{x['peak_tree_rss_mb']:>7.0f} {x['max_processes']:>6}"
        )
    if r["failed_run"]:
        print(f"  STOPPED: the run with {r['failed_run']}")
    s = r["per_added_account"]
    if s is not None:
        print(
            f"  per added account: +{s['pss_mb_per_account']:.0f} MB PSS, "
            f"{s['cases_per_minute_per_account']:+.2f} cases/min "
            f"(straight line through the ends; base ≈ {s['base_pss_mb']:.0f} MB PSS)"
        )
    print(
        "verified: in every run each order was submitted exactly once, nothing else submitted"
        if r["verified"]
        else "VERIFICATION FAILED: " + "; ".join(r["problems"])
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", default="1,4,8", help="account counts, one run each (default 1,4,8)")
    parser.add_argument("--cases-per-account", type=int, default=3, help="cases per account (default 3)")
    parser.add_argument("--database-url", help="a PostgreSQL server for throwaway databases; default SQLite")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on a run after this many s")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verbose", action="store_true", help="keep this process's INFO log lines")
    args = parser.parse_args(argv)
    try:
        args.account_counts = sorted({int(a) for a in args.accounts.split(",") if a.strip()})
    except ValueError:
        parser.error("--accounts takes numbers separated by commas")
    if not args.account_counts or min(args.account_counts) < 1 or args.cases_per_account < 1:
        parser.error("--accounts and --cases-per-account must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO" if args.verbose else "WARNING")
    runs: list[dict[str, Any]] = []
    failed: str | None = None
    with tempfile.TemporaryDirectory(prefix="recoup-scaling-") as tmp:
        for accounts in args.account_counts:
            print(f"... {accounts} account(s)", file=sys.stderr, flush=True)
            work = Path(tmp) / f"accounts-{accounts}"
            try:
                runs.append(run_one(accounts, args.cases_per_account, args.database_url, args.timeout, work))
            except throughput.SetupError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 3
            except (throughput.RunFailed, RecoupError) as exc:  # report the runs done so far
                failed = f"{accounts} accounts: {exc}"
                print(f"error ({failed})", file=sys.stderr)
                break
    problems = [p for x in runs for p in x["problems"]]
    report = {
        "cases_per_account": args.cases_per_account,
        "database": "postgresql" if args.database_url else "sqlite",
        "runs": runs,
        "per_added_account": slopes(runs),
        "verified": not problems,
        "problems": problems,
        "failed_run": failed,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    if failed is not None:
        return 2
    return 0 if report["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
