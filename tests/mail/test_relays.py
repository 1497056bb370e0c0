"""Relayed and forwarded portal mail (issue 8 #2), in the one home of sender identity
(bot/mail/sender.py): Apple Hide My Email addresses encoding the portal's sender, forwards naming
it (X-Original-From, Resent-From, Reply-To, a forwarded header block in the body), operator
aliases; display-name spoofs and look-alike domains stay rejected; the login-code wait reads
relayed code mails the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.mail.codes import ImapCodeSource, newest_code
from bot.mail.imap import FetchedMail
from bot.mail.message import parse_message
from bot.mail.sender import SenderClaim, accepted_via, apple_relay_matches, forwarded_from
from tests.fixtures.mail import Mailbox, deliver, make_message
from tests.mail.corpus import RELAY

PORTAL = "transaction@notice.aliexpress.com"
CODE = r"verification code is (\d{6})"


@pytest.mark.parametrize(
    ("address", "wanted", "ok"),
    [
        (RELAY, PORTAL, True),
        ("transaction_at_notice_aliexpress_com_ab12cd34ef@privaterelay.appleid.com", PORTAL, True),
        ("Transaction_At_Notice_AliExpress_Com_AB12CD34EF@PrivateRelay.AppleID.com", PORTAL, True),
        (
            "transaction_at_notice_aliexpress_com_ab12cd34ef@privaterelay.appleid.com",
            "@notice.aliexpress.com",
            True,
        ),
        # look-alikes: another domain encoded, a short tail that is a domain, another relay host
        ("transaction_at_notice_aliexpress_com_evil_io_abc123@privaterelay.appleid.com", PORTAL, False),
        ("transaction_at_notice_aliexpress_com_evilcorp_io@privaterelay.appleid.com", PORTAL, False),
        ("transaction_at_notice-aliexpress_com_ab12cd34ef@privaterelay.appleid.com", PORTAL, False),
        ("transaction_at_notice_aliexpres_com_ab12cd34ef@privaterelay.appleid.com", PORTAL, False),
        ("xtransaction_at_notice_aliexpress_com_ab12cd34ef@privaterelay.appleid.com", PORTAL, False),
        ("transaction_at_notice_aliexpress_com_ab12cd34ef@privaterelay.appleid.com.evil.io", PORTAL, False),
        ("transaction_at_notice_aliexpress_com_ab12cd34ef@evilrelay.example", PORTAL, False),
        ("deals_at_deals_aliexpress_com_ab12cd34ef@privaterelay.appleid.com", PORTAL, False),
        ("transaction_at_notice_aliexpress_com_@privaterelay.appleid.com", PORTAL, False),
    ],
)
def test_apple_relay_addresses(address: str, wanted: str, ok: bool) -> None:
    assert apple_relay_matches(address, wanted) is ok


@pytest.mark.parametrize(
    "text",
    [
        f"---------- Forwarded message ---------\nFrom: AliExpress <{PORTAL}>\nDate: Sat, Mar 1, 2025\n",
        f"hi\n\n> ---------- Forwarded message ---------\n> From: AliExpress <{PORTAL}>\n",
        f"Begin forwarded message:\n\nFrom: AliExpress <{PORTAL}>\nSubject: x\n",
        f"-----Original Message-----\nFrom: AliExpress [mailto:{PORTAL}]\n",
        f"From: AliExpress [mailto:{PORTAL}]\nSent: Saturday, March 1, 2025 10:00 AM\n",
        f"Von: AliExpress <{PORTAL}>\nGesendet: Samstag, 1. März 2025 10:00\n",
        f"-------- Weitergeleitete Nachricht --------\nVon: AliExpress <{PORTAL}>\n",
        f"-------- Message transféré --------\nDe : AliExpress <{PORTAL}>\n",
        f"---------- Mensaje reenviado ---------\nDe: AliExpress <{PORTAL}>\n",
        f"-------- Messaggio inoltrato --------\nDa: AliExpress <{PORTAL}>\n",
        f"-------- Wiadomość przekazana dalej --------\nOd: AliExpress <{PORTAL}>\n",
        f"-------- Doorgestuurd bericht --------\nVan: AliExpress <{PORTAL}>\n",
        f"**From:** AliExpress <{PORTAL}>\n**Sent:** Saturday\n",
    ],
)
def test_forwarded_header_blocks_name_the_original_sender(text: str) -> None:
    assert forwarded_from(text) == PORTAL


@pytest.mark.parametrize(
    "text",
    [
        f"From: AliExpress <{PORTAL}>\n\nno marker, no Sent line\n",
        f"Did you get a mail from: {PORTAL}?\n",
        f"---------- Forwarded message ---------\nFrom: {PORTAL} <evil@x.test>\n",  # display-name trick
        f"---------- Forwarded message ---------\nFrom: AliExpress <{PORTAL}>, evil@x.test\n",
        f"---------- Forwarded message ---------\n\n\n\n\n\n\n\nFrom: AliExpress <{PORTAL}>\n",  # too far
    ],
)
def test_no_forwarded_block_no_claim(text: str) -> None:
    assert forwarded_from(text) != PORTAL


def test_accepted_via_order_and_refusals() -> None:
    claims = (SenderClaim("x-original-from", PORTAL),)
    assert accepted_via(PORTAL, (), PORTAL) == "direct"
    assert accepted_via("fwd@a.example", (), PORTAL, ("fwd@a.example",)) == "alias"
    assert accepted_via(RELAY, (), PORTAL) == "relay:apple"
    assert accepted_via("fwd@a.example", claims, PORTAL) == "forward:x-original-from"
    assert accepted_via("", claims, PORTAL) is None  # a refused From is never accepted
    assert (
        accepted_via("fwd@a.example", (SenderClaim("reply-to", "transaction@notice-aliexpress.com"),), PORTAL)
        is None
    )
    assert accepted_via("fwd@a.example", (), PORTAL, ("other@a.example",)) is None


def test_repeated_or_ambiguous_claim_headers_are_not_read() -> None:
    raw = (
        f"From: fwd@a.example\r\nX-Original-From: {PORTAL}\r\nX-Original-From: evil@x.test\r\n"
        f"Reply-To: {PORTAL}, evil@x.test\r\nSubject: s\r\n\r\nbody\r\n"
    ).encode()
    message = parse_message(raw, uid=1)
    assert message is not None and message.sender_claims == ()


def _fetched(uid: int, raw: bytes) -> FetchedMail:
    return FetchedMail(uid=uid, raw=raw, internal_date=None, size=len(raw))


def test_login_code_from_a_relay_or_forward_is_read_like_a_direct_one() -> None:
    since = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    later = since + timedelta(seconds=5)

    regex = re.compile(CODE)
    relayed = make_message(
        "Your verification code",
        "Your verification code is 222222.",
        sender=f"AliExpress <{RELAY}>",
        date=later,
    )
    forwarded = make_message(
        "Fwd: Your verification code",
        f"---------- Forwarded message ---------\nFrom: AliExpress <{PORTAL}>\n\n"
        "Your verification code is 333333.",
        sender="me@mine.example",
        date=later,
    )
    spoof = make_message(
        "Your verification code",
        "Your verification code is 999999.",
        sender='"AliExpress" <someone@else.test>',
        date=later,
    )
    assert newest_code([_fetched(1, relayed)], regex, since=since, sender=PORTAL) == (1, "222222")
    assert newest_code([_fetched(2, forwarded)], regex, since=since, sender=PORTAL) == (2, "333333")
    assert newest_code([_fetched(3, spoof)], regex, since=since, sender=PORTAL) is None
    alias = make_message(
        "Your verification code", "Your verification code is 444444.", sender="fwd@a.example", date=later
    )
    assert newest_code([_fetched(4, alias)], regex, since=since, sender=PORTAL) is None
    assert newest_code(
        [_fetched(4, alias)], regex, since=since, sender=PORTAL, aliases=("fwd@a.example",)
    ) == (4, "444444")


@pytest.mark.e2e
async def test_login_code_wait_reads_a_relayed_code_mail_from_dovecot(mailbox: Mailbox) -> None:
    since = datetime.now(UTC)
    deliver(
        mailbox.server,
        mailbox.email,
        make_message(
            "Your verification code",
            "Your verification code is 555555.",
            sender=f"AliExpress <{RELAY}>",
            to=mailbox.email,
            date=since + timedelta(seconds=1),
        ),
    )
    settings = Settings(
        imap_host=mailbox.server.host,
        imap_port=mailbox.server.imap_port,
        imap_ssl=False,
        mail_poll_interval_s=0.5,
    )
    code = await ImapCodeSource(settings).wait_for_code(
        mailbox.email, mailbox.password, since=since, timeout_s=10, pattern=CODE, sender=PORTAL
    )
    assert code == "555555"
