"""Webhook delivery to a real HTTP receiver on 127.0.0.1: signatures, idempotency keys,
retries with exponential backoff under a controlled clock, the delivery log."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from bot.outbox import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    backoff,
    deliver_due,
    encode_body,
    sign,
    verify_signature,
)
from bot.states import CaseState
from bot.store import Store
from tests.tracking.conftest import FrozenClock, add_account, submitted_case

SECRET = "test-webhook-secret-0123456789"


@dataclass
class Receiver:
    """A webhook receiver that answers 500 to the first `fail_first` tries of each event."""

    fail_first: int = 2
    tries: Counter[str] = field(default_factory=Counter)
    accepted: list[dict[str, object]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event_id = self.headers.get(EVENT_ID_HEADER, "")
            with state.lock:
                if not verify_signature(body, self.headers.get(SIGNATURE_HEADER), SECRET):
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


def test_signature_helpers() -> None:
    body = encode_body({"b": 1, "a": "ü"})
    assert body == '{"a":"ü","b":1}'.encode()
    header = sign(body, SECRET)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, SECRET)
    assert not verify_signature(body + b" ", header, SECRET)
    assert not verify_signature(body, header, SECRET + "x")
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, "sha1=" + header[7:], SECRET)
    assert not verify_signature(body, "sha256=zz", SECRET)


def test_backoff_doubles_and_is_capped() -> None:
    settings = Settings(webhook_backoff_base_s=10, webhook_backoff_max_s=100)
    assert [backoff(n, settings).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
