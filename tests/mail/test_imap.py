"""The IMAP boundary against the real Dovecot: UID cursor fetches, no \\Seen, typed errors."""

from __future__ import annotations

import socket

import pytest
from imapclient import IMAPClient

from bot.config import Settings
from bot.errors import ConfigError, MailLoginError, MailUnavailableError
from bot.mail.cursor import MailCursor, PlanReason, advance, plan_fetch
from bot.mail.imap import PLAIN_IMAP_HINT, FetchedMail, MailboxClient
from bot.mail.message import parse_message
from tests.fixtures.mail import Mailbox, deliver, make_message

pytestmark = pytest.mark.e2e


def _client(box: Mailbox, **kwargs: object) -> MailboxClient:
    settings = Settings(imap_host=box.server.host, imap_port=box.server.imap_port, imap_ssl=False)
    client = MailboxClient.from_settings(settings, box.email, box.password)
    for key, value in kwargs.items():
        setattr(client, key, value)
    return client


def _send(box: Mailbox, subject: str, body: str = "text", size_pad: int = 0) -> None:
    deliver(box.server, box.email, make_message(subject, body + "x" * size_pad, to=box.email))


def _subjects(mails: list[FetchedMail]) -> list[str]:
    out = []
    for mail in mails:
        assert mail.raw is not None
        parsed = parse_message(mail.raw, uid=mail.uid)
        assert parsed is not None
        out.append(parsed.subject)
    return out


def _flags(box: Mailbox) -> dict[int, tuple[bytes, ...]]:
    with IMAPClient(box.server.host, box.server.imap_port, ssl=False) as other:
        other.login(box.email, box.password)
        other.select_folder("INBOX", readonly=True)
        return {uid: data[b"FLAGS"] for uid, data in other.fetch(other.search("ALL"), ["FLAGS"]).items()}


def test_fetch_after_cursor_returns_exactly_the_new_ones_and_sets_no_seen(mailbox: Mailbox) -> None:
    for n in range(3):
        _send(mailbox, f"first {n}")
    with _client(mailbox) as client:
        state = client.state
        assert state is not None and state.exists == 3 and state.uidnext == 4
        first = client.fetch_after(0)
        assert _subjects(first) == ["first 0", "first 1", "first 2"]
        assert [m.uid for m in first] == [1, 2, 3]
        assert all(m.internal_date is not None and m.internal_date.tzinfo for m in first)
        cursor = first[-1].uid

        _send(mailbox, "second 0")
        _send(mailbox, "second 1")
        state = client.refresh()
        assert state.uidnext == 6
        again = client.fetch_after(cursor)
        assert _subjects(again) == ["second 0", "second 1"]
        assert client.fetch_after(again[-1].uid) == []
    flags = _flags(mailbox)
    assert len(flags) == 5
    assert all(b"\\Seen" not in f for f in flags.values()), flags


def test_burst_of_fifty_fetched_once_each_across_cursor_moves(mailbox: Mailbox) -> None:
    seen: list[str] = []
    cursor: MailCursor | None = None
    client = _client(mailbox, batch_size=7)
    client.open()
    try:
        for wave in (range(0, 20), range(20, 21), range(21, 50), range(0)):
            for n in wave:
                _send(mailbox, f"burst {n:02d}")
            state = client.refresh()
            plan = plan_fetch(cursor, state.mailbox, state.uidvalidity, state.uidnext)
            cursor = plan.cursor
            if not plan.fetch:
                assert plan.reason is PlanReason.UP_TO_DATE
                continue
            batches = list(client.fetch(client.uids_after(plan.after_uid)))
            assert all(len(batch) <= 7 for batch in batches)
            for batch in batches:
                seen.extend(_subjects(batch))
                cursor = advance(cursor, [m.uid for m in batch])
    finally:
        client.close()
    assert seen == [f"burst {n:02d}" for n in range(50)]
    assert cursor is not None and cursor.last_uid == 50
    assert all(b"\\Seen" not in f for f in _flags(mailbox).values())


