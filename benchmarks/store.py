"""Benchmark: the store under many cases — one dispatch tick, one status-check tick, one mail poll.

For each size N (default 1,000, 10,000 and 100,000 stored cases) and each backend (SQLite in a
temp folder; PostgreSQL in a new database `recoup_bench_<hex>` created on the server of
`--database-url` and dropped afterwards) the store is migrated to head and filled with bulk
inserts (SQLAlchemy core, no ORM per case) with a realistic mix of states over `--accounts`
accounts: most cases final or decided (refunded, rejected, failed, canceled_by_operator,
approved), some waiting on the portal (submitted, counter_offer), a few queued / needs_human /
awaiting_approval, and `--events-per-case` events each. Then, with the real
:class:`bot.dispatcher.Dispatcher` (a runner and a checker that only wait, so nothing but the
store is measured):

- **dispatch tick**: `Dispatcher.tick()` — reclaim expired leases, look for stranded
  `submitting` cases, claim due queued cases up to `--concurrency` (one per account), start
  them. After each timed tick the runs are let go (their leases released, the cases back to
  `queued`), so every tick sees the same store;
- **status-check tick**: `Dispatcher.check_tick()` — select the cases due for a status check,
  group them per account, skip accounts that are busy or leased, start one check per account
  up to `--concurrency`. After each timed tick the checks finish and the cases' `check_due_at`
  are put back, so every tick sees the same due set.

Per tick: median / p90 / max wall time over `--ticks` ticks (after one untimed warm-up), and the
SQL statements the tick sent (the same whatever N is when there are no per-case round trips).
`--explain` prints the query plan of every distinct statement of one tick.

**Mail poll** (`--mail-sizes`, default 1,000 and 10,000; SQLite store): a throwaway Dovecot gets
a mailbox of M messages, written straight into its Maildir (`new/`, as a local delivery agent
does), one poll reads them all (the first poll: a backfill, timed and printed), 10 portal mails
about open cases arrive over LMTP, and the second poll is timed. Bodies fetched are counted on
the client (every `BODY.PEEK[]` item IMAPClient returned) and by Dovecot (its logout line's
`body_count`); both must be 10.

Verification (exit 1 when it fails): every dispatch tick claimed one case per account up to
the concurrency, never two of one account, and left the store as it found it; every status
tick selected exactly the cases due (cross-checked with a plain SQL count) and started one check
per account up to the concurrency; every second mail poll fetched and applied exactly the 10 new
mails and fetched only their 10 bodies. The goals (≤ 100 ms per tick at 10,000 cases, ≤ 0.5 s
per mail poll) are printed as met or not; they do not change the exit code.

    .venv/bin/python -m benchmarks.store [--sizes 1000,10000,100000] [--backends sqlite,postgresql]
        [--database-url postgresql+psycopg2://root@127.0.0.1:5432/test] [--accounts 20]
        [--concurrency 4] [--ticks 10] [--mail-sizes 1000,10000] [--no-mail] [--explain] [--json]

Exit codes: 0 figures printed and verified; 1 verification failed; 3 PostgreSQL or Dovecot missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a file: `bot` must be the package, not us
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy import Engine, bindparam, event, func, insert, or_, select, update

from benchmarks.throughput import SetupError, fresh_database, percentile
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.models import Account, Case
from bot.states import STATUS_CHECK_STATES, CaseState
from bot.store import Store
from bot.store._tables import CaseEventRow, CaseRow

DEFAULT_DATABASE_URL = "postgresql+psycopg2://root@127.0.0.1:5432/test"
TICK_GOAL_MS = 100.0
TICK_GOAL_AT = 10_000
MAIL_GOAL_S = 0.5
NEW_MAILS = 10

S = CaseState
MIX: tuple[tuple[CaseState, float], ...] = (
    (S.REFUNDED, 0.30),
    (S.APPROVED, 0.25),
    (S.REJECTED, 0.12),
    (S.FAILED, 0.08),
    (S.CANCELED_BY_OPERATOR, 0.05),
    (S.SUBMITTED, 0.12),
    (S.COUNTER_OFFER, 0.02),
    (S.QUEUED, 0.03),
    (S.NEEDS_HUMAN, 0.02),
    (S.AWAITING_APPROVAL, 0.01),
)
"""Share of the stored cases in each state (sums to 1)."""


# ---- filling the store --------------------------------------------------------------------------
def _case_row(
    i: int, account_id: int, state: CaseState, now: datetime, rng: random.Random, span: timedelta
) -> dict[str, Any]:
    """One `cases` row in `state`, timestamps spread over `span` before `now` the way the
    service leaves them (submitted cases have a submit time and a next check; due now for some)."""
    refund = i % 2 == 1
    created = now - span * rng.random()
    row: dict[str, Any] = {
        "account_id": account_id,
        "order_id": str(3_042_417_938_000_000 + i),
        "kind": "refund" if refund else "cancel",
        "reason": "not_received" if refund else "not_shipped_on_time",
        "message": "Tracking shows no movement for weeks." if refund else "Please cancel.",
        "refund_type": "refund_only" if refund else None,
        "amount": "12.50" if refund else None,
        "currency": "USD" if refund else None,
        "evidence_folder": None,
        "state": state.value,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0 if state in (S.QUEUED, S.AWAITING_APPROVAL) else 1,
        "session_attempts": 0,
        "next_attempt_at": None,
        "submit_intent_at": None,
        "portal_request_ref": None,
        "outcome_at": None,
        "outcome_amount": None,
        "outcome_note": None,
        "last_error": None,
        "created_at": created,
        "updated_at": created,
        "check_due_at": None,
        "deadline_at": None,
        "deadline_kind": None,
    }
    if state in (S.QUEUED, S.AWAITING_APPROVAL):
        created = now - timedelta(hours=2) * rng.random()
        row["created_at"] = row["updated_at"] = created
        if state is S.QUEUED and rng.random() < 0.2:  # a retry waiting for its backoff, or due
            row["next_attempt_at"] = _due_or_later(now, rng, 0.3, 60, 90)
        return row
    submitted = created + timedelta(minutes=rng.uniform(1, 30))
    row["submit_intent_at"] = submitted
    row["portal_request_ref"] = f"R{i}"
    row["updated_at"] = submitted
    if state in (S.SUBMITTED, S.COUNTER_OFFER):
        if rng.random() < 0.3:  # submitted recently: checked every 15 min
            submitted = now - timedelta(hours=48) * rng.random()
            row["created_at"] = submitted - timedelta(minutes=5)
            row["submit_intent_at"] = row["updated_at"] = submitted
            row["check_due_at"] = _due_or_later(now, rng, 0.25, 60, 75)
        else:  # older: every 6 h
            row["check_due_at"] = _due_or_later(now, rng, 5 / 360, 60, 360)
        row["deadline_at"] = now + timedelta(days=rng.uniform(0.5, 10))
        row["deadline_kind"] = "seller_reply"
    elif state is S.APPROVED:
        row["outcome_at"] = submitted + timedelta(days=1)
        row["check_due_at"] = _due_or_later(now, rng, 5 / 360, 60, 360)
    elif state in (S.REFUNDED, S.REJECTED):
        row["outcome_at"] = submitted + timedelta(days=rng.uniform(1, 15))
        row["check_due_at"] = row["outcome_at"]
    elif state is S.FAILED:
        row["last_error"] = "NotEligibleError: the order can no longer be canceled"
    elif state is S.NEEDS_HUMAN:
        row["last_error"] = "ChallengeError: a captcha is shown"
    return row


def _due_or_later(now: datetime, rng: random.Random, due: float, lo_min: float, hi_min: float) -> datetime:
    """Due within the last 5 minutes with probability `due`, else `lo_min`..`hi_min` minutes
    ahead (never due while the benchmark runs, so every tick sees the same due set)."""
    if rng.random() < due:
        return now - timedelta(minutes=rng.uniform(1, 5))
    return now + timedelta(minutes=rng.uniform(lo_min, hi_min))


def _event(
    case_id: int, at: datetime, from_state: str | None, to_state: str, kind: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {"case_id": case_id, "at": at, "from_state": from_state, "to_state": to_state,
            "kind": kind, "detail": detail}  # fmt: skip


def states_for(n: int, rng: random.Random) -> list[CaseState]:
    """`n` states in MIX's shares (rounded; the rest refunded), shuffled."""
    states: list[CaseState] = []
    for state, share in MIX[1:]:
        states += [state] * round(n * share)
    states = states[:n]
    states += [MIX[0][0]] * (n - len(states))
    rng.shuffle(states)
    return states


