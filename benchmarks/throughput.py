"""Benchmark: throughput of the scheduler service (`python -m bot run`) on many cases.

One run starts its own sandbox portal (scenario `throughput`: 4 buyers, sellers answering after a
short delay), a throwaway Dovecot that receives the portal's mails, a loopback webhook receiver
and a fresh store (SQLite in the temp folder; with `--database-url`, a new database created on
that PostgreSQL server and dropped afterwards). It creates N cases with `bot.cases.create_case`
(round robin over the accounts; per account alternately a cancellation — awaiting_shipment or
awaiting_payment — and a refund of an awaiting_delivery order with 2 small PNGs), then runs the
scheduler service as an operator would, `python -m bot run`, in a subprocess: dispatcher with
`--concurrency` sessions, mail poller, status checks, deadline sweep and webhook outbox, until
every case has been submitted. Then it stops the service with SIGTERM.

Why a subprocess and not `serve()` in-process: the memory figure must be the service's own
(python + Playwright's driver + Chromium and its renderers), not mixed with the sandbox, Dovecot
and this script; and the sandbox's uvicorn thread must not share the service's event loop and GIL.

Measured:

- cases per minute: N / (time from starting the service to the last `submitted` event);
- time from queued to submitted per case, p50 / p95 (the store's events: `created` → first
  event into `submitted`), and from the last claim (`running`) to `submitted`;
- memory of the whole service process tree, sampled every 0.5 s from /proc (VmRSS of the service
  and every descendant, summed; the same with Pss from smaps_rollup, which does not count pages
  shared between Chromium processes twice) and the service process's own VmHWM;
- page loads: what the portal rendered for GET requests (sandbox admin `page_loads`) during the
  run per case, and for ONE status poll of an account with K open cases (K = 1, 5, 20; separately
  for cancellations and refunds), done after the service stopped with `Engine.check_account` — the
  call the dispatcher's status tick makes — on a browser that reuses the service's stored
  sessions (a first, uncounted poll warms it up).

Afterwards the sandbox admin API must show every order submitted exactly once (accepted, no
duplicate) and nothing else submitted; the service must have stopped cleanly. Run from the
repository root:

    .venv/bin/python -m benchmarks.throughput [--cases 200] [--accounts 4] [--concurrency 4]
        [--database-url postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--json]

Exit codes: 0 figures printed and verified; 1 verification failed; 2 a case failed (failed /
needs_human), the service died or the run timed out; 3 Chromium, Dovecot or the database missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a file: `flows` must be the package, not us
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml
from loguru import logger

from benchmarks.flows import png_bytes
from benchmarks.proctree import TreeSampler
from bot.cases import create_case
from bot.config import Settings
from bot.errors import RecoupError
from bot.models import Account, Case, CaseKind, NewCase, RefundType
from bot.runtime import open_runtime
from bot.states import CaseState
from bot.store import Store
from sandbox.mailserver import DOVECOT, MailServer, MailServerError
from sandbox.scenario import SCENARIO_DIR, Scenario
from sandbox.server import RunningSandbox, start_sandbox
from sandbox.settings import SandboxSettings

REPO = Path(__file__).resolve().parent.parent
CANCEL_STATUSES = ("awaiting_shipment", "awaiting_payment")
BEFORE_SUBMIT = (CaseState.QUEUED, CaseState.RUNNING, CaseState.SUBMITTING, CaseState.AWAITING_APPROVAL)
STUCK = (CaseState.FAILED, CaseState.NEEDS_HUMAN, CaseState.CANCELED_BY_OPERATOR)
WEBHOOK_SECRET = "throughput-bench-secret"


class SetupError(RuntimeError):
    """Something the benchmark needs is missing (exit code 3)."""


class RunFailed(RuntimeError):
    """A case failed, the service died or the run timed out (exit code 2)."""


# ---- scenario and plan --------------------------------------------------------------------------
def write_scenario(folder: Path, cases: int, accounts: int) -> Path:
    """The `throughput` scenario with `accounts` buyers (extra ones cloned from the first) and
    generate counts raised so each has orders for its share of `cases`."""
    data = yaml.safe_load((SCENARIO_DIR / "throughput.yaml").read_text(encoding="utf-8"))
    template = data["accounts"][0]
    people = [dict(a) for a in data["accounts"][:accounts]]
    for i in range(len(people), accounts):
        people.append(
            {
                **template,
                "email": f"buyer{i + 1}@throughput.test",
                "password": f"buyer{i + 1}-tp-1",
                "name": f"Buyer {i + 1}",
            }
        )
    per_account = math.ceil(cases / accounts)
    cancels, refunds = math.ceil(per_account / 2), per_account // 2
    for person in people:
        rules = [dict(r) for r in person["generate"]]
        for rule in rules:
            if rule["statuses"] == ["awaiting_shipment"]:
                payment = sum(r["count"] for r in rules if r["statuses"] == ["awaiting_payment"])
                rule["count"] = max(rule["count"], cancels - payment)
            elif rule["statuses"] == ["awaiting_delivery"]:
                rule["count"] = max(rule["count"], refunds)
        person["generate"] = rules
    data["accounts"] = people
    path = folder / "throughput.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Planned:
    """One case to create: the store account name, the portal email and the order."""

    account: str
    email: str
    order_id: str
    kind: CaseKind
    amount: Decimal | None


def account_name(email: str) -> str:
    return email.split("@")[0]


def plan_cases(scenario: Scenario, cases: int) -> list[Planned]:
    """Round robin over the accounts; per account cancellation, refund, cancellation, ...
    (cancellations alternate between awaiting_shipment and awaiting_payment orders)."""
    queues: list[list[Planned]] = []
    for acc in scenario.accounts:
        ship, pay = ([o for o in acc.orders if o.status == s] for s in CANCEL_STATUSES)
        cancel_orders = [o for pair in zip(ship, pay, strict=False) for o in pair]
        cancel_orders += ship[len(pay) :] + pay[len(ship) :]
        refund_orders = [o for o in acc.orders if o.status == "awaiting_delivery"]
        mine: list[Planned] = []
        for c, r in zip(cancel_orders, refund_orders + [None] * len(cancel_orders), strict=False):
            mine.append(Planned(account_name(acc.email), acc.email, c.id, CaseKind.CANCEL, None))
            if r is not None:
                mine.append(
                    Planned(
                        account_name(acc.email),
                        acc.email,
                        r.id,
                        CaseKind.REFUND,
                        Decimal(str(r.items[0].price)),
                    )
                )
        queues.append(mine)
    plan: list[Planned] = []
    for i in range(max(len(q) for q in queues)):
        plan.extend(q[i] for q in queues if i < len(q))
    if len(plan) < cases:
        raise SetupError(f"the scenario has orders for only {len(plan)} cases")
    return plan[:cases]


# ---- set-up pieces ------------------------------------------------------------------------------
def check_prerequisites(browser_path: Path) -> None:
    if not (browser_path.is_file() and os.access(browser_path, os.X_OK)):
        raise SetupError(
            f"Chromium not found at {browser_path}: install Debian's `chromium` package "
            "(or set RECOUP_BROWSER_PATH); `playwright install` is never used"
        )
    if not Path(DOVECOT).is_file():
        raise SetupError(f"Dovecot not found at {DOVECOT}: install `dovecot-imapd dovecot-lmtpd`")


@contextlib.contextmanager
def fresh_database(url: str | None, work: Path) -> Iterator[str]:
    """SQLite in `work`, or a new database `recoup_bench_<hex>` on the PostgreSQL server of `url`
    (dropped on the way out). Raises SetupError when the server cannot be reached."""
    if url is None:
        yield f"sqlite:///{(work / 'data' / 'recoup.db').resolve()}"
        return
    import psycopg2
    from sqlalchemy.engine import make_url

    base = make_url(url)
    if not base.drivername.startswith("postgresql"):
        raise SetupError("--database-url must be a PostgreSQL URL (SQLite is the default)")
    name = f"recoup_bench_{secrets.token_hex(4)}"
    try:
        admin = psycopg2.connect(
            host=base.host or "127.0.0.1",
            port=base.port or 5432,
            user=base.username,
            password=base.password,
            dbname=base.database or "postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        raise SetupError(f"PostgreSQL at {base.host}:{base.port} cannot be reached: {exc}") from exc
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class Receiver:
    """A loopback webhook receiver that counts deliveries by event id."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        ids = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ids[self.headers.get("X-Recoup-Event-Id", "")] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- the service --------------------------------------------------------------------------------
