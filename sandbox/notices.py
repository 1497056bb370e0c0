"""Builds the portal's notification mails (subject and body shapes from portal-facts).

Order steps: `Order <id>: <step>` (German `Bestellung <id>: <Schritt>` for German accounts); the
closed mail `Your order <id> is closed` is always English and never says why. Bodies link to
the order with `tradeOrderId=<id>`. Sending goes through `Mailer`, so failures never surface here.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from sandbox.i18n import t
from sandbox.mailer import Mailer, MailRecord
from sandbox.model import AccountState, OrderState


class Notices:
    """Composes and queues the mails of one portal."""

    def __init__(self, mailer: Mailer, link_base: str) -> None:
        self.mailer = mailer
        self.link_base = link_base.rstrip("/")

    def _link(self, order_id: str) -> str:
        return f"{self.link_base}/p/order/detail.html?tradeOrderId={order_id}"

    def order_step(
        self, acc: AccountState, order: OrderState, step: str, when: datetime, **fmt: object
    ) -> MailRecord:
        """`Order <id>: <step>` in the account's language; `step` is an i18n key suffix."""
        loc = acc.locale
        subject = t(loc, "mail.subject", id=order.id, step=t(loc, f"step.{step}"))
        line = t(loc, f"mailtext.{step}", **fmt) if f"mailtext.{step}" in _keys() else ""
        return self._send(acc, order, subject, line, kind=step, when=when)

    def closed(self, acc: AccountState, order: OrderState, when: datetime) -> MailRecord:
        """`Your order <id> is closed`, always English, no reason given."""
        subject = t("en_US", "mail.closed", id=order.id)
        return self._send(
            acc,
            order,
            subject,
            t("en_US", "mailtext.closed", id=order.id),
            kind="closed",
            when=when,
            locale="en_US",
        )

    def login_code(self, acc: AccountState, code: str, when: datetime) -> MailRecord:
        """The 6-digit login verification code."""
        loc = acc.locale
        text = "\n\n".join(
            [t(loc, "mail.code_body", code=code), t(loc, "mail.code_note"), t(loc, "mail.footer")]
        )
        html = (
            f"<html><body><p>{escape(t(loc, 'mail.code_body', code=code))}</p>"
            f"<p style='font-size:28px;letter-spacing:6px'><b>{code}</b></p>"
            f"<p>{escape(t(loc, 'mail.code_note'))}</p></body></html>"
        )
        return self.mailer.send(
            to=acc.email,
            subject=t(loc, "mail.code_subject"),
            text=text,
            html=html,
            kind="login_code",
            order_id=None,
            locale=loc,
            when=when,
        )

    def _send(
        self,
        acc: AccountState,
        order: OrderState,
        subject: str,
        line: str,
        *,
        kind: str,
        when: datetime,
        locale: str | None = None,
    ) -> MailRecord:
        loc = locale or acc.locale
        link = self._link(order.id)
        greeting = t(loc, "mail.greeting", name=acc.spec.name)
        items = ", ".join(i.name for i in order.items)
        text = (
            f"{greeting}\n\n{line}\n\n{items}\n\n{t(loc, 'mail.view')}: {link}\n\n{t(loc, 'mail.footer')}\n"
        )
        html = (
            "<html><body style='font-family:Arial,sans-serif'>"
            f"<p>{escape(greeting)}</p><p>{escape(line)}</p><p>{escape(items)}</p>"
            f"<p><a href='{escape(link)}'>{escape(t(loc, 'mail.view'))}</a></p>"
            f"<p style='color:#999'>{escape(t(loc, 'mail.footer'))}</p></body></html>"
        )
        return self.mailer.send(
            to=acc.email,
            subject=subject,
            text=text,
            html=html,
            kind=kind,
            order_id=order.id,
            locale=loc,
            when=when,
        )


def _keys() -> set[str]:
    from sandbox.i18n import EN

    return set(EN)
