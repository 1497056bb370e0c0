"""Parsing one raw mail: what is read from good mail, and hostile mail never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.mail.imap import MailboxClient
from bot.mail.message import MAX_TEXT_CHARS, html_to_text, parse_message
from tests.fixtures.mail import Mailbox, deliver, make_message
from tests.mail.hostile import HOSTILE, hostile_nested


def test_well_formed_notification_is_read_fully() -> None:
    raw = make_message(
        "Order 3042417938137135: Order shipped",
        "Your order shipped. See https://www.aliexpress.com/p/tracking/index.html?tradeOrderId=3042417938137135",
        date=datetime(2026, 2, 17, 10, 30, tzinfo=UTC),
        message_id="<abc.123@notice.example>",
        html="<p>Your order <a href='https://www.aliexpress.com/p/order/detail.html?orderId=3042417938137135'>"
        "3042417938137135</a> shipped</p>",
    )
    msg = parse_message(raw, uid=9)
    assert msg is not None
    assert msg.uid == 9
    assert msg.message_id == "abc.123@notice.example"
    assert msg.sender == "transaction@notice.aliexpress.com"
    assert msg.sender_name == "AliExpress"
    assert msg.subject == "Order 3042417938137135: Order shipped"
    assert msg.date == datetime(2026, 2, 17, 10, 30, tzinfo=UTC)
    assert msg.text.startswith("Your order shipped.")  # the plain part wins over HTML
    assert msg.links == (
        "https://www.aliexpress.com/p/order/detail.html?orderId=3042417938137135",
        "https://www.aliexpress.com/p/tracking/index.html?tradeOrderId=3042417938137135",
    )
    assert not msg.truncated


def test_rfc2047_subject_and_sender_name_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?Q?M=C3=BCller_Shop?= <Shop@Example.TEST>\r\n"
        b"Subject: =?utf-8?B?QmVzdGVsbHVuZyAxMjM6IFZlcnNhbmRmZXJ0aWc=?=\r\n"
        b"Date: Tue, 17 Feb 2026 10:30:00 +0100\r\n\r\nText\r\n"
    )
    msg = parse_message(raw, uid=1)
    assert msg is not None
    assert msg.subject == "Bestellung 123: Versandfertig"
    assert msg.sender_name == "Müller Shop"
    assert msg.sender == "shop@example.test"
    assert msg.date is not None and msg.date.utcoffset() is not None
    assert msg.date.astimezone(UTC).hour == 9


def test_html_only_mail_is_stripped_to_text_with_links() -> None:
    text, links = html_to_text(
        "<html><head><title>t</title><script>var code='999999'</script></head>"
        "<body><h1>Code</h1><p>Your code is <b>123456</b></p><a href=' https://x.test/a '>a</a></body>"
    )
    assert "123456" in text and "999999" not in text and "var" not in text
    assert links == ["https://x.test/a"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_mail_never_raises(name: str) -> None:
    msg = parse_message(HOSTILE[name], uid=5)
    if msg is not None:
        assert msg.uid == 5
        assert isinstance(msg.subject, str) and isinstance(msg.text, str)
        assert len(msg.text) <= MAX_TEXT_CHARS
        assert len(msg.subject) <= 2_000


def test_what_hostile_mail_still_yields() -> None:
    huge = parse_message(HOSTILE["huge body"], uid=1)
    assert huge is not None and huge.truncated and len(huge.text) == MAX_TEXT_CHARS
    deep = parse_message(HOSTILE["nested 300 deep"], uid=1)
    assert deep is not None and deep.subject == "deep"  # the body may be lost, the headers not
    html = parse_message(HOSTILE["html with script"], uid=1)
    deeper = parse_message(hostile_nested(3000), uid=1)
    assert deeper is not None and deeper.subject == "deep" and deeper.truncated
    assert html is not None and "alert" not in html.text and "Order 123" in html.text
    assert "https://example.test/p/order/detail.html?orderId=3042417938137135" in html.links
    mixed = parse_message(HOSTILE["base64 html in mixed"], uid=1)
    assert mixed is not None and mixed.text == "Grüße a" and mixed.links == ("https://example.test/a",)
    bad = parse_message(HOSTILE["bad date and from"], uid=1)
    assert bad is not None and bad.date is None and bad.sender == "" and bad.message_id is None
    lying = parse_message(HOSTILE["lying utf-8 charset"], uid=1)
    assert lying is not None and lying.text.startswith("Bestellung ")
    assert parse_message(b"", uid=1) is None
    assert parse_message(b"   \r\n", uid=1) is None


@pytest.mark.e2e
def test_hostile_mail_through_dovecot_is_fetched_and_parsed(mailbox: Mailbox) -> None:
    names = sorted(HOSTILE)
    for name in names:
        deliver(mailbox.server, mailbox.email, HOSTILE[name])
    client = MailboxClient(
        mailbox.server.host,
        mailbox.server.imap_port,
        use_ssl=False,
        username=mailbox.email,
        password=mailbox.password,
    )
    with client:
        mails = client.fetch_after(0)
    assert len(mails) == len(names)
    parsed = [parse_message(m.raw, uid=m.uid) for m in mails if m.raw is not None]
    assert len(parsed) == len(names)
    subjects = {p.subject for p in parsed if p is not None}
    assert {"deep", "big", "html", "mixed"} <= subjects