class Service:
    """`python -m bot run` with RECOUP_* variables from `fields` (nothing else of ours leaks in)."""

    def __init__(self, fields: dict[str, str], work: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
        env.update({f"RECOUP_{k.upper()}": v for k, v in fields.items()})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self.env, self.work, self.log = env, work, work / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:  # cwd outside the repo: no `.env` is read
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--grace", "30"],
                cwd=self.work,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.proc

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_for_submissions(store: Store, service: Service, ids: list[int], timeout: float) -> None:
    """Poll the store every second until no case is before `submitted`. Raises RunFailed when a
    case is stuck (failed / needs_human / canceled), the service exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    next_note = time.monotonic() + 30
    while True:
        stuck = [
            c for c in store.cases.list_cases(states=STUCK) if c.id in wanted and not submitted_at(store, c)
        ]
        if stuck:
            raise RunFailed(
                "; ".join(
                    f"case {c.id} ({c.kind.value} of {c.order_id} on {c.account}) "
                    f"{c.state.value}: {c.outcome_note or c.last_error}"
                    for c in stuck[:5]
                )
            )
        waiting = [c for c in store.cases.list_cases(states=BEFORE_SUBMIT) if c.id in wanted]
        if not waiting:
            return
        assert service.proc is not None
        if service.proc.poll() is not None:
            raise RunFailed(f"the service exited with code {service.proc.returncode}:\n{service.tail()}")
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s with {len(waiting)} cases not yet submitted")
        if time.monotonic() > next_note:  # progress on stderr (stdout stays the report)
            print(
                f"... {len(wanted) - len(waiting)}/{len(wanted)} cases submitted", file=sys.stderr, flush=True
            )
            next_note += 30
        time.sleep(1.0)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def submitted_at(store: Store, case: Case) -> datetime | None:
    events = store.cases.history(case.id)
    return next((_aware(e.at) for e in events if e.to_state is CaseState.SUBMITTED), None)


def case_times(store: Store, ids: list[int]) -> list[tuple[datetime, datetime, datetime]]:
    """Per case: created, the last claim (into `running`) before the submission, submitted."""
    out = []
    for case_id in ids:
        events = store.cases.history(case_id)
        done = next(i for i, e in enumerate(events) if e.to_state is CaseState.SUBMITTED)
        created = next(_aware(e.at) for e in events if e.kind == "created")
        claims = [_aware(e.at) for e in events[:done] if e.to_state is CaseState.RUNNING]
        sub = _aware(events[done].at)
        out.append((created, claims[-1] if claims else created, sub))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---- page loads of one status poll --------------------------------------------------------------
def _loads(sb: RunningSandbox, email: str) -> tuple[int, int]:
    """(full pages, fragments) rendered for GETs of `email`, signed-out pages included."""
    counts = sb.admin.page_loads()
    mine, anon = counts.get(email.lower(), {}), counts.get("", {})
    return mine.get("page", 0) + anon.get("page", 0), mine.get("fragment", 0)


async def poll_page_loads(
    settings: Settings, store: Store, sb: RunningSandbox, planned: list[Planned], sizes: list[int]
) -> dict[str, Any]:
    """Page loads of one `Engine.check_account` per K in `sizes` and per kind, on the first
    account's cases (K capped at what it has)."""
    email = planned[0].email
    name = planned[0].account
    by_kind = {kind: [c for c in store.cases.list_cases(account=name, kind=kind)] for kind in CaseKind}
    polls: list[dict[str, Any]] = []
    async with open_runtime(settings, store) as rt:
        before = _loads(sb, email)
        await rt.engine.check_account(name, by_kind[CaseKind.CANCEL][:1])
        after = _loads(sb, email)
        warmup = {"pages": after[0] - before[0], "fragments": after[1] - before[1]}
        for kind in (CaseKind.CANCEL, CaseKind.REFUND):
            cases = by_kind[kind]
            for k in sorted({min(k, len(cases)) for k in sizes if cases}):
                before = _loads(sb, email)
                await rt.engine.check_account(name, cases[:k])
                after = _loads(sb, email)
                polls.append(
                    {
                        "kind": kind.value,
                        "open_cases": k,
                        "pages": after[0] - before[0],
                        "fragments": after[1] - before[1],
                    }
                )
    return {"account": name, "warmup": warmup, "polls": polls}


# ---- verification -------------------------------------------------------------------------------
def verify(sb: RunningSandbox, planned: list[Planned]) -> list[str]:
    """Each planned order submitted exactly once (one accepted request of its kind, no duplicate,
    nothing of another kind); no other order submitted."""
    problems: list[str] = []
    subs: dict[str, Any] = sb.admin.submissions()
    for p in planned:
        summary = subs.get(p.order_id, {})
        by_kind = summary.get("by_kind", {})
        mine = by_kind.get(p.kind.value, {})
        others = {
            k: v.get("accepted", 0) + v.get("duplicates", 0) for k, v in by_kind.items() if k != p.kind.value
        }
        if (
            summary.get("count") != 1
            or mine.get("accepted") != 1
            or mine.get("duplicates", 0)
            or any(others.values())
        ):
            problems.append(
                f"{p.kind.value} {p.order_id} ({p.email}): count={summary.get('count', 0)}, by_kind={by_kind}"
            )
    planned_ids = {p.order_id for p in planned}
    stray = {oid for oid, s in subs.items() if s.get("count")} - planned_ids
    problems.extend(f"order {oid} was submitted but not planned" for oid in sorted(stray))
    return problems


# ---- main flow ----------------------------------------------------------------------------------
@dataclass
class Options:
    cases: int = 200
    accounts: int = 4
    concurrency: int = 4
    database_url: str | None = None
    timeout: float = 1800.0
    poll_sizes: list[int] = field(default_factory=lambda: [1, 5, 20])
    """Open cases per measured status poll; empty: no status polls are measured."""
    keep_logs: Path | None = None


def add_accounts(store: Store, sb: RunningSandbox, secrets_file: Path) -> None:
    """Every scenario account into the store, secrets by `file:` reference (file mode 0600)."""
    values: dict[str, str] = {}
    for acc in sb.scenario.accounts:
        name = account_name(acc.email)
        values[f"{name}_password"], values[f"{name}_mailbox"] = acc.password, acc.mailbox_password
        store.accounts.add(
            Account(
                name=name,
                email=acc.email,
                locale=acc.locale,
                password_ref=f"file:{name}_password",
                mailbox_password_ref=f"file:{name}_mailbox",
            )
        )
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(yaml.safe_dump(values), encoding="utf-8")


def create_cases(store: Store, settings: Settings, planned: list[Planned], photos: list[Path]) -> list[int]:
    ids = []
    for p in planned:
        refund = p.kind is CaseKind.REFUND
        new = NewCase(
            account=p.account,
            order_id=p.order_id,
            kind=p.kind,
            reason="not_received" if refund else "not_shipped_on_time",
            message="Tracking shows no movement for weeks." if refund else "Please cancel.",
            refund_type=RefundType.REFUND_ONLY if refund else None,
            amount=p.amount,
            currency="USD" if refund else None,
        )
        ids.append(
            create_case(store, settings, new, evidence=photos if refund else (), evidence_root=None).id
        )
    return ids


def keep_logs(target: Path, work: Path) -> None:
    """Copy the service's stdout/stderr and its rotated log files into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for log in [work / "service.log", *sorted((work / "data" / "logs").glob("recoup*.log"))]:
        if log.is_file():
            shutil.copy2(log, target / log.name)


def benchmark(opts: Options, work: Path) -> dict[str, Any]:
    """Set everything up under `work`, run, measure, verify, tear down; the report as a dict."""
    check_prerequisites(Settings(_env_file=None).browser_path)
    with contextlib.ExitStack() as stack:
        mail = MailServer(work / "dovecot")
        try:
            mail.start()
        except (MailServerError, KeyError, PermissionError) as exc:
            raise SetupError(f"Dovecot could not start: {exc}") from exc
        stack.callback(mail.stop)
        sb = start_sandbox(
            SandboxSettings(lmtp_host=mail.host, lmtp_port=mail.lmtp_port),
            write_scenario(work, opts.cases, opts.accounts),
        )
        stack.callback(sb.stop)
        for acc in sb.scenario.accounts:
            mail.add_user(acc.email, acc.mailbox_password)
        receiver = Receiver()
        stack.callback(receiver.close)
        url = stack.enter_context(fresh_database(opts.database_url, work))
        fields = {
            "data_dir": str(work / "data"),
            "database_url": url,
            "portal_base_url": sb.url,
            "portal_login_base_url": sb.login_base,
            "imap_host": mail.host,
            "imap_port": str(mail.imap_port),
            "imap_ssl": "false",
            "secrets_file": str(work / "secrets.yaml"),
            "dispute_share_cap": "1.0",
            "max_concurrency": str(opts.concurrency),
            "dispatch_interval_seconds": "1",
            "status_poll_interval_seconds": "5",
            "mailbox_poll_interval_seconds": "5",
            "outbox_interval_seconds": "2",
            "webhook_url": receiver.url,
            "webhook_secret": WEBHOOK_SECRET,
        }
        settings = Settings.model_validate(fields)  # exactly these fields: no environment, no .env
        settings.ensure_dirs()
        store = Store.open(url, outbox_targets=("webhook",))
        stack.callback(store.close)
        add_accounts(store, sb, work / "secrets.yaml")
        planned = plan_cases(sb.scenario, opts.cases)
        photos = [work / "photo1.png", work / "photo2.png"]
        for i, photo in enumerate(photos):
            photo.write_bytes(png_bytes(16 + 8 * i, 16 + 8 * i))
        ids = create_cases(store, settings, planned, photos)
        pages_before = sb.admin.page_loads()

        service = Service(fields, work)
        started = datetime.now(UTC)
        sampler = TreeSampler(service.start().pid)
        sampler.start()
        try:
            wait_for_submissions(store, service, ids, opts.timeout)
        finally:
            code = service.stop()
            sampler.halt.set()
            sampler.join()
            if opts.keep_logs is not None:
                keep_logs(opts.keep_logs, work)
        times = case_times(store, ids)
        last = max(t[2] for t in times)
        wall = (last - started).total_seconds()
        pages_after = sb.admin.page_loads()
        run_pages = sum(v.get("page", 0) for v in pages_after.values()) - sum(
            v.get("page", 0) for v in pages_before.values()
        )
        run_fragments = sum(v.get("fragment", 0) for v in pages_after.values()) - sum(
            v.get("fragment", 0) for v in pages_before.values()
        )
        outcomes = Counter(store.cases.get(i).state.value for i in ids)
        webhook = {
            "deliveries": sum(receiver.ids.values()),
            "events": len(receiver.ids),
            "duplicates": sum(n - 1 for n in receiver.ids.values() if n > 1),
        }

        polls = (  # no sizes: no status polls measured (benchmarks/scaling.py)
            asyncio.run(poll_page_loads(settings, store, sb, planned, opts.poll_sizes))
            if opts.poll_sizes
            else None
        )
        problems = verify(sb, planned)
        if code != 0:
            problems.append(f"the service did not stop cleanly (exit code {code}):\n{service.tail()}")
        queued = [(s - c).total_seconds() for c, _, s in times]
        running = [(s - r).total_seconds() for _, r, s in times]
        first = min(t[2] for t in times)
        return {
            "cases": opts.cases,
            "accounts": opts.accounts,
            "concurrency": opts.concurrency,
            "database": "postgresql" if opts.database_url else "sqlite",
            "service": "python -m bot run",
            "throughput": {
                "cases_per_minute": round(opts.cases / (wall / 60), 2),
                "wall_s": round(wall, 1),
                "first_submitted_after_s": round((first - started).total_seconds(), 1),
            },
            "queued_to_submitted_s": _dist(queued),
            "claimed_to_submitted_s": _dist(running),
            "memory": sampler.report(),
            "page_loads": {
                "during_run": {
                    "pages": run_pages,
                    "fragments": run_fragments,
                    "pages_per_case": round(run_pages / opts.cases, 2),
                },
                "status_poll": polls,
            },
            "outcomes_at_stop": dict(sorted(outcomes.items())),
            "webhook": webhook,
            "verified": not problems,
            "problems": problems,
        }


def _dist(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
    }


def print_text(r: dict[str, Any]) -> None:
    t, m = r["throughput"], r["memory"]
    q, c = r["queued_to_submitted_s"], r["claimed_to_submitted_s"]
    print(
        f"scheduler service throughput: {r['cases']} cases over {r['accounts']} accounts, "
        f"max_concurrency {r['concurrency']}, {r['database']}, `{r['service']}` in a subprocess"
    )
    print(
        f"  cases per minute           {t['cases_per_minute']:.2f}  "
        f"({r['cases']} submitted {t['wall_s']:.1f} s "
        f"after the service started; first after {t['first_submitted_after_s']:.1f} s)"
    )
    print(f"  queued -> submitted        p50 {q['p50']:.1f} s  p95 {q['p95']:.1f} s  max {q['max']:.1f} s")
    print(f"  claimed -> submitted       p50 {c['p50']:.1f} s  p95 {c['p95']:.1f} s  max {c['max']:.1f} s")
    print(
        f"  peak memory, process tree  RSS sum {m['peak_tree_rss_mb']:.0f} MB, "
        f"PSS sum {m['peak_tree_pss_mb']:.0f} MB "
        f"(up to {m['max_processes']} processes, {m['samples']} samples); "
        f"service VmHWM {m['service_vmhwm_mb']:.0f} MB"
    )
    run = r["page_loads"]["during_run"]
    print(
        f"  page loads during the run  {run['pages']} pages + {run['fragments']} fragments "
        f"({run['pages_per_case']:.2f} pages per case, status checks included)"
    )
    sp = r["page_loads"]["status_poll"]
    if sp is not None:
        warm = sp["warmup"]["pages"]
        print(f"  one status poll of {sp['account']} (warm-up poll: {warm} pages, not counted):")
        print(f"    {'kind':<8}{'open cases':>11}{'pages':>7}{'fragments':>11}")
        for p in sp["polls"]:
            print(f"    {p['kind']:<8}{p['open_cases']:>11}{p['pages']:>7}{p['fragments']:>11}")
    w = r["webhook"]
    print(
        f"  webhook                    {w['deliveries']} deliveries of {w['events']} events, "
        f"{w['duplicates']} duplicates"
    )
    print("  states at stop             " + ", ".join(f"{k} {v}" for k, v in r["outcomes_at_stop"].items()))
    print(
        f"verified: every one of the {r['cases']} orders submitted exactly once, nothing else submitted"
        if r["verified"]
        else "VERIFICATION FAILED: " + "; ".join(r["problems"])
    )


def parse_args(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=200, help="cases to create and submit (default 200)")
    parser.add_argument("--accounts", type=int, default=4, help="buyer accounts (default 4)")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="the service's max_concurrency (default 4)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create a throwaway database on "
        "(e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test); default SQLite",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--poll-sizes", default="1,5,20", help="open cases per measured status poll")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--keep-logs", type=Path, help="copy the service's logs (recoup.log with per-case timings) here"
    )
    parser.add_argument("--verbose", action="store_true", help="keep this process's INFO log lines")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.accounts < 1 or args.concurrency < 1:
        parser.error("--cases, --accounts and --concurrency must be at least 1")
    try:
        sizes = [int(s) for s in args.poll_sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--poll-sizes takes numbers separated by commas")
    if not sizes or min(sizes) < 1:
        parser.error("--poll-sizes must be positive numbers")
    options = Options(args.cases, args.accounts, args.concurrency, args.database_url, args.timeout, sizes)
    options.keep_logs = args.keep_logs
    return options, args


def main(argv: list[str] | None = None) -> int:
    opts, args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO" if args.verbose else "WARNING")
    with tempfile.TemporaryDirectory(prefix="recoup-throughput-") as tmp:
        try:
            report = benchmark(opts, Path(tmp))
        except SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except (RunFailed, RecoupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 0 if report["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
