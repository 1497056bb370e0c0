"""The mail part of `benchmarks/store.py`: one poll of a big mailbox with a few new mails.

Per size M: a throwaway Dovecot (:class:`sandbox.mailserver.MailServer`) and a fresh SQLite
store with one account and 10 submitted cases. M old messages (4 in 5 newsletters from other
senders, 1 in 5 portal mails about orders without a case) are written straight into the user's
Maildir (`cur/`, unseen: where delivered mail sits once a delivery synced the folder; LMTP for
100,000 messages would take many minutes); Dovecot indexes them at the first login. Then the
cursor is primed: by default it is stored after the last UID (what earlier polls would have
left); with `prime="poll"` a real first `MailPoller.poll_account` reads all M (a backfill,
timed and printed: slow, one transaction per message). Then 10 portal "Order shipped" mails
about the open cases arrive over LMTP in one session, and the next poll is timed.

Bodies fetched are counted twice: on the client (every `BODY[]` item IMAPClient returned
to :class:`bot.mail.imap.MailboxClient`) and by Dovecot (`body_count` in its logout line).
"""

from __future__ import annotations

import os
import pwd
import random
import re
import smtplib
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from benchmarks.throughput import SetupError
from bot.config import Settings
from bot.mail.imap import MailboxClient
from bot.mail.poller import MailPoller
from bot.models import Account
from bot.states import CaseState
from bot.store import Store
from bot.store._tables import CaseRow
from flows.pack import load_pack
from sandbox.mailserver import DOVECOT, MAIL_USER, MailServer, MailServerError

PORTAL = "AliExpress <transaction@notice.aliexpress.com>"
EMAIL = "buyer1@bench.test"
PASSWORD_VAR = "RECOUP_BENCH_MAILBOX_PW"
FIRST_ORDER = 3_042_417_938_000_000


class CountingClient(MailboxClient):
    """A MailboxClient that counts the message bodies (`BODY[]` items) the server sent."""

    bodies = 0
    """Over every instance (the poller opens one client per folder and poll)."""

    def open(self) -> Any:
        state = super().open()
        inner = self._client  # the IMAPClient just opened
        assert inner is not None
        real = inner.fetch

        def fetch(messages: Any, data: Any, modifiers: Any = None) -> Any:
            answer = real(messages, data, modifiers)
            CountingClient.bodies += sum(1 for item in answer.values() if b"BODY[]" in item)
            return answer

        inner.fetch = fetch
        return state