def test_oversized_message_is_skipped_but_passed_by_the_cursor(mailbox: Mailbox) -> None:
    _send(mailbox, "small before")
    _send(mailbox, "huge", size_pad=300_000)
    _send(mailbox, "small after")
    with _client(mailbox, max_message_bytes=100_000) as client:
        mails = client.fetch_after(0)
    assert [m.uid for m in mails] == [1, 2, 3]
    assert [m.skipped for m in mails] == [False, True, False]
    assert mails[1].size > 300_000
    assert _subjects([mails[0], mails[2]]) == ["small before", "small after"]


def test_uidvalidity_change_is_detected_and_dedupe_repeats_nothing(mailbox: Mailbox) -> None:
    for n in range(3):
        _send(mailbox, f"kept {n}")
    ids: set[str] = set()
    with _client(mailbox) as client:
        state = client.state
        assert state is not None
        cursor = plan_fetch(None, state.mailbox, state.uidvalidity, state.uidnext).cursor
        for mail in client.fetch_after(0):
            assert mail.raw is not None
            parsed = parse_message(mail.raw, uid=mail.uid)
            assert parsed is not None and parsed.message_id
            ids.add(parsed.message_id)
            cursor = advance(cursor, [mail.uid])
    old_validity = cursor.uidvalidity

    mailbox.server.doveadm(
        "mailbox", "update", "-u", mailbox.email, "--uid-validity", str(old_validity + 1000), "INBOX"
    )
    _send(mailbox, "after the change")

    with _client(mailbox) as client:
        state = client.state
        assert state is not None and state.uidvalidity == old_validity + 1000
        plan = plan_fetch(cursor, state.mailbox, state.uidvalidity, state.uidnext)
        assert plan.reason is PlanReason.UIDVALIDITY_CHANGED and plan.reset and plan.after_uid == 0
        fresh = []
        for mail in client.fetch_after(plan.after_uid):
            assert mail.raw is not None
            parsed = parse_message(mail.raw, uid=mail.uid)
            assert parsed is not None and parsed.message_id
            if parsed.message_id not in ids:
                fresh.append(parsed.subject)
    assert fresh == ["after the change"]


def test_wrong_password_raises_mail_login_error_without_the_password(mailbox: Mailbox) -> None:
    client = MailboxClient(
        mailbox.server.host,
        mailbox.server.imap_port,
        use_ssl=False,
        username=mailbox.email,
        password="not-the-password-123",
    )
    with pytest.raises(MailLoginError) as info:
        client.open()
    assert mailbox.email in str(info.value)
    assert "not-the-password-123" not in str(info.value) + repr(client)
    assert info.value.action == "needs_human"


def test_unreachable_server_raises_mail_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        client = MailboxClient("127.0.0.1", port, use_ssl=False, username="u", password="p", timeout_s=2)
        with pytest.raises(MailUnavailableError) as info:
            client.open()
    assert info.value.action == "retry"


def test_tls_to_a_plain_server_is_a_setting_with_the_hint(mailbox: Mailbox) -> None:
    """SSL's "wrong version number" against a plain server is no passing fault: ConfigError
    (fix_config, no retry) saying to turn RECOUP_IMAP_SSL off, from open() and greet() alike."""
    client = MailboxClient(
        mailbox.server.host,
        mailbox.server.imap_port,
        use_ssl=True,
        username=mailbox.email,
        password=mailbox.password,
        timeout_s=5,
    )
    for attempt in (client.open, client.greet):
        with pytest.raises(ConfigError) as info:
            attempt()
        assert PLAIN_IMAP_HINT in str(info.value) and info.value.action == "fix_config"
        assert "WRONG_VERSION_NUMBER" not in str(info.value)


def test_reading_before_open_raises_mail_unavailable(mailbox: Mailbox) -> None:
    with pytest.raises(MailUnavailableError):
        _client(mailbox).uids_after(0)


async def test_async_wrappers_fetch_the_same(mailbox: Mailbox) -> None:
    _send(mailbox, "async one")
    client = _client(mailbox)
    state = await client.aopen()
    try:
        assert state.exists == 1
        mails = await client.afetch_after(0)
        assert _subjects(mails) == ["async one"]
        assert await client.afetch([]) == []
    finally:
        await client.aclose()
