"""The kept summary of an unrecognised portal mail: no codes or link tokens, bounded, and the
message rebuilt from it reads exactly as the original under the pack's classifier."""

from __future__ import annotations

import json

import pytest

from bot.config import Settings
from bot.mail.classify import UNRECOGNISED, MailClassifier
from bot.mail.message import parse_message
from bot.mail.summary import MAX_TEXT_CHARS, code_pattern, rebuild, scrub_link, summarise
from flows.pack import Pack, load_pack
from flows.pack_schema import MailRule
from tests.fixtures.mail import make_message
from tests.mail.hostile import HOSTILE

OID = "3042417938137135"
OID2 = "3042417938137136"


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack(Settings())


def _summary(pack: Pack, raw: bytes):  # type: ignore[no-untyped-def]
    message = parse_message(raw, uid=3)
    assert message is not None
    return message, summarise(message, raw, code_regex=code_pattern(pack.model.email.login_code.code))


PORTAL_MAILS = {
    "rule subject": make_message(f"Order {OID}: Cancellation approved", "Your cancellation was approved."),
    "german rule": make_message(f"Bestellung {OID}: Erstattung abgeschlossen", "Grüße, Ihr Team"),
    "closed": make_message(f"Your order {OID} is closed", "It is closed."),
    "unknown wording, id in link": make_message(
        "Update on your parcel LP00123456789012",
        "See details",
        html=f'<p><a href="https://www.aliexpress.com/p/order/detail.html?spm=a2g0o.1&orderId={OID}&token=s3cr3t#x">'
        "Details</a></p>",
    ),
    "several ids in o_ids": make_message(
        "Your orders", f"Open https://www.aliexpress.com/p/order/index.html?o_ids={OID},{OID2} now"
    ),
    "login code": make_message("Your verification code", "Your code is 654321."),
}


@pytest.mark.parametrize("raw", PORTAL_MAILS.values(), ids=list(PORTAL_MAILS))
def test_the_rebuilt_mail_classifies_as_the_original(pack: Pack, raw: bytes) -> None:
    classifier = MailClassifier(pack.model.email)
    message, kept = _summary(pack, raw)
    again = rebuild(kept.content, uid=3, internal_date=None)
    assert again is not None
    assert classifier.is_portal_sender(again) == classifier.is_portal_sender(message)
    want, got = classifier.classify(message), classifier.classify(again)
    assert (got.kind, got.order_ids) == (want.kind, want.order_ids) if want else got is None
    assert again.message_id == message.message_id and again.date == message.date


def test_after_a_pack_change_the_rebuilt_mail_finds_its_ids_in_the_links(pack: Pack) -> None:
    shipped = MailClassifier(pack.model.email)
    rules = pack.model.email
    changed = MailClassifier(
        rules.model_copy(
            update={
                "rules": [MailRule(event="order_shipped", subject="^Update on your parcel"), *rules.rules]
            }
        )
    )
    for name, ids in (("unknown wording, id in link", (OID,)), ("several ids in o_ids", (OID, OID2))):
        _message, kept = _summary(pack, PORTAL_MAILS[name])
        again = rebuild(kept.content, uid=3, internal_date=None)
        assert again is not None
        before = shipped.classify(again)  # the shipped pack: no rule, only the doorbell
        assert before is not None and before.kind == UNRECOGNISED and before.order_ids == ids
        if name.startswith("unknown"):
            signal = changed.classify(again)
            assert signal is not None and (signal.kind, signal.order_ids) == ("order_shipped", ids)
        assert kept.order_ids == ids


def test_codes_and_link_tokens_are_not_kept(pack: Pack) -> None:
    raw = make_message(
        "Security check 123456 for your order",
        f"Enter 987654 to continue. Order https://www.aliexpress.com/d?orderId={OID}&sid=abc123XYZ#frag\n"
        "Call 0301 2345 or use PIN 4711.",
    )
    _message, kept = _summary(pack, raw)
    stored = json.dumps([kept.subject, kept.excerpt, kept.content])
    for secret in ("123456", "987654", "abc123XYZ", "frag"):
        assert secret not in stored, secret
    assert f"orderId={OID}" in stored and kept.order_ids == (OID,)
    assert "4711" not in kept.excerpt and "2345" not in kept.excerpt  # the excerpt masks every 4-8 digit run
    assert scrub_link(f"https://h.test/p?orderId={OID}&t=tok#a") == f"https://h.test/p?orderId={OID}&t="


def test_the_summary_is_bounded_and_hostile_mail_never_raises(pack: Pack) -> None:
    huge = make_message("Big news", "Lorem ipsum 12 " * 100_000)
    _message, kept = _summary(pack, huge)
    assert len(kept.content["text"]) <= MAX_TEXT_CHARS and kept.content["truncated"] is True
    assert len(json.dumps(kept.content)) < 2 * MAX_TEXT_CHARS and len(kept.excerpt) <= 400
    for raw in HOSTILE.values():
        message = parse_message(raw, uid=1)
        if message is None:
            continue
        summary = summarise(message, raw, code_regex=code_pattern(None))
        rebuild(summary.content, uid=1, internal_date=None)  # must not raise
        assert len(json.dumps(summary.content)) < 4 * MAX_TEXT_CHARS
