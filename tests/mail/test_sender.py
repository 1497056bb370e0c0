"""Sender identity: the From header read strictly (RFC 5322 addr-spec, never a display name),
the same for the outcome poller and the login-code wait, and Authentication-Results recorded."""

from __future__ import annotations

import pytest

from bot.mail.codes import newest_code
from bot.mail.imap import FetchedMail
from bot.mail.message import parse_message
from bot.mail.sender import parse_from, sender_matches

PORTAL = "transaction@notice.aliexpress.com"


def _raw(*headers: str, body: str = "Your code is 123456") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (head + "Subject: Order 3042417938137135: Refund complete\r\n"
            "Date: Sat, 1 Mar 2025 10:00:00 +0000\r\n\r\n" + body + "\r\n").encode()  # fmt: skip


FORGED_FROM = {
    # the portal address in a display name or a comment, the real address after it
    "bare address then angle address": f"{PORTAL} <evil@x.com>",
    "closing paren then angle address": f"{PORTAL})<evil@x.com>",
    "angle address then @domain": f"<{PORTAL}>@evil.com",
    "comment then angle address": f"{PORTAL} (AliExpress) <evil@x.com>",
    "two angle addresses": f"AliExpress <{PORTAL}> <evil@x.com>",
    "address glued to another domain": f"{PORTAL}@evil.com",
    "NUL before an angle address": f"{PORTAL}\x00<evil@x.com>",
    # several mailboxes, groups
    "two mailboxes": f"{PORTAL}, evil@x.com",
    "two named mailboxes": f"AliExpress <{PORTAL}>, Evil <evil@x.com>",
    "evil first of two": f"evil@x.com, {PORTAL}",
    "group syntax": f"AliExpress: {PORTAL};",
    # encoded-word tricks: an encoded word is never an address
    "encoded word as the whole address": "=?utf-8?b?PHRyYW5zYWN0aW9uQG5vdGljZS5hbGlleHByZXNzLmNvbT4=?=",
    "encoded word as the local part": f"AliExpress <=?utf-8?q?transaction?=@{PORTAL.split('@')[1]}>",
    # malformed
    "unclosed angle": f"<{PORTAL}",
    "quoted local part holding the address": f'AliExpress <"{PORTAL}"@evil.com>',
    "domain literal": "AliExpress <transaction@[192.0.2.1]>",
    "obsolete route": f"AliExpress <@relay.evil.test:{PORTAL}>",
    "empty": "",
}

NOT_THE_PORTAL = {
    # well-formed, but the address is someone else's: read as that address
    "address in a quoted display name": (f'"{PORTAL}" <phish@evil.test>', "phish@evil.test"),
    "address in an encoded display name": (
        "=?utf-8?q?transaction=40notice=2Ealiexpress=2Ecom?= <evil@x.com>", "evil@x.com"),
    "address in a trailing comment": (f"evil@x.com ({PORTAL})", "evil@x.com"),
    "look-alike subdomain": (f"AliExpress <{PORTAL}.evil.test>", f"{PORTAL}.evil.test"),
    "look-alike domain": (
        "AliExpress <transaction@notice-aliexpress.com>", "transaction@notice-aliexpress.com"),
}  # fmt: skip


@pytest.mark.parametrize("value", FORGED_FROM.values(), ids=list(FORGED_FROM))
def test_ambiguous_or_malformed_from_gives_no_sender(value: str) -> None:
    parsed = parse_message(_raw(f"From: {value}"), uid=1)
    assert parsed is not None and parsed.sender == ""
    assert not sender_matches(parsed.sender, PORTAL)
    assert not sender_matches(parsed.sender, "@notice.aliexpress.com")


@pytest.mark.parametrize(("value", "address"), NOT_THE_PORTAL.values(), ids=list(NOT_THE_PORTAL))
def test_the_sender_is_the_addr_spec_not_the_display_name(value: str, address: str) -> None:
    parsed = parse_message(_raw(f"From: {value}"), uid=1)
    assert parsed is not None and parsed.sender == address
    assert not sender_matches(parsed.sender, PORTAL)
    assert not sender_matches(parsed.sender, "@notice.aliexpress.com")


def test_two_from_headers_give_no_sender() -> None:
    for first, second in ((f"AliExpress <{PORTAL}>", "evil@x.com"), ("evil@x.com", PORTAL)):
        parsed = parse_message(_raw(f"From: {first}", f"From: {second}"), uid=1)
        assert parsed is not None and parsed.sender == ""


