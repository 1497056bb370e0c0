"""Verification codes from the real Dovecot: newest after `since`, waits, times out, typed errors."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.config import Settings
from bot.errors import ConfigError, LoginRejectedError, MailLoginError, MailUnavailableError
from bot.mail.codes import ImapCodeSource, compile_code_pattern, extract_code
from bot.mail.imap import MailboxClient, MailboxState
from bot.mail.message import parse_message
from bot.mail.sender import sender_matches
from tests.fixtures.mail import Mailbox, deliver, make_message

SENDER = "transaction@notice.aliexpress.com"
PATTERN = r"verification code is (\d{6})"


def _settings(box: Mailbox) -> Settings:
    return Settings(
        imap_host=box.server.host,
        imap_port=box.server.imap_port,
        imap_ssl=False,
        mail_poll_interval_s=0.5,
    )


def _code_mail(box: Mailbox, code: str, *, date: datetime | None = None, sender: str = SENDER) -> None:
    raw = make_message(
        "Your verification code",
        f"Hello,\nyour verification code is {code}. It expires in 15 minutes.",
        sender=f"AliExpress <{sender}>",
        to=box.email,
        date=date,
    )
    deliver(box.server, box.email, raw)


@pytest.mark.e2e
async def test_newest_code_after_since_wins_and_older_ones_are_ignored(mailbox: Mailbox) -> None:
    since = datetime.now(UTC)
    _code_mail(mailbox, "111111", date=since - timedelta(hours=1))
    _code_mail(mailbox, "222222", date=since + timedelta(seconds=1))
    _code_mail(mailbox, "333333", date=since + timedelta(seconds=2))
    _code_mail(mailbox, "444444", date=since - timedelta(minutes=10))  # arrived last, dated before
    _code_mail(mailbox, "999999", date=since + timedelta(seconds=3), sender="phish@evil.test")
    shipped = make_message("Order 1: Order shipped", "no code", to=mailbox.email)
    deliver(mailbox.server, mailbox.email, shipped)

    source = ImapCodeSource(_settings(mailbox))
    code = await source.wait_for_code(
        mailbox.email, mailbox.password, since=since, timeout_s=10, pattern=PATTERN, sender=SENDER
    )
    assert code == "333333"


class _Watched(MailboxClient):
    """A real client that tells the test when it reached a point of the wait."""

    searched: threading.Event
    idling: threading.Event
    deliver_on_search: Callable[[], None] | None = None

    def uids_since_day(self, day: date) -> list[int]:
        found = super().uids_since_day(day)
        if self.deliver_on_search is not None:
            self.deliver_on_search()  # the mail lands between SEARCH and the next commands
        self.searched.set()
        return found

    def open(self) -> MailboxState:
        state = super().open()
        imap = self._client
        assert imap is not None
        start_idle = imap.idle

        def idle() -> object:
            result = start_idle()
            self.idling.set()
            return result

        imap.idle = idle
        return state


def _watched_source(
    box: Mailbox, deliver_on_search: Callable[[], None] | None = None
) -> tuple[ImapCodeSource, threading.Event, threading.Event]:
    settings = _settings(box)
    searched, idling = threading.Event(), threading.Event()

    def factory(user: str, password: str) -> MailboxClient:
        client = _Watched(
            settings.imap_host, settings.imap_port, use_ssl=False, username=user, password=password
        )
        client.searched, client.idling, client.deliver_on_search = searched, idling, deliver_on_search
        return client

    # a poll interval longer than the timeout: only IMAP IDLE / UIDNEXT can bring news in time
    return ImapCodeSource(settings, client_factory=factory, poll_interval_s=60.0), searched, idling


@pytest.mark.e2e
async def test_code_arriving_during_idle_is_returned(mailbox: Mailbox) -> None:
    since = datetime.now(UTC)
    _code_mail(mailbox, "111111", date=since - timedelta(minutes=5))
    source, _, idling = _watched_source(mailbox)
    waiting = asyncio.create_task(
        source.wait_for_code(
            mailbox.email, mailbox.password, since=since, timeout_s=30, pattern=PATTERN, sender=SENDER
        )
    )
    assert await asyncio.to_thread(idling.wait, 10)
    assert not waiting.done()
    await asyncio.to_thread(_code_mail, mailbox, "654321")
    assert await asyncio.wait_for(waiting, 20) == "654321"


@pytest.mark.e2e
async def test_code_landing_mid_poll_is_not_lost_before_idle(mailbox: Mailbox) -> None:
    since = datetime.now(UTC)
    source, searched, _ = _watched_source(mailbox, lambda: _code_mail(mailbox, "246810"))
    code = await asyncio.wait_for(
        source.wait_for_code(
            mailbox.email, mailbox.password, since=since, timeout_s=30, pattern=PATTERN, sender=SENDER
        ),
        20,
    )
    assert searched.is_set() and code == "246810"


@pytest.mark.e2e
async def test_no_new_code_times_out_with_login_rejected(mailbox: Mailbox) -> None:
    since = datetime.now(UTC)
    _code_mail(mailbox, "111111", date=since - timedelta(hours=2))
    source = ImapCodeSource(_settings(mailbox))
    with pytest.raises(LoginRejectedError) as info:
        await source.wait_for_code(
            mailbox.email, mailbox.password, since=since, timeout_s=1.0, pattern=PATTERN, sender=SENDER
        )
    assert "111111" not in str(info.value)


@pytest.mark.e2e
async def test_wrong_mailbox_password_raises_mail_login_error(mailbox: Mailbox) -> None:
    source = ImapCodeSource(_settings(mailbox))
    with pytest.raises(MailLoginError):
        await source.wait_for_code(
            mailbox.email,
            "wrong-" + mailbox.password,
            since=datetime.now(UTC),
            timeout_s=10,
            pattern=PATTERN,
            sender=SENDER,
        )


async def test_unreachable_mailbox_ends_in_mail_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings = Settings(imap_port=sock.getsockname()[1], imap_ssl=False, mail_poll_interval_s=0.2)
        source = ImapCodeSource(settings)
        with pytest.raises(MailUnavailableError):
            await source.wait_for_code(
                "u@example.test", "pw", since=datetime.now(UTC), timeout_s=0.6, pattern=PATTERN, sender=None
            )


async def test_bad_pattern_is_a_config_error_before_any_connection() -> None:
    source = ImapCodeSource(Settings(imap_port=1, imap_ssl=False))
    with pytest.raises(ConfigError):
        await source.wait_for_code(
            "u@example.test", "pw", since=datetime.now(UTC), timeout_s=5, pattern="(unclosed", sender=None
        )


def test_extract_code_prefers_named_group_then_group_one() -> None:
    raw = make_message("Code 42", "Your verification code is 123456 (ref 777)")
    msg = parse_message(raw, uid=1)
    assert msg is not None
    assert extract_code(compile_code_pattern(r"ref (?P<code>\d+)"), msg) == "777"
    assert extract_code(compile_code_pattern(r"code is (\d{6})"), msg) == "123456"
    assert extract_code(compile_code_pattern(r"\d{6}"), msg) == "123456"
    assert extract_code(compile_code_pattern(r"Code (\d+)"), msg) == "42"  # subject first
    assert extract_code(compile_code_pattern(r"PIN (\d+)"), msg) is None


def test_sender_matching() -> None:
    assert sender_matches("transaction@notice.aliexpress.com", None)
    assert sender_matches("transaction@notice.aliexpress.com", "Transaction@Notice.AliExpress.com")
    assert sender_matches("transaction@notice.aliexpress.com", "@notice.aliexpress.com")
    assert not sender_matches("transaction@notice.aliexpress.com.evil.test", "@notice.aliexpress.com")
    assert not sender_matches("phish@evil.test", "transaction@notice.aliexpress.com")
