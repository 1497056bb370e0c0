"""Outgoing mail of the sandbox portal: LMTP delivery into Dovecot, plus a log.

`Mailer.send()` only queues; one worker thread delivers in order over `smtplib.LMTP`. A delivery
failure is written to the log entry (`delivered: False`, `error`) and never reaches the portal.
With no LMTP host configured mails are logged, not delivered.
"""

from __future__ import annotations

import queue
import smtplib
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

SENDER = "AliExpress <transaction@notice.aliexpress.com>"
SENDER_ADDR = "transaction@notice.aliexpress.com"


@dataclass
class MailRecord:
    """One mail the portal sent (what the admin mail log shows)."""

    seq: int
    to: str
    subject: str
    kind: str
    order_id: str | None
    locale: str
    sent_at: str
    message_id: str
    delivered: bool | None = None
    error: str | None = None
    text: str = field(default="", repr=False)


class Mailer:
    """Queues mails and delivers them over LMTP in a background thread."""

    def __init__(self, lmtp_host: str | None, lmtp_port: int | None) -> None:
        self.lmtp_host = lmtp_host
        self.lmtp_port = lmtp_port
        self._log: list[MailRecord] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[MailRecord, EmailMessage] | None] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="sandbox-mailer", daemon=True)
        self._thread.start()

    def send(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str,
        kind: str,
        order_id: str | None,
        locale: str,
        when: datetime,
    ) -> MailRecord:
        """Queue one mail; returns its log record (delivery happens later)."""
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = make_msgid(domain="notice.aliexpress.com")
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        with self._lock:
            rec = MailRecord(
                seq=len(self._log) + 1,
                to=to,
                subject=subject,
                kind=kind,
                order_id=order_id,
                locale=locale,
                sent_at=when.isoformat(),
                message_id=str(msg["Message-ID"]),
                text=text,
            )
            self._log.append(rec)
            self._pending += 1
        self._queue.put((rec, msg))
        return rec

    def log(self) -> list[dict[str, object]]:
        """All mails so far, oldest first."""
        with self._lock:
            return [asdict(r) for r in self._log]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued mail was attempted; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Deliver what is queued, then stop the worker."""
        self._queue.put(None)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            rec, msg = job
            delivered, error = self._deliver(rec, msg)
            with self._idle:
                rec.delivered, rec.error = delivered, error
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, rec: MailRecord, msg: EmailMessage) -> tuple[bool | None, str | None]:
        if not self.lmtp_host or not self.lmtp_port:
            return None, None
        try:
            with smtplib.LMTP(self.lmtp_host, self.lmtp_port, timeout=10) as lmtp:
                refused = lmtp.send_message(msg, from_addr=SENDER_ADDR, to_addrs=[rec.to])
            if refused:
                return False, f"refused: {refused}"
            return True, None
        except (OSError, smtplib.SMTPException) as exc:
            return False, f"{type(exc).__name__}: {exc}"
