"""Webhook delivery to a real HTTP receiver on 127.0.0.1: timestamped signatures (a replay is
refused), idempotency keys, retries with exponential backoff under a controlled clock, the
bounded retry budget with dead letters (seen by `cases show` and the export), the delivery log."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import Settings
from bot.errors import ConfigError
from bot.export import from_csv
from bot.outbox import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff,
    deliver_due,
    encode_body,
    sign,
    verify_signature,
)
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.tracking.conftest import add_account, submitted_case

SECRET = "test-webhook-secret-0123456789"


@dataclass
class Receiver:
    """A webhook receiver that checks each request's signature and timestamp against its own
    clock (`now`, unix seconds) and answers 500 to the first `fail_first` tries of each event."""

    now: Callable[[], float]
    fail_first: int = 2
    tries: Counter[str] = field(default_factory=Counter)
    accepted: list[dict[str, object]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    """Every request as received (headers, body): a captured request to replay."""
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def receiver(clock: FrozenClock) -> Iterator[Receiver]:
    """A receiver on loopback whose clock is the test's frozen clock."""
    state = Receiver(now=lambda: clock.now.timestamp())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event_id = self.headers.get(EVENT_ID_HEADER, "")
            header = self.headers.get(SIGNATURE_HEADER)
            with state.lock:
                state.requests.append((dict(self.headers.items()), body))
                signed_t = re.match(r"t=(\d+),", header or "")
                if (
                    not verify_signature(SECRET, header, body, now=state.now())
                    or signed_t is None
                    or self.headers.get(TIMESTAMP_HEADER) != signed_t.group(1)
                ):
                    state.bad_signatures += 1
                    code = 401
                else:
                    state.tries[event_id] += 1
                    if state.tries[event_id] <= state.fail_first:
                        code = 500
                    else:
                        payload = json.loads(body)
                        assert str(payload["event_id"]) == event_id
                        if all(str(a["event_id"]) != event_id for a in state.accepted):
                            state.accepted.append(payload)
                        code = 204
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/recoup?token=abc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _settings(url: str) -> Settings:
    return Settings(webhook_url=url, webhook_secret=SECRET, webhook_backoff_base_s=30, webhook_timeout_s=5)


def test_every_event_arrives_exactly_once_signed_after_backed_off_retries(
    store: Store, clock: FrozenClock, receiver: Receiver
) -> None:
    add_account(store, "alice", "alice@example.test")
    cases = [submitted_case(store, "alice") for _ in range(3)]
    settings = _settings(receiver.url)
    expected = {str(e.id) for c in cases for e in store.cases.history(c.id)}
    assert len(expected) == 12  # created + 3 transitions per case

    first = deliver_due(store, settings, clock)
    assert (first.attempted, first.delivered, first.failed) == (12, 0, 12)
    assert all("HTTP 500" in error and "token=abc" not in error for error in first.errors)
    clock.advance(29)
    assert deliver_due(store, settings, clock).attempted == 0  # first backoff: 30 s
    clock.advance(1)
    second = deliver_due(store, settings, clock)
    assert (second.attempted, second.failed) == (12, 12)
    clock.advance(59)
    assert deliver_due(store, settings, clock).attempted == 0  # second backoff: 60 s
    clock.advance(1)
    third = deliver_due(store, settings, clock)
    assert (third.attempted, third.delivered, third.failed) == (12, 12, 0)
    delivered_at = clock.now
    clock.advance(3600)
    assert deliver_due(store, settings, clock).attempted == 0

    assert receiver.bad_signatures == 0
    assert {str(p["event_id"]) for p in receiver.accepted} == expected
    assert len(receiver.accepted) == 12
    assert all(n == 3 for n in receiver.tries.values())
    log = store.reporting.outbox_log(target="webhook")
    assert len(log) == 12
    assert all(m.attempts == 3 and m.delivered_at == delivered_at and m.last_error is None for m in log)


def test_new_events_are_delivered_on_the_next_run(
    store: Store, clock: FrozenClock, receiver: Receiver
) -> None:
    receiver.fail_first = 0
    add_account(store, "alice", "alice@example.test")
    case = submitted_case(store, "alice")
    settings = _settings(receiver.url)
    assert deliver_due(store, settings, clock).delivered == 4
    store.cases.transition(case.id, CaseState.APPROVED, expected_from=CaseState.SUBMITTED)
    result = deliver_due(store, settings, clock)
    assert result.delivered == 1
    assert receiver.accepted[-1]["to_state"] == "approved"
    assert receiver.accepted[-1]["case_id"] == case.id