def fill(store: Store, n: int, accounts: int, events_per_case: int, seed: int = 7) -> dict[str, Any]:
    """Add `accounts` accounts and `n` cases (plus their events) with bulk inserts; returns the
    states' counts and the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(seed)
    ids: list[int] = []
    for a in range(accounts):
        added = store.accounts.add(
            Account(name=f"buyer{a + 1}", email=f"buyer{a + 1}@bench.test", password_ref=f"env:PW{a + 1}")
        )
        assert added.id is not None
        ids.append(added.id)
    now = datetime.now(UTC)
    span = timedelta(days=max(30, n // 300))  # ~300 new cases a day
    states = states_for(n, rng)
    batch = 5000
    with store.engine.begin() as conn:
        for start in range(0, n, batch):
            rows = [
                _case_row(i, ids[i % accounts], states[i], now, rng, span)
                for i in range(start, min(n, start + batch))
            ]
            conn.execute(insert(CaseRow), rows)
        if events_per_case:
            case_ids = conn.execute(select(CaseRow.id, CaseRow.state, CaseRow.created_at)).all()
            for start in range(0, len(case_ids), batch):
                events = []
                for cid, state, created in case_ids[start : start + batch]:
                    events.append(_event(cid, created, None, "queued", "created", {}))
                    for k in range(1, events_per_case):
                        events.append(_event(cid, created, "queued", state, "transition", {"step": k}))
                conn.execute(insert(CaseEventRow), events)
    if store.engine.dialect.name == "postgresql":  # fresh statistics, as autovacuum would have
        with store.engine.connect() as conn:  # (SQLite has none unless someone runs ANALYZE)
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    return {"states": dict(sorted(Counter(s.value for s in states).items())),
            "fill_s": round(time.perf_counter() - started, 2)}  # fmt: skip


# ---- counting and explaining statements ---------------------------------------------------------
class Statements:
    """Records the SQL the engine sends while `recording` (statement text and parameters)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recording = False
        self.seen: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self.recording:
            self.seen.append((statement, parameters))

    @contextlib.contextmanager
    def record(self) -> Iterator[list[tuple[str, Any]]]:
        self.seen = []
        self.recording = True
        try:
            yield self.seen
        finally:
            self.recording = False

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)


