"""Webhook delivery of case events from the store's outbox, signed, retried with backoff, and
given up on (dead-lettered) after a bounded number of tries.

The store writes one outbox row per event for each configured target, in the event's own
transaction (``Store.open(..., outbox_targets=("webhook",))``). :func:`deliver_due` POSTs the due
rows of target ``webhook`` to ``Settings.webhook_url``:

* body: the row's payload as compact JSON with sorted keys (UTF-8);
* ``X-Recoup-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>", key
  webhook_secret>`` (Stripe's scheme): the time of this try is signed with the body, so a
  captured request cannot be replayed later. ``X-Recoup-Timestamp: <t>`` repeats the time;
* ``X-Recoup-Event-Id: <event id>``: the idempotency key. Delivery is at least once (a crash
  after the POST and before the row is settled sends it again), so receivers drop repeats by it;
* ``X-Recoup-Attempt: <n>``: 1 for the first try.

Receivers check a request with :func:`verify_signature`, which also rejects a timestamp more
than ``tolerance`` (default 300 s) away from their clock: a replayed request is refused once it
is older than that, and a fresh one within it is dropped by its event id.

A 2xx answer settles the row (``delivered_at``); anything else, a timeout or a dropped
connection records the error (never the URL or the secret) and the next try time
``now + base * 2**(attempts)``, capped at ``webhook_backoff_max_s``. After
``webhook_max_attempts`` failed tries the row is dead (``dead_at``): never sent again, shown by
``recoup cases show`` and in the export's ``webhooks`` column. A transport failure ends the run
(the receiver is unreachable; the other rows stay due). The row itself is the delivery log:
attempts, last_error, delivered_at, dead_at (:meth:`bot.store.Store.reporting` ``.outbox_log()``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from loguru import logger

from bot.config import Settings
from bot.errors import ConfigError
from bot.store import Clock, OutboxMessage, Store, utc_now

TARGET = "webhook"
"""The outbox target this module delivers."""

SIGNATURE_HEADER = "X-Recoup-Signature"
TIMESTAMP_HEADER = "X-Recoup-Timestamp"
EVENT_ID_HEADER = "X-Recoup-Event-Id"
ATTEMPT_HEADER = "X-Recoup-Attempt"

SIGNATURE_SCHEME = "v1"
"""The signature scheme in the header: HMAC-SHA256 of ``"<t>.<body>"``, hex."""

DEFAULT_TOLERANCE_S = 300
"""How far (seconds) a request's signed timestamp may be from the receiver's clock: 5 minutes."""


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed) for `payload`."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
        "utf-8"
    )


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds):
    ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    return f"t={int(timestamp)},{SIGNATURE_SCHEME}={_digest(secret, int(timestamp), body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` (the ``X-Recoup-Signature`` value) signs exactly `body` under `secret`
    and its timestamp ``t`` is at most `tolerance` seconds away from `now` (unix seconds; the
    current time by default). Any of several ``v1=`` values may match (as in Stripe's scheme);
    comparisons are constant-time.

    False, never an exception, for a missing or malformed header, a wrong body or secret, or a
    timestamp too old (a replay) or too far in the future. Receivers should answer 4xx then.
    """
    if not secret or not isinstance(header, str) or not isinstance(body, bytes | bytearray):
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()) or len(value) > 12:
                return False
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, bytes(body)).encode("ascii")
    matches = [hmac.compare_digest(expected, c.encode("ascii", "replace")) for c in candidates]
    return any(matches)


def backoff(attempts: int, settings: Settings) -> timedelta:
    """Delay before the next try after `attempts` failed tries (1 → base, 2 → 2·base, ...)."""
    exponent = max(attempts - 1, 0)
    seconds = settings.webhook_backoff_base_s * (2.0 ** min(exponent, 40))
    return timedelta(seconds=min(seconds, settings.webhook_backoff_max_s))


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery run did."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    errors: tuple[str, ...] = field(default=())
    """One short line per failed try (no URL, no secret)."""
    dead: int = 0
    """Failed tries that used up the retry budget: those rows are dead letters now."""


def deliver_due(
    store: Store,
    settings: Settings,
    clock: Clock = utc_now,
    *,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """Send every due ``webhook`` outbox row once (up to ``webhook_batch``), settle each: delivered,
    failed with a next try time, or dead once ``webhook_max_attempts`` tries have failed.

    Raises ConfigError when ``webhook_url`` or ``webhook_secret`` is unset (nothing unsigned is
    ever sent), StoreUnavailableError when the store is unreachable. Receiver failures never
    raise: they are recorded on the row and retried later.
    """
    url, secret = settings.webhook_url, settings.webhook_secret
    if not url:
        raise ConfigError("webhook_url is not set: no webhook delivery possible")
    if not secret:
        raise ConfigError("webhook_secret is not set: webhooks are never sent unsigned")
    due = store.outbox.due(target=TARGET, limit=settings.webhook_batch)
    if not due:
        return DeliveryResult()
    own = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
    delivered = failed = dead = 0
    errors: list[str] = []
    try:
        for message in due:
            error, transport = _post(http, url, secret, message, int(clock().timestamp()))
            if error is None:
                store.outbox.mark_delivered(message.id)
                delivered += 1
                continue
            failed += 1
            tries = message.attempts + 1
            errors.append(f"event {message.event_id}: {error}")
            if tries >= settings.webhook_max_attempts:
                dead += 1
                store.outbox.mark_dead(message.id, error)
                logger.error(
                    "webhook for event {} failed (try {} of {}): {}; given up, kept as a dead letter",
                    message.event_id, tries, settings.webhook_max_attempts, error,
                )  # fmt: skip
            else:
                retry_at = clock() + backoff(tries, settings)
                store.outbox.mark_failed(message.id, error, retry_at=retry_at)
                logger.warning(
                    "webhook for event {} failed (try {} of {}): {}; next try at {}",
                    message.event_id, tries, settings.webhook_max_attempts, error, retry_at.isoformat(),
                )  # fmt: skip
            if transport:
                break
    finally:
        if own:
            http.close()
    return DeliveryResult(len(errors) + delivered, delivered, failed, tuple(errors), dead)


async def adeliver_due(
    store: Store, settings: Settings, clock: Clock = utc_now, *, client: httpx.Client | None = None
) -> DeliveryResult:
    """:func:`deliver_due` in a worker thread."""
    return await asyncio.to_thread(deliver_due, store, settings, clock, client=client)


def _post(
    http: httpx.Client, url: str, secret: str, message: OutboxMessage, timestamp: int
) -> tuple[str | None, bool]:
    """(None, False) when accepted; else (error text, True when the receiver was unreachable)."""
    body = encode_body(message.payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret, timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: str(message.event_id),
        ATTEMPT_HEADER: str(message.attempts + 1),
    }
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.TransportError as exc:
        return _redact(f"{type(exc).__name__}: {exc}", url, secret), True
    if 200 <= response.status_code < 300:
        return None, False
    snippet = " ".join(response.text[:200].split())
    return _redact(f"HTTP {response.status_code}: {snippet}".rstrip(": "), url, secret), False


def _redact(text: str, url: str, secret: str) -> str:
    return text.replace(url, "<webhook_url>").replace(secret, "<secret>")[:500]