def _old_message(i: int, when: datetime) -> bytes:
    """One old message as bytes (built from text: 100,000 EmailMessage objects are slow)."""
    date = format_datetime(when)
    if i % 5 == 0:  # a portal mail about an order that has no case
        order = FIRST_ORDER + 500_000 + i
        sender, subject = PORTAL, f"Order {order}: Order shipped"
        link = f"https://www.aliexpress.com/p/order/detail.html?tradeOrderId={order}"
        body = f"Hello,\r\n\r\nYour order shipped.\r\n\r\nView order: {link}\r\n"
    else:
        sender, subject = f"Shop {i % 37} <news@shop{i % 37}.example.test>", f"Weekly deals #{i}"
        body = "Hello,\r\n\r\n" + "Great deals this week on everything you never needed.\r\n" * 12
    return (
        f"Return-Path: <bounce@example.test>\r\nFrom: {sender}\r\nTo: {EMAIL}\r\n"
        f"Subject: {subject}\r\nDate: {date}\r\nMessage-ID: <old{i}.bench@example.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def write_maildir(server: MailServer, count: int) -> float:
    """`count` old messages into the user's Maildir `cur/` (owned by Dovecot's mail user; no
    flags, so unseen): where they are once any read-write session (an LMTP delivery) synced
    the folder. Left in `new/`, every read-only EXAMINE would list them again. Returns the
    seconds it took."""
    started = time.perf_counter()
    pw = pwd.getpwnam(MAIL_USER)
    home = server.mail_dir / EMAIL
    maildir = server.maildir(EMAIL)
    for folder in (home, maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
        folder.mkdir(exist_ok=True)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        folder.chmod(0o700)
    base = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / max(count, 1)
    stamp = int(base.timestamp())
    for i in range(count):
        path = maildir / "cur" / f"{stamp + i}.M{i}P{os.getpid()}.bench:2,"
        path.write_bytes(_old_message(i, base + step * i))
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return time.perf_counter() - started


def deliver_new(server: MailServer, orders: list[str]) -> None:
    """One portal "Order shipped" mail per order over LMTP, in one session."""
    with smtplib.LMTP(server.host, server.lmtp_port, timeout=30) as lmtp:
        for order in orders:
            msg = EmailMessage()
            msg["From"], msg["To"] = PORTAL, EMAIL
            msg["Subject"] = f"Order {order}: Order shipped"
            msg["Date"] = format_datetime(datetime.now(UTC))
            msg["Message-ID"] = make_msgid(domain="notice.example.test")
            msg.set_content(
                "Hello,\n\nYour order shipped.\n\nView order: "
                f"https://www.aliexpress.com/p/order/detail.html?tradeOrderId={order}\n"
            )
            refused = lmtp.sendmail("transaction@notice.aliexpress.com", [EMAIL], msg.as_bytes())
            if refused:
                raise SetupError(f"LMTP refused a mail: {refused}")


_LOGOUT = re.compile(r"imap\((?P<user>[^)]+)\).*?body_count=(?P<count>\d+)")


def dovecot_bodies(log: Path, start: int) -> int | None:
    """Sum of `body_count` over Dovecot's IMAP logout lines for EMAIL after byte `start`
    (None when the log format carries no body_count)."""
    text = log.read_bytes()[start:].decode(errors="replace")
    counts = [int(m["count"]) for m in _LOGOUT.finditer(text) if m["user"].lower() == EMAIL]
    return sum(counts) if counts else None


def _open_cases(store: Store, account_id: int, count: int) -> list[str]:
    """`count` submitted cases (bulk insert); returns their order ids."""
    from benchmarks.store import _case_row  # the same row shape as the store benchmark's

    rng = random.Random(3)
    now = datetime.now(UTC)
    rows = [_case_row(i, account_id, CaseState.SUBMITTED, now, rng, timedelta(days=30)) for i in range(count)]
    with store.engine.begin() as conn:
        conn.execute(insert(CaseRow), rows)
    return [r["order_id"] for r in rows]


def prime_cursor(store: Store, settings: Settings, account_id: int, password: str) -> int:
    """Open the mailbox (Dovecot indexes the new Maildir files), and store the cursor after its
    last UID, as earlier polls would have left it. Returns the messages the mailbox holds."""
    with MailboxClient.from_settings(settings, EMAIL, password) as client:
        state = client.refresh()
        last = max(client.uids_after(0), default=0)
    store.mail_apply.advance_cursor(account_id, "INBOX", uidvalidity=state.uidvalidity, last_uid=last)
    return state.exists


def mail_run(messages: int, new: int, work: Path, prime: str = "cursor") -> dict[str, Any]:
    """Set up a mailbox of `messages`, prime the cursor (`prime`: "poll" = a real first poll
    that reads them all, "cursor" = store the cursor after the last UID), deliver `new`, poll
    again; the figures."""
    work.mkdir(parents=True, exist_ok=True)
    server = MailServer(work / "dovecot")
    try:
        server.start()
    except (MailServerError, KeyError, PermissionError) as exc:
        raise SetupError(f"Dovecot could not start: {exc}") from exc
    try:
        password = "bench-mailbox-pw"
        server.add_user(EMAIL, password)
        write_s = write_maildir(server, messages)
        (work / "data").mkdir(exist_ok=True)
        store = Store.open(f"sqlite:///{(work / 'data' / 'recoup.db').resolve()}")
        try:
            mine = Account(
                name="buyer1", email=EMAIL, password_ref="env:PW1", mailbox_password_ref=f"env:{PASSWORD_VAR}"
            )
            account = store.accounts.add(mine)
            assert account.id is not None
            orders = _open_cases(store, account.id, new)
            fields = {"imap_host": server.host, "imap_port": server.imap_port, "imap_ssl": False}
            settings = Settings.model_validate({**fields, "data_dir": str(work / "data")})
            poller = MailPoller(
                store,
                load_pack(settings),
                settings,
                client_factory=CountingClient.from_settings,
                environ={PASSWORD_VAR: password},
            )
            t0 = time.perf_counter()
            if prime == "poll":
                first_fetched = poller.poll_account("buyer1").fetched
            else:
                first_fetched = prime_cursor(store, settings, account.id, password)
            first_s = time.perf_counter() - t0
            deliver_new(server, orders)
            log_start = server.log_path.stat().st_size
            CountingClient.bodies = 0
            t0 = time.perf_counter()
            second = poller.poll_account("buyer1")
            poll_s = time.perf_counter() - t0
            client_bodies = CountingClient.bodies
        finally:
            store.close()
        server_bodies = _wait_for_logout(server.log_path, log_start)
    finally:
        server.stop()
    problems = []
    if first_fetched != messages:
        problems.append(f"priming ({prime}) of {messages}: saw {first_fetched} messages")
    if (second.fetched, second.applied) != (new, new):
        problems.append(
            f"second poll of {messages}: fetched {second.fetched}, applied {second.applied}, "
            f"expected {new} and {new}"
        )
    if client_bodies != new:
        problems.append(f"second poll of {messages}: the client received {client_bodies} bodies, not {new}")
    if server_bodies is not None and server_bodies != new:
        problems.append(f"second poll of {messages}: Dovecot sent {server_bodies} bodies, not {new}")
    return {
        "messages": messages,
        "new": new,
        "backend": "sqlite",
        "fetch_batch": settings.mail_fetch_batch,
        "maildir_write_s": round(write_s, 2),
        "prime": prime,
        "prime_s": round(first_s, 2),
        "prime_messages": first_fetched,
        "poll_s": round(poll_s, 4),
        "fetched": second.fetched,
        "applied": second.applied,
        "bodies_client": client_bodies,
        "bodies_dovecot": server_bodies,
        "problems": problems,
    }


def _wait_for_logout(log: Path, start: int, timeout: float = 5.0) -> int | None:
    """Dovecot writes the logout line just after the client left: wait for it (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = dovecot_bodies(log, start)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def mail_runs(opts: Any, work: Path) -> list[dict[str, Any]]:
    """One `mail_run` per size in `opts.mail_sizes`. Raises SetupError without Dovecot."""
    if not Path(DOVECOT).is_file():
        raise SetupError(f"Dovecot not found at {DOVECOT}: install `dovecot-imapd dovecot-lmtpd`")
    from benchmarks.store import NEW_MAILS

    return [mail_run(m, NEW_MAILS, work / f"mail-{m}", opts.mail_prime) for m in opts.mail_sizes]