def explain(engine: Engine, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The query plan of each distinct SELECT / UPDATE among `statements` (run in a transaction
    that is rolled back; EXPLAIN without ANALYZE never executes the statement)."""
    plans: list[dict[str, Any]] = []
    done: set[str] = set()
    postgres = engine.dialect.name == "postgresql"
    for statement, params in statements:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head not in ("SELECT", "UPDATE") or statement in done:
            continue
        done.add(statement)
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cur = raw.cursor()
            cur.execute(prefix + statement, params)
            rows = cur.fetchall()
            cur.close()
            conn.rollback()
        plan = [r[0] for r in rows] if postgres else [r[-1] for r in rows]
        plans.append({"sql": " ".join(statement.split()), "plan": plan})
    return plans


# ---- the ticks ----------------------------------------------------------------------------------
class Waiting:
    """Runner and checker that wait for `go` (so a tick measures the store, not the portal)."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.checked: list[tuple[str, list[int]]] = []

    async def run_case(self, case: Case, worker: str) -> object:
        await self.go.wait()
        return None

    async def check_account(self, account_name: str, cases: list[Case]) -> object:
        self.checked.append((account_name, [c.id for c in cases]))
        await self.go.wait()
        return None


@dataclass
class TickFigures:
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        t = self.times_ms
        return {
            "median_ms": round(percentile(t, 0.5), 2),
            "p90_ms": round(percentile(t, 0.9), 2),
            "max_ms": round(max(t), 2),
            "cpu_median_ms": round(percentile(self.cpu_ms, 0.5), 2),
            "statements": max(self.statements),
            "started": max(self.started),
        }


def _queued_snapshot(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(CaseRow.id, CaseRow.state, CaseRow.lease_owner, CaseRow.next_attempt_at)
            .where(CaseRow.state.in_([S.QUEUED.value, S.RUNNING.value, S.SUBMITTING.value]))
            .order_by(CaseRow.id)
        )]  # fmt: skip