def test_unreachable_receiver_is_recorded_and_ends_the_run(store: Store, clock: FrozenClock) -> None:
    add_account(store, "alice", "alice@example.test")
    submitted_case(store, "alice")
    settings = _settings("http://127.0.0.1:1/hook?token=supersecret")
    result = deliver_due(store, settings, clock)
    assert (result.attempted, result.failed) == (1, 1)
    log = store.reporting.outbox_log()
    failed = [m for m in log if m.attempts == 1]
    assert len(failed) == 1 and failed[0].last_error is not None
    assert "supersecret" not in failed[0].last_error and SECRET not in failed[0].last_error
    assert failed[0].next_try_at == clock.now + backoff(1, settings)
    assert all(m.attempts == 0 for m in log if m is not failed[0])


def test_no_url_or_no_secret_refuses_to_send(store: Store, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        deliver_due(store, Settings(webhook_secret=SECRET), clock)
    with pytest.raises(ConfigError):
        # settings refuse this pair (bot/config.py); the outbox still never sends unsigned
        deliver_due(store, Settings.model_construct(webhook_url="http://127.0.0.1:9/"), clock)


def test_signature_covers_a_timestamp_and_verify_rejects_tampering_old_and_wrong_secret() -> None:
    body = encode_body({"b": 1, "a": "ü"})
    assert body == '{"a":"ü","b":1}'.encode()
    t = 1_767_225_600
    header = sign(body, SECRET, t)
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match is not None and int(match.group(1)) == t
    assert verify_signature(SECRET, header, body, now=t)
    assert verify_signature(SECRET, header, body, now=t + 300)  # 5 minutes of tolerance
    assert verify_signature(SECRET, header, body, now=t + 59, tolerance=60)

    assert not verify_signature(SECRET, header, body + b" ", now=t)  # tampered body
    assert not verify_signature(SECRET, header, body.replace(b"1", b"2"), now=t)
    assert not verify_signature(SECRET + "x", header, body, now=t)  # wrong secret
    assert not verify_signature("", header, body, now=t)
    assert not verify_signature(SECRET, header, body, now=t + 301)  # too old: a replay
    assert not verify_signature(SECRET, header, body, now=t + 61, tolerance=60)
    assert not verify_signature(SECRET, header, body, now=t - 301)  # from the future
    assert not verify_signature(SECRET, header, body)  # against the real clock: 2026 is old
    # the timestamp cannot be refreshed without the secret: the digest covers it
    assert not verify_signature(SECRET, header.replace(f"t={t}", f"t={t + 1000}"), body, now=t + 1000)
    # the old, untimestamped scheme and malformed headers are refused, never raise
    legacy = "sha256=" + match.group(2)
    for bad in (None, "", legacy, f"t={t}", f"v1={match.group(2)}", f"t=abc,v1={match.group(2)}",
                f"t={t},t={t},v1={match.group(2)}", f"t=-{t},v1={match.group(2)}", "t=\u0661,v1=zz",
                f"t={t},v1=zz", f"t={t},v0={match.group(2)}"):  # fmt: skip
        assert not verify_signature(SECRET, bad, body, now=t), bad
    # as in Stripe's scheme, one of several v1 values may match (a rotated secret)
    rotated = f"t={t},v1={'0' * 64},v1={match.group(2)}"
    assert verify_signature(SECRET, rotated, body, now=t)
    assert sign(body, SECRET, t) == header and sign(body, SECRET, t + 1) != header


def test_real_receiver_checks_the_timestamp_and_refuses_a_replayed_request(store: Store) -> None:
    """Delivery signs with the current time; a receiver on loopback checking against its own
    wall clock accepts it, and the same captured request replayed 5 minutes later is refused."""
    skew = {"seconds": 0.0}
    state = Receiver(now=lambda: time.time() + skew["seconds"], fail_first=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            header = self.headers.get(SIGNATURE_HEADER)
            with state.lock:
                state.requests.append((dict(self.headers.items()), body))
                ok = verify_signature(SECRET, header, body, now=state.now())
                if ok:
                    state.accepted.append(json.loads(body))
                else:
                    state.bad_signatures += 1
            self.send_response(204 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        add_account(store, "alice", "alice@example.test")
        submitted_case(store, "alice")
        before = time.time()
        result = deliver_due(store, _settings(url), lambda: datetime.now(UTC))
        assert (result.delivered, result.failed) == (4, 0)
        assert state.bad_signatures == 0 and len(state.accepted) == 4
        headers, body = state.requests[0]
        signed_at = int(headers[TIMESTAMP_HEADER])
        assert int(before) <= signed_at <= time.time()
        assert headers[SIGNATURE_HEADER].startswith(f"t={signed_at},v1=")

        replay = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        skew["seconds"] = 301.0  # the receiver's clock, 5 minutes and a second later
        answer = httpx.post(url, content=body, headers=replay, timeout=10)
        assert answer.status_code == 401 and state.bad_signatures == 1
        assert len(state.accepted) == 4
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_receiver_that_always_fails_gets_a_bounded_budget_then_dead_letters(
    store: Store, clock: FrozenClock, receiver: Receiver, db_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    receiver.fail_first = 10**6  # always HTTP 500
    add_account(store, "alice", "alice@example.test")
    case = submitted_case(store, "alice")
    settings = Settings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_backoff_base_s=30,
                        webhook_timeout_s=5, webhook_max_attempts=3)  # fmt: skip
    results = []
    for _ in range(3):
        results.append(deliver_due(store, settings, clock))
        clock.advance(3600)
    assert [(r.attempted, r.failed, r.dead) for r in results] == [(4, 4, 0), (4, 4, 0), (4, 4, 4)]
    for _ in range(3):  # a day later and more: nothing is sent again
        clock.advance(86_400)
        assert deliver_due(store, settings, clock).attempted == 0
    assert receiver.bad_signatures == 0
    assert sorted(receiver.tries.values()) == [3, 3, 3, 3] and receiver.accepted == []
    log = store.reporting.outbox_log(target="webhook")
    assert len(log) == 4 and store.outbox.due() == []
    assert all(m.attempts == 3 and m.dead_at is not None and m.delivered_at is None for m in log)
    assert all(m.last_error == "HTTP 500" for m in log)

    # a second case whose events got through: delivered, not dead
    receiver.fail_first = 0
    other = submitted_case(store, "alice")
    assert deliver_due(store, settings, clock).delivered == 4

    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECOUP_DATABASE_URL", db_url)
    monkeypatch.setenv("RECOUP_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("RECOUP_WEBHOOK_SECRET", SECRET)
    runner = CliRunner()

    def recoup(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        return result.stdout

    shown = recoup("cases", "show", str(case.id))
    assert "webhooks: 0 delivered, 0 pending, 4 dead (last error: HTTP 500)" in shown
    assert "webhooks: 4 delivered, 0 pending, 0 dead" in recoup("cases", "show", str(other.id))
    as_json = json.loads(recoup("cases", "show", str(case.id), "--json"))
    assert as_json["webhooks"] == {"delivered": 0, "pending": 0, "dead": 4, "last_error": "HTTP 500"}

    exported = {r["id"]: r for r in json.loads(recoup("cases", "export", "--format", "json"))}
    assert exported[case.id]["webhooks"] == as_json["webhooks"]
    assert exported[other.id]["webhooks"] == {"delivered": 4, "pending": 0, "dead": 0, "last_error": None}
    rows = {r["id"]: r for r in from_csv(recoup("cases", "export", "--format", "csv"))}
    assert json.loads(rows[str(case.id)]["webhooks"] or "")["dead"] == 4
    header = next(csv.reader(io.StringIO(recoup("cases", "export", "--format", "csv"))))
    assert header[-1] == "webhooks"
    logs = "".join(p.read_text() for p in (tmp_path / "data").rglob("*.log"))
    assert SECRET not in logs


def test_pending_retries_and_dead_letters_are_summed_per_case(store: Store, clock: FrozenClock) -> None:
    add_account(store, "alice", "alice@example.test")
    case = submitted_case(store, "alice")
    untouched = submitted_case(store, "alice")
    rows = [m for m in store.outbox.due() if m.payload["case_id"] == case.id]
    store.outbox.mark_delivered(rows[0].id)
    store.outbox.mark_failed(rows[1].id, "HTTP 502: bad gateway", retry_at=clock.now)
    store.outbox.mark_dead(rows[2].id, "HTTP 500: first dead")
    store.outbox.mark_dead(rows[3].id, "HTTP 500: second dead")
    summary = store.reporting.webhook_summaries("webhook", case_ids=[case.id])[case.id]
    assert (summary.delivered, summary.pending, summary.dead) == (1, 1, 2)
    assert summary.last_error == "HTTP 500: second dead"  # a dead letter's error first, newest
    assert summary.describe() == "1 delivered, 1 pending, 2 dead (last error: HTTP 500: second dead)"
    everything = store.reporting.webhook_summaries("webhook")
    assert everything[untouched.id].as_dict() == {"delivered": 0, "pending": 4, "dead": 0, "last_error": None}
    assert store.reporting.webhook_summaries("export") == {}
    assert [m.id for m in store.outbox.due() if m.payload["case_id"] == case.id] == [rows[1].id]


def test_backoff_doubles_and_is_capped() -> None:
    settings = Settings(webhook_backoff_base_s=10, webhook_backoff_max_s=100)
    assert [backoff(n, settings).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
