"""Emailed verification codes, read from the account's mailbox over IMAP.

The portal-specific parts (the code's regex, the sender address) come from the caller, who
takes them from the selector pack. The sender is read and matched exactly as the outcome
poller does (:func:`bot.mail.sender.accepted_via`: strict From, no display-name addresses;
Apple relay addresses and forwards naming the sender count, and so do the operator's aliases
for every account, ``RECOUP_MAIL_SENDER_ALIASES["*"]``). The code itself is never logged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from loguru import logger

from bot.config import Settings
from bot.errors import ConfigError, LoginRejectedError, MailUnavailableError
from bot.mail.imap import FetchedMail, MailboxClient
from bot.mail.message import MailMessage, parse_message
from bot.mail.sender import accepted_via

ClientFactory = Callable[[str, str], MailboxClient]
"""Builds a (not yet opened) client from mailbox user and password: the test/transport seam."""


def compile_code_pattern(pattern: str) -> re.Pattern[str]:
    """Compile the pack's code pattern; raises ConfigError when it is not a valid regex."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"verification code pattern is not a valid regex: {exc}") from exc


def extract_code(regex: re.Pattern[str], message: MailMessage) -> str | None:
    """The code in the subject or text: the group named `code`, else group 1, else the match."""
    for haystack in (message.subject, message.text):
        found = regex.search(haystack)
        if found is None:
            continue
        if "code" in regex.groupindex:
            value = found.group("code")
        elif regex.groups:
            value = found.group(1)
        else:
            value = found.group(0)
        if value:
            return value.strip()
    return None


def newest_code(
    mails: Iterable[FetchedMail],
    regex: re.Pattern[str],
    *,
    since: datetime,
    sender: str | None,
    aliases: tuple[str, ...] = (),
) -> tuple[int, str] | None:
    """(uid, code) of the newest (highest UID) message from `sender` (directly, relayed,
    forwarded or from one of `aliases`, see :func:`bot.mail.sender.accepted_via`), dated at or
    after `since` (its Date header, else its INTERNALDATE; whole seconds), that holds a code."""
    floor = _aware(since).replace(microsecond=0)
    best: tuple[int, str] | None = None
    for mail in mails:
        if mail.raw is None:
            continue
        message = parse_message(mail.raw, uid=mail.uid, internal_date=mail.internal_date)
        if message is None or accepted_via(message.sender, message.sender_claims, sender, aliases) is None:
            continue
        when = message.date or message.internal_date
        if when is None or _aware(when) < floor:
            continue
        code = extract_code(regex, message)
        if code and (best is None or mail.uid > best[0]):
            best = (mail.uid, code)
    return best


class ImapCodeSource:
    """Waits for a verification code mail in an IMAP mailbox (IMAP IDLE, else a short poll)."""

    def __init__(
        self,
        settings: Settings,
        *,
        client_factory: ClientFactory | None = None,
        poll_interval_s: float | None = None,
    ) -> None:
        self._settings = settings
        self._factory: ClientFactory = client_factory or (
            lambda user, password: MailboxClient.from_settings(settings, user, password)
        )
        self._interval = poll_interval_s or settings.mail_poll_interval_s

    async def wait_for_code(
        self,
        mailbox_user: str,
        mailbox_password: str,
        *,
        since: datetime,
        timeout_s: float,
        pattern: str,
        sender: str | None,
    ) -> str:
        """Return the code of the newest matching message dated at or after `since`.

        Looks at once, then whenever IDLE reports news or `mail_poll_interval_s` passes, until
        `timeout_s`. Raises ConfigError for a bad `pattern`, MailLoginError when the mailbox
        refuses the password, MailUnavailableError when the server stayed unreachable up to the
        end, and LoginRejectedError when no code arrived in time.
        """
        regex = compile_code_pattern(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.0)
        client = self._factory(mailbox_user, mailbox_password)
        seen_up_to = 0
        uidvalidity: int | None = None
        connected = False
        failure: MailUnavailableError | None = None
        try:
            while True:
                try:
                    state = await (client.arefresh() if connected else client.aopen())
                    connected = True
                    failure = None
                    if state.uidvalidity != uidvalidity:  # first look, or the UIDs were reset
                        uidvalidity, seen_up_to = state.uidvalidity, 0
                        day = (_aware(since) - timedelta(days=1)).date()
                        uids = await asyncio.to_thread(client.uids_since_day, day)
                    else:
                        uids = await asyncio.to_thread(client.uids_after, seen_up_to)
                    uids = [uid for uid in uids if uid > seen_up_to]
                    if uids:
                        mails = await client.afetch(uids)
                        found = newest_code(
                            mails,
                            regex,
                            since=since,
                            sender=sender,
                            aliases=self._settings.mail_sender_aliases.get("*", ()),
                        )
                        if found is not None:
                            logger.info("verification code found for {} in UID {}", mailbox_user, found[0])
                            return found[1]
                    # everything below UIDNEXT was searched now (older mail: by its day)
                    seen_up_to = max(seen_up_to, *uids, (state.uidnext or 1) - 1)
                except MailUnavailableError as exc:
                    failure = exc
                    connected = False
                    await client.aclose()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(self._interval, remaining)
                if connected and client.supports_idle():
                    await client.await_news(wait, seen_up_to)  # returns early on news
                else:  # unreachable, or no IDLE: look again after the poll interval
                    await asyncio.sleep(wait)
        finally:
            await client.aclose()
        if failure is not None:
            raise failure
        raise LoginRejectedError(
            f"no verification code mail for {mailbox_user} within {timeout_s:g}s", user=mailbox_user
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