async def dispatch_ticks(
    store: Store, settings: Settings, ticks: int, recorder: Statements, want_plans: bool
) -> TickFigures:
    """`ticks` timed `Dispatcher.tick()` calls (after one warm-up), each followed by letting its
    runs end so their leases are released and the cases are queued again."""
    out = TickFigures()
    before = _queued_snapshot(store)
    with store.engine.connect() as conn:
        claimable_accounts = conn.execute(
            select(func.count(func.distinct(CaseRow.account_id))).where(
                CaseRow.state == S.QUEUED.value,
                or_(CaseRow.next_attempt_at.is_(None), CaseRow.next_attempt_at <= datetime.now(UTC)),
            )
        ).scalar_one()
    expected = min(settings.max_concurrency, claimable_accounts)
    for i in range(ticks + 1):
        waiting = Waiting()
        dispatcher = Dispatcher(store, waiting, settings, lambda: datetime.now(UTC), "bench-worker",
                                wake_on_end=False)  # one tick measured at a time  # fmt: skip
        with recorder.record() as seen:
            t0, c0 = time.perf_counter(), time.process_time()
            started = await dispatcher.tick()
            elapsed, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        claimed = [store.cases.get(cid) for cid in started]
        accounts = [c.account_id for c in claimed]
        if len(set(accounts)) != len(accounts):
            out.problems.append(f"dispatch tick claimed two cases of one account: {started}")
        if len(started) != expected:
            out.problems.append(f"dispatch tick started {len(started)} cases, expected {expected}")
        if any(c.state is not S.RUNNING for c in claimed):
            out.problems.append("a claimed case is not running")
        if i == 1 and want_plans:
            out.plans = explain(store.engine, list(seen))
        waiting.go.set()
        if not await dispatcher.join(30):
            out.problems.append("the waiting runs did not end")
        if i > 0:  # the first tick warms up caches and connections
            out.times_ms.append(elapsed)
            out.cpu_ms.append(cpu)
            out.statements.append(len(seen))
            out.started.append(len(started))
    if _queued_snapshot(store) != before:
        out.problems.append("the dispatch ticks did not leave the queued cases as they found them")
    return out


def _due_reference(store: Store) -> tuple[dict[int, tuple[int, Any]], dict[int, int]]:
    """Cases due for a status check by a plain SQL query (id → (account id, check_due_at); how
    many per account id)."""
    now = datetime.now(UTC)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(CaseRow.id, CaseRow.account_id, CaseRow.check_due_at).where(
                CaseRow.state.in_([s.value for s in STATUS_CHECK_STATES]),
                or_(CaseRow.check_due_at.is_(None), CaseRow.check_due_at <= now),
            )
        ).all()
    return {r.id: (r.account_id, r.check_due_at) for r in rows}, dict(Counter(r.account_id for r in rows))


async def check_ticks(
    store: Store, settings: Settings, ticks: int, recorder: Statements, want_plans: bool
) -> tuple[TickFigures, int]:
    """`ticks` timed `Dispatcher.check_tick()` calls (after one warm-up); after each, the checks
    end and the due cases' `check_due_at` are put back. Returns the figures and the due count."""
    out = TickFigures()
    due, per_account = _due_reference(store)
    restore = update(CaseRow).where(CaseRow.id == bindparam("cid")).values(check_due_at=bindparam("due"))
    for i in range(ticks + 1):
        waiting = Waiting()
        dispatcher = Dispatcher(
            store, waiting, settings, lambda: datetime.now(UTC), "bench-worker", checker=waiting,
            wake_on_end=False,
        )
        with recorder.record() as seen:
            t0, c0 = time.perf_counter(), time.process_time()
            accounts = await dispatcher.check_tick()
            elapsed, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        if len(accounts) != min(settings.max_concurrency, len(per_account)):
            out.problems.append(
                f"status tick started {len(accounts)} checks, expected "
                f"{min(settings.max_concurrency, len(per_account))}"
            )
        await asyncio.sleep(0)  # let the checks read their cases
        waiting.go.set()
        if not await dispatcher.join(60):
            out.problems.append("the waiting checks did not end")
        for name, ids in waiting.checked:
            if not set(ids) <= set(due):
                out.problems.append(f"status check of {name} got cases that are not due")
        got = sum(len(ids) for _, ids in waiting.checked)
        checked_accounts = {due[ids[0]][0] for _, ids in waiting.checked if ids and ids[0] in due}
        want = sum(per_account[aid] for aid in checked_accounts)
        if got != want:
            out.problems.append(f"status checks got {got} cases, {want} are due on those accounts")
        if i == 1 and want_plans:
            out.plans = explain(store.engine, list(seen))
        if due:
            with store.engine.begin() as conn:
                conn.execute(restore, [{"cid": cid, "due": at} for cid, (_, at) in due.items()])
        if i > 0:
            out.times_ms.append(elapsed)
            out.cpu_ms.append(cpu)
            out.statements.append(len(seen))
            out.started.append(len(accounts))
    return out, len(due)


# ---- the mail poll ------------------------------------------------------------------------------
# (see benchmarks/mailpoll.py)