@pytest.mark.parametrize(
    "value",
    [
        f"AliExpress <{PORTAL}>",
        PORTAL,
        f"<{PORTAL}>",
        f"=?utf-8?q?AliExpress?= <{PORTAL}>",
        f'"AliExpress, Inc." <{PORTAL}>',
        "AliExpress <Transaction@Notice.AliExpress.COM>",
        f"AliExpress\r\n <{PORTAL}>",  # folded
        f"{PORTAL} (AliExpress)",  # a comment after the address is allowed
        f"AliExpress Inc. <{PORTAL}>",  # a dot in an unquoted display name (obsolete but common)
    ],
)
def test_genuine_portal_from_is_read(value: str) -> None:
    parsed = parse_message(_raw(f"From: {value}"), uid=1)
    assert parsed is not None and parsed.sender == PORTAL
    assert sender_matches(parsed.sender, PORTAL) and sender_matches(parsed.sender, "@notice.aliexpress.com")


def test_eight_bit_display_name_is_decoded() -> None:
    raw = "From: Müller Shop <shop@example.test>\r\nSubject: s\r\n\r\nb\r\n".encode()
    parsed = parse_message(raw, uid=1)
    assert parsed is not None and (parsed.sender, parsed.sender_name) == ("shop@example.test", "Müller Shop")


def test_domain_matching_is_exact() -> None:
    assert parse_from(f"x <{PORTAL}>").domain == "notice.aliexpress.com"
    assert not sender_matches("a@evilnotice.aliexpress.com", "@notice.aliexpress.com")
    assert sender_matches("", None)  # None matches anyone, by contract (the caller's choice)
    assert not sender_matches("", PORTAL)


def test_login_code_wait_uses_the_same_strict_sender() -> None:
    """The code wait reads mail through the same parser: a display-name forgery holding a code
    is not taken, the genuine mail is."""
    import re
    from datetime import UTC, datetime

    forged = FetchedMail(
        uid=5,
        size=1,
        internal_date=None,
        raw=_raw(f"From: {PORTAL} <evil@x.com>", body="Your code is 999999"),
    )
    genuine = FetchedMail(
        uid=4,
        size=1,
        internal_date=None,
        raw=_raw(f"From: AliExpress <{PORTAL}>", body="Your code is 123456"),
    )
    since = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    found = newest_code([genuine, forged], re.compile(r"\b(\d{6})\b"), since=since, sender=PORTAL)
    assert found == (4, "123456")


# ---- Authentication-Results -------------------------------------------------------------------
def test_topmost_authentication_results_is_recorded() -> None:
    raw = _raw(
        "Authentication-Results: mx.buyer.test; dkim=pass (2048-bit key) header.d=notice.aliexpress.com "
        "header.s=s1; dkim=fail header.d=other.test; spf=pass smtp.mailfrom=bounce@notice.aliexpress.com; "
        "dmarc=pass (p=REJECT) header.from=notice.aliexpress.com",
        "Authentication-Results: forged.example; dkim=fail header.d=notice.aliexpress.com; dmarc=fail",
        f"From: AliExpress <{PORTAL}>",
    )
    parsed = parse_message(raw, uid=1)
    assert parsed is not None and parsed.auth is not None
    assert parsed.auth.as_detail() == {
        "authserv_id": "mx.buyer.test", "dkim": "pass", "dkim_domain": "notice.aliexpress.com",
        "spf": "pass", "spf_domain": "notice.aliexpress.com", "dmarc": "pass",
        "dmarc_domain": "notice.aliexpress.com",
    }  # fmt: skip
    assert not parsed.auth.failed


def test_failing_or_missing_authentication_results() -> None:
    failed = parse_message(
        _raw("Authentication-Results: mx.buyer.test; dkim=none; spf=softfail smtp.mailfrom=evil.test; "
             "dmarc=fail header.from=notice.aliexpress.com", f"From: {PORTAL}"), uid=1)  # fmt: skip
    assert failed is not None and failed.auth is not None and failed.auth.failed
    assert (failed.auth.dkim, failed.auth.spf, failed.auth.dmarc) == ("none", "softfail", "fail")
    bare = parse_message(_raw(f"From: {PORTAL}"), uid=1)
    assert bare is not None and bare.auth is None
    junk = parse_message(_raw("Authentication-Results: ;;;==(((", f"From: {PORTAL}"), uid=1)
    assert junk is not None and (junk.auth is None or not junk.auth.failed)
