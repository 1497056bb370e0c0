"""Webhook delivery of case events from the store's outbox, signed, retried with backoff.

The store writes one outbox row per event for each configured target, in the event's own
transaction (``Store.open(..., outbox_targets=("webhook",))``). :func:`deliver_due` POSTs the due
rows of target ``webhook`` to ``Settings.webhook_url``:

* body: the row's payload as compact JSON with sorted keys (UTF-8);
* ``X-Recoup-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, key webhook_secret>``;
* ``X-Recoup-Event-Id: <event id>``: the idempotency key. Delivery is at least once (a crash
  after the POST and before the row is settled sends it again), so receivers drop repeats by it;
* ``X-Recoup-Attempt: <n>``: 1 for the first try.

A 2xx answer settles the row (``delivered_at``); anything else, a timeout or a dropped
connection records the error (never the URL or the secret) and the next try time
``now + base * 2**(attempts)``, capped at ``webhook_backoff_max_s``. A transport failure ends the
run (the receiver is unreachable; the other rows stay due). The row itself is the delivery log:
attempts, last_error, delivered_at (:meth:`bot.store.Store.reporting` ``.outbox_log()``).

Receivers check a request with :func:`verify_signature`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
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
EVENT_ID_HEADER = "X-Recoup-Event-Id"
ATTEMPT_HEADER = "X-Recoup-Attempt"


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed) for `payload`."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
        "utf-8"
    )


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when `header` is the valid signature of exactly `body` under `secret` (constant-time
    comparison). False for a missing, malformed or wrong header; never raises."""
    if not header or not isinstance(header, str) or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), header.strip().encode("ascii", "replace"))


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


def deliver_due(
    store: Store,
    settings: Settings,
    clock: Clock = utc_now,
    *,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """Send every due ``webhook`` outbox row once (up to ``webhook_batch``), settle each.

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
    delivered = failed = 0
    errors: list[str] = []
    try:
        for message in due:
            error, transport = _post(http, url, secret, message)
            if error is None:
                store.outbox.mark_delivered(message.id)
                delivered += 1
                continue
            failed += 1
            errors.append(f"event {message.event_id}: {error}")
            retry_at = clock() + backoff(message.attempts + 1, settings)
            store.outbox.mark_failed(message.id, error, retry_at=retry_at)
            logger.warning(
                "webhook for event {} failed (try {}): {}; next try at {}",
                message.event_id, message.attempts + 1, error, retry_at.isoformat(),
            )  # fmt: skip
            if transport:
                break
    finally:
        if own:
            http.close()
    return DeliveryResult(len(errors) + delivered, delivered, failed, tuple(errors))


async def adeliver_due(
    store: Store, settings: Settings, clock: Clock = utc_now, *, client: httpx.Client | None = None
) -> DeliveryResult:
    """:func:`deliver_due` in a worker thread."""
    return await asyncio.to_thread(deliver_due, store, settings, clock, client=client)


def _post(http: httpx.Client, url: str, secret: str, message: OutboxMessage) -> tuple[str | None, bool]:
    """(None, False) when accepted; else (error text, True when the receiver was unreachable)."""
    body = encode_body(message.payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
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