# ---- main ---------------------------------------------------------------------------------------
@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: [1000, 10_000, 100_000])
    backends: list[str] = field(default_factory=lambda: ["sqlite", "postgresql"])
    database_url: str = DEFAULT_DATABASE_URL
    accounts: int = 20
    concurrency: int = 4
    ticks: int = 10
    events_per_case: int = 2
    mail_sizes: list[int] = field(default_factory=lambda: [1000, 10_000])
    mail_prime: str = "cursor"
    explain: bool = False


def store_run(opts: Options, backend: str, n: int, work: Path) -> dict[str, Any]:
    """Fill a fresh store of `backend` with `n` cases and time both ticks."""
    folder = work / f"{backend}-{n}"
    (folder / "data").mkdir(parents=True)
    with fresh_database(opts.database_url if backend == "postgresql" else None, folder) as url:
        store = Store.open(url)
        recorder = Statements(store.engine)
        try:
            filled = fill(store, n, opts.accounts, opts.events_per_case)
            settings = Settings.model_validate(
                {"max_concurrency": opts.concurrency, "pacing_seconds": 0, "data_dir": str(folder / "data")}
            )
            d = asyncio.run(dispatch_ticks(store, settings, opts.ticks, recorder, opts.explain))
            c, due = asyncio.run(check_ticks(store, settings, opts.ticks, recorder, opts.explain))
        finally:
            recorder.close()
            store.close()
    return {
        "backend": backend,
        "cases": n,
        "accounts": opts.accounts,
        "fill": filled,
        "due_for_check": due,
        "dispatch_tick": d.report(),
        "status_tick": c.report(),
        "plans": {"dispatch_tick": d.plans, "status_tick": c.plans} if opts.explain else None,
        "problems": d.problems + c.problems,
    }


MailRuns = Callable[[Options, Path], list[dict[str, Any]]]


def benchmark(opts: Options, work: Path, mail: MailRuns | None) -> dict[str, Any]:
    runs = [store_run(opts, b, n, work) for b in opts.backends for n in opts.sizes]
    mail_runs = mail(opts, work) if mail is not None else []
    problems = [p for r in runs for p in r["problems"]] + [p for r in mail_runs for p in r["problems"]]
    return {
        "concurrency": opts.concurrency,
        "accounts": opts.accounts,
        "ticks": opts.ticks,
        "mix": {s.value: share for s, share in MIX},
        "goals": {"tick_ms": TICK_GOAL_MS, "tick_goal_at_cases": TICK_GOAL_AT, "mail_poll_s": MAIL_GOAL_S},
        "store": runs,
        "mail": mail_runs,
        "verified": not problems,
        "problems": problems,
    }


def _growth(values: list[tuple[int, float]]) -> str:
    """'x3.1 per 10x' style growth between consecutive sizes."""
    parts = []
    for (n0, v0), (n1, v1) in itertools.pairwise(values):
        if v0 > 0:
            parts.append(f"{n0:,}→{n1:,}: ×{v1 / v0:.1f}")
    return "; ".join(parts)


def print_text(r: dict[str, Any]) -> None:
    print(
        f"store benchmark: {r['accounts']} accounts, max_concurrency {r['concurrency']}, "
        f"{r['ticks']} timed ticks each (after one warm-up)"
    )
    print("  mix: " + ", ".join(f"{k} {v:.0%}" for k, v in r["mix"].items()))
    for backend in dict.fromkeys(x["backend"] for x in r["store"]):
        rows = [x for x in r["store"] if x["backend"] == backend]
        print(f"  {backend}:")
        print(
            f"    {'cases':>8} {'fill s':>7} | {'dispatch tick ms':>26} {'stmts':>5} {'claimed':>7} | "
            f"{'status tick ms':>26} {'stmts':>5} {'due':>5} {'checks':>6}"
        )
        for x in rows:
            d, c = x["dispatch_tick"], x["status_tick"]
            print(
                f"    {x['cases']:>8,} {x['fill']['fill_s']:>7.1f} | "
                f"p50 {d['median_ms']:>6.1f} p90 {d['p90_ms']:>6.1f} cpu {d['cpu_median_ms']:>6.1f} "
                f"{d['statements']:>5} {d['started']:>7} | "
                f"p50 {c['median_ms']:>6.1f} p90 {c['p90_ms']:>6.1f} cpu {c['cpu_median_ms']:>6.1f} "
                f"{c['statements']:>5} {x['due_for_check']:>5} {c['started']:>6}"
            )
        for key, label in (("dispatch_tick", "dispatch"), ("status_tick", "status")):
            growth = _growth([(x["cases"], x[key]["median_ms"]) for x in rows])
            if growth:
                print(f"    {label} tick p50 growth: {growth}")
        at_goal = [x for x in rows if x["cases"] == TICK_GOAL_AT]
        for x in at_goal:
            worst = max(x["dispatch_tick"]["median_ms"], x["status_tick"]["median_ms"])
            verdict = "met" if worst <= TICK_GOAL_MS else "NOT met"
            print(f"    goal ≤ {TICK_GOAL_MS:.0f} ms per tick at {TICK_GOAL_AT:,} cases: {verdict} (p50)")
        for x in rows:
            if x.get("plans"):
                for key, plans in x["plans"].items():
                    print(f"    query plans, {key}, {x['cases']:,} cases:")
                    for p in plans:
                        print(f"      {p['sql'][:200]}")
                        for line in p["plan"]:
                            print(f"         {line}")
    for m in r["mail"]:
        print(
            f"  mail poll, {m['messages']:,} messages + {m['new']} new "
            f"({m['backend']} store, fetch batch {m['fetch_batch']}):"
        )
        print(
            f"    priming by {m['prime']} ({m['prime_messages']:,} messages): {m['prime_s']:.1f} s; "
            f"the poll of the new mail: {m['poll_s']:.3f} s "
            f"(goal ≤ {MAIL_GOAL_S} s: {'met' if m['poll_s'] <= MAIL_GOAL_S else 'NOT met'}), "
            f"{m['fetched']} fetched, {m['applied']} applied, bodies fetched: client {m['bodies_client']}, "
            f"Dovecot {m['bodies_dovecot']}"
        )
    if len(r["mail"]) > 1:
        print("    second poll growth: " + _growth([(m["messages"], m["poll_s"]) for m in r["mail"]]))
    print(
        "verified: ticks claimed / selected exactly what they should, store left unchanged"
        + (", each mail poll fetched only the new bodies" if r["mail"] else "")
        if r["verified"]
        else "VERIFICATION FAILED: " + "; ".join(r["problems"])
    )


def _sizes(parser: argparse.ArgumentParser, text: str, flag: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"{flag} takes numbers separated by commas")
    if any(s < 1 for s in sizes):
        parser.error(f"{flag} must be positive numbers")
    return sizes


def parse_args(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="stored cases per run")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="the PostgreSQL server to create a throwaway database on")  # fmt: skip
    parser.add_argument("--accounts", type=int, default=20, help="accounts the cases belong to")
    parser.add_argument("--concurrency", type=int, default=4, help="the dispatcher's max_concurrency")
    parser.add_argument("--ticks", type=int, default=10, help="timed ticks per figure")
    parser.add_argument("--events-per-case", type=int, default=2, help="history rows per case")
    parser.add_argument("--mail-sizes", default="1000,10000", help="messages already in the mailbox")
    parser.add_argument("--mail-prime", choices=("cursor", "poll"), default="cursor",
                        help="set the cursor after the old mail directly (default) or by a real "
                        "first poll that reads it all (slow: one transaction per message)")  # fmt: skip
    parser.add_argument("--no-mail", action="store_true", help="skip the mail poll")
    parser.add_argument("--explain", action="store_true", help="print the query plans of one tick")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verbose", action="store_true", help="keep INFO log lines")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite, postgresql or both")
    if args.accounts < 1 or args.concurrency < 1 or args.ticks < 1 or args.events_per_case < 0:
        parser.error("--accounts, --concurrency and --ticks must be at least 1")
    opts = Options(
        sizes=_sizes(parser, args.sizes, "--sizes"),
        backends=backends,
        database_url=args.database_url,
        accounts=args.accounts,
        concurrency=args.concurrency,
        ticks=args.ticks,
        events_per_case=args.events_per_case,
        mail_sizes=[] if args.no_mail else _sizes(parser, args.mail_sizes, "--mail-sizes"),
        mail_prime=args.mail_prime,
        explain=args.explain,
    )
    return opts, args


def main(argv: list[str] | None = None) -> int:
    opts, args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO" if args.verbose else "ERROR")
    with tempfile.TemporaryDirectory(prefix="recoup-storebench-") as tmp:
        try:
            from benchmarks.mailpoll import mail_runs

            report = benchmark(opts, Path(tmp), mail_runs if opts.mail_sizes else None)
        except SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_text(report)
    return 0 if report["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
